"""Log lines wrapped by the container runtime, unwrapped before their format is read. Pure.

On a node, /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log (and its links in
/var/log/containers/) holds each line the way the runtime wrote it:

- CRI (containerd, CRI-O): ``2026-11-30T10:00:00.123456789Z stdout F <line>``; a line
  longer than the runtime's buffer comes as ``P`` (partial) records and a last ``F`` one.
- Docker's json-file driver: ``{"log":"<line>\\n","stream":"stdout","time":"..."}``; a
  long line comes in records whose ``log`` has no newline but the last.

:class:`Unwrap` takes a log in pieces of any size and gives back the lines as the container
wrote them, so that every count is the one of the unwrapped log. Which wrapper (if any) is
decided by the first line; a line of another shape in a wrapped log passes through as it is.
"""

from __future__ import annotations

import json
import re

_STAMP = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) "
_CRI_FIRST = re.compile(_STAMP + rb"[FP] ")
_CRI_FULL = re.compile(rb"(?m)^" + _STAMP + rb"F ")
_CRI_PARTIAL = re.compile(rb"(?m)^" + _STAMP + rb"P ")
_CRI_ANY = re.compile(rb"(?m)^" + _STAMP + rb"(?:F |P ([^\n]*+)\n)")
_DOCKER_FIRST = re.compile(rb'\{"log":"')
DECIDE_WITHIN = 64 << 10  # bytes with no newline after which a log is taken as not wrapped
HOLD_AT_MOST = 16 << 20  # an unended record longer than this passes through as it is


def continues(record: bytes) -> bool:
    """Does the line inside this record (one line of the file, no newline) go on in the
    next record: a CRI ``P`` record, a json-file record whose ``log`` has no newline?"""
    if _CRI_FIRST.match(record):
        return _CRI_PARTIAL.match(record) is not None
    if _DOCKER_FIRST.match(record):
        try:
            log = json.loads(record)["log"]
        except (ValueError, KeyError, TypeError):
            return False
        return isinstance(log, str) and not log.endswith("\n")
    return False


def unwrap_cri(block: bytes) -> bytes:
    """Whole CRI records (``block`` starts a line and ends with a newline): their lines."""
    if _CRI_PARTIAL.search(block) is None:  # the usual case: one C-level pass
        return _CRI_FULL.sub(b"", block)
    return _CRI_ANY.sub(lambda m: m.group(1) or b"", block)


def unwrap_docker(block: bytes) -> bytes:
    """Whole json-file records (newline-ended): their ``log`` strings, joined. All of a
    block is decoded at once; if any record is broken, record by record."""
    body = block[:-1] if block.endswith(b"\n") else block
    try:
        records = json.loads(b"[" + body.replace(b"\n", b",") + b"]")
        return "".join(r["log"] for r in records).encode("utf-8", "surrogatepass")
    except (ValueError, KeyError, TypeError):
        pass
    out: list[bytes] = []
    for raw in body.split(b"\n"):
        try:
            record = json.loads(raw)
            out.append(record["log"].encode("utf-8", "surrogatepass"))
        except (ValueError, KeyError, TypeError, AttributeError):
            out.append(raw + b"\n")  # not a record: the line as it is
    return b"".join(out)


class Unwrap:
    """A log's bytes in, the lines inside the runtime's records out: ``feed(data)`` as often
    as needed, then ``close()``. ``plain`` once the log is known not to be wrapped (its
    bytes then pass through untouched, and the caller may skip this)."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "cri", "docker" or "plain", from the first line
        self._carry = b""  # a record not ended yet

    @property
    def plain(self) -> bool:
        return self.kind == "plain"

    def feed(self, data: bytes) -> bytes:
        """The next bytes of the log; the unwrapped bytes ready so far."""
        if self.kind == "plain":
            return data
        data = self._carry + data if self._carry else data
        self._carry = b""
        if self.kind is None:
            data = self._decide(data)
            if self.kind is None or self.kind == "plain":
                return data
        cut = data.rfind(b"\n") + 1
        if len(data) - cut > HOLD_AT_MOST:  # no record is that long: let the reader judge it
            return self._unwrap(data[:cut]) + data[cut:]
        self._carry = data[cut:]
        return self._unwrap(data[:cut]) if cut else b""

    def close(self) -> bytes:
        """What is left: a last record with no newline, unwrapped if it is a whole one."""
        rest, self._carry = self._carry, b""
        if self.kind is None:  # shorter than a line: judge it as it is
            self.kind = "plain"
            return rest
        if not rest or self.kind == "plain":
            return rest
        unwrapped = self._unwrap(rest + b"\n")
        return unwrapped[:-1] if unwrapped.endswith(b"\n") else unwrapped

    def _decide(self, data: bytes) -> bytes:
        """Set ``kind`` from the first non-empty line, holding bytes until it has ended."""
        start = len(data) - len(data.lstrip(b"\n"))
        end = data.find(b"\n", start)
        if end < 0 and len(data) - start < DECIDE_WITHIN:
            self._carry = data
            return b""
        if _CRI_FIRST.match(data, start):
            self.kind = "cri"
        elif _DOCKER_FIRST.match(data, start):
            self.kind = "docker"
        else:
            self.kind = "plain"
        return data

    def _unwrap(self, block: bytes) -> bytes:
        if not block:
            return b""
        if self.kind == "cri":
            return unwrap_cri(block)
        return unwrap_docker(block)
