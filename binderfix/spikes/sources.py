"""Where log lines come from: files (plain or gzip), standard input, or pods' logs.

Pod logs are read through the Kubernetes API concurrently, one thread per pod, each
streaming into its own tally; a pod that vanishes while being read is named in the
summary, and what was read from the others still counts.
"""

from __future__ import annotations

import gzip
import io
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.spikes.aggregate import Counts, Tally

CHUNK = 1 << 20


def _open(name: str) -> IO[bytes]:
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            raw = open(name, "rb")  # noqa: SIM115 (closed by the caller)
        except OSError as exc:
            raise BinderfixError(
                f"cannot read {name}: {exc.strerror}",
                hint="name log files, or - for standard input",
            ) from None
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def lines_of(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream in big reads; a final line without newline counts too."""
    reader = (
        io.BufferedReader(stream, CHUNK) if not isinstance(stream, io.BufferedReader) else stream
    )
    yield from reader


PARALLEL_FROM = 32 << 20  # a plain file this large is split across the machine's cores


def _ranges(path: str, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of a file, cut just after a newline, so no line is split."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as fh:
        for i in range(1, parts):
            fh.seek(size * i // parts)
            fh.readline()
            cuts.append(max(fh.tell(), cuts[-1]))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _until(lines: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Lines until ``size`` bytes have been read (a range ends just after a newline)."""
    for line in lines:
        if size <= 0:
            return
        size -= len(line)
        yield line


def _tally_range(args: tuple[str, int, int, int, bytes | None]) -> Counts:
    path, start, end, bucket, grep = args
    tally = Tally(bucket, grep)
    with open(path, "rb") as fh:
        fh.seek(start)
        tally.feed_lines(_until(io.BufferedReader(fh, CHUNK), end - start))  # type: ignore[arg-type]
    return tally.counts


def tally_large_file(path: str, bucket: int, grep: bytes | None) -> Counts | None:
    """Tally a big plain file in one process per core; None if it is not worth it."""
    workers = os.cpu_count() or 1
    if workers < 2 or not os.path.isfile(path) or os.path.getsize(path) < PARALLEL_FROM:
        return None
    with open(path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            return None  # gzip cannot be read from the middle
    total = Counts(bucket_seconds=bucket)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for counts in pool.map(
            _tally_range, [(path, a, b, bucket, grep) for a, b in _ranges(path, workers)]
        ):
            total.merge(counts)
    return total


def tally_files(names: Iterable[str], tally: Tally) -> None:
    for name in names:
        stream = _open(name)
        try:
            tally.feed_lines(lines_of(stream))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            tally.counts.sources_failed[name] = f"read stopped: {exc}"
        finally:
            if name != "-":
                stream.close()


def tally_pods(
    cluster: Cluster, selector: str, since_seconds: int | None, bucket: int, grep: bytes | None
) -> Counts:
    """Read every matching pod's log through the API, concurrently, into one Counts."""
    import json

    from kubernetes.client.exceptions import ApiException

    from binderfix.kube.client import api_errors

    with api_errors(f"listing pods with {selector!r} in namespace {cluster.namespace!r}"):
        response = cluster.core.list_namespaced_pod(
            cluster.namespace, label_selector=selector, _preload_content=False
        )
    pods = [p["metadata"]["name"] for p in json.loads(response.data).get("items") or []]
    if not pods:
        raise BinderfixError(
            f"no pods match {selector!r} in namespace {cluster.namespace!r}",
            hint="pass the ingress controller's labels with --selector, and --namespace",
        )

    def read(pod: str) -> Counts:
        tally = Tally(bucket, grep)
        kwargs = {"since_seconds": since_seconds} if since_seconds else {}
        try:
            stream = cluster.core.read_namespaced_pod_log(
                pod, cluster.namespace, _preload_content=False, **kwargs
            )
            pending = b""
            for chunk in stream.stream(CHUNK):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    tally.feed(line)
            if pending:
                tally.feed(pending)
        except ApiException as exc:
            tally.counts.sources_failed[f"pod/{pod}"] = (
                "gone while being read"
                if exc.status == 404
                else (f"API answered {exc.status} {exc.reason}")
            )
        except OSError as exc:
            tally.counts.sources_failed[f"pod/{pod}"] = f"read stopped: {exc}"
        return tally.counts

    total = Counts(bucket_seconds=bucket)
    with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
        for counts in pool.map(read, sorted(pods)):
            total.merge(counts)
    return total
