"""Formats met beyond the ingress controller's plain log: Traefik's JSON access log, BinderHub's
own warnings about /build requests, and lines as the container runtime stores them on a node
(/var/log/pods: CRI records; Docker's json-file). Each gives the counts of the plain log."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfix.spikes import synth
from binderfix.spikes.aggregate import BINDERHUB_NOTE, Tally
from binderfix.spikes.formats import parse_line
from binderfix.spikes.grep import Grep
from tests.conftest import BINDERFIX, run
from tests.helpers import START, counts_summary, runbook, spikes_json, write_log

# A line as Traefik v3 writes it with accessLog.format=json (keys sorted, Go's encoder),
# the fields named in Traefik's access-log documentation.
TRAEFIK_JSON = (
    b'{"ClientAddr":"203.0.113.9:51234","ClientHost":"203.0.113.9","ClientPort":"51234",'
    b'"ClientUsername":"-","DownstreamContentSize":1534,"DownstreamStatus":200,'
    b'"Duration":30002000000,"OriginContentSize":1534,"OriginDuration":30001000000,'
    b'"OriginStatus":200,"Overhead":1000000,"RequestAddr":"mybinder.org",'
    b'"RequestContentSize":0,"RequestCount":88,"RequestHost":"mybinder.org",'
    b'"RequestMethod":"GET","RequestPath":"/build/gh/org/repo/feature/x?build_token=y",'
    b'"RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https",'
    b'"RetryAttempts":0,"RouterName":"binder-binderhub@kubernetes",'
    b'"ServiceAddr":"10.12.0.184:8585","ServiceName":"binder-binderhub-80@kubernetes",'
    b'"ServiceURL":"http://10.12.0.184:8585","StartLocal":"2024-06-01T10:04:05.123456789+02:00",'
    b'"StartUTC":"2024-06-01T08:04:05.123456789Z","entryPointName":"websecure",'
    b'"level":"info","msg":"","time":"2024-06-01T10:04:35+02:00"}'
)
FIELDS = (b"203.0.113.9", b"2024-06-01T08:04:05", b"/build/gh/org/repo/feature/x", b"200")


def test_traefik_json_lines_are_read_by_field_name() -> None:
    assert parse_line(TRAEFIK_JSON) == ("traefik-json", FIELDS)
    record = json.loads(TRAEFIK_JSON)
    # Fields dropped (accessLog.fields.names: StartUTC, ClientHost: drop), any order:
    # the time from `time` (with its offset), the client from ClientAddr.
    for name in ("StartUTC", "StartLocal", "ClientHost", "DownstreamStatus"):
        del record[name]
    shuffled = json.dumps(dict(reversed(record.items()))).encode()
    assert parse_line(shuffled) == (
        "traefik-json",
        (b"203.0.113.9", b"2024-06-01T08:04:35", FIELDS[2], b"200"),  # OriginStatus
    )
    escaped = TRAEFIK_JSON.replace(b"feature/x?", b"a\\u0026b?")  # Go escapes & < >
    assert parse_line(escaped)[1][2] == b"/build/gh/org/repo/a&b"  # type: ignore[index]
    prefixed = b"[pod/traefik-7d9f/traefik] 2024-06-01T08:04:05.2Z " + TRAEFIK_JSON
    assert parse_line(prefixed) == ("traefik-json", FIELDS)
    for not_one in (b'{"msg":"/build/gh/a/b/c"}', TRAEFIK_JSON[:-20], b'{"RequestPath": 1}'):
        assert parse_line(not_one) is None


def test_traefik_json_counts_what_its_common_format_counts(tmp_path: Path) -> None:
    common = write_log(tmp_path / "common.log", "traefik", seed=7)
    as_json = write_log(tmp_path / "json.log", "traefik-json", seed=7)  # the same traffic
    code_common, a = spikes_json(str(common), "--grep", "flooding")
    code_json, b = spikes_json(str(as_json), "--grep", "flooding")
    assert code_common == code_json == 1
    assert a["formats"] == {"traefik": a["build_requests"]}
    assert b["formats"] == {"traefik-json": b["build_requests"]}
    assert a["build_requests"] == runbook(common) == b["build_requests"] == runbook(as_json)
    for key in ("formats", "sources"):
        del a[key], b[key]
    assert a == b


def test_binderhub_warnings_about_a_build_are_recognised_not_counted_twice(
    tmp_path: Path,
) -> None:
    """tornado writes a warning or error line about a failed request, and its access line."""
    lines = list(synth.generate("binderhub", start=START, minutes=30, burst=None, seed=2))
    notes = [
        "[W 2026-11-01 00:10:00.001 BinderHub web:2348] 404 GET /build/nosuch/a/b (10.0.0.1): "
        "No provider found for prefix nosuch",
        "[E 261101 00:11:00 web:2348] 500 GET /build/gh/user/repo/ref (10.0.0.1): "
        "Failed to resolve ref for gh:user/repo",
        "[E 2026-11-01 00:12:00.002 BinderHub web:1875] Uncaught exception GET "
        "/build/gh/user/repo/ref?build_token=[secret] (10.0.0.2)",
        "    HTTPServerRequest(protocol='https', host='mybinder.org', method='GET', "
        "uri='/build/gh/user/repo/ref', version='HTTP/1.1', remote_ip='10.0.0.2')",
    ]
    log = tmp_path / "binderhub.log"
    log.write_text("\n".join(lines[:100] + notes + lines[100:]) + "\n")
    _code, report = spikes_json(str(log), "--grep", "user/repo")
    assert report["build_requests"] == sum("/build/" in line for line in lines)
    assert report["skipped"] == {BINDERHUB_NOTE: 4}
    assert report["grep"]["other"] == {BINDERHUB_NOTE: 3}
    assert report["grep_lines"] == runbook(log, "user/repo")


# -- lines as the container runtime stores them on a node ---------------------------------


def cri(lines: list[str], split: int = 0, stream: str = "stdout") -> str:
    """What containerd writes to /var/log/pods/.../0.log; with ``split``, every line longer
    than that comes as partial (P) records and a last full (F) one, as for long lines."""
    out = []
    for i, line in enumerate(lines):
        stamp = f"2026-11-01T00:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i:09d}Z {stream}"
        pieces = [line[at : at + split] for at in range(0, len(line), split)] if split else []
        for piece in pieces[:-1]:
            out.append(f"{stamp} P {piece}")
        out.append(f"{stamp} F {pieces[-1] if pieces else line}")
    return "\n".join(out) + "\n"


def docker(lines: list[str], split: int = 0) -> str:
    """What Docker's json-file driver writes; with ``split``, long lines in several records."""
    out = []
    for i, line in enumerate(lines):
        text = line + "\n"
        pieces = [text[at : at + split] for at in range(0, len(text), split)] if split else [text]
        for piece in pieces:
            record = {"log": piece, "stream": "stdout", "time": f"2026-11-01T00:00:{i % 60:02d}Z"}
            out.append(json.dumps(record, separators=(",", ":")))
    return "\n".join(out) + "\n"


