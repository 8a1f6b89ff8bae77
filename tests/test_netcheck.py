"""binderfix netcheck as a user runs it: verdicts, exit codes, reports, and the token.

Local tests talk only to servers they start on 127.0.0.1 (and look up only
``nonexistent.invalid``): the runbook's targets are moved there with ``--url`` and
``--internet-url``. The Kubernetes API's failures are played by a small local server.
Sandbox tests (marked) exec into pods of a sandbox cluster on this machine's own bridge."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from binderfix.netcheck.targets import label_of
from tests.conftest import BINDERFIX, KUBECTL, RunningSandbox, run
from tests.helpers import TOKEN, local_servers


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with local_servers() as urls:
        yield urls


def netcheck(
    *args: str, env: dict[str, str] | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CONFIGPROXY_AUTH_TOKEN"}
    environ.pop("BINDERFIX_INTERNET_URL", None)
    if token is not None:
        environ["CONFIGPROXY_AUTH_TOKEN"] = token
    return run(BINDERFIX, "netcheck", *args, env={**environ, **(env or {})}, timeout=120)


def local(
    servers: dict[str, str], *names: str, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """--local, only the named servers as --target, a 1s timeout."""
    args = ["--local", "--no-defaults", "--timeout", "1", *extra]
    for name in names:
        args += ["--target", servers[name]]
    return netcheck(*args)


def runbook_urls(servers: dict[str, str], **moved: str) -> dict[str, str]:
    """Where the runbook's targets go when moved to local servers (one path each)."""
    return {
        "binder": servers["ok"],
        "hub": f"{servers['ok']}h/api",
        "proxy-public": f"{servers['ok']}pp/api",
        "proxy-api": servers["routes"],
        **moved,
    }


def label(servers: dict[str, str], name: str, **moved: str) -> str:
    """The matrix's label for a runbook target moved with --url: where it goes."""
    return label_of(runbook_urls(servers, **moved)[name])


def runbook_here(servers: dict[str, str], **moved: str) -> list[str]:
    """The runbook's five targets, moved to local servers."""
    args = ["--local", "--timeout", "1", "--internet-url", servers["ok"]]
    for name, url in runbook_urls(servers, **moved).items():
        args += ["--url", f"{name}={url}"]
    return args


