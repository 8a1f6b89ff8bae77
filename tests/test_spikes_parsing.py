"""Access-log lines, /build specs and grep words, read the way their writers meant them;
garbage in any amount and any cut never raises and never miscounts a line."""

from __future__ import annotations

import calendar
from collections import Counter
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfix.spikes import synth
from binderfix.spikes.aggregate import Counts, Tally
from binderfix.spikes.formats import minute_epoch, minute_of, parse_line
from binderfix.spikes.grep import Grep
from tests.helpers import counts_summary

# Real lines: the 2018 one is quoted in the field notes; the others follow each format's
# documented layout (ingress-nginx's default log-format-upstream, Traefik's CLF, and
# binderhub/log.py's message through traitlets' and tornado's log formatters).
LINES = {
    "nginx-ingress": b'10.128.0.2 - [10.128.0.2] - - [01/Jun/2018:23:52:27 +0000] "GET /build/gh/SamLau95/nbinteract-image/master HTTP/2.0" 200 327 "https://www.nbinteract.com/" "Mozilla/5.0" 48 0.878 [prod-binder-8585] 10.12.0.184:8585 344 0.878 200',
    "ingress-nginx": b'203.0.113.9 - - [01/Jun/2024:10:04:05 +0200] "GET /build/gh/org/repo/feature/x?token=y HTTP/1.1" 200 1534 "https://mybinder.org/v2/gh/org/repo/feature/x" "Mozilla/5.0 (X11)" 612 30.002 [prod-binder-80] [] 10.12.0.184:8585 1534 30.002 200 4a1e0b8f7c6d5e4f3a2b1c0d9e8f7a6b',
    "traefik": b'198.51.100.7 - - [01/Jun/2026:12:00:01 +0000] "GET /build/gl/group%2Fsub%2Fproject/main HTTP/2.0" 200 - "-" "curl/8.4.0" 1042 "prod-binder@kubernetes" "http://10.12.0.184:8585" 12ms',
    "binderhub": b"[I 2024-05-01 12:00:00.123 BinderHub log:135] 200 GET /build/gh/org/repo/main (anon@10.0.0.1) 12.34ms",
}


def test_each_format_is_recognised_with_its_fields() -> None:
    assert parse_line(LINES["nginx-ingress"]) == (
        "nginx-ingress",
        (
            b"10.128.0.2",
            b"01/Jun/2018:23:52:27 +0000",
            b"/build/gh/SamLau95/nbinteract-image/master",
            b"200",
        ),
    )
    assert parse_line(LINES["ingress-nginx"]) == (
        "ingress-nginx",
        (
            b"203.0.113.9",
            b"01/Jun/2024:10:04:05 +0200",
            b"/build/gh/org/repo/feature/x",
            b"200",
        ),
    )
    assert parse_line(LINES["traefik"])[0] == "traefik"  # type: ignore[index]
    assert parse_line(LINES["binderhub"]) == (
        "binderhub",
        (b"10.0.0.1", b"2024-05-01 12:00:00", b"/build/gh/org/repo/main", b"200"),
    )


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (  # tornado's own formatter, anonymous user, a 4xx at warning level
            b"[W 240501 12:00:59 log:135] 429 GET /build/gh/a/b/HEAD (@10.1.2.3) 0.50ms",
            (b"10.1.2.3", b"240501 12:00:59", b"/build/gh/a/b/HEAD", b"429"),
        ),
        (  # a redirect logs its target; a user name holding '@'
            b"[I 2024-05-01 12:00:00.001 BinderHub log:135] 302 GET /build/gh/a/b -> /build/gh/a/b/HEAD (me@example.org@10.0.0.2) 1.00ms",
            (b"10.0.0.2", b"2024-05-01 12:00:00", b"/build/gh/a/b", b"302"),
        ),
        (  # `kubectl logs --prefix --timestamps`
            b"[pod/ingress-nginx-controller-7d9f/controller] 2024-06-01T08:04:05.123456789Z "
            + LINES["ingress-nginx"],
            (
                b"203.0.113.9",
                b"01/Jun/2024:10:04:05 +0200",
                b"/build/gh/org/repo/feature/x",
                b"200",
            ),
        ),
        (  # a customised ingress-nginx log format still starting like the CLF
            b'192.0.2.1 - - [01/Jun/2024:10:04:05 +0000] "GET /build/gh/a/b/c HTTP/1.1" 200 5 extra',
            (b"192.0.2.1", b"01/Jun/2024:10:04:05 +0000", b"/build/gh/a/b/c", b"200"),
        ),
    ],
)
def test_variants_of_the_formats(line: bytes, fields: tuple[bytes, ...]) -> None:
    parsed = parse_line(line)
    assert parsed is not None and parsed[1] == fields


