"""Where log bytes come from: files (plain or gzip), standard input, or pods' logs.

Files are read in big binary reads; a big plain file is cut at newlines into one range per
core, each counted in its own process. Pod logs are read through the Kubernetes API
concurrently, one thread per pod, each streaming into its own tally. A source that fails
part-way is named in the summary and what was read of it still counts.
"""

from __future__ import annotations

import gzip
import os
import pickle
import sys
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING

from binderfix.errors import BinderfixError
from binderfix.spikes.aggregate import CHUNK, Counts, Tally
from binderfix.spikes.wrappers import continues

if TYPE_CHECKING:
    from binderfix.kube.client import Cluster

PARALLEL_FROM = 32 << 20  # a plain file this large is split across the machine's cores
GZIP_MAGIC = b"\x1f\x8b"
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)

# A Tally for a source: the command's options, bound once.
NewTally = Callable[[], Tally]


# Why a named source could not be read, and what to do about it (printed once).
CLOSED_STDIN = "standard input is closed"
CANNOT_READ = "cannot read"
HINTS = {
    CLOSED_STDIN: "pipe a log into it: kubectl logs ... | binderfix spikes -",
    CANNOT_READ: "name log files (plain or gzip), or - for standard input",
}


def failure_hint(why: str) -> str | None:
    """The hint for a reason :func:`tally_files` gives, if there is one."""
    return next((hint for start, hint in HINTS.items() if why.startswith(start)), None)


def open_log(name: str) -> IO[bytes]:
    """A file, or ``-`` for standard input, decompressed if it starts with gzip's magic.
    Raises BinderfixError (the message does not repeat the name) if it cannot be opened."""
    if name == "-":
        if sys.stdin is None:  # Python's own answer when file descriptor 0 is closed
            raise BinderfixError(CLOSED_STDIN, hint=HINTS[CLOSED_STDIN])
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            raw = open(name, "rb")  # noqa: SIM115 (closed by the caller)
        except OSError as exc:
            raise BinderfixError(
                f"{CANNOT_READ}: {exc.strerror}", hint=HINTS[CANNOT_READ]
            ) from None
    peek = getattr(raw, "peek", None)
    head = peek(2)[:2] if peek else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def tally_stream(stream: IO[bytes], tally: Tally) -> None:
    """Feed a binary stream to ``tally`` in big reads; a gzip file in what each read
    inflates, so that one cut short still gives everything before the cut."""
    if isinstance(stream, gzip.GzipFile):
        _pump(stream.read1, tally)
        return
    while True:
        data = stream.read(CHUNK)
        if not data:
            return
        tally.feed(data)


def _pump(read1: Callable[[int], bytes], tally: Tally) -> None:
    """Feed what ``read1`` returns (whatever is there, a little at a time) in pieces of a
    megabyte or more; if a read fails, what came before it is fed all the same."""
    pending: list[bytes] = []
    size = 0
    try:
        while data := read1(CHUNK):
            pending.append(data)
            size += len(data)
            if size >= 1 << 20:
                tally.feed(b"".join(pending))
                pending, size = [], 0
    finally:
        if pending:
            tally.feed(b"".join(pending))


def tally_files(names: Iterable[str], new_tally: NewTally) -> Counts:
    """Count the named files (``-``: standard input) one after another, each in its own
    tally (a line never runs from one file into the next); a big plain file on all cores."""
    total = new_tally().close()
    for name in names:
        split = _tally_in_parallel(name, new_tally)
        if split is not None:
            split.sources.append(name)
            total.merge(split)
            continue
        tally = new_tally()
        try:
            stream = open_log(name)
        except BinderfixError as exc:
            counts = tally.close()
            counts.sources.append(name)
            counts.sources_failed[name] = exc.message
            total.merge(counts)
            continue
        failed = None
        try:
            tally_stream(stream, tally)
        except _READ_ERRORS as exc:
            failed = f"read stopped: {exc}"
        finally:
            if name != "-":
                stream.close()
        counts = tally.close()
        counts.sources.append(name)
        if failed:
            counts.sources_failed[name] = failed
        total.merge(counts)
    return total


