"""netcheck's parts: the pure verdicts, the probe script as a pod runs it, the shell fallback.

Every server here is one tests/helpers.py starts on 127.0.0.1; the only name looked up is
``nonexistent.invalid`` (RFC 6761: it never resolves)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from binderfix.errors import BinderfixError
from binderfix.kube.exec import container_of
from binderfix.netcheck import probe
from binderfix.netcheck.probepod import probe_pod_manifest
from binderfix.netcheck.report import redact
from binderfix.netcheck.runner import fallback_script, parse_report, probe_script, run_local
from binderfix.netcheck.sources import _not_running
from binderfix.netcheck.targets import (
    PROXY_API_HEADERS,
    Target,
    parse_target,
    runbook_targets,
    service_targets,
)
from binderfix.netcheck.verdicts import classify_shell, exit_status, judge
from tests.helpers import TOKEN, local_servers


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with local_servers() as urls:
        yield urls


def target(servers: dict[str, str], name: str, **kw: Any) -> Target:
    where = servers[name]
    if "://" in where:
        return Target(id=name, url=where, **kw)
    return Target(id=name, kind="tcp", address=where, **kw)


# -- classify: pure -----------------------------------------------------------------------------

T = {"id": "t", "connect_timeout": 2, "read_timeout": 3}
PROXY = {**T, "role": "proxy-api"}


@pytest.mark.parametrize(
    ("tgt", "obs", "verdict", "words"),
    [
        (T, {"stage": "done", "status": 200}, "ok", "HTTP 200"),
        (T, {"stage": "done", "status": None}, "ok", "connected"),
        (T, {"stage": "done", "status": 302}, "ok", "HTTP 302"),
        (T, {"stage": "done", "status": 404, "reason": "Not Found"}, "http-status", "404"),
        (PROXY, {"stage": "done", "status": 403}, "token-rejected", "refused the token"),
        (PROXY, {"stage": "done", "status": 401}, "token-rejected", "401"),
        (PROXY, {"stage": "done", "status": 500}, "http-status", "500"),
        (T, {"stage": "dns", "error": "unresolved", "host": "h", "message": "x"}, "dns", "h"),
        (T, {"stage": "dns", "error": "unfinished", "host": "h"}, "dns", "did not finish"),
        (T, {"stage": "connect", "error": "refused", "peer": "p:1"}, "refused", "p:1"),
        (T, {"stage": "connect", "error": "timeout"}, "timeout", "connect timed out after 2s"),
        (T, {"stage": "read", "error": "timeout"}, "timeout", "no answer within 3s"),
        (T, {"stage": "read", "error": "unfinished"}, "timeout", "read timeout"),
        (T, {"stage": "tls", "error": "timeout"}, "timeout", "TLS handshake"),
        (T, {"stage": "tls", "error": "tls", "message": "WRONG_VERSION"}, "tls", "WRONG_VERSION"),
        (T, {"stage": "read", "error": "not-http", "message": "not HTTP"}, "error", "not HTTP"),
        (PROXY, {"error": "missing-env", "missing": ["TOK"]}, "no-token", "no TOK"),
        (T, {"stage": "read", "error": "deadline"}, "timeout", "did not finish within 5s"),
        ({**T, "deadline": 2}, {"stage": "read", "error": "deadline"}, "timeout", "within 2s"),
        (
            T,
            {"stage": "done", "error": "redirect-loop", "message": "u redirects to itself"},
            "redirect-loop",
            "u redirects to itself",
        ),
        (T, {"stage": "done", "status": 200, "redirects": 1}, "ok", "HTTP 200 after 1 redirect"),
        (T, {"error": "missing-env", "missing": ["TOK"]}, "error", "TOK is not set"),
        (T, {"stage": "parse", "error": "malformed", "message": "bad"}, "error", "bad"),
    ],
)
def test_classify_is_pure_and_says_which_timeout(
    tgt: dict, obs: dict, verdict: str, words: str
) -> None:
    got, detail = probe.classify(tgt, obs)
    assert (got, words in detail) == (verdict, True), detail


def test_expand_headers_fills_from_the_environment_and_lists_the_secrets() -> None:
    headers, secrets, missing = probe.expand_headers(dict(PROXY_API_HEADERS), {})
    assert missing == ["CONFIGPROXY_AUTH_TOKEN"] and secrets == []
    headers, secrets, missing = probe.expand_headers(
        dict(PROXY_API_HEADERS), {"CONFIGPROXY_AUTH_TOKEN": TOKEN}
    )
    assert headers == {"Authorization": f"token {TOKEN}"} and missing == []
    assert TOKEN in secrets
    assert "Authorization: [redacted]" in probe.show_headers(headers)


def test_summaries_count_routes_and_never_echo_an_answer() -> None:
    assert probe.summarise(b'{"/": {}, "/a": {}, "/b": {}}', "proxy-api") == "3 routes"
    assert probe.summarise(b'{"version": "5.2.1"}') == "version 5.2.1"
    assert probe.summarise(b'{"version": "1\\u001b[31m; rm -rf /"}') == "version 131mrm-rf"
    assert probe.summarise(b"<html>") == "6 bytes"


def test_redact_covers_secrets_and_authorization_headers_in_any_shape() -> None:
    data = {"a": [f"x{TOKEN}y", {TOKEN: 1}], "h": "Authorization: Bearer abc.def"}
    out = json.dumps(redact(data, [TOKEN]))
    assert TOKEN not in out and "abc.def" not in out and "[redacted]" in out
    assert redact('"authorization": "token zzz"', []) == '"authorization": "[redacted]"'


# -- the shell fallback's facts, classified: pure ------------------------------------------------

HTTP_T = {"id": "t", "kind": "http", "url": "http://h/", "connect_timeout": 1, "read_timeout": 1}
TCP_T = {"id": "t", "kind": "tcp", "address": "h:80", "connect_timeout": 1, "read_timeout": 1}


@pytest.mark.parametrize(
    ("tgt", "raw", "verdict", "stage"),
    [
        (HTTP_T, {"tool": "curl", "code": 0, "status": 200, "connected": True}, "ok", "done"),
        (HTTP_T, {"tool": "curl", "code": 0, "status": 500, "connected": True}, "http-status", "done"),
        (HTTP_T, {"tool": "curl", "code": 6, "message": "curl: (6) Could not resolve host: h"}, "dns", "dns"),
        (HTTP_T, {"tool": "curl", "code": 7, "connected": False, "message": "Couldn t connect"}, "refused", "connect"),
        (HTTP_T, {"tool": "curl", "code": 7, "connected": False, "message": "No route to host"}, "error", "connect"),
        (HTTP_T, {"tool": "curl", "code": 28, "connected": True, "message": "too slow"}, "timeout", "read"),
        (HTTP_T, {"tool": "curl", "code": 28, "connected": False, "message": "Connection timed out after 1001 milliseconds"}, "timeout", "connect"),
        (HTTP_T, {"tool": "curl", "code": 60, "connected": True, "message": "SSL certificate problem"}, "tls", "tls"),
        (TCP_T, {"tool": "curl", "code": 0, "status": 404, "connected": True}, "ok", "done"),
        (TCP_T, {"tool": "curl", "code": 52, "connected": True, "message": "Empty reply"}, "ok", "done"),
        (HTTP_T, {"tool": "wget", "code": 8, "message": "connected. HTTP request sent, awaiting response...    HTTP/1.0 500 Internal Server Error"}, "http-status", "done"),
        (HTTP_T, {"tool": "wget", "code": 4, "message": "wget: unable to resolve host address  h"}, "dns", "dns"),
        (HTTP_T, {"tool": "wget", "code": 1, "message": "wget: bad address 'h'"}, "dns", "dns"),
        (HTTP_T, {"tool": "wget", "code": 4, "message": "Connecting to h:80... failed: Connection refused."}, "refused", "connect"),
        (HTTP_T, {"tool": "wget", "code": 4, "message": "connected. HTTP request sent, awaiting response... Read error (Connection timed out) in headers."}, "timeout", "read"),
        (HTTP_T, {"tool": "wget", "code": 1, "message": "wget: download timed out"}, "timeout", "connect"),
        (HTTP_T, {"tool": "bash", "code": 0, "connected": True, "message": "CONNECTED HTTP/1.0 200 OK"}, "ok", "done"),
        (HTTP_T, {"tool": "bash", "code": 28, "connected": True, "message": "CONNECTED"}, "timeout", "read"),
        (HTTP_T, {"tool": "bash", "code": 137, "connected": False, "message": ""}, "timeout", "connect"),
        (HTTP_T, {"tool": "bash", "code": 7, "connected": False, "message": "bash: connect: Connection refused"}, "refused", "connect"),
        (HTTP_T, {"tool": "bash", "code": 7, "connected": False, "message": "h: Name or service not known"}, "dns", "dns"),
        (TCP_T, {"tool": "bash", "code": 0, "connected": True, "message": "CONNECTED"}, "ok", "done"),
        (HTTP_T, {"tool": "skipped", "code": 0, "missing": "TOK"}, "error", "parse"),
        ({**HTTP_T, "role": "proxy-api"}, {"tool": "skipped", "code": 0, "missing": "TOK"}, "no-token", "parse"),
        (HTTP_T, {"tool": "curl", "code": 0, "status": 302, "location": "http://h/"}, "redirect-loop", "done"),
        (HTTP_T, {"tool": "curl", "code": 0, "status": 302, "location": "http://h/login"}, "ok", "done"),
        (HTTP_T, {"tool": "wget", "code": 8, "location": "/", "message": "HTTP/1.1 302 Found Location: /"}, "redirect-loop", "done"),
        (HTTP_T, {"tool": "wget", "code": 1, "message": "wget: too many redirections"}, "redirect-loop", "done"),
        (HTTP_T, {"tool": "wget", "code": 137, "message": "Connecting to h:80... connected."}, "timeout", "read"),
        (HTTP_T, {"tool": "curl", "code": 28, "connected": True, "status": 200}, "ok", "done"),
        ({**HTTP_T, "role": "proxy-api"}, {"tool": "curl", "code": 0, "status": 403, "connected": True}, "token-rejected", "done"),
    ],
)  # fmt: skip
def test_shell_facts_get_the_same_verdicts_as_the_python_probe(
    tgt: dict, raw: dict, verdict: str, stage: str
) -> None:
    result = classify_shell(tgt, {"id": "t", **raw})
    assert (result["verdict"], result["stage"]) == (verdict, stage), result["detail"]


# -- judging: pure ------------------------------------------------------------------------------


def test_judge_compares_the_proxys_answer_with_the_hubs_and_checks_expectations() -> None:
    hub = Target(id="hub", url="http://hub/")
    proxy = Target(id="proxy", url="http://proxy/", same_as="hub")
    shut = Target(id="shut", kind="tcp", address="db:5432", expect="blocked")
    leaky = Target(id="leaky", kind="tcp", address="x:1", expect="blocked")
    ok = {"verdict": "ok", "detail": "HTTP 200", "stage": "done"}
    results = [
        {"id": "hub", **ok, "body_sha256": "a"},
        {"id": "proxy", **ok, "body_sha256": "b"},
        {"id": "shut", "verdict": "timeout", "detail": "connect timed out", "stage": "connect"},
        {"id": "leaky", **ok},
    ]
    judged = judge([hub, proxy, shut, leaky], results)
    assert [(r["verdict"], r["passed"]) for r in judged] == [
        ("ok", True),
        ("mismatch", False),
        ("timeout", True),
        ("ok", False),
    ]
    assert all("body_sha256" not in r for r in judged)
    same = judge([hub, proxy], [results[0], {**results[1], "body_sha256": "a"}])
    assert same[1]["verdict"] == "ok" and "same answer" in same[1]["detail"]
    shell = judge([hub, proxy], [{"id": "hub", **ok}, {"id": "proxy", **ok}])
    assert shell[1]["verdict"] == "ok" and "not compared" in shell[1]["detail"]
    missing = judge([hub], [])
    assert missing[0]["verdict"] == "error" and not missing[0]["passed"]
    assert exit_status({"s": judged[:1]}, []) == 0
    assert exit_status({"s": judged}, []) == 1
    assert exit_status({"s": judged[:1]}, [{"message": "x"}]) == 2


# -- targets ------------------------------------------------------------------------------------


def test_runbook_targets_with_prefix_moved_urls_and_the_token_header() -> None:
    targets = runbook_targets("prod-", "http://127.0.0.1:9/")
    by_id = {t.id: t for t in targets}
    assert list(by_id) == [
        "prod-binder",
        "prod-hub:8081/hub/api",
        "prod-proxy-public/hub/api",
        "internet",
        "prod-proxy-api:8001/api/routes",
    ]
    assert by_id["prod-binder"].url == "http://prod-binder/"
    assert by_id["prod-proxy-public/hub/api"].same_as == "prod-hub:8081/hub/api"
    api = by_id["prod-proxy-api:8001/api/routes"]
    assert api.headers == (("Authorization", "token ${CONFIGPROXY_AUTH_TOKEN}"),)
    assert api.env_names() == ["CONFIGPROXY_AUTH_TOKEN"] and api.role == "proxy-api"
    assert api.for_probe(5)["headers"] == {"Authorization": "token ${CONFIGPROXY_AUTH_TOKEN}"}
    with pytest.raises(BinderfixError, match="no target 'nosuch'"):
        runbook_targets(urls={"nosuch": "http://x/"})


def test_a_moved_target_is_labelled_by_where_it_goes() -> None:
    """--url proxy-public=https://pp/hub/api: the row says https://pp/hub/api, not the
    default name of a place that was not probed."""
    moved = {"proxy-public": "https://pp/hub/api", "hub": "http://10.0.0.5:8081/hub/api"}
    targets = runbook_targets("prod-", "http://127.0.0.1:9/", moved)
    assert [t.id for t in targets] == [
        "prod-binder",
        "10.0.0.5:8081/hub/api",
        "https://pp/hub/api",
        "internet",
        "prod-proxy-api:8001/api/routes",
    ]
    assert targets[2].same_as == "10.0.0.5:8081/hub/api"  # still compared with the hub
    same = runbook_targets(urls={"binder": "http://x/", "hub": "http://x/"})
    assert [t.id for t in same][:2] == ["x (binder)", "x (hub)"]  # two rows, told apart


@pytest.mark.parametrize(
    "bad",
    ["ftp://example", "not a target", "http://host:99999/", "http://", "host:0", "a|b:80",
     'http://x/"', "http://x/\n", "hub", "http://host:port/"],
)  # fmt: skip
def test_malformed_targets_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(BinderfixError) as err:
        parse_target(bad)
    assert "--target" in err.value.message and err.value.hint


def test_good_targets() -> None:
    assert parse_target("hub:8081").kind == "tcp"
    assert parse_target("[::1]:80").address == "[::1]:80"
    assert parse_target("https://x/y?z=1").url == "https://x/y?z=1"
    assert parse_target("db:5432", expect="blocked").expect == "blocked"


def test_every_tcp_port_of_every_service_once() -> None:
    services = [
        {"metadata": {"name": "hub"}, "spec": {"ports": [{"port": 8081}]}},
        {
            "metadata": {"name": "kube-dns"},
            "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        },
        {"metadata": {"name": "headless"}, "spec": {}},
    ]
    assert [(t.id, t.address) for t in service_targets(services)] == [
        ("svc/hub:8081", "hub:8081"),
        ("svc/kube-dns:53", "kube-dns:53"),
    ]


# -- the probe script, as a pod runs it ---------------------------------------------------------


def run_script(targets: list[dict], env: dict[str, str], via_stdin: bool = True) -> dict:
    """``python3 -I -c <probe.py>`` as the exec runs it: no binderfix on the path, targets
    as a JSON line on stdin (or as the first argument, as in a probe pod)."""
    payload = json.dumps(targets)
    argv = [sys.executable, "-I", "-c", probe_script()] + ([] if via_stdin else [payload])
    out = subprocess.run(
        argv,
        input=payload + "\n" if via_stdin else None,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        timeout=30,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_probe_script_gives_each_failure_its_verdict_at_once(servers: dict[str, str]) -> None:
    names = ["ok", "fail", "silent", "closed", "dns", "tls", "not-http", "tcp", "tcp-closed"]
    tgts = [target(servers, n).for_probe(1) for n in names]
    tgts.append(
        Target(
            id="api", url=servers["routes"], headers=PROXY_API_HEADERS, role="proxy-api"
        ).for_probe(1)
    )
    started = time.monotonic()
    document = run_script(tgts, {"CONFIGPROXY_AUTH_TOKEN": TOKEN})
    took = time.monotonic() - started
    assert document["probe"] == "python3"
    verdicts = {r["id"]: r["verdict"] for r in document["results"]}
    assert verdicts == {
        "ok": "ok",
        "fail": "http-status",
        "silent": "timeout",
        "closed": "refused",
        "dns": "dns",
        "tls": "tls",
        "not-http": "error",
        "tcp": "ok",
        "tcp-closed": "refused",
        "api": "ok",
    }
    by_id = {r["id"]: r for r in document["results"]}
    assert by_id["silent"]["stage"] == "read" and "read timeout" in by_id["silent"]["detail"]
    assert by_id["api"]["summary"] == "2 routes"
    assert by_id["ok"]["summary"] == "version 5.2.1" and by_id["ok"]["latency_ms"] > 0
    assert took < 4, took  # one read timeout (1s) in all, not one per silent target


def test_probe_script_reads_targets_from_its_argument_too(servers: dict[str, str]) -> None:
    document = run_script([target(servers, "ok").for_probe(1)], {}, via_stdin=False)
    assert [r["verdict"] for r in document["results"]] == ["ok"]


def test_the_probe_redacts_a_token_a_server_says_back(servers: dict[str, str]) -> None:
    header = (("Authorization", "token ${CONFIGPROXY_AUTH_TOKEN}"),)
    tgts = [
        Target(id="echo", url=servers["echo"], headers=header).for_probe(1),
        Target(id="echo-fail", url=servers["echo-fail"], headers=header).for_probe(1),
    ]
    document = run_script(tgts, {"CONFIGPROXY_AUTH_TOKEN": TOKEN})
    text = json.dumps(document)
    assert TOKEN not in text and "[redacted]" in text
    assert [r["verdict"] for r in document["results"]] == ["ok", "http-status"]


def test_an_endless_answer_is_read_for_one_read_timeout_only(servers: dict[str, str]) -> None:
    """Like /build's event stream: the status came, the body never ends."""
    started = time.monotonic()
    results, _ = probe.probe_all([target(servers, "drip").for_probe(1)])
    assert results[0]["verdict"] == "ok" and time.monotonic() - started < 3
    assert any("still streaming" in step for step in results[0]["steps"])