def test_times_in_any_zone_are_utc() -> None:
    minute, second = minute_of(b"01/Jun/2024:10:04:05 +0200")
    assert (minute_epoch(minute), second) == (calendar.timegm((2024, 6, 1, 8, 4, 0)), 5)
    assert minute_epoch(minute_of(b"01/Jun/2024:02:34:05 -0530")[0]) == calendar.timegm(
        (2024, 6, 1, 8, 4, 0)
    )
    assert minute_epoch(minute_of(b"240601 08:04:59")[0]) == calendar.timegm((2024, 6, 1, 8, 4, 0))
    for bad in (
        b"31/Feb/2024:10:04:05 +0000",
        b"01/Foo/2024:10:04:05 +0000",
        b"01/Jun/2024:25:04:05 +0000",
    ):
        assert minute_epoch(minute_of(bad)[0]) is None


START = synth.dt.datetime(2026, 11, 1, tzinfo=synth.dt.UTC)

# -- a log fed in any pieces --------------------------------------------------------------

_GOOD = [
    line.encode()
    for fmt in synth.FORMATS
    for line in synth.generate(fmt, minutes=2, builds_per_minute=6, burst=None, seed=3)
]
_JUNK = [
    b"",
    b"\x00\xff/build/\xfe binary",
    b"GET /build/gh/a/b/c",
    b"/builder and /buildings",
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /build/nosuch/x HTTP/1.1" 200 1 ',
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /build/gh/%zz%ff/r/%00 HTTP/1.1" 200 1 ',
    b'1.2.3.4 - - [31/Feb/2024:10:04:05 +0000] "GET /build/gh/a/b/c HTTP/1.1" 200 1 ',
    b'1.2.3.4 - - [01/Jun/2024:10:04:05 +0000] "GET /v2/gh/a/b/c HTTP/1.1" 200 1 "https://x/build/gh/a/b" ',
    b"x" * 300 + b"/build/gh/a/b/c",
]


