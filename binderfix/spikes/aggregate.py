"""Counting ``/build`` requests as log bytes stream by, in memory bounded by what is distinct.

A :class:`Tally` takes a log in pieces of any size (``feed``) and keeps counts by
repository and ref, time bucket, status and client; memory grows with distinct
repositories, refs, buckets and clients (capped), never with lines.

The hot path works on blocks of lines, not lines: one ``findall`` of the log's format
finds every ``/build/`` request of a block in C, and a block is taken whole only when that
count equals the number of ``/build`` occurrences in it, i.e. when no line holding
``/build`` is left out. A block where they differ is cut into small pieces, and the pieces
that still differ are read line by line: a line in another format, a referer holding
``/build``, an unknown provider or garbage. Both paths give the same counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import add, itemgetter

from binderfix.spikes.formats import (
    CLF_FAMILY,
    KUBECTL_PREFIX,
    LONG_LINES,
    NAMES,
    ORDER,
    binderhub_note,
    fast_pattern,
    minute_epoch,
    minute_of,
    mixed_pattern,
    parse_line,
)
from binderfix.spikes.grep import Grep
from binderfix.spikes.specs import SpecError, parse_build_path
from binderfix.spikes.wrappers import Unwrap

CHUNK = 4 << 20  # bytes read at a time: a block that stays in the processor's cache
MAX_LINE = 8 << 20  # a longer line is not parsed: counted, and skipped as "line too long"
PIECE = 64 << 10  # a block whose counts differ is re-read in pieces this size
MAX_CLIENTS = 200_000  # distinct client addresses kept; past it the rarest are folded
MAX_REFS = 200_000  # distinct (repository, ref) pairs kept; past it, a repository's rarest
MORE_REFS = "(other refs)"  # refs count together under this one
_CACHE = 200_000  # entries in each parsing cache before it is emptied

NOT_A_REQUEST = "mentions /build but is no /build/ request"  # e.g. in the referer
# A BinderHub warning or error about a /build/ request: the request's own access-log line,
# always written too, is the one counted.
BINDERHUB_NOTE = "BinderHub error about a request (its access line counts it)"
_CLIENT, _TIME, _PATH, _STATUS = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)
_REPO = itemgetter(0)
_SECONDS = {b"%02d" % i: i for i in range(61)}


@dataclass
class Counts:
    """Everything the report needs, from one pass over the logs. ``merge`` adds another."""

    bucket_seconds: int
    lines: int = 0
    build_lines: int = 0  # lines holding '/build' anywhere: `grep '/build' | wc -l`
    build_requests: int = 0  # /build/<provider>/<spec> requests counted
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> lines mentioning /build/
    formats: Counter[str] = field(default_factory=Counter)  # format -> requests counted
    repos: Counter[str] = field(default_factory=Counter)
    refs: dict[str, Counter[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    clients: Counter[bytes] = field(default_factory=Counter)  # as logged: decoded to show
    clients_folded: int = 0  # requests of clients dropped past MAX_CLIENTS distinct ones
    buckets: Counter[int] = field(default_factory=Counter)  # bucket start -> requests
    bucket_repos: dict[int, Counter[str]] = field(default_factory=dict)
    grep_word: str | None = None
    grep_lines: int = 0  # `grep '/build' | grep WORD | wc -l`
    grep_repos: Counter[str] = field(default_factory=Counter)  # the requests among those lines
    grep_other: Counter[str] = field(default_factory=Counter)  # why the others are not
    sources: list[str] = field(default_factory=list)  # read, wholly or in part
    sources_failed: dict[str, str] = field(default_factory=dict)  # source -> why
    # Launch events only (binderfix/spikes/events.py): the federation member of each launch.
    origins: Counter[str] = field(default_factory=Counter)
    bucket_origins: dict[int, Counter[str]] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)  # a note -> the lines it is about

    def merge(self, other: Counts) -> None:
        """Add ``other``'s counts to these."""
        for name in ("lines", "build_lines", "build_requests", "clients_folded", "grep_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (
            "skipped",
            "formats",
            "repos",
            "statuses",
            "clients",
            "buckets",
            "grep_repos",
            "grep_other",
            "origins",
            "notes",
        ):
            add_counts(getattr(self, name), getattr(other, name))
        for into, more in (
            (self.refs, other.refs),
            (self.bucket_repos, other.bucket_repos),
            (self.bucket_origins, other.bucket_origins),
        ):
            for key, counter in more.items():
                if key in into:
                    add_counts(into[key], counter)
                else:
                    into[key] = Counter(counter)
        self.grep_word = self.grep_word or other.grep_word
        self.sources += [s for s in other.sources if s not in self.sources]
        self.sources_failed.update(other.sources_failed)