def test_the_probe_ends_within_one_timeout_whatever_the_target_does(
    servers: dict[str, str],
) -> None:
    """A byte a second never lets a read time out: the probe's deadline ends it (13.6)."""
    names = ["slow-head", "slow-body", "drip", "silent", "ok"]
    started = time.monotonic()
    document = run_script([target(servers, n).for_probe(2) for n in names], {})
    took = time.monotonic() - started
    by_id = {r["id"]: r for r in document["results"]}
    assert {n: by_id[n]["verdict"] for n in names} == {
        "slow-head": "timeout",
        "slow-body": "ok",  # the status came in time: the answer counts by it
        "drip": "ok",
        "silent": "timeout",
        "ok": "ok",
    }
    assert "did not finish within 2s" in by_id["slow-head"]["detail"]
    assert by_id["slow-body"]["status"] == 200
    assert any("still streaming at the deadline" in s for s in by_id["slow-body"]["steps"])
    assert took < 3.2, took  # one timeout (2s) and python's start, not 5s


def test_redirects_are_followed_on_the_same_host_and_a_loop_is_a_loop(
    servers: dict[str, str],
) -> None:
    names = ["loop", "loop-abs", "ping", "on", "moved", "away"]
    document = run_script([target(servers, n).for_probe(2) for n in names], {})
    by_id = {r["id"]: r for r in document["results"]}
    assert {n: by_id[n]["verdict"] for n in names} == {
        "loop": "redirect-loop",
        "loop-abs": "redirect-loop",
        "ping": "redirect-loop",
        "on": "redirect-loop",
        "moved": "ok",
        "away": "ok",
    }
    assert by_id["loop"]["detail"] == f"{servers['loop']} redirects to itself"
    assert "redirects back to" in by_id["ping"]["detail"]
    assert "still redirects after 5 redirects" in by_id["on"]["detail"]
    assert (by_id["moved"]["status"], by_id["moved"]["detail"]) == (
        200,
        "HTTP 200 after 1 redirect",
    )
    assert (by_id["away"]["status"], by_id["away"]["detail"]) == (302, "HTTP 302")
    assert any("another host, not followed" in s for s in by_id["away"]["steps"])