def results(out: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    (found,) = json.loads(out.stdout)["sources"].values()
    return {r["id"]: r for r in found}


def no_traceback(out: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in out.stdout + out.stderr


# -- verdicts and exit codes --------------------------------------------------------------------


def test_each_failure_gets_its_verdict_and_nothing_hangs(servers: dict[str, str]) -> None:
    names = ("ok", "fail", "silent", "closed", "dns", "tls", "not-http", "tcp", "tcp-silent")
    started = time.monotonic()
    out = local(servers, *names, extra=("--json",))
    took = time.monotonic() - started
    assert out.returncode == 1, out.stderr
    found = results(out)
    assert [found[servers[n]]["verdict"] for n in names] == [
        "ok",
        "http-status",
        "timeout",
        "refused",
        "dns",
        "tls",
        "error",
        "ok",
        "ok",  # a TCP connect only: accepting is enough
    ]
    assert found[servers["silent"]]["stage"] == "read"  # connected; the read timed out
    assert took < 5, took  # one read timeout (1s) in all, plus start-up


def test_all_reachable_is_exit_0(servers: dict[str, str]) -> None:
    out = local(servers, "ok", "tcp")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2/2 as expected" in out.stdout


def test_the_runbooks_targets_with_their_summaries(servers: dict[str, str]) -> None:
    out = netcheck(*runbook_here(servers), "--json", token=TOKEN)
    assert out.returncode == 0, out.stdout + out.stderr
    found = results(out)
    names = ["binder", "hub", "proxy-public", "internet", "proxy-api"]
    labels = [label(servers, n) if n != "internet" else n for n in names]
    assert list(found) == labels
    port = servers["ok"].split(":")[2].rstrip("/")  # the labels say where each went
    assert labels[1] == f"127.0.0.1:{port}/h/api"
    assert found[labels[4]]["summary"] == "2 routes"
    assert found[labels[1]]["summary"] == "version 5.2.1"
    assert f"same answer as {labels[1]}" in found[labels[2]]["detail"]


def test_proxy_public_answering_differently_from_the_hub_is_a_mismatch(
    servers: dict[str, str],
) -> None:
    out = netcheck(*runbook_here(servers, **{"proxy-public": servers["other"]}), token=TOKEN)
    assert out.returncode == 1
    assert f"MISMATCH: the answer differs from {label(servers, 'hub')}'s" in out.stdout


def test_a_wrong_token_is_rejected_and_a_missing_one_is_no_token(servers: dict[str, str]) -> None:
    api = label(servers, "proxy-api")
    out = netcheck(*runbook_here(servers), "--json", token="wrong")
    assert out.returncode == 1 and results(out)[api]["verdict"] == "token-rejected"
    out = netcheck(*runbook_here(servers), "--json")
    assert out.returncode == 1
    assert results(out)[api]["verdict"] == "no-token"
    assert "CONFIGPROXY_AUTH_TOKEN" in results(out)[api]["hint"]
    text = netcheck(*runbook_here(servers)).stdout  # a different fix: said once, with what to do
    assert "NO-TOKEN: no CONFIGPROXY_AUTH_TOKEN in the source's environment" in text
    assert text.count("hint: no-token: probe from a pod that holds CONFIGPROXY_AUTH_TOKEN") == 1


def test_a_moved_target_is_labelled_by_its_new_url(servers: dict[str, str]) -> None:
    out = netcheck(*runbook_here(servers), token=TOKEN)
    assert out.returncode == 0, out.stdout + out.stderr
    for default in ("hub:8081/hub/api", "proxy-public/hub/api", "proxy-api:8001/api/routes"):
        assert default not in out.stdout  # none of these places was probed
    assert label(servers, "proxy-public") in out.stdout


def test_one_timeout_bounds_the_whole_check_whatever_the_targets_do(
    servers: dict[str, str],
) -> None:
    """A byte a second (status line or body), an endless body, silence: --timeout 2 is about
    2 seconds in all (13.6: it was 5.2)."""
    started = time.monotonic()
    out = netcheck(
        "--local", "--no-defaults", "--timeout", "2", "--json",
        *[a for n in ("slow-head", "slow-body", "drip", "silent") for a in ("--target", servers[n])],
    )  # fmt: skip
    took = time.monotonic() - started
    verdicts = [r["verdict"] for r in results(out).values()]
    assert verdicts == ["timeout", "ok", "ok", "timeout"], out.stdout
    assert json.loads(out.stdout)["seconds"] < 2.5
    assert took < 4, took  # and the command's own start


def test_a_redirect_to_itself_is_a_loop_not_ok(servers: dict[str, str]) -> None:
    out = local(servers, "loop", "moved")
    assert out.returncode == 1
    assert f"REDIRECT-LOOP: {servers['loop']} redirects to itself" in out.stdout
    assert "ok 200" in out.stdout  # /moved, followed on the same host


def test_help_is_for_users() -> None:
    out = netcheck("--help")
    assert out.returncode == 0
    assert "_netcheck" not in out.stdout and "signature" not in out.stdout
    assert "redirect-loop" in out.stdout and "no-token" in out.stdout


def test_expect_blocked_passes_when_nothing_connects(servers: dict[str, str]) -> None:
    out = local(servers, "ok", extra=("--expect-blocked", servers["tcp-closed"]))
    assert out.returncode == 0, out.stdout
    assert "blocked (refused)" in out.stdout
    out = local(servers, extra=("--expect-blocked", servers["tcp"]))
    assert out.returncode == 1 and "NOT BLOCKED" in out.stdout


# -- reports ------------------------------------------------------------------------------------


def test_json_shape(servers: dict[str, str]) -> None:
    out = local(servers, "ok", "closed", extra=("--json",))
    doc = json.loads(out.stdout)
    assert set(doc) == {"sources", "how", "errors", "passed", "seconds", "timeout"}
    assert list(doc["sources"]) == ["local"] and doc["how"]["local"].startswith("local")
    assert doc["passed"] is False and doc["errors"] == [] and doc["timeout"] == 1.0
    for r in doc["sources"]["local"]:
        assert {"id", "target", "verdict", "detail", "passed", "expect", "stage", "status"} <= set(
            r
        )
        assert "steps" not in r  # only with --debug
    debug = json.loads(local(servers, "ok", extra=("--json", "--debug")).stdout)
    assert debug["sources"]["local"][0]["steps"]


def test_junit_has_a_suite_per_source_and_a_case_per_target(
    servers: dict[str, str], tmp_path: Path
) -> None:
    junit = tmp_path / "reports" / "netcheck.xml"
    local(servers, "ok", "closed", "dns", extra=("--junit", str(junit)))
    (suite,) = ET.parse(junit).getroot().iter("testsuite")
    assert suite.get("name") == "netcheck from local"
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = list(suite.iter("testcase"))
    assert [c.get("name") for c in cases] == [servers[n] for n in ("ok", "closed", "dns")]
    assert [c.find("failure") is None for c in cases] == [True, False, False]
    assert cases[1].find("failure").get("message").startswith("refused:")  # type: ignore[union-attr]


def test_debug_says_what_each_probe_did(servers: dict[str, str]) -> None:
    out = local(servers, "ok", "silent", extra=("--debug",))
    assert f"local: {servers['ok']}: resolve 127.0.0.1" in out.stderr
    assert f"local: {servers['silent']}: read: no answer within 1.0s" in out.stderr
    assert "=> timeout" in out.stderr


def test_colour_only_on_a_terminal(servers: dict[str, str]) -> None:
    assert "\x1b[" not in local(servers, "ok", "closed").stdout


# -- the token ----------------------------------------------------------------------------------


def test_the_token_never_appears_in_any_output(servers: dict[str, str], tmp_path: Path) -> None:
    """Text, JSON, JUnit, debug and errors: not even when a server says the token back."""
    junit = tmp_path / "netcheck.xml"
    seen = []
    for moved in ({}, {"proxy-api": servers["echo-fail"]}, {"proxy-api": servers["echo"]}):
        for fmt in ((), ("--json",)):
            args = [*runbook_here(servers, **moved), "--debug", "--junit", str(junit), *fmt]
            out = netcheck(*args, token=TOKEN)
            assert out.returncode in (0, 1) and no_traceback(out), out.stderr
            seen.append(out.stdout + out.stderr + junit.read_text())
            assert label(servers, "proxy-api", **moved) in seen[-1]  # the proxy API was probed
    # A user's own input holding the token is redacted too, in errors as in results.
    seen.append(netcheck("--local", "--target", f"ftp://{TOKEN}/", token=TOKEN).stderr)
    out = netcheck(
        "--local", "--no-defaults", "--target", f"{servers['ok']}?t={TOKEN}", "--json", token=TOKEN
    )
    seen.append(out.stdout + out.stderr)
    assert "[redacted]" in seen[2]  # the echo: HTTP 500 with the token as its reason
    assert not [s for s in seen if TOKEN in s]


# -- bad input: a clear error, exit 2, never a traceback ----------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--target", "ftp://example"), "is not a usable URL"),
        (("--target", "not a target"), "--target"),
        (("--target", "http://host:99999/"), "is not a usable URL"),
        (("--internet-url", "nonsense"), "--internet-url"),
        (("--url", "hub"), "is not NAME=URL"),
        (("--url", "nosuch=http://x/"), "no target 'nosuch'"),
        (("--timeout", "0"), "--timeout"),
        (("--timeout", "-1"), "--timeout"),
        (("--no-defaults",), "nothing to probe"),
        (("--target", "127.0.0.1:1", "--expect-blocked", "127.0.0.1:1"), "both"),
    ],
)
def test_bad_input_is_a_clear_error(args: tuple[str, ...], words: str) -> None:
    out = netcheck("--local", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stderr and no_traceback(out)


class _FakeApi(BaseHTTPRequestHandler):
    """The Kubernetes API's answers for the cases netcheck cannot run in."""

    pods: dict[str, dict] = {}
    exec_status = 403

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        name = path.rsplit("/", 1)[-1]
        if path.endswith("/exec"):
            pod = path.split("/")[-2]
            code, body = (
                self.exec_status,
                {
                    "kind": "Status",
                    "code": self.exec_status,
                    "message": f'pods "{pod}" is forbidden',
                },
            )
        elif path == "/api/v1/namespaces/prod/pods":
            query = parse_qs(urlsplit(self.path).query).get("labelSelector", [""])[0]
            wanted = dict(kv.split("=", 1) for kv in query.split(",") if kv)
            items = [
                p
                for p in self.pods.values()
                if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            ]
            code, body = 200, {"items": items}
        elif name in self.pods:
            code, body = 200, self.pods[name]
        else:
            code, body = 404, {"kind": "Status", "code": 404, "message": "not found"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _pod(name: str, phase: str, labels: dict[str, str]) -> dict:
    return {
        "metadata": {"name": name, "uid": name, "labels": labels},
        "spec": {"containers": [{"name": "hub", "image": "hub"}]},
        "status": {"phase": phase},
    }


@pytest.fixture(scope="module")
def fake_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    _FakeApi.pods = {
        "hub-1": _pod("hub-1", "Running", {"component": "hub"}),
        "hub-pending": _pod("hub-pending", "Pending", {"component": "stuck"}),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = tmp_path_factory.mktemp("kube")
    configs = {}
    for name, port in (("fake", server.server_address[1]), ("down", _closed_port())):
        path = folder / f"{name}.yaml"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "u", "user": {"token": "api-token"}}],
                    "contexts": [
                        {"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "prod"}}
                    ],
                    "current-context": "c",
                }
            )
        )
        configs[name] = str(path)
    yield configs
    server.shutdown()


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(
    ("config", "args", "words"),
    [
        ("fake", (), "exec into hub-1 is forbidden (403)"),
        ("fake", ("--pod", "nosuch"), "no pod 'nosuch' in namespace 'prod'"),
        ("fake", ("--pod", "hub-pending"), "hub-pending is Pending, not Running"),
        ("fake", ("-l", "component=nothing"), "no pod matches 'component=nothing'"),
        ("fake", ("-l", "component=stuck"), "no running pod matches 'component=stuck'"),
        ("fake", ("--pod", "hub-1", "-c", "nosuch"), "no container 'nosuch'"),
        ("down", (), "cannot reach the Kubernetes API"),
        ("down", ("--local", "--all-services"), "cannot reach the Kubernetes API"),
    ],
)
def test_when_the_check_cannot_run_it_says_why_and_exits_2(
    fake_api: dict[str, str], config: str, args: tuple[str, ...], words: str
) -> None:
    out = netcheck(
        *args, "--internet-url", "http://127.0.0.1:9/", env={"KUBECONFIG": fake_api[config]}
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stderr and "hint:" in out.stderr and no_traceback(out)


def test_a_source_that_cannot_run_does_not_hide_the_others(
    fake_api: dict[str, str], servers: dict[str, str]
) -> None:
    out = netcheck(
        "--local",
        "--pod",
        "hub-1",
        "--no-defaults",
        "--target",
        servers["ok"],
        "--json",
        env={"KUBECONFIG": fake_api["fake"]},
    )
    assert out.returncode == 2 and "forbidden (403)" in out.stderr
    doc = json.loads(out.stdout)
    assert doc["sources"]["local"][0]["verdict"] == "ok"
    assert doc["errors"][0]["source"] == "pod hub-1"


# -- in a sandbox cluster: the exec API, pods, the probe pod ------------------------------------


@pytest.mark.sandbox
def test_in_the_sandbox_green_then_each_fault_gets_its_verdict(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    green = sandbox.binderfix("netcheck", "--json", "--all-services", "--debug")
    assert green.returncode == 0, green.stdout + green.stderr
    assert "targets as JSON on stdin" in green.stderr  # python3, found by command -v
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
    assert "shell fallback (curl)" in out.stderr
    (results,) = json.loads(out.stdout)["sources"].values()
    by_id = {r["id"]: r for r in results}
    assert by_id["binder"]["verdict"] == "ok" and by_id["binder"]["status"] == 200
    # The controller holds no proxy token: the proxy API is not even asked, and it says so.
    assert by_id["proxy-api:8001/api/routes"]["verdict"] == "no-token"
    assert out.returncode == 1


@pytest.mark.sandbox
def test_two_sources_make_two_columns(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.binderfix(
        "netcheck", "-l", "component=hub", "-l", "component=controller", "--json"
    )
    doc = json.loads(out.stdout)
    assert len(doc["sources"]) == 2 and out.returncode == 1  # the controller has no token
    hub = next(s for s in doc["sources"] if "hub" in s)
    assert all(r["passed"] for r in doc["sources"][hub])


@pytest.mark.sandbox
def test_source_pod_missing_or_not_running_is_exit_2(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.binderfix("netcheck", "--pod", "hub-nosuch")
    assert out.returncode == 2 and "no pod 'hub-nosuch'" in out.stderr and no_traceback(out)
    out = shared_sandbox.binderfix("netcheck", "-l", "component=nosuch")
    assert out.returncode == 2 and "no pod matches" in out.stderr
    # A pod the sandbox does not run stays Pending, as one waiting for a node would.
    shared_sandbox.kubectl("run", "netcheck-pending", "--image=busybox", "--", "sleep", "1")
    try:
        out = shared_sandbox.binderfix("netcheck", "--pod", "netcheck-pending")
        assert out.returncode == 2 and "not Running" in out.stderr and no_traceback(out)
    finally:
        shared_sandbox.kubectl("delete", "pod", "netcheck-pending", check=False)


@pytest.mark.sandbox
def test_the_probe_pod_is_gone_after_the_run_and_later_runs_use_the_hub(
    shared_sandbox: RunningSandbox,
) -> None:
    """15.8: the probe pod came back as a Ready "hub" pod that later runs probed from."""
    out = shared_sandbox.binderfix("netcheck", "--probe-pod", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert list(json.loads(out.stdout)["sources"])[0].startswith("probe-pod for hub-")
    pods = json.loads(shared_sandbox.kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert not [p for p in pods if "binderfix.io/netcheck-probe" in p["metadata"]["labels"]]
    (hub,) = [
        p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get("component") == "hub"
    ]
    later = shared_sandbox.binderfix("netcheck", "--json")
    assert list(json.loads(later.stdout)["sources"]) == [f"pod/{hub}"], later.stderr


def _running_processes(word: str) -> list[str]:
    """Command lines of this machine's processes holding ``word`` (the sandbox's pods run
    here, in network namespaces)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if word in text:
            found.append(text)
    return found


@pytest.mark.sandbox
def test_a_probe_pod_left_behind_is_never_a_source_and_deleting_it_ends_it(
    shared_sandbox: RunningSandbox,
) -> None:
    """A probe pod whose deletion failed carries the hub's labels and runs: netcheck must
    not pick it, and deleting it must stop it for good (no controller brings it back)."""
    pods = json.loads(
        shared_sandbox.kubectl("get", "pods", "-l", "component=hub", "-o", "json").stdout
    )
    (hub,) = [p["metadata"]["name"] for p in pods["items"]]
    stale = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "binderfix-netcheck-0000000001",  # sorts before hub-...
            "labels": {
                "component": "hub",
                "app": "jupyterhub",
                "binderfix.io/netcheck-probe": "true",
            },
            "annotations": {"binderfix.io/stands-for": hub},
        },
        "spec": {"containers": [{"name": "probe", "image": "x", "command": ["sleep", "29.75"]}]},
    }
    made = run(
        KUBECTL,
        "create",
        "--validate=false",
        "-f",
        "-",
        env=shared_sandbox.env,
        input=json.dumps(stale),
    )
    assert made.returncode == 0, made.stderr
    try:
        for _ in range(50):  # the sandbox's kubelet starts it
            phase = shared_sandbox.kubectl(
                "get", "pod", stale["metadata"]["name"], "-o", "jsonpath={.status.phase}"
            ).stdout
            if phase == "Running":
                break
            time.sleep(0.1)
        assert phase == "Running" and _running_processes("sleep 29.75")
        out = shared_sandbox.binderfix("netcheck", "--json")
        assert list(json.loads(out.stdout)["sources"]) == [f"pod/{hub}"], out.stderr
        out = shared_sandbox.binderfix("netcheck", "--pod", stale["metadata"]["name"])
        assert out.returncode == 2 and "is a netcheck probe pod" in out.stderr
    finally:
        shared_sandbox.kubectl("delete", "pod", stale["metadata"]["name"], "--wait=false")
    time.sleep(0.5)
    pods = json.loads(shared_sandbox.kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert [
        p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get("component") == "hub"
    ] == [hub]
    assert not _running_processes("sleep 29.75")