def _same_report(a: dict, b: dict) -> None:
    del a["sources"], b["sources"]
    assert a == b


def test_a_nodes_pod_log_files_count_as_the_plain_log(tmp_path: Path) -> None:
    plain = write_log(tmp_path / "plain.log", "traefik")
    lines = plain.read_text().splitlines()
    pods = tmp_path / "var/log/pods/ingress_traefik-7d9f_0d5e/traefik"
    pods.mkdir(parents=True)
    (pods / "0.log.20261101-010000.gz").write_bytes(gzip.compress(cri(lines[:4000]).encode()))
    (pods / "0.log").write_text(cri(lines[4000:], split=100))  # long lines in pieces
    containers = tmp_path / "var/log/containers"
    containers.mkdir(parents=True)
    (containers / "traefik-7d9f_ingress_traefik-abc.log").symlink_to(pods / "0.log")
    docker_log = tmp_path / "abc-json.log"
    docker_log.write_text(docker(lines, split=150))
    rotated = str(pods / "0.log.20261101-010000.gz")
    _code, expected = spikes_json(str(plain), "--grep", "flood.ng")
    for args in (
        [rotated, str(containers / "traefik-7d9f_ingress_traefik-abc.log")],
        [str(docker_log)],
    ):
        code, report = spikes_json(*args, "--grep", "flood.ng")
        assert code == 1
        _same_report(report, dict(expected))
    piped = run(
        BINDERFIX, "spikes", "-", "--json", "--grep", "flood.ng", input=cri(lines, split=64)
    )
    _same_report(json.loads(piped.stdout), dict(expected))


_PLAIN = [line for fmt in synth.FORMATS for line in synth.generate(fmt, minutes=1, seed=3)]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_PLAIN) | st.text(max_size=80).map(str.strip), max_size=40),
    st.lists(st.integers(min_value=0, max_value=40_000), max_size=6),
    st.sampled_from(["cri", "docker"]),
    st.sampled_from([0, 7, 120]),
)
def test_wrapped_logs_count_as_unwrapped_however_they_are_cut(
    lines: list[str], cuts: list[int], wrapper: str, split: int
) -> None:
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    plain = ("\n".join(lines) + "\n").encode() if lines else b""
    wrapped = (cri(lines, split) if wrapper == "cri" else docker(lines, split)).encode()
    if not lines:
        wrapped = b""
    expected, tally = Tally(grep=Grep("a")), Tally(grep=Grep("a"))
    expected.feed(plain)
    last = 0
    for cut in sorted(c % (len(wrapped) + 1) for c in cuts):
        tally.feed(wrapped[last:cut])
        last = cut
    tally.feed(wrapped[last:])
    assert counts_summary(tally.close()) == counts_summary(expected.close())


def test_a_big_node_log_is_cut_for_the_cores_between_lines_not_records(
    tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    from binderfix.spikes import sources

    lines = list(synth.generate("ingress-nginx", start=START, minutes=60, seed=4))
    log = tmp_path / "0.log"
    log.write_text(cri(lines, split=40))  # every line in several records
    monkeypatch.setattr(sources, "PARALLEL_FROM", 1 << 10)
    monkeypatch.setattr(sources, "_cores", lambda: 7)
    data = log.read_bytes()
    for a, b in sources._ranges(str(log), 7, 1.04)[:-1]:
        assert data[a:b].endswith(b"\n") and b" P " not in data[data.rfind(b"\n", 0, b - 1) : b]
    split = sources._tally_in_parallel(str(log), Tally)
    expected = Tally()
    expected.feed(("\n".join(lines) + "\n").encode())
    assert split is not None and counts_summary(split) == counts_summary(expected.close())
