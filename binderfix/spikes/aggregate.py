"""Counting ``/build`` requests as lines stream by, in memory bounded by what is distinct.

Memory grows with distinct repositories, clients, statuses and time buckets, never with
the number of lines: a line is parsed, counted and dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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
    refs: dict[str, Counter[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)
    buckets: Counter[int] = field(default_factory=Counter)  # bucket start -> requests
    bucket_repos: dict[int, Counter[str]] = field(default_factory=dict)
    grep_repos: Counter[str] = field(default_factory=Counter)  # breakdown behind --grep
    sources_failed: dict[str, str] = field(default_factory=dict)  # pod or file -> why

    def merge(self, other: Counts) -> None:
        for name in ("lines", "build_requests", "grep_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("skipped", "formats", "repos", "statuses", "clients", "buckets", "grep_repos"):
            getattr(self, name).update(getattr(other, name))
        for repo, refs in other.refs.items():
            self.refs.setdefault(repo, Counter()).update(refs)
        for bucket, repos in other.bucket_repos.items():
            self.bucket_repos.setdefault(bucket, Counter()).update(repos)
        self.sources_failed.update(other.sources_failed)


class Tally:
    """Feeds lines (bytes) into Counts: ``tally.feed(line)`` for each line, then ``tally.counts``.

    The hot path does four dictionary updates per /build line; the per-repository,
    per-ref and per-bucket views are derived once, when ``counts`` is read.
    """

    def __init__(self, bucket_seconds: int = 60, grep: bytes | None = None) -> None:
        self._counts = Counts(bucket_seconds=bucket_seconds)
        self.parser = LineParser()
        self.grep = grep
        self._specs: dict[bytes, tuple[str, str] | str] = {}  # path -> (repo, ref) or why not
        self._pairs: Counter[tuple[str, str]] = Counter()  # (repo, ref)
        self._bucket_repo: Counter[tuple[int, str]] = Counter()
        self._statuses: Counter[bytes] = Counter()
        self._clients: Counter[bytes] = Counter()

    def feed(self, line: bytes) -> None:
        self.feed_lines((line,))

    def feed_lines(self, lines: Iterable[bytes]) -> None:
        """The hot loop: names bound once, no call per line that holds no '/build'."""
        c = self._counts
        grep, parse, specs, spec_of = self.grep, self.parser.parse, self._specs, self._spec
        pairs, bucket_repo, statuses, clients = (
            self._pairs,
            self._bucket_repo,
            self._statuses,
            self._clients,
        )
        skipped, formats, grep_repos, step = c.skipped, c.formats, c.grep_repos, c.bucket_seconds
        n = grep_lines = builds = 0
        for line in lines:
            n += 1
            if b"/build" not in line:
                continue  # most of a busy log: no parsing at all
            grepped = grep is None or grep in line
            if grepped:
                grep_lines += 1
            if BUILD not in line:
                continue
            if len(line) > MAX_LINE:
                skipped["line too long"] += 1
                continue
            request = parse(line)
            if request is None:
                skipped["unrecognised line"] += 1
                continue
            when, path, status, client, fmt = request
            spec = specs.get(path)
            if spec is None:
                spec = spec_of(path)
            if spec.__class__ is str:
                if spec:
                    skipped[spec] += 1
                continue
            builds += 1
            formats[fmt] += 1
            pairs[spec] += 1
            bucket_repo[(when - when % step, spec[0])] += 1
            statuses[status] += 1
            clients[client] += 1
            if grepped and grep is not None:
                grep_repos[spec[0]] += 1
        c.lines += n
        c.grep_lines += grep_lines
        c.build_requests += builds

    def _spec(self, path: bytes) -> tuple[str, str] | str:
        text = path.decode("utf-8", "replace")
        if not text.startswith("/build/"):
            result: tuple[str, str] | str = ""  # '/build/' was in the referer or user agent
        else:
            try:
                parsed = parse_build_path(text)
                result = (parsed.repo, parsed.ref)
            except SpecError as exc:
                result = str(exc)
        if len(self._specs) > 200_000:  # bounded, whatever the log holds
            self._specs.clear()
        self._specs[path] = result
        return result

    @property
    def counts(self) -> Counts:
        c = self._counts
        c.repos, c.refs, c.buckets, c.bucket_repos = Counter(), {}, Counter(), {}
        for (repo, ref), n in self._pairs.items():
            c.repos[repo] += n
            c.refs.setdefault(repo, Counter())[ref] += n
        for (bucket, repo), n in self._bucket_repo.items():
            c.buckets[bucket] += n
            c.bucket_repos.setdefault(bucket, Counter())[repo] = n
        c.statuses = Counter({int(k): n for k, n in self._statuses.items()})
        c.clients = Counter({k.decode("utf-8", "replace"): n for k, n in self._clients.items()})
        return c