def test_mismatch_between_two_real_answers(servers: dict[str, str]) -> None:
    hub = Target(id="hub", url=servers["ok"])
    proxy = Target(id="proxy", url=servers["other"], same_as="hub")
    judged = judge([hub, proxy], run_local([hub, proxy], 1, {}).results)
    assert [r["verdict"] for r in judged] == ["ok", "mismatch"]


# -- the shell fallback, with each tool alone -----------------------------------------------------


def tool_path(tmp_path: Path, tool: str | None) -> str:
    """A PATH with sh, sleep and only ``tool``: what a pod without python3 may have."""
    folder = tmp_path / f"bin-{tool or 'none'}"
    folder.mkdir()
    for name in ("sh", "sleep", *([tool] if tool else [])):
        found = shutil.which(name)
        if not found:
            pytest.skip(f"{name} is not installed here")
        (folder / name).symlink_to(found)
    return str(folder)


@pytest.mark.parametrize("tool", ["curl", "wget", "bash"])
def test_shell_fallback_with_only_one_tool(
    servers: dict[str, str], tmp_path: Path, tool: str
) -> None:
    names = ["ok", "fail", "silent", "closed", "dns", "tcp", "tcp-closed"]
    targets = [target(servers, n) for n in names]
    targets += [
        Target(id="api", url=servers["routes"], headers=PROXY_API_HEADERS, role="proxy-api"),
        Target(id="api-no-env", url=servers["routes"], headers=(("X", "${NOPE}"),)),
    ]
    path = tool_path(tmp_path, tool)
    started = time.monotonic()
    out = subprocess.run(
        [f"{path}/sh", "-c", fallback_script(), "netcheck", *[t.shell_arg(1) for t in targets]],
        capture_output=True,
        text=True,
        env={"PATH": path, "CONFIGPROXY_AUTH_TOKEN": TOKEN},
        timeout=30,
    )
    took = time.monotonic() - started
    results, how = parse_report(out.stdout, targets, 1)
    verdicts = {r["id"]: r["verdict"] for r in results}
    assert verdicts == {
        "ok": "ok",
        "fail": "http-status",
        "silent": "timeout",
        "closed": "refused",
        "dns": "dns",
        "tcp": "ok",
        "tcp-closed": "refused",
        "api": "ok",
        "api-no-env": "error",
    }, out.stdout
    assert how == f"shell fallback ({tool})"
    assert took < 5, took  # all at once: about one timeout (2s at most for curl)
    assert TOKEN not in out.stdout + out.stderr


