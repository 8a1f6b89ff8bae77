"""The mybinder.org launch-events archive as a ``spikes`` source, recognised by its content.

BinderHub emits a ``binderhub.jupyter.org/launch`` event for every launch; mybinder.org
publishes them as daily files ``events-YYYY-MM-DD.jsonl``, one JSON object a line, with
timestamps to the minute. Known versions and what each added:

- 1, 2: ``timestamp``, ``schema``, ``version``, ``provider`` (``GitHub``, ``Gist``, ``Git``,
  ``GitLab``, ``Zenodo``, ``Figshare``, ``Hydroshare``, ``Dataverse``, ``CKAN``), ``spec``
  (as in ``/build/<provider>/<spec>``), ``status`` (``success``, ``failure``);
- 3: ``origin``, the federation member that served the launch (its host);
- 4: ``ref``, the resolved ref; later ``build_token`` (a secret: never kept, never printed);
- 6: ``request_origin``, the page the launch came from (counted as the "client").

A launch counts as one ``/build`` request of the repository its provider and spec name,
read the way access-log paths are (:func:`binderfix.spikes.specs.parse_build_path`), so
logs and events give the same repositories. A later version (7 and up) is read by the
fields it shares with the known ones, with a note; a line of another schema is skipped
and counted. The archive's ``index.jsonl`` (its list of daily files) is recognised and
skipped with a note.

A source is taken as events or as an access log by its first line (:class:`AutoTally`);
an events source is then counted by :class:`EventTally`, a :class:`~.aggregate.Tally`
whose blocks of lines are decoded as one JSON array (one C-level call per block).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from operator import itemgetter
from pathlib import PurePath

from binderfix.errors import BinderfixError
from binderfix.spikes.aggregate import MAX_CLIENTS, MAX_REFS, Counts, Tally
from binderfix.spikes.grep import Grep
from binderfix.spikes.specs import SpecError, parse_build_path

LAUNCH_SCHEMA = "binderhub.jupyter.org/launch"
KNOWN_VERSION = 6  # the newest version whose fields are known
FORMAT = "launch-events"  # the name under ``formats`` in the report
# The event's provider name -> the /build/<provider>/ prefix of the same repository.
PROVIDERS = {
    "GitHub": "gh",
    "Gist": "gist",
    "Git": "git",
    "GitLab": "gl",
    "Zenodo": "zenodo",
    "Figshare": "figshare",
    "Hydroshare": "hydroshare",
    "Dataverse": "dataverse",
    "CKAN": "ckan",
}
NO_ORIGIN = "(not recorded: version 1-2)"  # events before version 3 name no member
SNIFF = 64 << 10  # bytes looked at, at most, to tell events from an access log
INDEX_NOTE = (
    "index.jsonl is the archive's list of daily files, not launch events: skipped "
    "(name the events-YYYY-MM-DD.jsonl files it lists)"
)
OTHER_SCHEMA = "other schema than binderhub.jupyter.org/launch"
NOT_AN_OBJECT = "not a JSON object"

_SKIP = object()  # a blank line: neither an event nor a reason to report
_STR = rb'"([^"\\\n]*+)"'  # a JSON string with no escape in it: its bytes are its value
_ANY = rb'"[^"\\\n]*+"'
# A launch event as the archive writes it (its key order, version 1 to 6 and later), found
# in a whole block of lines by one C-level findall: (timestamp, version, provider, spec,
# status, [, "origin": ...], origin, [, "request_origin": ...], request_origin), b"" for
# what is absent. A line it does not take (other key order, an escape in a string, another
# schema, garbage) sends the block to json; so does an "origin" or "request_origin" key
# elsewhere in a line than where the pattern reads it (see EventTally._fast_block).
_FAST = re.compile(
    rb'\n\{"timestamp": ' + _STR + rb', "schema": "binderhub\.jupyter\.org/launch", '
    rb'"version": ([1-9][0-9]{0,5}), "provider": '
    + _STR
    + rb', "spec": '
    + _STR
    + rb', "status": '
    + _STR
    + rb'(, "origin": '
    + _STR
    + rb")?"
    rb'(?:, "ref": ' + _ANY + rb')?(?:, "build_token": ' + _ANY + rb")?"
    rb'(, "request_origin": ' + _STR + rb")?[^\n]*\}(?=\n)"
)
_TIME, _VERSION, _SPEC, _STATUS = itemgetter(0), itemgetter(1), itemgetter(2, 3), itemgetter(4)
_HAS_ORIGIN, _ORIGIN, _HAS_CLIENT, _CLIENT = (
    itemgetter(5),
    itemgetter(1, 6),
    itemgetter(7),
    itemgetter(8),
)


def _origin_label(key: tuple[bytes, bytes]) -> str:
    """The member a launch is counted under, from its (version, origin) as written."""
    version, origin = key
    return NO_ORIGIN if int(version) < 3 else origin.decode() or "(none)"


def newer_note(version: int) -> str:
    """The one-line note for events of a version later than :data:`KNOWN_VERSION`."""
    return (
        f"launch events of schema version {version}, newer than binderfix knows "
        f"(1-{KNOWN_VERSION}): read by their known fields"
    )


def kind_of(head: bytes, name: str = "") -> str | None:
    """``"events"``, ``"index"`` (the archive's index.jsonl) or None (an access log), from
    the first bytes of a source and its name."""
    line = head.lstrip().split(b"\n", 1)[0].strip()
    if not line.startswith(b"{"):
        return None
    try:
        first = json.loads(line)
    except (ValueError, RecursionError):  # cut at the end of the head, say
        return "events" if b'"schema"' in line else None
    if not isinstance(first, dict):
        return None
    if "schema" in first:  # the archive's own advice: check schema and version first
        return "events"
    if PurePath(name).name == "index.jsonl" or str(first.get("name", "")).endswith(".jsonl"):
        return "index"
    return None


def sniff_file(name: str) -> str | None:
    """:func:`kind_of` a named file (plain or gzip); None if it cannot be read: reading
    it for real then says why."""
    from binderfix.spikes.sources import open_log

    try:
        stream = open_log(name)
    except BinderfixError:
        return None
    try:
        return kind_of(stream.read(SNIFF), name)
    except (OSError, EOFError, ValueError):
        return None
    finally:
        stream.close()


def check_bucket(bucket_seconds: int) -> None:
    """Refuse a bucket that launch events cannot fill: their timestamps are whole minutes,
    so a 30 s bucket would hold every launch in its first half, and 90 s ones would
    alternate one and two minutes' launches."""
    if bucket_seconds % 60:
        raise BinderfixError(
            f"--bucket {bucket_seconds}s: launch events are timed to the minute",
            hint="--bucket in whole minutes with events, e.g. --bucket 1m or 5m",
        )


def parse_time(text: object) -> int | None:
    """Epoch seconds of an event's ISO 8601 ``timestamp`` (UTC when it names no zone)."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())


class EventTally(Tally):
    """Counts launch events fed in pieces, like :class:`Tally` counts log lines (the
    splitting into lines, the folding of refs and clients and the result are its)."""

    def __init__(
        self, bucket_seconds: int = 60, grep: Grep | None = None, base_url: str = "/"
    ) -> None:
        super().__init__(bucket_seconds, grep, base_url)
        check_bucket(bucket_seconds)
        self._repos: dict[tuple[str, str], tuple[str, str] | str] = {}  # (provider, spec)
        self._times: dict[object, int | None] = {}  # timestamp as written -> bucket
        self._bucket_origin: Counter[tuple[int, str]] = Counter()
        self._status_names: Counter[str] = Counter()
        self._newer: Counter[int] = Counter()  # version past KNOWN_VERSION -> events
        # The fast path's caches, by the bytes as written: only what counts is kept.
        self._fast_repos: dict[tuple[bytes, bytes], tuple[str, str]] = {}
        self._fast_times: dict[bytes, int] = {}
        self._fast_origins: dict[tuple[bytes, bytes], str] = {}
        self._fast_statuses: dict[bytes, str] = {}

    # -- reading: Tally hands over blocks of whole lines -----------------------------------

    def _block(self, buf: bytes, start: int, end: int, whole: bool) -> None:
        if self.grep is not None and self.grep.anywhere(buf, start, end):
            self._grep_events(buf[start + 1 : end - 1].split(b"\n"))
        if self._fast_block(buf, start, end, buf.count(b"\n", start, end - 1)):
            return
        lines = buf[start + 1 : end - 1].split(b"\n")
        try:  # the whole block in one call; a bad line sends it through line by line
            events = json.loads(b"[" + b",".join(lines) + b"]")
        except (ValueError, RecursionError):
            events = None
        if events is None or len(events) != len(lines):  # a line `1, 2` is two items
            events = [self._decode(line) for line in lines]
        rows = []
        skipped = self.skipped
        for event in events:
            row = self._row(event)
            if row.__class__ is tuple:
                rows.append(row)
            elif row is not _SKIP:
                skipped[row] += 1  # type: ignore[index]
        if rows:
            self._count(rows)

    def _fast_block(self, buf: bytes, start: int, end: int, lines: int) -> bool:
        """Count a block in C-level passes if every line in it is a launch event the fast
        pattern takes, that counts, in ASCII (so its bytes are what json would read);
        False, having counted nothing, otherwise."""
        rows = _FAST.findall(buf, start, end)
        if not rows or len(rows) != lines - buf.count(b"\n\n", start, end):
            return False
        if not buf[start:end].isascii():
            return False
        for key, present in ((b'"origin"', _HAS_ORIGIN), (b'"request_origin"', _HAS_CLIENT)):
            if buf.count(key, start, end) != len(rows) - list(map(present, rows)).count(b""):
                return False  # the key somewhere the pattern did not read it
        repos = self._looked_up(self._fast_repos, _SPEC, rows, self._fast_repo)
        buckets = self._looked_up(self._fast_times, _TIME, rows, self._fast_time)
        if repos is None or buckets is None:
            return False  # a row not to count: json's path says why
        origins = self._looked_up(self._fast_origins, _ORIGIN, rows, _origin_label)
        statuses = self._looked_up(self._fast_statuses, _STATUS, rows, bytes.decode)
        assert origins is not None and statuses is not None
        self.build_lines += len(rows)
        for version, n in Counter(map(_VERSION, rows)).items():
            if int(version) > KNOWN_VERSION:
                self._newer[int(version)] += n
        first, second = itemgetter(0), itemgetter(1)
        self._count(
            list(
                zip(
                    buckets,
                    map(first, repos),
                    map(second, repos),
                    origins,
                    statuses,
                    map(_CLIENT, rows),
                    strict=True,
                )
            )
        )
        return True

    @staticmethod
    def _looked_up(cache: dict, key: itemgetter, rows: list, fill: object) -> list | None:
        """``cache[key(row)]`` for every row, filling what is missing with ``fill(key)``
        (None: not to count, and not cached); None if any row has no value."""
        values = list(map(cache.get, map(key, rows)))
        if None in values:
            if len(cache) > 200_000:
                cache.clear()
            for k in set(map(key, rows)).difference(cache):
                value = fill(k)  # type: ignore[operator]
                if value is not None:
                    cache[k] = value
            values = list(map(cache.get, map(key, rows)))
            if None in values:
                return None
        return values

    def _fast_repo(self, key: tuple[bytes, bytes]) -> tuple[str, str] | None:
        repo = self._repo(key[0].decode(), key[1].decode())
        return repo if repo.__class__ is tuple else None  # type: ignore[return-value]

    def _fast_time(self, stamp: bytes) -> int | None:
        return self._bucket_of(stamp.decode())

    def _end_long(self) -> None:
        """A line past MAX_LINE: counted, and skipped as too long (no event is that long)."""
        line, self._long = self._long, None
        assert line is not None
        self.lines += 1
        self.skipped["line too long"] += 1
        if line.word:
            self.grep_lines += 1
            self.grep_other["line too long"] += 1

    @staticmethod
    def _decode(line: bytes) -> object:
        if not line.strip():
            return _SKIP
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            return None

    def _row(self, event: object, tally: bool = True) -> tuple | str | object:
        """(bucket, repo, ref, origin, status, client) of one decoded line, or why it is not
        counted (:data:`_SKIP` for a blank line); ``tally``: count launches and versions."""
        if event.__class__ is not dict:
            return _SKIP if event is _SKIP else NOT_AN_OBJECT
        get = event.get  # type: ignore[attr-defined]
        if get("schema") != LAUNCH_SCHEMA:
            return OTHER_SCHEMA
        if tally:
            self.build_lines += 1  # a launch: what a /build request is in a log
        version = get("version")
        if version.__class__ is not int or version < 1:
            return "no schema version"
        if version > KNOWN_VERSION and tally:
            self._newer[version] += 1
        provider, spec = get("provider"), get("spec")
        if provider.__class__ is not str or spec.__class__ is not str:
            return "provider or spec missing"
        repo = self._repos.get((provider, spec))
        if repo is None:
            repo = self._repo(provider, spec)
        if repo.__class__ is str:
            return repo  # type: ignore[return-value]
        stamp = get("timestamp")
        bucket = self._times.get(stamp, -1) if stamp.__class__ is str else None
        if bucket == -1:
            bucket = self._bucket_of(stamp)
        if bucket is None:
            return "bad timestamp"
        origin = get("origin") if version >= 3 else NO_ORIGIN
        status = get("status")
        client = get("request_origin")
        return (
            bucket,
            repo[0],  # type: ignore[index]
            repo[1],  # type: ignore[index]
            origin if origin.__class__ is str and origin else "(none)",
            status if status.__class__ is str else "(none)",
            client.encode() if client.__class__ is str and client else None,
        )

    def _repo(self, provider: str, spec: str) -> tuple[str, str] | str:
        prefix = PROVIDERS.get(provider)
        if prefix is None:
            result: tuple[str, str] | str = "unknown provider"
        else:
            try:
                parsed = parse_build_path(f"/build/{prefix}/{spec}")
                result = (parsed.repo, parsed.ref)
            except SpecError as exc:
                result = str(exc)
        if len(self._repos) > 200_000:
            self._repos.clear()
        self._repos[provider, spec] = result
        return result

    def _bucket_of(self, stamp: object) -> int | None:
        epoch = parse_time(stamp)
        bucket = None if epoch is None else epoch - epoch % self.bucket_seconds
        if len(self._times) > 200_000:
            self._times.clear()
        self._times[stamp] = bucket
        return bucket

    def _count(self, rows: list[tuple]) -> None:
        """Add rows (bucket, repo, ref, origin, status, client) with C-level counting."""
        self.build_requests += len(rows)
        self.formats[FORMAT] += len(rows)
        self._pairs.update(map(itemgetter(1, 2), rows))
        self._bucket_repo.update(map(itemgetter(0, 1), rows))
        self._bucket_origin.update(map(itemgetter(0, 3), rows))
        self._status_names.update(map(itemgetter(4), rows))
        clients = [c for c in map(itemgetter(5), rows) if c]
        if clients:
            self._clients.update(clients)
            if len(self._clients) > MAX_CLIENTS:
                self._fold_clients()
        if len(self._pairs) > MAX_REFS:
            self._fold_refs()

    # -- --grep: `grep WORD FILE | wc -l`, and what the lines are --------------------------

    def _grep_events(self, lines: list[bytes]) -> None:
        grep = self.grep
        assert grep is not None
        for line in lines:
            if not grep.search(line):
                continue
            self.grep_lines += 1
            event = self._decode(line)
            row = "blank line" if event is _SKIP else self._row(event, tally=False)
            if row.__class__ is tuple:
                self.grep_repos[row[1]] += 1  # type: ignore[index]
            else:
                self.grep_other[row] += 1  # type: ignore[index]

    # -- results ---------------------------------------------------------------------------

    @property
    def counts(self) -> Counts:
        c = super().counts
        c.statuses.update(self._status_names)  # type: ignore[arg-type]
        for (bucket, origin), n in self._bucket_origin.items():
            c.origins[origin] += n
            c.bucket_origins.setdefault(bucket, Counter())[origin] = n
        for version, n in self._newer.items():
            c.notes[newer_note(version)] += n
        return c


class AutoTally:
    """A tally for one source that is an access log or launch events: the first line
    decides (:func:`kind_of`), and everything goes to a :class:`Tally` or an
    :class:`EventTally`. The archive's index.jsonl is counted as lines and noted."""

    def __init__(
        self,
        bucket_seconds: int = 60,
        grep: Grep | None = None,
        base_url: str = "/",
        name: str = "",
    ) -> None:
        self._args = (bucket_seconds, grep, base_url)
        self._name = name
        self._head: list[bytes] = []
        self._size = 0
        self._tally: Tally | None = None
        self._index_lines: int | None = None  # lines of an index.jsonl
        self._last = b"\n"

    def feed(self, data: bytes) -> None:
        """The next bytes of the source (see :meth:`Tally.feed`)."""
        if self._tally is not None:
            self._tally.feed(data)
        elif self._index_lines is not None:
            self._index(data)
        elif data:
            self._head.append(data)
            self._size += len(data)
            if self._size >= SNIFF or b"\n" in data:
                head = b"".join(self._head)
                if b"\n" in head.lstrip() or self._size >= SNIFF:
                    self._decide(head)

    def _decide(self, head: bytes) -> None:
        self._head, self._size = [], 0
        kind = kind_of(head, self._name)
        if kind == "index":
            self._index_lines = 0
            self._index(head)
            return
        self._tally = (EventTally if kind == "events" else Tally)(*self._args)
        self._tally.feed(head)

    def _index(self, data: bytes) -> None:
        assert self._index_lines is not None
        if data:
            self._index_lines += data.count(b"\n")
            self._last = data[-1:]

    def close(self) -> Counts:
        """The counts (see :meth:`Tally.close`)."""
        if self._tally is None and self._index_lines is None:
            self._decide(b"".join(self._head))
        if self._tally is not None:
            return self._tally.close()
        counts = Tally(*self._args).close()
        counts.lines = (self._index_lines or 0) + (self._last != b"\n")
        counts.notes[INDEX_NOTE] += counts.lines
        return counts


def origin_view(counts: Counts) -> Counts:
    """The same counts with federation members where repositories were, so that the spike
    rule (:func:`binderfix.spikes.detect.find_spikes`) runs by member unchanged."""
    from dataclasses import replace

    return replace(counts, repos=counts.origins, bucket_repos=counts.bucket_origins, refs={})


# -- a synthetic archive, for the tests and the benchmark ----------------------------------

ORIGINS = ("gke.mybinder.org", "ovh.mybinder.org", "notebooks.gesis.org", "2i2c.mybinder.org")
_NAMES = {prefix: name for name, prefix in PROVIDERS.items()}


def event_line(
    version: int,
    when: dt.datetime,
    path: str,
    origin: str = ORIGINS[0],
    status: str = "success",
    token: str = "",
) -> str:
    """One launch event of ``version`` for a ``<provider>/<spec>`` path, as the archive
    writes it (its field order; ``ref`` from 4, ``build_token`` from 5, ``request_origin``
    from 6)."""
    prefix, _, spec = path.partition("/")
    event: dict[str, object] = {
        "timestamp": when.replace(second=0, microsecond=0).isoformat(),
        "schema": LAUNCH_SCHEMA,
        "version": version,
        "provider": _NAMES[prefix],
        "spec": spec,
        "status": status,
    }
    if version >= 3:
        event["origin"] = origin
    if version >= 4:
        event["ref"] = "0123456789abcdef0123456789abcdef01234567"
    if version >= 5:
        event["build_token"] = token or "eyJhbGciOiJIUzI1NiJ9.eyJ2IjoxfQ.secret"
    if version >= 6:
        event["request_origin"] = "https://mybinder.org"
    return json.dumps(event)


def generate(
    start: dt.datetime | None = None,
    minutes: int = 120,
    per_minute: int = 20,
    burst: object = None,
    version: int = 6,
    seed: int = 0,
    burst_origin: str | None = None,
) -> list[str]:
    """Launch events in time order: ``per_minute`` launches (Poisson) spread over the
    members of :data:`ORIGINS` (the first busiest) and :data:`synth.REPOS` (Zipf-like), and
    ``burst`` (a :class:`synth.Burst`) on top, served by ``burst_origin`` (default: spread
    like the rest)."""
    import random

    from binderfix.spikes import synth

    rng = random.Random(seed)
    start = start or dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    weights = [1 / (rank + 1) for rank in range(len(synth.REPOS))]
    out = []
    for minute in range(minutes):
        when = start + dt.timedelta(minutes=minute)
        repos = rng.choices(synth.REPOS, weights, k=synth._poisson(rng, per_minute))
        flood = []
        if isinstance(burst, synth.Burst) and 0 <= minute - burst.start_minute < burst.minutes:
            flood = [burst.repo] * synth._poisson(rng, burst.per_minute)
        for repo, chosen in [(r, None) for r in repos] + [(r, burst_origin) for r in flood]:
            path = synth._build_path(rng, repo).removeprefix("/build/")
            origin = chosen or rng.choices(ORIGINS, (6, 2, 1, 1))[0]
            status = "success" if rng.random() > 0.03 else "failure"
            token = f"eyJhbGciOiJIUzI1NiJ9.{rng.getrandbits(96):024x}"
            out.append(event_line(version, when, path, origin, status, token))
    return out


def check_files(names: tuple[str, ...] | list[str], bucket_seconds: int) -> None:
    """Before reading: refuse a bucket too fine for named events files, and a list of
    nothing but the archive's index (standard input is judged as it is read)."""
    import os

    # Regular files only: a pipe (`<(zcat ...)`) read here would lose what was read.
    kinds = [sniff_file(name) if os.path.isfile(name) else None for name in names]
    if "events" in kinds:
        check_bucket(bucket_seconds)
    if kinds and all(kind == "index" for kind in kinds):
        raise BinderfixError(
            "index.jsonl is the launch-events archive's list of daily files, not events",
            hint="name the daily files it lists, e.g. events-2019-03-08.jsonl (several at once)",
        )
