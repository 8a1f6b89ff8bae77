"""`binderfix spikes` reading pod logs through the Kubernetes API.

The first tests run the real CLI and the official kubernetes client against a local HTTP
server that speaks the two endpoints it needs (list pods by label selector, a pod's log),
with one pod gone (404) and one whose log stream breaks off part-way. They check what is
asked of the API and what is made of the answers. The full tests against a sandbox
cluster (a real API server emulator, pods deleted for real while being read) come
separately, marked ``sandbox``, at the end of this file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from binderfix.spikes import synth
from tests.conftest import BINDERFIX, run

NOW = dt.datetime.now(dt.UTC)
LOGS = {
    "ingress-a": "\n".join(synth.sandbox_log_lines("ingress-nginx", now=NOW, seed=1)) + "\n",
    "ingress-b": "\n".join(synth.sandbox_log_lines("ingress-nginx", now=NOW, seed=2)) + "\n",
}
CUT = len(LOGS["ingress-b"]) // 2  # ingress-b's stream breaks off after this many bytes


MESSAGES = {
    404: 'pods "ingress-c" not found',
    400: "a container name must be specified for pod two, choose one of: [controller sidecar]",
}


class FakeAPI(ThreadingHTTPServer):
    """GET /api/v1/namespaces/NS/pods?labelSelector=... and .../pods/NAME/log."""

    daemon_threads = True

    def __init__(self, pods: dict[str, str | int | None], selector: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pods = pods  # name -> its log; or None (404) or a status, when its log is asked
        self.selector = selector
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.arrived = threading.Barrier(len(pods), timeout=10)
        self.concurrent = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the connection hung up on purpose

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeAPI

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, kind: str, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.requests.append((url.path, query))
        parts = url.path.strip("/").split("/")  # api v1 namespaces NS pods [NAME log]
        if parts[:3] != ["api", "v1", "namespaces"] or parts[4:5] != ["pods"]:
            return self._send(404, b"{}", "application/json")
        if len(parts) == 5:
            names = self.server.pods if query.get("labelSelector") == [self.server.selector] else {}
            items = [{"metadata": {"name": n, "namespace": parts[3]}} for n in names]
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
            return self._send(200, json.dumps(body).encode(), "application/json")
        name = parts[5]
        try:  # every listed pod's log is asked for at once, or this waits in vain
            self.server.arrived.wait()
        except threading.BrokenBarrierError:
            self.server.concurrent = False
        log = self.server.pods.get(name)
        if log is None or isinstance(log, int):
            code = log or 404
            status = {
                "kind": "Status",
                "status": "Failure",
                "code": code,
                "message": MESSAGES[code],
            }
            return self._send(code, json.dumps(status).encode(), "application/json")
        body = log.encode()
        if name == "ingress-b":  # promise it all, send half, hang up: a pod going away
            self._send(200, body[:CUT], "text/plain", length=len(body))
            self.wfile.flush()
            self.connection.shutdown(2)
            return None
        return self._send(200, body, "text/plain")


def kubeconfig(path: Path, server: str) -> Path:
    contexts = [("fake", "prod"), ("other", "ingress")]
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": "t0ken"}}],
                "contexts": [
                    {"name": n, "context": {"cluster": "fake", "user": "fake", "namespace": ns}}
                    for n, ns in contexts
                ],
                "current-context": "fake",
            }
        )
    )
    return path


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeAPI, dict[str, str]]]:
    server = FakeAPI(
        {"ingress-a": LOGS["ingress-a"], "ingress-b": LOGS["ingress-b"], "ingress-c": None},
        "component=controller",
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig(tmp_path / "config", server.url))}
    try:
        yield server, env
    finally:
        server.shutdown()
        server.server_close()


def _lines_with(text: str, needle: str) -> int:
    return sum(needle in line for line in text.split("\n") if line)


def test_every_matching_pods_log_is_read_concurrently_and_a_vanished_pod_is_named(api) -> None:  # noqa: ANN001
    server, env = api
    out = run(BINDERFIX, "spikes", "--json", env=env)
    assert "Traceback" not in out.stderr
    assert out.returncode == 1, out.stderr  # the planted spike; the lost pods are not fatal
    report = json.loads(out.stdout)
    assert report["sources"] == ["pod/ingress-a", "pod/ingress-b", "pod/ingress-c"]
    assert report["sources_failed"] == {
        "pod/ingress-b": "read stopped: ProtocolError",
        "pod/ingress-c": "gone while being read (404)",
    }
    received = LOGS["ingress-a"] + LOGS["ingress-b"][:CUT]
    assert report["lines"] == received.count("\n") + (not received.endswith("\n"))
    assert report["build_lines"] == _lines_with(received, "/build")
    spike = report["spikes"][-1]
    assert spike["repositories"][0]["repo"] == "gh:someone/flooding-repo"
    assert server.concurrent, "the pods' logs were read one after another"
    listing, *logs = server.requests
    assert listing == ("/api/v1/namespaces/prod/pods", {"labelSelector": ["component=controller"]})
    assert sorted(path for path, _q in logs) == [
        f"/api/v1/namespaces/prod/pods/ingress-{x}/log" for x in "abc"
    ]
    assert all(query == {} for _p, query in logs)


def test_context_namespace_selector_since_and_container_reach_the_api(api) -> None:  # noqa: ANN001
    server, env = api
    server.selector = "app.kubernetes.io/component=controller"
    out = run(
        BINDERFIX,
        "spikes",
        "--context",
        "other",
        "-l",
        "app.kubernetes.io/component=controller",
        "--since",
        "1h",
        "-c",
        "controller",
        env=env,
    )
    assert out.returncode == 1 and "not read in full: pod/ingress-c" in out.stdout
    listing, *logs = server.requests
    assert listing[0] == "/api/v1/namespaces/ingress/pods"
    # an hour, and the rule's 30 buckets of history before it for the baseline
    assert all(q == {"sinceSeconds": ["5400"], "container": ["controller"]} for _p, q in logs)
    out = run(BINDERFIX, "spikes", "-n", "elsewhere", "--json", env=env)
    assert out.returncode == 2 and "no pods match 'component=controller'" in out.stderr
    assert server.requests[-1][0] == "/api/v1/namespaces/elsewhere/pods"


def test_no_readable_pod_or_no_api_is_exit_2(tmp_path: Path) -> None:
    gone = FakeAPI({"ingress-c": None, "two": 400}, "component=controller")
    threading.Thread(target=gone.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig(tmp_path / "gone", gone.url))}
        out = run(BINDERFIX, "spikes", env=env)
        assert out.returncode == 2 and "pod/ingress-c: gone while being read" in out.stderr
        assert "pod/two: the API answered 400 Bad Request: a container name must be" in out.stderr
    finally:
        gone.shutdown()
        gone.server_close()
    port = gone.server_address[1]  # closed now: nothing listens there
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "down", f"http://127.0.0.1:{port}")),
    }
    out = run(BINDERFIX, "spikes", env=env, timeout=60)
    assert out.returncode == 2 and "cannot reach the Kubernetes API" in out.stderr
    assert "Traceback" not in out.stderr
    out = run(BINDERFIX, "spikes", "--context", "nope", env=env)
    assert out.returncode == 2 and "no context 'nope'" in out.stderr


# -- against a sandbox cluster (root, network namespaces) ---------------------------------


@pytest.mark.sandbox
def test_reads_the_sandbox_ingress_pods_through_the_api(shared_sandbox) -> None:  # noqa: ANN001
    out = shared_sandbox.binderfix("spikes", "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    runbook = shared_sandbox.kubectl("logs", "-l", "component=controller", "--tail=-1").stdout
    assert report["build_lines"] == sum("/build" in line for line in runbook.splitlines())
    assert report["spikes"][-1]["repositories"][0]["repo"] == "gh:someone/flooding-repo"


@pytest.mark.sandbox
def test_a_pod_that_vanishes_while_being_read_is_named_and_the_rest_still_counts(
    sandbox, monkeypatch
) -> None:  # noqa: ANN001
    """Real API calls; the only thing arranged is the moment: one listed ingress pod is
    deleted after the listing and before its log is read."""
    from functools import partial

    from binderfix.kube import client as kube_client
    from binderfix.kube import pods
    from binderfix.spikes.aggregate import Tally
    from binderfix.spikes.sources import tally_pods

    cluster = kube_client.connect(kubeconfig=str(sandbox.box.kubeconfig))
    listed = pods.list_pods

    def list_then_delete_one(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = listed(*args, **kwargs)
        victim = sorted(p["metadata"]["name"] for p in found)[0]
        pods.delete_pod(cluster, victim, "prod")
        list_then_delete_one.victim = victim
        return found

    monkeypatch.setattr(pods, "list_pods", list_then_delete_one)
    counts = tally_pods(cluster, "component=controller", None, partial(Tally, 60))
    assert counts.sources_failed == {
        f"pod/{list_then_delete_one.victim}": "gone while being read (404)"
    }
    assert counts.build_requests > 0  # the other ingress pod's log still counts