def _ranges(path: str, parts: int, first: float = 1.0) -> list[tuple[int, int]]:
    """Byte ranges of a file, cut just after a newline, so that no line is split (nor one
    a container runtime wrote in several records); the first ``first`` times the size of
    the others."""
    size = os.path.getsize(path)
    share = size / (parts - 1 + first)
    cuts = [0]
    with open(path, "rb") as fh:
        for i in range(1, parts):
            at = _next_line(fh, max(int(share * (first + i - 1)) - 1, cuts[-1]), size)
            for _record in range(1000):  # past records whose line goes on (16 MiB at most)
                if at >= size or not _continues_at(fh, at):
                    break
                at = _next_line(fh, at, size)
            cuts.append(max(at, cuts[-1]))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _next_line(fh: IO[bytes], at: int, size: int) -> int:
    """Just past the first newline at or after ``at``, a megabyte at a time (or the end)."""
    fh.seek(at)
    while True:
        data = fh.read(1 << 20)
        newline = data.find(b"\n")
        if newline >= 0:
            return at + newline + 1
        if not data:
            return size
        at += len(data)


def _continues_at(fh: IO[bytes], at: int) -> bool:
    """Does the record ending just before ``at`` (a line start) go on in the next one?
    Records longer than the look back are taken as whole: runtimes cut lines at 16 KiB."""
    start = max(0, at - (64 << 10))
    fh.seek(start)
    before = fh.read(at - start)[:-1]
    newline = before.rfind(b"\n")
    if newline < 0 and start > 0:
        return False
    return continues(before[newline + 1 :])


def _tally_range(args: tuple[str, int, int, NewTally]) -> Counts:
    path, start, end, new_tally = args
    tally = new_tally()
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            tally.feed(data)
    return tally.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _tally_in_parallel(path: str, new_tally: NewTally) -> Counts | None:
    """Count a big plain file on every core: a forked process per range but the first,
    which this one counts; None if it is not worth it (small, gzip, no fork)."""
    workers = _cores()
    if workers < 2 or not hasattr(os, "fork") or path == "-" or not os.path.isfile(path):
        return None
    if os.path.getsize(path) < PARALLEL_FROM:
        return None
    with open(path, "rb") as fh:
        if fh.read(2) == GZIP_MAGIC:
            return None  # gzip cannot be read from the middle
    # This process takes the first range, a little larger: the others are sent to it by
    # the time it is done with its own.
    ranges = _ranges(path, workers, first=1.04)
    children = [_fork_range(path, a, b, new_tally) for a, b in ranges[1:]]
    total = _tally_range((path, *ranges[0], new_tally))
    for (a, b), (pid, pipe) in zip(ranges[1:], children, strict=True):
        with os.fdopen(pipe, "rb") as fh:
            data = fh.read()
        _pid, status = os.waitpid(pid, 0)
        counts = pickle.loads(data) if status == 0 and data else None
        if not isinstance(counts, Counts):  # the child failed: count its range here
            counts = _tally_range((path, a, b, new_tally))
        total.merge(counts)
    return total


def _fork_range(path: str, start: int, end: int, new_tally: NewTally) -> tuple[int, int]:
    """(pid, read end of a pipe) of a child counting ``path[start:end]`` into the pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write)
        return pid, read
    code = 1
    try:  # the child: count, send, and leave without running the parent's exit handlers
        os.close(read)
        data = pickle.dumps(_tally_range((path, start, end, new_tally)), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as fh:
            fh.write(data)
        code = 0
    finally:
        os._exit(code)


def tally_pods(
    cluster: Cluster,
    selector: str,
    since_seconds: int | None,
    new_tally: NewTally,
    container: str | None = None,
) -> Counts:
    """Read the log of every pod matching ``selector`` through the API, concurrently.

    Raises BinderfixError if the pods cannot be listed or none match; a pod whose log
    cannot be read, or stops part-way (deleted while being read, say), is named in
    ``sources_failed`` and what was read of it counts.
    """
    from binderfix.kube.pods import follow_log, list_pods

    where = f"in namespace {cluster.namespace!r}"
    pods = [p["metadata"]["name"] for p in list_pods(cluster, selector)]
    if not pods:
        raise BinderfixError(
            f"no pods match {selector!r} {where}",
            hint="the ingress controller's labels: -l app.kubernetes.io/component=controller "
            "(ingress-nginx), -l app.kubernetes.io/name=traefik; and its --namespace",
        )

    def read(pod: str) -> Counts:
        tally = new_tally()
        source = f"pod/{pod}"
        failed = follow_log(
            cluster, pod, lambda read1: _pump(read1, tally), since_seconds, container
        )
        counts = tally.close()
        counts.sources.append(source)
        if failed:
            counts.sources_failed[source] = failed
        return counts

    total = new_tally().close()
    with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
        for counts in pool.map(read, pods):
            total.merge(counts)
    return total