def _tally(data: bytes, cuts: list[int], bucket: int = 60, word: str | None = None) -> Counts:
    tally = Tally(bucket, Grep(word) if word else None)
    last = 0
    for cut in sorted(cuts):
        tally.feed(data[last:cut])
        last = cut
    tally.feed(data[last:])
    return tally.close()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_GOOD + _JUNK) | st.binary(max_size=120), max_size=60),
    st.lists(st.integers(min_value=0, max_value=20_000), max_size=8),
    st.sampled_from([60, 30, 300]),
    st.booleans(),
)
def test_counts_do_not_depend_on_how_the_log_is_cut(
    lines: list[bytes], cuts: list[int], bucket: int, newline_at_end: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    whole = _tally(data, [], bucket, "a")
    assert counts_summary(
        _tally(data, [c % (len(data) + 1) for c in cuts], bucket, "a")
    ) == counts_summary(whole)
    expected_lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    split = data.split(b"\n")[:expected_lines]
    assert whole.lines == expected_lines
    assert whole.build_lines == sum(b"/build" in line for line in split)
    assert whole.grep_lines == sum(b"/build" in line and b"a" in line for line in split)
    assert whole.build_requests == sum(whole.statuses.values()) == sum(whole.buckets.values())


class _SlowTally(Tally):
    """Every block read line by line: what the fast path must agree with."""

    def _block(self, buf: bytes, start: int, end: int, whole: bool) -> None:
        self._lines(buf[start + 1 : end - 1].split(b"\n"))


_BY_FORMAT = {
    fmt: [line.encode() for line in synth.generate(fmt, minutes=3, burst=None, seed=5)]
    for fmt in synth.FORMATS
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(  # runs of lines in one format, as logs are, with junk between them
        st.tuples(
            st.sampled_from([*synth.FORMATS, "junk"]), st.integers(1, 60), st.integers(0, 100)
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([100, 1000, 64 << 10]),
)
def test_the_fast_path_counts_what_reading_line_by_line_counts(
    runs: list[tuple[str, int, int]], piece: int
) -> None:
    from binderfix.spikes import aggregate

    lines: list[bytes] = []
    for fmt, n, at in runs:
        pool = _JUNK if fmt == "junk" else _BY_FORMAT[fmt]
        lines += [pool[(at + i) % len(pool)] for i in range(n)]
    data = b"\n".join(lines) + b"\n"
    fast, slow = Tally(grep=Grep("gh")), _SlowTally(grep=Grep("gh"))
    with mock.patch.object(aggregate, "PIECE", piece):  # blocks cut small, most taken whole
        fast.feed(data)
    slow.feed(data)
    a, b = fast.close(), slow.close()
    assert counts_summary(a) == counts_summary(b)
    assert sum(a.formats.values()) == a.build_requests


def test_a_line_longer_than_anything_kept_is_counted_and_skipped(monkeypatch) -> None:  # noqa: ANN001
    from binderfix.spikes import aggregate

    monkeypatch.setattr(aggregate, "MAX_LINE", 1000)
    tally = Tally(grep=Grep("needle"))
    good = synth.format_line(
        "traefik", synth.dt.datetime(2026, 1, 1), "1.2.3.4", "/build/gh/a/b/c", 200, "x"
    )
    tally.feed(good.encode() + b"\n" + b"/build/gh/" + b"y" * 700)
    tally.feed(b"z" * 700 + b"needle")  # past MAX_LINE: not kept, still read for grep
    tally.feed(b"w" * 5000 + b"\n" + good.encode())
    counts = tally.close()
    assert (counts.lines, counts.build_lines, counts.build_requests) == (3, 3, 2)
    assert counts.skipped == Counter({"line too long": 1})
    assert (counts.grep_lines, counts.grep_other) == (1, Counter({"line too long": 1}))


def test_memory_stays_bounded_by_what_is_kept(monkeypatch) -> None:  # noqa: ANN001
    """Every request from a new client for a new ref: clients and refs are folded, the
    counts still add up."""
    from binderfix.spikes import aggregate

    monkeypatch.setattr(aggregate, "MAX_CLIENTS", 500)
    monkeypatch.setattr(aggregate, "MAX_REFS", 300)
    tally = Tally()
    for i in range(3000):
        client = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        path = f"/build/gh/org/repo{i % 3}/{i:040x}"
        tally.feed(synth.format_line("traefik", START, client, path, 200, "ua").encode() + b"\n")
    counts = tally.close()
    assert counts.build_requests == 3000 == sum(counts.repos.values())
    assert (
        len(counts.clients) <= 500 and sum(counts.clients.values()) + counts.clients_folded == 3000
    )
    assert all(len(refs) <= 101 for refs in counts.refs.values())
    assert sum(n for refs in counts.refs.values() for n in refs.values()) == 3000


def test_a_big_file_is_cut_for_the_cores_only_at_newlines(tmp_path) -> None:  # noqa: ANN001
    from binderfix.spikes.sources import _ranges

    log = tmp_path / "log"
    log.write_bytes(b"a" * 3_000_000 + b"\n" + b"b\n" * 10 + b"c" * 10)
    for parts, first in ((2, 1.0), (3, 1.04), (7, 0.5)):
        ranges = _ranges(str(log), parts, first)
        assert ranges[0][0] == 0 and ranges[-1][1] == log.stat().st_size
        data = log.read_bytes()
        assert all(data[b - 1 : b] == b"\n" for _a, b in ranges[:-1])
        assert all(a == b for (_x, a), (b, _y) in zip(ranges, ranges[1:], strict=False))
