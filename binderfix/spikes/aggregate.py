"""Counting ``/build`` requests as lines stream by, in memory bounded by what is distinct.

Memory grows with distinct repositories, clients, statuses and time buckets, never with
the number of lines: a line is parsed, counted and dropped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from binderfix.spikes.formats import LineParser
from binderfix.spikes.specs import SpecError, parse_build_path

BUILD = b"/build/"
MAX_LINE = 64 * 1024  # longer "lines" are binary junk or a broken log: skipped, counted


@dataclass
class Counts:
    """Everything the report needs, from one pass over the logs."""

    bucket_seconds: int
    lines: int = 0
    build_requests: int = 0
    grep_lines: int = 0  # lines holding '/build' (and the --grep word): the runbook's count
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> lines
    formats: Counter[str] = field(default_factory=Counter)
    repos: Counter[str] = field(default_factory=Counter)
    refs: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    statuses: Counter[int] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)
    buckets: Counter[int] = field(default_factory=Counter)  # bucket start -> requests
    bucket_repos: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    grep_repos: Counter[str] = field(default_factory=Counter)  # breakdown behind --grep
    sources_failed: dict[str, str] = field(default_factory=dict)  # pod or file -> why

    def merge(self, other: Counts) -> None:
        for name in ("lines", "build_requests", "grep_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("skipped", "formats", "repos", "statuses", "clients", "buckets", "grep_repos"):
            getattr(self, name).update(getattr(other, name))
        for repo, refs in other.refs.items():
            self.refs[repo].update(refs)
        for bucket, repos in other.bucket_repos.items():
            self.bucket_repos[bucket].update(repos)
        self.sources_failed.update(other.sources_failed)


class Tally:
    """Feeds lines (bytes) into Counts: ``tally.feed(line)`` for each line, then ``tally.counts``."""

    def __init__(self, bucket_seconds: int = 60, grep: bytes | None = None) -> None:
        self.counts = Counts(bucket_seconds=bucket_seconds)
        self.parser = LineParser()
        self.grep = grep

    def feed(self, line: bytes) -> None:
        c = self.counts
        c.lines += 1
        if b"/build" not in line:
            return  # most of a busy log: no parsing at all
        if self.grep is None or self.grep in line:
            c.grep_lines += 1
            counted_for_grep = True
        else:
            counted_for_grep = False
        if BUILD not in line:
            return
        if len(line) > MAX_LINE:
            c.skipped["line too long"] += 1
            return
        request = self.parser.parse(line)
        if request is None:
            c.skipped["unrecognised line"] += 1
            return
        if not request.path.startswith("/build/"):
            return  # '/build/' was in the referer or the user agent, not the request
        try:
            spec = parse_build_path(request.path)
        except SpecError as exc:
            c.skipped[str(exc)] += 1
            return
        c.build_requests += 1
        c.formats[request.format] += 1
        c.repos[spec.repo] += 1
        c.refs[spec.repo][spec.ref] += 1
        c.statuses[request.status] += 1
        c.clients[request.client] += 1
        bucket = request.time - request.time % c.bucket_seconds
        c.buckets[bucket] += 1
        c.bucket_repos[bucket][spec.repo] += 1
        if counted_for_grep and self.grep is not None:
            c.grep_repos[spec.repo] += 1
