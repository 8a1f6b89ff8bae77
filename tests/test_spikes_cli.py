"""`binderfix spikes` on log files, as an operator runs it: a planted spike in each format
is found with its window and repository, the counts are the ones grep gives on the same
file, and bad input is summarised, never a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from binderfix.spikes import synth
from tests.conftest import BINDERFIX, run
from tests.helpers import START, runbook, spikes_json, write_log


@pytest.mark.parametrize("fmt", synth.FORMATS)
def test_planted_spike_is_found_with_its_window_and_repository(tmp_path: Path, fmt: str) -> None:
    log = write_log(tmp_path / "access.log", fmt)
    code, report = spikes_json(str(log))
    assert code == 1
    assert report["build_lines"] == report["grep_lines"] == runbook(log)
    assert report["build_requests"] == runbook(log)  # every /build line here is a request
    assert report["formats"] == {fmt: report["build_requests"]}
    assert report["skipped"] == {} and report["lines"] == len(log.read_text().splitlines())
    (spike,) = report["spikes"]
    assert (spike["start"], spike["end"]) == ("2026-11-01 01:00", "2026-11-01 01:10")
    top = spike["repositories"][0]
    assert top["repo"] == "gh:someone/flooding-repo" and top["share"] > 0.5
    assert top["baseline_per_bucket"] == 0 and spike["flagged"] == ["gh:someone/flooding-repo"]
    assert [p["spike"] for p in report["series"]].count(True) == 10


@pytest.mark.parametrize("seed", range(3))
def test_a_steady_log_has_no_spike(tmp_path: Path, seed: int) -> None:
    log = write_log(tmp_path / "steady.log", "ingress-nginx", seed=seed, burst=None, minutes=300)
    code, report = spikes_json(str(log))
    assert (code, report["spikes"]) == (0, [])


def test_grep_word_prints_the_runbooks_number_and_what_is_behind_it(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "nginx-ingress")
    with log.open("a") as fh:  # lines mentioning the word and /build without being requests
        fh.write(
            '10.0.0.1 - [-] - - [01/Nov/2026:01:30:00 +0000] "GET /v2/gh/someone/flooding-repo/HEAD HTTP/1.1" 200 5 "https://mybinder.org/build/x" "ua" 1 0.1 [x] y 1 0.1 200\n'
        )
        fh.write("flooding /build/gh/someone/flooding-repo/HEAD in a line of no known format\n")
    out = run(BINDERFIX, "spikes", str(log), "--grep", "flooding")
    assert f"grep '/build' | grep 'flooding' | wc -l: {runbook(log, 'flooding')}" in out.stdout
    breakdown = out.stdout.split("wc -l:")[1]
    assert "gh:someone/flooding-repo" in breakdown
    assert "(mentions /build but is no /build/ request)   1" in breakdown
    assert "(unrecognised line)" in breakdown
    code, report = spikes_json(str(log), "--grep", "flood.ng-repo/[A-Z]")
    assert report["grep"]["lines"] == runbook(log, "flood.ng-repo/[A-Z]") > 0
    assert (
        sum(r["lines"] for r in report["grep"]["repositories"])
        + sum(report["grep"]["other"].values())
        == report["grep"]["lines"]
    )


def test_gzip_standard_input_and_several_files(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "binderhub")
    gz = tmp_path / "access.log.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    _code, from_gz = spikes_json(str(gz))
    _code, from_stdin = spikes_json("-", input=log.read_text())
    assert from_gz["build_requests"] == from_stdin["build_requests"] == runbook(log)
    piped = subprocess.run(
        f"gzip -c {log} | {BINDERFIX} spikes - --json", shell=True, capture_output=True, text=True
    )
    assert json.loads(piped.stdout)["build_requests"] == runbook(log)
    other = write_log(tmp_path / "other.log", "traefik", seed=1, burst=None)
    _code, both = spikes_json(str(gz), str(other))
    assert both["build_requests"] == runbook(log) + runbook(other)
    assert both["sources"] == [str(gz), str(other)]


def test_html_report_is_self_contained_with_the_chart_and_the_spike(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "traefik")
    (tmp_path / "report").mkdir()
    html = tmp_path / "report" / "spikes.html"
    out = run(BINDERFIX, "spikes", str(log), "--html", str(html))
    assert out.returncode == 1
    page = html.read_text()
    assert "<svg" in page and "<polyline" in page and 'class="spike-window"' in page
    assert "spike 01:00 to 01:10 UTC" in page and "gh:someone/flooding-repo" in page
    lowered = page.lower()
    for external in ("<script", "<link", "src=", "@import", "url(", 'href="http', "href='http"):
        assert external not in lowered, external


def test_text_report_marks_the_spike_and_has_no_colour_off_a_terminal(tmp_path: Path) -> None:
    out = run(BINDERFIX, "spikes", str(write_log(tmp_path / "a.log", "ingress-nginx")))
    assert out.returncode == 1
    assert "SPIKE 2026-11-01 01:00 to 01:10 UTC" in out.stdout
    chart = out.stdout[out.stdout.index("requests per 1m") :]
    assert "11-01 01:00 " in chart and "\n            ^^^^^^^^^^\n" in chart
    assert "█" in chart and "\x1b[" not in out.stdout


def test_bad_input_is_summarised_and_the_counts_stay_right(tmp_path: Path) -> None:
    good = list(synth.generate("nginx-ingress", start=START, minutes=30, burst=None, seed=4))
    builds = [line for line in good if "/build/gh/" in line]
    junk = [
        builds[0][: builds[0].index("/build/") + 12],  # truncated mid-request
        "\x00\x01\x02 binary /build/ \xff",
        "x" * 100_000 + " /build/gh/a/b/c",  # very long
        builds[1].replace("/build/gh/", "/build/nosuch/"),  # unknown provider
        builds[2].replace("/build/gh/", "/build/gh/%zz%"),  # percent-encoded junk: a repo still
        builds[3].replace("+0000", "+0530"),  # another time zone
        builds[4].replace("/Nov/", "/Feb/").replace("[01/", "[31/"),  # no such day
        "",
    ]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(good[::-1] + junk) + "\n")  # out of order too
    code, report = spikes_json(str(log))
    assert code == 0
    good_builds = sum("/build/" in line for line in good)
    assert report["build_requests"] == good_builds + 2  # + the escaped junk and the zone
    assert report["skipped"] == {
        "bad timestamp": 1,
        "unknown provider": 1,
        "unrecognised line": 3,
    }
    grep_a = subprocess.run(["grep", "-a", "-c", "/build", str(log)], capture_output=True)
    assert report["build_lines"] == int(grep_a.stdout)  # as grep -a: binary is text here
    assert report["lines"] == len(good) + len(junk)


def test_empty_logs_missing_files_and_bad_options(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    out = run(BINDERFIX, "spikes", str(empty))
    assert out.returncode == 0 and "no /build requests found" in out.stdout
    missing = run(BINDERFIX, "spikes", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    partly = run(BINDERFIX, "spikes", str(empty), str(tmp_path / "nope.log"))
    assert partly.returncode == 2 and "0 lines" in partly.stdout and "nope.log" in partly.stderr
    corrupt = tmp_path / "cut.log.gz"
    log = write_log(tmp_path / "access.log", "traefik")
    corrupt.write_bytes(gzip.compress(log.read_bytes())[:-2000])
    cut = run(BINDERFIX, "spikes", str(corrupt), "--json")
    assert cut.returncode == 2 and "read stopped" in cut.stderr
    assert 0 < json.loads(cut.stdout)["build_requests"] < runbook(log)
    for bad in (
        ["--bucket", "0"],
        ["--since", "soon"],
        ["--grep", "\\(a"],
        ["--base-url", "x"],
        ["--html", str(tmp_path / "empty.log" / "report.html")],
    ):
        out = run(BINDERFIX, "spikes", str(empty), *bad)
        assert out.returncode == 2 and "binderfix: error:" in out.stderr, bad


def test_buckets_and_the_since_window(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "ingress-nginx")
    code, report = spikes_json(str(log), "--bucket", "5m")
    assert code == 1 and report["bucket_seconds"] == 300
    assert (report["spikes"][0]["start"], report["spikes"][0]["end"]) == (
        "2026-11-01 01:00",
        "2026-11-01 01:10",
    )
    code, report = spikes_json(str(log), "--bucket", "30s", "--min-count", "12")
    assert code == 1 and report["spikes"][0]["start"].startswith("2026-11-01 01:0")
    # The spike ended 50 minutes before the log's last line.
    assert spikes_json(str(log), "--since", "40m")[0] == 0
    assert spikes_json(str(log), "--since", "1h")[0] == 1


def test_help_states_the_rule_and_the_exit_codes() -> None:
    out = run(BINDERFIX, "spikes", "--help")
    text = " ".join(out.stdout.split())
    assert "above B + 6 (--k) x max(1.4826 x MAD, (sqrt(n) + sqrt(B)) / 2, 1)" in text
    assert (
        "Exit status: 0 no spike in the window, 1 spike found, 2 the logs could not be read" in text
    )
    assert (
        "app.kubernetes.io/name=traefik" in text
        and "app.kubernetes.io/component=controller" in text
    )
