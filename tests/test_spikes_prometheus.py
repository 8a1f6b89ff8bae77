"""`binderfix spikes --prometheus URL`: BinderHub's counters from a real Prometheus.

The sandbox's binder serves ``/metrics`` with ``binderhub_build_count_total`` and
``binderhub_launch_count_total``, counting the same traffic its ingress pods log
(binderfix/sandbox/metrics.py), and counting live any ``/build/`` request sent to it.
Debian's ``prometheus`` 2.42 runs here on 127.0.0.1 (a temporary config and data folder, a
free port), scraping that ``/metrics`` every second through the sandbox's bridge.

A scrape only sees the counters' present value, and the logged traffic lies in the two
hours before the sandbox started: that history is BACKFILLED with ``promtool tsdb
create-blocks-from openmetrics`` (the counters every 15 seconds, as a scrape every 15
seconds would have stored them) before Prometheus starts. From then on Prometheus scrapes
the binder LIVE, and one test sends builds to the binder and finds them counted.

Without prometheus installed these tests fail under CI (``.ci/system-packages.sh``
installs it) and are skipped elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from urllib.parse import urlencode

import pytest

from binderfix.sandbox import metrics
from binderfix.spikes import synth
from binderfix.spikes.prometheus import (
    PrometheusError,
    counts_from_series,
    label_repo,
    parse_answer,
    query_range,
)
from binderfix.spikes.specs import parse_build_path
from tests.conftest import BINDERFIX, RunningSandbox, run, start_sandbox

# -- pure: labels and answers --------------------------------------------------------------


@pytest.mark.parametrize("repo", [*synth.REPOS, synth.SPIKE_REPO])
def test_metric_labels_name_the_repository_as_its_build_path_does(repo: str) -> None:
    path = f"/build/{repo}/main"
    provider, url = metrics.binderhub_labels(path)  # BinderHub's provider.name, get_repo_url()
    assert label_repo(provider, url) == parse_build_path(path).repo


def test_a_custom_provider_keeps_its_own_labels() -> None:
    assert label_repo("Fake", "https://example.com/fake/repo.git") == (
        "Fake:https://example.com/fake/repo.git"
    )


ANSWER = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            {
                "metric": {
                    "provider": "GitHub",
                    "repo": "https://github.com/A/B",
                    "status": "success",
                },
                # 3 then 4 builds; then the binder pod restarts (counter back to 2)
                "values": [[600, "10"], [660, "13"], [720, "17"], [780, "2"]],
            },
            {
                "metric": {
                    "provider": "GitHub",
                    "repo": "https://github.com/a/b",
                    "status": "failure",
                },
                "values": [[660, "1"], [780, "2"]],  # new on a scraped target; a step missing
            },
            {
                "metric": {
                    "provider": "GitHub",
                    "repo": "https://github.com/a/b",
                    "instance": "other",
                    "status": "success",
                },
                "values": [[660, "50"], [720, "50"]],  # a target's first scrape: a baseline
            },
        ],
    },
}


def test_increases_per_step_with_resets_and_gaps_become_bucketed_counts() -> None:
    series = parse_answer(json.dumps(ANSWER).encode(), "q")
    counts = counts_from_series(series, 60)
    assert counts.repos == {"gh:a/b": 3 + 4 + 2 + 1 + 1}
    assert counts.buckets == {600: 3 + 1, 660: 4, 720: 2 + 1}
    assert counts.statuses == {"success": 9, "failure": 2}
    assert counts.build_requests == 11 and counts.formats == {"prometheus": 11}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>Grafana</html>", "not JSON"),
        (b'{"hello": 1}', "not from the Prometheus HTTP API"),
        (
            b'{"status":"error","errorType":"bad_data","error":"parse error"}',
            "refused the query 'q': bad_data: parse error",
        ),
        (b'{"status":"success","data":{"resultType":"vector","result":[]}}', "not a matrix"),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[1]}]}}',
            "not (time, value) points",
        ),
    ],
)
def test_answers_that_are_not_a_range_result_are_one_clear_error(body: bytes, said: str) -> None:
    with pytest.raises(PrometheusError, match=re.escape(said)):
        parse_answer(body, "q")


# -- errors through the CLI ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://127.0.0.1:9090", "is not an http(s) URL"),
        ("localhost:9090", "is not an http(s) URL"),
        ("http://127.0.0.1:port", "has a bad port"),
        (None, "cannot reach Prometheus at"),
    ],
)
def test_a_bad_or_unreachable_url_is_one_line_and_exit_2(url: str | None, said: str) -> None:
    url = url or f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    out = run(BINDERFIX, "spikes", "--prometheus", url)
    assert out.returncode == 2, out.stderr
    assert said in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.startswith("binderfix: error: ") and "hint: " in out.stderr


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        began = time.monotonic()
        with pytest.raises(PrometheusError, match="did not answer within 0.5 seconds"):
            query_range(url, "up", 0, 60, 60, timeout=0.5)
        assert time.monotonic() - began < 5


def test_a_web_server_that_is_not_prometheus_is_named() -> None:
    class NotFound(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = run(BINDERFIX, "spikes", "--prometheus", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert out.returncode == 2
    assert "answered HTTP 404" in out.stderr and "Traceback" not in out.stderr


def test_files_and_prometheus_together_are_refused(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    out = run(BINDERFIX, "spikes", str(log), "--prometheus", "http://127.0.0.1:9")
    assert out.returncode == 2 and "no FILES or --grep" in out.stderr


# -- a real Prometheus ---------------------------------------------------------------------


def _need_prometheus() -> tuple[str, str]:
    found = shutil.which("prometheus"), shutil.which("promtool")
    if None in found:
        why = (
            "prometheus/promtool not installed (apt-get install prometheus; .ci/system-packages.sh)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs it: missing there is a broken set-up, not a skip
        pytest.skip(why)
    return found  # type: ignore[return-value]


class Prometheus:
    """A real Prometheus on 127.0.0.1, scraping ``targets`` every second."""

    def __init__(self, folder: Path, targets: list[str], history: str | None = None) -> None:
        prometheus, promtool = _need_prometheus()
        data = folder / "data"
        data.mkdir(parents=True)
        if history is not None:
            (folder / "history.om").write_text(history)
            run(
                promtool, "tsdb", "create-blocks-from", "openmetrics",
                str(folder / "history.om"), str(data), check=True,
            )  # fmt: skip
        jobs = (
            f"  - job_name: binder\n    static_configs:\n      - targets: {json.dumps(targets)}\n"
            if targets
            else ""
        )
        (folder / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + jobs
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait(lambda: self._get("/-/ready").startswith("Prometheus"), "ready")

    def _get(self, path: str) -> str:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def _wait(self, done, what: str, timeout: float = 30) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not done():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = Path(self.log.name).read_text()[-2000:]
                raise AssertionError(f"prometheus not {what}:\n{log}")
            time.sleep(0.2)

    def scraped(self) -> bool:
        answer = json.loads(self._get("/api/v1/query?query=up") or "{}")
        return any(r["value"][1] == "1" for r in answer.get("data", {}).get("result", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def binder_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    _need_prometheus()
    box = start_sandbox(tmp_path_factory.mktemp("prom") / "sandbox", nodes=1, broken=0)
    try:
        yield box
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))


@pytest.fixture(scope="module")
def prometheus(
    binder_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    state = binder_sandbox.box.load()
    binder = f"{state.host('binder').ip}:8585"
    # The history Prometheus could not have scraped: the same counters over the logged traffic.
    counters = metrics.Counters(metrics.traffic(dt.datetime.fromtimestamp(state.started, dt.UTC)))
    first = min(times[0] for times in counters.times.values())
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        [binder],
        metrics.history(counters, first - 60, state.started, target=binder),
    )
    try:
        server._wait(server.scraped, "scraping the sandbox binder")
        yield server
    finally:
        server.stop()


def _series(report: dict) -> dict[str, int]:
    return {point["start"]: point["requests"] for point in report["series"]}


@pytest.mark.sandbox
def test_spikes_over_prometheus_are_the_spikes_over_the_logs(
    binder_sandbox: RunningSandbox, prometheus: Prometheus
) -> None:
    logs = binder_sandbox.binderfix("spikes", "--since", "100m", "--json")
    counters = binder_sandbox.binderfix(
        "spikes", "--prometheus", prometheus.url, "--since", "100m", "--json"
    )
    assert (logs.returncode, counters.returncode) == (1, 1), counters.stderr
    from_logs, from_prometheus = json.loads(logs.stdout), json.loads(counters.stdout)

    # The same spike, the same culprit, the same share.
    assert from_prometheus["spikes"] == from_logs["spikes"]
    assert from_prometheus["spikes"][-1]["repositories"][0]["repo"] == "gh:someone/flooding-repo"
    # Minute by minute, the counters' increases are the logged /build requests.
    common = set(_series(from_logs)) & set(_series(from_prometheus))
    assert len(common) >= 100
    assert {m: _series(from_prometheus)[m] for m in common} == {
        m: _series(from_logs)[m] for m in common
    }
    # And what Prometheus's own increase() says, give or take its extrapolation.
    query = 'sum(increase(binderhub_build_count_total{repo=~".*/someone/flooding-repo"}[3h]))'
    answer = json.loads(prometheus._get("/api/v1/query?" + urlencode({"query": query})))
    theirs = float(answer["data"]["result"][0]["value"][1])
    ours = {r["repo"]: r["requests"] for r in from_prometheus["repositories"]}
    assert abs(ours["gh:someone/flooding-repo"] - theirs) <= 0.02 * theirs
    assert from_prometheus["formats"] == {"prometheus": from_prometheus["build_requests"]}
    assert set(from_prometheus["statuses"]) == {"success", "failure"}


@pytest.mark.sandbox
def test_the_text_and_html_reports_and_launches(
    binder_sandbox: RunningSandbox, prometheus: Prometheus, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    out = binder_sandbox.binderfix(
        "spikes", "--prometheus", prometheus.url, "--since", "100m", "--html", str(page)
    )
    assert out.returncode == 1
    assert "SPIKE" in out.stdout and "gh:someone/flooding-repo" in out.stdout
    assert "binderhub_build_count_total" in out.stdout
    assert "<svg" in page.read_text()
    launches = binder_sandbox.binderfix(
        "spikes", "--prometheus", prometheus.url, "--since", "100m", "--metric", "launch", "--json"
    )
    report = json.loads(launches.stdout)
    assert set(report["statuses"]) == {"success"}  # only successful builds launch here
    assert report["spikes"][-1]["repositories"][0]["repo"] == "gh:someone/flooding-repo"


@pytest.mark.sandbox
def test_builds_sent_to_the_binder_now_are_counted_from_live_scrapes(
    binder_sandbox: RunningSandbox, prometheus: Prometheus
) -> None:
    state = binder_sandbox.box.load()
    binder = f"http://{state.host('binder').ip}:8585"
    for _ in range(7):
        with urllib.request.urlopen(f"{binder}/build/gh/Live/Repo.git/main", timeout=5) as resp:
            assert resp.status == 200
    time.sleep(3)  # a few scrapes (every second)
    out = binder_sandbox.binderfix(
        "spikes", "--prometheus", prometheus.url, "--since", "5m", "--json", "--top", "100"
    )
    assert out.returncode in (0, 1), out.stderr
    repos = {r["repo"]: r["requests"] for r in json.loads(out.stdout)["repositories"]}
    assert repos.get("gh:live/repo") == 7


def test_no_binderhub_series_and_a_refused_query_are_errors(tmp_path: Path) -> None:
    server = Prometheus(tmp_path, [])  # scrapes nothing
    try:
        out = run(BINDERFIX, "spikes", "--prometheus", server.url)
        assert out.returncode == 2
        assert "has no binderhub_build_count_total series" in out.stderr
        assert "Traceback" not in out.stderr
        with pytest.raises(PrometheusError, match="refused the query 'sum\\(': bad_data"):
            query_range(server.url, "sum(", 0, 60, 60)
    finally:
        server.stop()