@pytest.mark.parametrize("tool", ["curl", "wget", "bash"])
def test_shell_fallback_ends_within_one_timeout_and_sees_a_loop(
    servers: dict[str, str], tmp_path: Path, tool: str
) -> None:
    names = ["slow-head", "slow-body", "loop", "loop-abs", "moved"]
    targets = [target(servers, n) for n in names]
    path = tool_path(tmp_path, tool)
    started = time.monotonic()
    out = subprocess.run(
        [f"{path}/sh", "-c", fallback_script(), "netcheck", *[t.shell_arg(2) for t in targets]],
        capture_output=True,
        text=True,
        env={"PATH": path},
        timeout=30,
    )
    took = time.monotonic() - started
    results, _ = parse_report(out.stdout, targets, 2)
    assert {r["id"]: r["verdict"] for r in results} == {
        "slow-head": "timeout",
        "slow-body": "ok",  # the status came in time
        "loop": "redirect-loop",
        "loop-abs": "redirect-loop",
        "moved": "ok",  # 302 elsewhere: not followed by the fallback, an answer all the same
    }, out.stdout
    assert took < 3.5, took  # one timeout (2s), not two, nor as long as the server drips


def test_shell_fallback_without_any_tool_cannot_run(
    servers: dict[str, str], tmp_path: Path
) -> None:
    path = tool_path(tmp_path, None)
    arg = target(servers, "ok").shell_arg(1)
    out = subprocess.run(
        [f"{path}/sh", "-c", fallback_script(), "netcheck", arg],
        capture_output=True,
        text=True,
        env={"PATH": path},
        timeout=30,
    )
    with pytest.raises(BinderfixError, match="no python3, curl, wget or bash"):
        parse_report(out.stdout, [target(servers, "ok")], 1)


