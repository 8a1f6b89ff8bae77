"""binderfix netcheck: verdicts against real servers, from this machine and from sandbox pods.

Local tests talk only to servers the test starts on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from binderfix.netcheck.runner import fallback_script
from binderfix.netcheck.targets import Target
from tests.conftest import BINDERFIX, RunningSandbox, run

TOKEN = "s3cret-token-for-tests"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/fail"):
            self.send_response(500)
            body = b"broken"
        elif self.path.startswith("/api/routes"):
            ok = self.headers.get("Authorization") == f"token {TOKEN}"
            self.send_response(200 if ok else 403)
            body = json.dumps({"/": {}, "/user/x": {}}).encode() if ok else b"{}"
        else:
            self.send_response(200)
            body = b'{"version": "5.2.1"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    yield {
        "ok": f"{base}/",
        "fail": f"{base}/fail",
        "routes": f"{base}/api/routes",
        "silent": f"http://127.0.0.1:{silent.getsockname()[1]}/",
        "closed": f"http://127.0.0.1:{closed_port}/",
        "dns": "http://nonexistent.invalid/",
        "tcp": f"127.0.0.1:{http.server_address[1]}",
    }
    http.shutdown()
    silent.close()


def local(
    servers: dict[str, str],
    *targets: str,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    args = [BINDERFIX, "netcheck", "--local", "--no-defaults", "--timeout", "1", *extra]
    for t in targets:
        args += ["--target", servers[t]]
    return run(*args, env={**os.environ, **(env or {})})


def verdicts(out: subprocess.CompletedProcess[str]) -> list[str]:
    (results,) = json.loads(out.stdout)["sources"].values()
    return [r["verdict"] for r in results]


def test_each_failure_gets_its_own_verdict_and_nothing_hangs(servers: dict[str, str]) -> None:
    started = time.monotonic()
    out = local(servers, "ok", "fail", "silent", "closed", "dns", "tcp", extra=("--json",))
    took = time.monotonic() - started
    assert out.returncode == 1, out.stderr
    assert verdicts(out) == ["ok", "http-status", "timeout", "refused", "dns", "ok"]
    assert took < 10  # one silent target costs its read timeout (1s), not a hang


def test_all_reachable_is_exit_0(servers: dict[str, str]) -> None:
    assert local(servers, "ok", "tcp").returncode == 0


def test_proxy_api_token_accepted_or_rejected(servers: dict[str, str]) -> None:
    from binderfix.netcheck.runner import run_local

    target = Target(id="proxy-api", url=servers["routes"], auth="configproxy", body="routes")
    good = run_local([target], 1, {"CONFIGPROXY_AUTH_TOKEN": TOKEN}).results[0]
    bad = run_local([target], 1, {"CONFIGPROXY_AUTH_TOKEN": "wrong"}).results[0]
    missing = run_local([target], 1, {}).results[0]
    assert (good["verdict"], good["summary"]) == ("ok", "2 routes")
    assert bad["verdict"] == missing["verdict"] == "token-rejected"
    assert TOKEN not in json.dumps([good, bad, missing])


def test_the_token_never_appears_in_any_output(servers: dict[str, str], tmp_path: Path) -> None:
    junit = tmp_path / "netcheck.xml"
    env = {"CONFIGPROXY_AUTH_TOKEN": TOKEN}
    for fmt in ((), ("--json",)):
        out = run(
            BINDERFIX,
            "netcheck",
            "--local",
            "--timeout",
            "1",
            "--internet-url",
            servers["ok"],
            "--debug",
            "--junit",
            str(junit),
            *fmt,
            env={**os.environ, **env},
        )
        assert "proxy-api:8001/api/routes" in out.stdout
        assert TOKEN not in out.stdout + out.stderr + junit.read_text()


def test_bad_targets_are_clear_errors(servers: dict[str, str]) -> None:
    for bad in ("ftp://example", "not a target", "http://host:99999/"):
        out = run(BINDERFIX, "netcheck", "--local", "--no-defaults", "--target", bad)
        assert out.returncode == 2 and "--target" in out.stderr and "Traceback" not in out.stderr


def test_shell_fallback_gives_coarse_verdicts_with_real_curl(servers: dict[str, str]) -> None:
    targets = [
        Target(id="ok", url=servers["ok"]),
        Target(id="closed", url=servers["closed"]),
        Target(id="fail", url=servers["fail"]),
        Target(id="routes", url=servers["routes"], auth="configproxy"),
    ]
    args = [t.fallback_arg(1) for t in targets]
    out = subprocess.run(
        ["sh", "-c", fallback_script(), "fallback", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CONFIGPROXY_AUTH_TOKEN": "wrong"},
        timeout=30,
    )
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["verdict"] for r in results] == ["ok", "refused", "http-status", "token-rejected"]


def test_junit_has_a_case_per_target(servers: dict[str, str], tmp_path: Path) -> None:
    junit = tmp_path / "n.xml"
    local(servers, "ok", "closed", extra=("--junit", str(junit)))
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert [c.find("failure") is None for c in cases] == [True, False]


@pytest.mark.sandbox
def test_in_the_sandbox_green_then_each_fault_gets_its_verdict(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    green = sandbox.binderfix("netcheck", "--json", "--all-services")
    assert green.returncode == 0, green.stdout + green.stderr
    (results,) = json.loads(green.stdout)["sources"].values()
    assert {r["id"] for r in results} >= {
        "binder",
        "hub:8081/hub/api",
        "proxy-public/hub/api",
        "internet",
        "proxy-api:8001/api/routes",
        "svc/proxy-api:8001",
    }
    assert (
        next(r for r in results if r["id"] == "proxy-api:8001/api/routes")["summary"] == "2 routes"
    )

    probe_pod = sandbox.binderfix("netcheck", "--probe-pod")
    assert probe_pod.returncode == 0, probe_pod.stdout + probe_pod.stderr
    assert (
        "netcheck" not in sandbox.kubectl("get", "pod", "-o", "name").stdout
    )  # deleted afterwards

    # An address on the sandbox's own bridge where no host answers: traffic stays on this machine.
    nobody = f"{sandbox.box.load().subnet}.250:80"
    sandbox.box.set_proxy_token("rotated-elsewhere")
    sandbox.box.stop_service("binder")
    junit = tmp_path / "netcheck.xml"
    broken = sandbox.binderfix(
        "netcheck",
        "--json",
        "--debug",
        "--junit",
        str(junit),
        "--timeout",
        "1",
        "--target",
        nobody,
    )
    assert broken.returncode == 1
    (results,) = json.loads(broken.stdout)["sources"].values()
    by_id = {r["id"]: r["verdict"] for r in results}
    assert by_id["binder"] == "refused"
    assert by_id["proxy-api:8001/api/routes"] == "token-rejected"
    assert by_id[nobody] in ("timeout", "error")
    assert by_id["hub:8081/hub/api"] == "ok"
    token = sandbox.box.secret("configproxy-auth-token")
    assert token not in broken.stdout + broken.stderr + junit.read_text()


@pytest.mark.sandbox
def test_from_a_pod_without_python3_the_shell_fallback_runs(shared_sandbox: RunningSandbox) -> None:
    """The ingress controller pods have sh, curl and wget, and no python3 (as the real image)."""
    out = shared_sandbox.binderfix("netcheck", "-l", "component=controller", "--json", "--debug")
    assert "shell fallback" in out.stderr
    (results,) = json.loads(out.stdout)["sources"].values()
    by_id = {r["id"]: r for r in results}
    assert by_id["binder"]["verdict"] == "ok" and by_id["binder"]["status"] == 200
    # The controller holds no proxy token: the proxy API refuses it, and says so.
    assert by_id["proxy-api:8001/api/routes"]["verdict"] == "token-rejected"
    assert out.returncode == 1


@pytest.mark.sandbox
def test_source_pod_that_does_not_exist_is_exit_2(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.binderfix("netcheck", "--pod", "hub-nosuch")
    assert (
        out.returncode == 2
        and "no pod 'hub-nosuch'" in out.stderr
        and "Traceback" not in out.stderr
    )
    out = shared_sandbox.binderfix("netcheck", "-l", "component=nosuch")
    assert out.returncode == 2 and "no running pod" in out.stderr