def add_counts(into: Counter, more: Counter) -> None:
    """``into.update(more)`` with C-level loops (Counter's own is Python for a mapping)."""
    if not into:
        dict.update(into, more)
        return
    keys = list(more)
    sums = map(add, map(into.get, keys, repeat(0)), more.values())
    dict.update(into, zip(keys, sums, strict=True))


class _LongLine:
    """A line past MAX_LINE, not kept: only what grep and the summary need of it."""

    def __init__(self, grep: Grep | None) -> None:
        self.grep = grep
        self.build = self.request = self.word = False
        self.tail = b""

    def add(self, piece: bytes) -> None:
        window = self.tail + piece
        self.build = self.build or b"/build" in window
        self.request = self.request or b"/build/" in window
        if self.grep is not None and not self.word:
            self.word = self.grep.search(window)
        self.tail = window[-4096:]


class Tally:
    """Counts a log fed in pieces: ``tally.feed(data)`` as often as needed, then
    ``tally.close()`` for the :class:`Counts` (a last line without newline counts too)."""

    def __init__(
        self, bucket_seconds: int = 60, grep: Grep | None = None, base_url: str = "/"
    ) -> None:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        self.bucket_seconds = bucket_seconds
        self.grep = grep
        self.base_url = base_url
        self._prefix = base_url.rstrip("/").encode() + b"/build/"
        self.lines = self.build_lines = self.build_requests = 0
        self.grep_lines = self.clients_folded = 0
        self.skipped: Counter[str] = Counter()
        self.formats: Counter[str] = Counter()
        self.grep_repos: Counter[str] = Counter()
        self.grep_other: Counter[str] = Counter()
        self._fmt = "ingress-nginx"  # the format tried first; follows the log
        self._mixed = False  # are the log's formats interleaved? (then: _mixed_block first)
        self._mixed_patterns: dict[str, tuple[re.Pattern[bytes], tuple[str, ...]]] = {}
        self._fast = {
            (name, kubectl): fast_pattern(name, base_url, kubectl)
            for name in NAMES
            for kubectl in (False, True)
        }
        self._unwrap: Unwrap | None = Unwrap()  # until the log is known not to be wrapped
        self._carry: list[bytes] = []  # the pieces of a line not ended yet
        self._carried = 0  # their length
        self._long: _LongLine | None = None
        self._buckets: dict[bytes, int] = {}  # time as written -> bucket start
        self._minutes: dict[bytes, int | None] = {}  # minute as written -> epoch, or None
        self._specs: dict[bytes, tuple[str, str]] = {}  # path -> (repo, ref)
        self._bad_specs: dict[bytes, str] = {}  # path -> why it is not counted
        self._pairs: Counter[tuple[str, str]] = Counter()  # (repo, ref)
        self._bucket_repo: Counter[tuple[int, str]] = Counter()
        self._statuses: Counter[bytes] = Counter()
        self._clients: Counter[bytes] = Counter()

    # -- reading ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """The next bytes of the log, of any length; a line may run across calls. Lines in
        a container runtime's records (CRI, Docker's json-file) are counted unwrapped."""
        if self._unwrap is not None:
            data = self._unwrap.feed(data)
            if self._unwrap.plain:
                self._unwrap = None
        if len(data) > CHUNK:  # so that a line longer than MAX_LINE always runs across pieces
            for at in range(0, len(data), CHUNK):
                self._feed(data[at : at + CHUNK])
        elif data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        first = data.find(b"\n")
        if first < 0:  # no line ends here
            self._hold(data)
            return
        if self._long is not None:
            self._long.add(data[:first])
            self._end_long()
        else:  # the line begun in earlier pieces ends here
            head = b"".join([b"\n", *self._carry, data[: first + 1]])
            self._carry, self._carried = [], 0
            self.lines += 1
            self._block(head, 0, len(head), whole=False)
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            self._hold(data[cut:])
        if cut - 1 > first:  # whole lines, data[first] being the newline before them
            self.lines += data.count(b"\n", first + 1, cut)
            self._block(data, first, cut, whole=True)

    def _hold(self, piece: bytes) -> None:
        """Keep the start of a line until its end comes; past MAX_LINE, only what counts."""
        if self._long is not None:
            self._long.add(piece)
            return
        self._carry.append(piece)
        self._carried += len(piece)
        if self._carried > MAX_LINE:
            self._long = _LongLine(self.grep)
            self._long.add(b"".join(self._carry))
            self._carry, self._carried = [], 0

    def close(self) -> Counts:
        """Count the last line, if it has no newline, and return the counts."""
        if self._unwrap is not None:
            rest, self._unwrap = self._unwrap.close(), None
            self.feed(rest)
        if self._long is not None:
            self._end_long()
        elif self._carry:
            buf = b"".join([b"\n", *self._carry, b"\n"])
            self._carry, self._carried = [], 0
            self.lines += 1
            self._block(buf, 0, len(buf), whole=False)
        return self.counts

    def _end_long(self) -> None:
        line, self._long = self._long, None
        assert line is not None
        self.lines += 1
        if not line.build:
            return
        self.build_lines += 1
        why = "line too long" if line.request else NOT_A_REQUEST
        if line.request:
            self.skipped[why] += 1
        if line.word:
            self.grep_lines += 1
            self.grep_other[why] += 1

    def _block(self, buf: bytes, start: int, end: int, whole: bool) -> None:
        """Lines ``buf[start+1:end]`` (``buf[start]`` and ``buf[end-1]`` are newlines)."""
        occurrences = buf.count(b"/build", start, end)
        if not occurrences:
            return
        if self._mixed:  # the last block was in several formats: this one likely too
            done = self._mixed_block(buf, start, end, occurrences)
        else:
            done = self._one_format(buf, start, end, occurrences) or self._mixed_block(
                buf, start, end, occurrences
            )
        if done:
            return
        if whole and end - start > 2 * PIECE:
            a = start
            while a < end - 1:
                b = buf.find(b"\n", a + PIECE, end - 1)
                b = end if b < 0 else b + 1
                self._block(buf, a, b, whole=False)
                a = b - 1
        else:
            self._lines(buf[start + 1 : end - 1].split(b"\n"))

    def _one_format(self, buf: bytes, start: int, end: int, occurrences: int) -> bool:
        """Count the block if each of its lines holding /build is a request in the log's
        format (one ``findall`` over the block); False (nothing counted) if not."""
        fmt = self._fmt
        kubectl = KUBECTL_PREFIX.match(buf, start + 1) is not None
        if fmt in LONG_LINES:  # split and filter in C: the pattern only sees /build lines
            lines = [line for line in buf[start + 1 : end - 1].split(b"\n") if b"/build" in line]
            rows = self._fast[fmt, kubectl].findall(b"\n" + b"\n".join(lines) + b"\n")
        else:
            rows = self._fast[fmt, kubectl].findall(buf, start, end)
        label = self._clf_format(buf, start, end) if fmt in CLF_FAMILY and rows else fmt
        if len(rows) != occurrences or not label:
            return False
        self.build_lines += occurrences
        if self.grep is not None and self.grep.anywhere(buf, start, end):
            self._grep_lines(buf[start + 1 : end - 1].split(b"\n"))
        if ORDER[fmt] != (0, 1, 2, 3):
            rows = list(map(itemgetter(*ORDER[fmt]), rows))
        self._add(label, rows)
        return True

    def _mixed_block(self, buf: bytes, start: int, end: int, occurrences: int) -> bool:
        """Count the block if each of its lines holding /build is a request in one of the
        known formats, each labelled as :meth:`_lines` labels it: one ``findall`` of every
        format at once over the /build lines only, then the rows sorted by format in C;
        False (nothing counted) if not."""
        lines = [line for line in buf[start + 1 : end - 1].split(b"\n") if b"/build" in line]
        if self._fmt not in self._mixed_patterns:
            self._mixed_patterns[self._fmt] = mixed_pattern(self._fmt, self.base_url)
        pattern, names = self._mixed_patterns[self._fmt]
        rows = pattern.findall(b"\n" + b"\n".join(lines) + b"\n")
        if len(rows) != occurrences:
            return False
        self.build_lines += occurrences
        if self.grep is not None and self.grep.anywhere(buf, start, end):
            self._grep_lines(lines)
        seen: Counter[str] = Counter()
        left = len(rows)
        for k, name in enumerate(names):  # a row's groups are empty but for its format's
            if not left:
                break
            at = [4 * k + i for i in ORDER[name]]
            mine = list(filter(itemgetter(at[2]), rows))  # the path: never empty in a match
            if mine:
                left -= len(mine)
                seen[name] = len(mine)
                self._add(name, list(map(itemgetter(*at), mine)))
        self._mixed = len(seen) > 1
        self._follow(seen)
        return True

    def _follow(self, seen: Counter[str]) -> None:
        """Try first the format most lines were in, when they were not in the one tried."""
        if seen:
            best, n = seen.most_common(1)[0]
            if best != self._fmt and n > seen[self._fmt]:
                self._fmt = best  # the log is in another format: try that one first now

    def _clf_format(self, buf: bytes, start: int, end: int) -> str | None:
        """Which Common-Log-Format variant a block is in (they share one fast pattern), by
        its first and last /build lines; None if those differ."""
        first = buf.find(b"/build", start, end)
        last = buf.rfind(b"/build", start, end)
        names = set()
        for at in (first, last):
            line = buf[buf.rfind(b"\n", start, at) + 1 : buf.find(b"\n", at, end)]
            parsed = parse_line(line, self._fmt)
            names.add(parsed[0] if parsed and parsed[0] in CLF_FAMILY else "combined")
        return names.pop() if len(names) == 1 else None

    def _lines(self, lines: list[bytes]) -> None:
        """The slow path: line by line, any format, every reason to skip a line counted."""
        seen: Counter[str] = Counter()
        for line in lines:
            if b"/build" not in line:
                continue
            self.build_lines += 1
            if self.grep is not None and self.grep.search(line):
                self.grep_lines += 1
                self._grep_outcome(line)
            parsed = self._parse(line)
            if isinstance(parsed, str):
                if parsed:
                    self.skipped[parsed] += 1
                continue
            fmt, fields = parsed
            seen[fmt] += 1
            self._add(fmt, [fields])
        self._follow(seen)

    def _parse(self, line: bytes) -> tuple[str, tuple[bytes, ...]] | str:
        """(format, fields) of a line holding /build, or why it is no request to count
        ("" when it is a request for another path)."""
        if len(line) > MAX_LINE:
            return "line too long" if b"/build/" in line else ""
        parsed = parse_line(line, self._fmt)
        if parsed is None:
            note = binderhub_note(line)
            if note is not None and note.startswith(self._prefix):
                return BINDERHUB_NOTE
            return "unrecognised line" if b"/build/" in line else ""
        path = parsed[1][2]
        if path.startswith((b"http://", b"https://")):  # absolute-form request line
            path = b"/" + path.split(b"/", 3)[3] if path.count(b"/") >= 3 else b"/"
        if not path.startswith(self._prefix):
            return ""  # '/build/' is elsewhere in the line: the referer, say
        return parsed

    # -- counting --------------------------------------------------------------------------

    def _add(self, fmt: str, rows: list[tuple[bytes, ...]]) -> None:
        """Count requests (client, time, path, status): C-level maps over the rows, once
        each new path and time is in the caches; rows not to count go through
        :meth:`_resolve`."""
        specs = list(map(self._specs.get, map(_PATH, rows)))
        if None in specs:  # parse each new path once, then look them all up again
            for path in set(map(_PATH, rows)).difference(self._specs):
                self._spec(path)
            specs = list(map(self._specs.get, map(_PATH, rows)))
        buckets = list(map(self._buckets.get, map(_TIME, rows)))
        if None in buckets:
            self._fill_buckets(set(map(_TIME, rows)).difference(self._buckets))
            buckets = list(map(self._buckets.get, map(_TIME, rows)))
        if None in specs or None in buckets:  # paths or times not to count, or caches full
            paths, times = list(map(_PATH, rows)), list(map(_TIME, rows))
            rows, specs, buckets = self._resolve(rows, paths, specs, times, buckets)
            if not rows:
                return
        self.build_requests += len(rows)
        self.formats[fmt] += len(rows)
        self._pairs.update(specs)
        self._bucket_repo.update(zip(buckets, map(_REPO, specs), strict=True))
        self._statuses.update(map(_STATUS, rows))
        self._clients.update(map(_CLIENT, rows))
        if len(self._clients) > MAX_CLIENTS:
            self._fold_clients()
        if len(self._pairs) > MAX_REFS:
            self._fold_refs()

    def _resolve(
        self,
        rows: list[tuple[bytes, ...]],
        paths: list[bytes],
        specs: list[tuple[str, str] | None],
        times: list[bytes],
        buckets: list[int | None],
    ) -> tuple[list[tuple[bytes, ...]], list[tuple[str, str]], list[int]]:
        """Drop (and count) the rows not to count, filling what the caches miss."""
        keep: tuple[list, list, list] = ([], [], [])
        for row, path, spec, time, bucket in zip(rows, paths, specs, times, buckets, strict=True):
            if spec is None:
                spec = self._specs.get(path) or self._spec(path)
            if bucket is None:
                bucket = self._buckets.get(time)
                if bucket is None:
                    bucket = self._bucket(time)
            if isinstance(spec, str):
                self.skipped[spec] += 1
            elif bucket is None:
                self.skipped["bad timestamp"] += 1
            else:
                keep[0].append(row)
                keep[1].append(spec)
                keep[2].append(bucket)
        return keep

    def _spec(self, path: bytes) -> tuple[str, str] | str:
        why = self._bad_specs.get(path)
        if why is not None:
            return why
        try:
            spec = parse_build_path(path.decode("utf-8", "replace"), self.base_url)
        except SpecError as exc:
            if len(self._bad_specs) > _CACHE:
                self._bad_specs.clear()
            self._bad_specs[path] = str(exc)
            return str(exc)
        if len(self._specs) > _CACHE:
            self._specs.clear()
        result = self._specs[path] = (spec.repo, spec.ref)
        return result

    def _bucket(self, time: bytes) -> int | None:
        """The bucket a time as written falls in (cached), or None if it is no real time."""
        self._fill_buckets((time,))
        return self._buckets.get(time)

    def _fill_buckets(self, times: Iterable[bytes]) -> None:
        """Put each time's bucket in the cache (each minute is parsed once)."""
        minutes, buckets, step = self._minutes, self._buckets, self.bucket_seconds
        if len(buckets) > _CACHE:
            buckets.clear()
        if len(minutes) > _CACHE:
            minutes.clear()
        for time in times:
            if time[2:3] == b"/":  # inlined minute_of(): the hot case
                minute, second = time[:17] + time[20:], _SECONDS.get(time[18:20], 0)
            else:
                minute, second = minute_of(time)
            epoch = minutes.get(minute, -1)
            if epoch == -1:
                epoch = minutes[minute] = minute_epoch(minute)
            if epoch is not None:
                when = epoch + second
                buckets[time] = when - when % step

    def _fold_refs(self) -> None:
        """Keep each repository's 100 busiest refs; count the others as one."""
        by_repo: dict[str, list[tuple[int, str]]] = {}
        for (repo, ref), n in self._pairs.items():
            by_repo.setdefault(repo, []).append((n, ref))
        pairs: Counter[tuple[str, str]] = Counter()
        for repo, refs in by_repo.items():
            refs.sort(reverse=True)
            for n, ref in refs[:100]:
                pairs[repo, ref] += n
            for n, _ref in refs[100:]:
                pairs[repo, MORE_REFS] += n
        self._pairs = pairs

    def _fold_clients(self) -> None:
        """Keep the busiest half of the clients; count the requests of the others."""
        kept = dict(self._clients.most_common(MAX_CLIENTS // 2))
        self.clients_folded += sum(self._clients.values()) - sum(kept.values())
        self._clients = Counter(kept)

    # -- --grep ----------------------------------------------------------------------------

    def _grep_lines(self, lines: list[bytes]) -> None:
        grep = self.grep
        assert grep is not None
        for line in lines:
            if b"/build" in line and grep.search(line):
                self.grep_lines += 1
                self._grep_outcome(line)

    def _grep_outcome(self, line: bytes) -> None:
        outcome = self._outcome(line)
        if outcome.startswith("repo:"):
            self.grep_repos[outcome[5:]] += 1
        else:
            self.grep_other[outcome] += 1

    def _outcome(self, line: bytes) -> str:
        """What became of one line holding /build: ``repo:<repo>`` or why it is not one."""
        parsed = self._parse(line)
        if isinstance(parsed, str):
            return parsed or NOT_A_REQUEST
        _client, time, path, _status = parsed[1]
        spec = self._specs.get(path) or self._spec(path)
        if isinstance(spec, str):
            return spec
        if self._buckets.get(time) is None and self._bucket(time) is None:
            return "bad timestamp"
        return "repo:" + spec[0]

    # -- results ---------------------------------------------------------------------------

    @property
    def counts(self) -> Counts:
        c = Counts(
            bucket_seconds=self.bucket_seconds,
            lines=self.lines,
            build_lines=self.build_lines,
            build_requests=self.build_requests,
            skipped=Counter(self.skipped),
            formats=Counter(self.formats),
            clients_folded=self.clients_folded,
            grep_word=self.grep.word if self.grep else None,
            grep_lines=self.grep_lines if self.grep else self.build_lines,
            grep_repos=Counter(self.grep_repos),
            grep_other=+self.grep_other,
        )
        refs, bucket_repos = c.refs, c.bucket_repos
        for (repo, ref), n in self._pairs.items():
            c.repos[repo] += n
            if repo not in refs:
                refs[repo] = Counter()
            refs[repo][ref] = n
        for (bucket, repo), n in self._bucket_repo.items():
            c.buckets[bucket] += n
            if bucket not in bucket_repos:
                bucket_repos[bucket] = Counter()
            bucket_repos[bucket][repo] = n
        for status, n in self._statuses.items():
            c.statuses[int(status)] += n
        c.clients.update(self._clients)
        return c