def test_a_report_that_is_not_one_is_a_clear_error() -> None:
    with pytest.raises(BinderfixError, match="printed no report: sh: 1: oops"):
        parse_report("sh: 1: oops\n", [Target(id="x", url="http://x/")], 1)


# -- exec, pods and the probe pod: the pure parts -----------------------------------------------


def _pod(**status: Any) -> dict:
    return {
        "metadata": {
            "name": "hub-7f9-x2",
            "uid": "uid-1",
            "labels": {"component": "hub", "app": "jupyterhub", "pod-template-hash": "7f9"},
            "annotations": {"kubectl.kubernetes.io/default-container": "hub"},
        },
        "spec": {
            "nodeName": "node-1",
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {"name": "sidecar", "image": "busybox"},
                {
                    "name": "hub",
                    "image": "quay.io/jupyterhub/k8s-hub:4",
                    "env": [{"name": "CONFIGPROXY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {}}}],
                    "envFrom": [{"secretRef": {"name": "hub"}}],
                },
            ],
        },
        "status": {"phase": "Running", **status},
    }


def test_the_container_is_the_default_one_and_must_be_running() -> None:
    pod = _pod()
    assert container_of(pod) == "hub" and container_of(pod, "sidecar") == "sidecar"
    with pytest.raises(BinderfixError, match="no container 'nope'"):
        container_of(pod, "nope")
    assert _not_running(pod, None) == ""
    waiting = {"name": "hub", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    assert "CrashLoopBackOff" in _not_running(_pod(containerStatuses=[waiting]), None)
    assert "Pending" in _not_running({**pod, "status": {"phase": "Pending"}}, None)


def test_the_probe_pod_stands_for_the_source_and_stays_out_of_the_way() -> None:
    targets = runbook_targets(internet_url="http://127.0.0.1:9/")
    manifest = probe_pod_manifest(_pod(), targets, 5, "binderfix-netcheck-1")
    meta, spec = manifest["metadata"], manifest["spec"]
    assert meta["labels"] == {
        "component": "hub",
        "app": "jupyterhub",
        "binderfix.io/netcheck-probe": "true",
    }  # the network policies' labels; not the ReplicaSet's pod-template-hash
    assert meta["ownerReferences"][0]["uid"] == "uid-1"  # no controller adopts it
    assert spec["readinessGates"]  # never Ready: no Service sends it traffic
    assert spec["nodeName"] == "node-1" and spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["image"] == "quay.io/jupyterhub/k8s-hub:4"
    assert container["env"][0]["name"] == "CONFIGPROXY_AUTH_TOKEN"  # by reference, not value
    assert container["envFrom"] == [{"secretRef": {"name": "hub"}}]
    assert "${CONFIGPROXY_AUTH_TOKEN}" in json.dumps(container["command"])
    other = probe_pod_manifest(_pod(), targets, 5, "p", image="python:3-alpine")
    assert other["spec"]["containers"][0]["image"] == "python:3-alpine"
