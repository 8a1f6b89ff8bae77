"""`binderfix spikes` on logs and options a user should not have to think about: a line dated
1970, 9999 or next year among this year's, absurd buckets, a closed standard input, a
pattern grep rejects, a report to a folder that is not there. Memory stays bounded, the
spike is still found from the log's real end, and every refusal is one line and exit 2."""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

import pytest

from binderfix.spikes import synth
from tests.conftest import BINDERFIX, run
from tests.helpers import START, spikes_json, write_log

LIMIT = 512 << 20  # address space for the CLI: some ten times what it needs for these logs


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _with_line_dated(tmp_path: Path, year: str, first: bool = False) -> Path:
    """The planted-spike log (2026-11-01, two hours) with one more /build line, dated
    ``year`` instead: before the others or after them."""
    log = write_log(tmp_path / "access.log", "ingress-nginx")
    lines = log.read_text().splitlines()
    stray = next(line for line in lines if "/build/gh/" in line).replace("/2026:", f"/{year}:")
    log.write_text("\n".join([stray, *lines] if first else [*lines, stray]) + "\n")
    return log


def test_a_line_from_1970_is_an_outlier_and_memory_stays_bounded(tmp_path: Path) -> None:
    log = _with_line_dated(tmp_path, "1970", first=True)
    out = subprocess.run(
        [BINDERFIX, "spikes", str(log), "--json", "--html", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        preexec_fn=_limited,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr[-2000:]  # the spike, found within the limit
    report = json.loads(out.stdout)
    assert (report["first"], report["last"]) == ("2026-11-01 00:00", "2026-11-01 02:00")
    assert report["outliers"] == {
        "requests": 1,
        "first": "1970-11-01 00:00",
        "last": "1970-11-01 00:01",
    }
    assert len(report["series"]) == 120 and report["spikes"][0]["start"] == "2026-11-01 01:00"
    text = run(BINDERFIX, "spikes", str(log)).stdout
    assert "1 request dated far outside that span (1970-11-01 00:00" in text


def test_a_line_dated_9999_and_a_bucket_of_thousands_of_years_give_a_report(
    tmp_path: Path,
) -> None:
    log = _with_line_dated(tmp_path, "9999")
    code, report = spikes_json(str(log))
    assert code == 1 and report["outliers"]["requests"] == 1
    assert report["outliers"]["first"] == "9999-11-01 00:00"
    assert report["last"] == "2026-11-01 02:00"
    out = run(BINDERFIX, "spikes", str(log), "--bucket", "3000000d")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "1970-01-01 00:00 to after 9999-12-31 23:59 UTC" in out.stdout  # one bucket holds all


def test_since_counts_from_the_real_end_not_from_a_line_dated_in_the_future(
    tmp_path: Path,
) -> None:
    """The spike ends 50 minutes before the log does; a line dated a year later is no end."""
    code, report = spikes_json(str(_with_line_dated(tmp_path, "2027")), "--since", "1h")
    assert code == 1 and report["spikes"][0]["start"] == "2026-11-01 01:00"
    assert report["outliers"]["requests"] == 1


def test_a_log_with_real_gaps_keeps_all_of_its_span(tmp_path: Path) -> None:
    """Two hours, then (a restart, a day later) another two: no part is an outlier."""
    first = list(synth.generate("traefik", start=START, burst=None, seed=1))
    later = list(
        synth.generate("traefik", start=START + synth.dt.timedelta(days=1), burst=None, seed=2)
    )
    log = tmp_path / "gaps.log"
    log.write_text("\n".join(first + later) + "\n")
    _code, report = spikes_json(str(log))
    assert report["outliers"]["requests"] == 0
    assert (report["first"], report["last"]) == ("2026-11-01 00:00", "2026-11-02 02:00")


def test_standard_input_closed_is_an_error_but_empty_is_an_empty_log() -> None:
    closed = subprocess.run(f"{BINDERFIX} spikes - <&-", shell=True, capture_output=True, text=True)
    assert closed.returncode == 2 and "Traceback" not in closed.stderr
    assert closed.stderr.startswith("binderfix: error: -: standard input is closed\n  hint: ")
    empty = subprocess.run(
        [BINDERFIX, "spikes", "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert empty.returncode == 0 and "0 lines" in empty.stdout


@pytest.mark.parametrize("word", ["[", "a[b", "x\\", "[[:nosuch:]]", "[:alpha:]", "a\\{1"])
def test_a_pattern_grep_rejects_is_rejected(tmp_path: Path, word: str) -> None:
    log = write_log(tmp_path / "access.log", "binderhub", minutes=5)
    grep = subprocess.run(["grep", "--", word, str(log)], capture_output=True)
    assert grep.returncode == 2  # what the runbook's pipeline would have said
    out = run(BINDERFIX, "spikes", str(log), "--grep", word)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("binderfix: error: --grep:") and "hint:" in out.stderr


def test_html_into_a_missing_folder_is_an_error_before_reading(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "traefik", minutes=5)
    out = run(BINDERFIX, "spikes", str(log), "--html", str(tmp_path / "nope" / "r.html"))
    assert out.returncode == 2 and out.stdout == ""
    assert "no folder" in out.stderr and "hint:" in out.stderr
    assert not (tmp_path / "nope").exists()


def test_a_missing_file_is_named_once_with_a_hint(tmp_path: Path) -> None:
    out = run(BINDERFIX, "spikes", str(tmp_path / "nope.log"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("nope.log") == 1, out.stderr
    assert out.stderr.splitlines()[1].startswith("  hint: name log files")


def test_two_requests_sixty_years_apart_are_a_sparse_series_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """Too few to say which is the stray: both kept, the series lists the two buckets."""
    lines = [
        line
        for line in synth.generate("traefik", start=START, minutes=1, seed=3)
        if "/build/" in line
    ][:2]
    log = tmp_path / "two.log"
    log.write_text(lines[0].replace("/2026:", "/1970:") + "\n")
    with log.open("a") as fh:
        fh.write(lines[1] + "\n")
    out = subprocess.run(
        [BINDERFIX, "spikes", str(log), "--json", "--bucket", "1s"],
        capture_output=True,
        text=True,
        preexec_fn=_limited,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert [p["requests"] for p in report["series"]] == [1, 1]
    assert report["first"].startswith("1970-11-01") and report["last"].startswith("2026-11-01")
    chart = run(BINDERFIX, "spikes", str(log), "--html", str(tmp_path / "r.html"))
    assert chart.returncode == 0 and "requests per" in chart.stdout
