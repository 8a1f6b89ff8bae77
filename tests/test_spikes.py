"""binderfix spikes on logs of each format with a planted spike: the window, the top
repository, and counts equal to what the runbook's grep counts. Garbage never breaks it."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binderfix.spikes import synth
from binderfix.spikes.aggregate import Tally
from binderfix.spikes.detect import find_spikes
from binderfix.spikes.specs import SpecError, parse_build_path
from tests.conftest import BINDERFIX, run

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def write_log(
    path: Path, fmt: str, seed: int = 0, burst: synth.Burst | None = synth.BURST, **kw
) -> Path:
    path.write_text(
        "\n".join(synth.generate(fmt, start=START, burst=burst, seed=seed, **kw)) + "\n"
    )
    return path


def grep_count(path: Path, word: str | None = None) -> int:
    cmd = f"grep '/build' {path}" + (f" | grep {word}" if word else "") + " | wc -l"
    return int(subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("fmt", synth.FORMATS)
def test_planted_spike_is_found_with_its_window_and_repository(tmp_path: Path, fmt: str) -> None:
    log = write_log(tmp_path / "access.log", fmt)
    out = run(BINDERFIX, "spikes", str(log), "--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert (
        report["build_requests"] == grep_count(log) - 0
    )  # every /build line is a build request here
    assert report["skipped"] == {}
    (spike,) = report["spikes"]
    assert (spike["start"], spike["end"]) == ("2026-11-01 01:00", "2026-11-01 01:10")
    assert spike["repositories"][0]["repo"] == "gh:someone/flooding-repo"
    assert spike["repositories"][0]["share"] > 0.5


@pytest.mark.parametrize("seed", range(6))
def test_a_steady_log_has_no_spike(tmp_path: Path, seed: int) -> None:
    log = write_log(tmp_path / "steady.log", "ingress-nginx", seed=seed, burst=None, minutes=300)
    out = run(BINDERFIX, "spikes", str(log), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["spikes"] == []


def test_a_burst_of_one_small_repository_is_caught_even_if_the_total_barely_moves() -> None:
    tally = Tally()
    busy = synth.Burst(repo="gh/tiny/repo", start_minute=100, minutes=5, per_minute=25)
    for line in synth.generate(
        "traefik", start=START, minutes=160, builds_per_minute=80, burst=busy, seed=9
    ):
        tally.feed(line.encode())
    (window,) = find_spikes(tally.counts)
    assert window.flagged == ["gh:tiny/repo"]


def test_grep_word_prints_the_runbooks_number_and_the_breakdown(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "nginx-ingress")
    out = run(BINDERFIX, "spikes", str(log), "--grep", "flooding")
    assert f"| wc -l: {grep_count(log, 'flooding')}" in out.stdout
    assert "gh:someone/flooding-repo" in out.stdout.split("wc -l:")[1]


def test_gzip_and_standard_input(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "binderhub")
    gz = tmp_path / "access.log.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    from_gz = json.loads(run(BINDERFIX, "spikes", str(gz), "--json").stdout)
    from_stdin = json.loads(run(BINDERFIX, "spikes", "-", "--json", input=log.read_text()).stdout)
    assert from_gz["build_requests"] == from_stdin["build_requests"] == grep_count(log)


def test_html_report_is_self_contained_with_chart_and_spike(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", "traefik")
    html = tmp_path / "report" / "spikes.html"
    run(BINDERFIX, "spikes", str(log), "--html", str(html))
    page = html.read_text()
    assert "<svg" in page and "<polyline" in page and "spike 01:00 to 01:10" in page
    assert "gh:someone/flooding-repo" in page
    assert (
        "<script" not in page
        and "http://" not in page
        and "https://" not in page.replace("https://mybinder.org", "")
    )


def test_text_report_marks_the_spike_and_has_no_colour_off_terminal(tmp_path: Path) -> None:
    out = run(BINDERFIX, "spikes", str(write_log(tmp_path / "a.log", "ingress-nginx")))
    assert (
        "◀ spike" in out.stdout
        and "SPIKE 2026-11-01 01:00" in out.stdout
        and "\x1b[" not in out.stdout
    )


def test_bad_input_is_summarised_and_counts_stay_right(tmp_path: Path) -> None:
    good = list(synth.generate("nginx-ingress", start=START, minutes=30, burst=None, seed=4))
    builds = [line for line in good if "/build/gh/" in line]
    junk = [
        builds[0][: builds[0].index("/build/") + 12],  # truncated mid-request
        "\x00\x01\x02 binary /build/ \xff",
        "x" * 100_000 + " /build/gh/a/b/c",  # very long
        builds[1].replace("/build/gh/", "/build/nosuch/"),  # unknown provider
        builds[2].replace("/build/gh/", "/build/gh/%zz%"),  # percent-encoded junk is still a repo
        builds[3].replace("+0000", "+0530"),  # another time zone
        "",
    ]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(good[::-1] + junk) + "\n")  # out of order too
    out = run(BINDERFIX, "spikes", str(log), "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr
    report = json.loads(out.stdout)
    good_builds = sum("/build/" in line for line in good)
    assert (
        report["build_requests"] == good_builds + 2
    )  # + the escaped-junk and other-timezone lines
    assert report["skipped"] == {"line too long": 1, "unknown provider": 1, "unrecognised line": 2}


def test_empty_log_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert run(BINDERFIX, "spikes", str(empty)).returncode == 0
    missing = run(BINDERFIX, "spikes", str(tmp_path / "nope.log"))
    assert (
        missing.returncode == 2
        and "cannot read" in missing.stderr
        and "Traceback" not in missing.stderr
    )


@pytest.mark.parametrize(
    ("path", "repo", "ref"),
    [
        ("/build/gh/SamLau95/nbinteract-image/master", "gh:samlau95/nbinteract-image", "master"),
        ("/build/gh/org/repo/feature/with/slashes?x=1", "gh:org/repo", "feature/with/slashes"),
        ("/build/gl/group%2Fsub%2Fproject/main", "gl:group/sub/project", "main"),
        (
            "/build/git/https%3A%2F%2Fcodeberg.org%2Fa%2Fb.git/HEAD",
            "git:https://codeberg.org/a/b",
            "HEAD",
        ),
        ("/build/zenodo/10.5281/zenodo.3242074", "zenodo:10.5281/zenodo.3242074", ""),
        ("/build/gist/FPerez/abc123/rev", "gist:fperez/abc123", "rev"),
        (
            "/build/ckan/https%3A%2F%2Fdemo.ckan.org/my-dataset",
            "ckan:https://demo.ckan.org/my-dataset",
            "",
        ),
    ],
)
def test_specs_are_read_the_way_binderhub_reads_them(path: str, repo: str, ref: str) -> None:
    spec = parse_build_path(path)
    assert (spec.repo, spec.ref) == (repo, ref)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_lines_never_raise(line: bytes) -> None:
    tally = Tally()
    tally.feed(line)
    tally.feed(
        b'1.2.3.4 - - [01/Jun/2018:23:52:27 +0000] "GET /build/'
        + line
        + b' HTTP/1.1" 200 1 "" "" 1 0.1 [x]'
    )
    assert tally.counts.lines == 2


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_any_build_path_is_a_spec_or_a_spec_error(rest: str) -> None:
    with contextlib.suppress(SpecError):
        parse_build_path("/build/" + rest)


@pytest.mark.sandbox
def test_reads_the_sandbox_ingress_pods_through_the_api(shared_sandbox) -> None:  # noqa: ANN001
    out = shared_sandbox.binderfix("spikes", "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    runbook = shared_sandbox.kubectl("logs", "-l", "component=controller", "--tail=-1").stdout
    assert report["build_requests"] == sum("/build" in line for line in runbook.splitlines())
    assert report["spikes"][0]["repositories"][0]["repo"] == "gh:someone/flooding-repo"


def test_a_large_file_split_across_cores_counts_what_one_pass_counts(
    tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    from binderfix.spikes import sources

    log = write_log(tmp_path / "access.log", "ingress-nginx", seed=5)
    serial = Tally()
    sources.tally_files([str(log)], serial)
    monkeypatch.setattr(sources, "PARALLEL_FROM", 0)
    split = sources.tally_large_file(str(log), 60, None)
    assert split is not None
    one = serial.counts
    assert (split.lines, split.build_requests, split.repos, split.buckets, split.statuses) == (
        one.lines,
        one.build_requests,
        one.repos,
        one.buckets,
        one.statuses,
    )


@pytest.mark.sandbox
def test_a_pod_that_vanishes_while_being_read_is_named_and_the_rest_still_counts(
    sandbox, monkeypatch
) -> None:  # noqa: ANN001
    """Real API calls; the only thing arranged is the moment: one listed ingress pod is
    deleted after the listing and before its log is read."""
    from binderfix.kube import client as kube_client
    from binderfix.spikes.sources import tally_pods

    cluster = kube_client.connect(kubeconfig=str(sandbox.box.kubeconfig))
    listed = type(cluster.core).list_namespaced_pod

    def list_then_delete_one(self, *args, **kwargs):  # noqa: ANN001, ANN202
        response = listed(self, *args, **kwargs)
        victim = sorted(p["metadata"]["name"] for p in json.loads(response.data)["items"])[0]
        self.delete_namespaced_pod(victim, "prod")
        list_then_delete_one.victim = victim
        return response

    monkeypatch.setattr(type(cluster.core), "list_namespaced_pod", list_then_delete_one)
    counts = tally_pods(cluster, "component=controller", None, 60, None)
    assert counts.sources_failed == {f"pod/{list_then_delete_one.victim}": "gone while being read"}
    assert counts.build_requests > 0  # the other ingress pod's log still counts
