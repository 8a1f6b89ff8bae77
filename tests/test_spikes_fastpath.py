"""Logs whose formats are interleaved line by line (several controllers' logs merged, a
customised log-format beside the default) are counted block by block, not line by line,
and exactly as reading them line by line counts them."""

from __future__ import annotations

import dataclasses
import random
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfix.spikes import aggregate, synth
from binderfix.spikes.aggregate import Counts, Tally
from binderfix.spikes.grep import Grep


class _Reference(Tally):
    """The reference: every line holding /build parsed on its own (parse_line)."""

    def _one_format(self, *_args: object) -> bool:
        return False

    def _mixed_block(self, *_args: object) -> bool:
        return False


def _lines(fmt: str, seed: int, **kw: object) -> list[bytes]:
    return [
        line.encode()
        for line in synth.generate(
            fmt,
            minutes=2,
            builds_per_minute=40,
            burst=None,
            seed=seed,
            **kw,  # type: ignore[arg-type]
        )
    ]


_POOL = {fmt: _lines(fmt, 11, more_repos=200, ragged=True) for fmt in synth.FORMATS}
_KUBECTL = [b"", b"[pod/ingress-a/controller] ", b"2026-11-01T00:00:00.123456789Z "]
_ODD = [  # lines of no known request: each sends its block to the line-by-line path
    b"",
    b"\x00\xff/build/\xfe binary",
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /build/nosuch/x HTTP/1.1" 200 1 ',
    b'1.2.3.4 - - [31/Feb/2024:10:04:05 +0000] "GET /build/gh/a/b/c HTTP/1.1" 200 1 ',
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /v2/gh/a/b HTTP/1.1" 200 1 "https://x/build/gh/a/b" ',
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /build/gh/a/b/c HTTP/1.1" 200 1 "-" "x"',
    b"[W 2026-11-30 10:00:00.123 BinderHub web:2348] 404 GET /build/gh/a/b/c (10.0.0.1): No",
    b'{"ClientHost":"1.2.3.4","DownstreamStatus":200,"RequestPath":"/build/gh/a\\u002fb/c",'
    b'"StartUTC":"2026-11-01T00:00:00Z"}',
]


def _everything(c: Counts) -> dict:
    """All the counts; which format a line is labelled with may follow where blocks are
    cut (the format tried first changes between blocks), their total may not."""
    fields = dataclasses.asdict(c)
    fields["formats"] = sum(c.formats.values())
    return fields


def _interleaved(seed: int, n: int, odd: float = 0.0, kubectl: bool = False) -> bytes:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < odd:
            out.append(rng.choice(_ODD))
            continue
        fmt = rng.choice(synth.FORMATS)
        line = rng.choice(_POOL[fmt])
        out.append((rng.choice(_KUBECTL) if kubectl else b"") + line)
    return b"\n".join(out) + b"\n"


def test_a_log_of_every_format_interleaved_is_counted_block_by_block() -> None:
    data = _interleaved(seed=1, n=3000)
    fast = Tally(grep=Grep("gh"))
    with mock.patch.object(Tally, "_lines", side_effect=AssertionError("line by line")):
        fast.feed(data)
        counts = fast.close()
    reference = _Reference(grep=Grep("gh"))
    reference.feed(data)
    expected = reference.close()
    assert dataclasses.asdict(counts) == dataclasses.asdict(expected)
    assert set(counts.formats) == set(synth.FORMATS)  # each line labelled with its own
    assert counts.build_requests == counts.build_lines == data.count(b"/build")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10**6),
    st.integers(1, 2500),
    st.sampled_from([0.0, 0.001, 0.05, 0.5]),
    st.booleans(),
    st.sampled_from([300, 4096, 64 << 10]),
    st.sampled_from([None, "gh", "user1[0-9]", "HEAD$"]),
)
def test_interleaved_formats_count_what_reading_line_by_line_counts(
    seed: int, n: int, odd: float, kubectl: bool, piece: int, word: str | None
) -> None:
    data = _interleaved(seed, n, odd, kubectl)
    grep = Grep(word) if word else None
    fast, reference = Tally(grep=grep), _Reference(grep=grep)
    with mock.patch.object(aggregate, "PIECE", piece):  # blocks cut small, most taken whole
        for at in range(0, len(data), 50_000):
            fast.feed(data[at : at + 50_000])
    reference.feed(data)
    a, b = fast.close(), reference.close()
    assert _everything(a) == _everything(b)
    assert sum(a.formats.values()) == a.build_requests


@pytest.mark.parametrize("share", [19, 1.38, 0.05])  # 5%, 42%, 95% of the lines /build
def test_each_share_of_build_lines_counts_what_reading_line_by_line_counts(share: float) -> None:
    data = b"".join(
        line + b"\n"
        for line in _lines("ingress-nginx", 3, other_per_build=share, more_repos=500, ragged=True)
    )
    fast, reference = Tally(), _Reference()
    fast.feed(data)
    reference.feed(data)
    assert dataclasses.asdict(fast.close()) == dataclasses.asdict(reference.close())
