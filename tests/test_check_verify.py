"""binderfix check and verify, as a CI pipeline runs them against a sandbox: each exit
code, each output format, and the idempotence check catching a node broken again."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run

pytestmark = pytest.mark.sandbox

SOCKET = "/var/run/dind/docker.sock"


def test_check_finds_the_broken_node_then_passes_after_the_fix(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.wait_builders()
    junit = tmp_path / "reports" / "check.xml"
    out = sandbox.binderfix("check", "--json", "--junit", str(junit))
    assert out.returncode == 1, out.stderr
    findings = {f["subject"]: f for f in json.loads(out.stdout)["findings"]}
    assert findings["node-2"]["verdict"] == "problem"
    assert (
        "directory" in findings["node-2"]["summary"]
        and "CrashLoopBackOff" in findings["node-2"]["summary"]
    )
    assert findings["node-1"]["verdict"] == "ok" and findings["node-3"]["verdict"] == "ok"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    failed = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["node-2"]

    text = sandbox.binderfix("check")
    assert text.returncode == 1 and "\x1b[" not in text.stdout  # not a terminal: no colour
    assert "node-2" in text.stdout and "PROBLEM" in text.stdout

    fix = run(PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y", env=sandbox.env, cwd=REPO)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    after = sandbox.binderfix("check", "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    assert {f["verdict"] for f in json.loads(after.stdout)["findings"]} == {"ok"}

    verify_junit = tmp_path / "reports" / "verify.xml"
    verified = sandbox.binderfix("verify", "--idempotence", "--junit", str(verify_junit))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "would change nothing" in verified.stdout
    cases = list(ET.parse(verify_junit).getroot().iter("testcase"))
    assert len(cases) == 9  # (socket path, builder pod, idempotence) x 3 nodes
    assert all(tc.find("failure") is None and tc.find("error") is None for tc in cases)

    # The node breaks again: the idempotence check names the operation and the node.
    assert sandbox.ssh("node-3", "sh", "-c", f"rm -f {SOCKET} && mkdir {SOCKET}").returncode == 0
    again = sandbox.binderfix("verify", "--idempotence")
    assert again.returncode == 1
    assert "node-3" in again.stdout and "absent or a socket" in again.stdout


def test_check_exits_2_and_names_an_unreachable_node(sandbox: RunningSandbox) -> None:
    from binderfix.sandbox import netns

    sandbox.wait_builders()
    state = sandbox.box.load()
    netns.stop_pids([state.host("node-3").pid], sandbox.box.marker)
    out = sandbox.binderfix("check", "--json")
    assert out.returncode == 2
    findings = {f["subject"]: f for f in json.loads(out.stdout)["findings"]}
    assert (
        findings["node-3"]["verdict"] == "error" and "unreachable" in findings["node-3"]["summary"]
    )
    assert findings["node-2"]["verdict"] == "problem"


def test_check_exits_2_when_the_api_is_unreachable(sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = {**sandbox.env, "KUBECONFIG": str(tmp_path / "missing-kubeconfig")}
    out = run(str(Path(PYINFRA).parent / "binderfix"), "check", env=env)
    assert out.returncode == 2
    assert "kubeconfig" in out.stderr and "Traceback" not in out.stderr


def test_secrets_never_appear_in_check_output(sandbox: RunningSandbox, tmp_path: Path) -> None:
    token = sandbox.box.secret("api-token")
    junit = tmp_path / "check.xml"
    out = sandbox.binderfix("check", "--json", "--junit", str(junit))
    assert token not in out.stdout + out.stderr + junit.read_text()


def test_check_and_verify_with_no_builder_pods_is_an_error_not_a_green_run(
    sandbox: RunningSandbox,
) -> None:
    env = {**sandbox.env, "BINDERFIX_NAMESPACE": "staging"}  # a wrong namespace: nothing there
    for command in (["check"], ["verify"]):
        out = run(str(Path(PYINFRA).parent / "binderfix"), *command, env=env)
        assert out.returncode == 2, (command, out.stdout)
        assert "no builder pods found" in out.stderr and "BINDERFIX_NAMESPACE" in out.stderr


def _cases(junit: Path) -> dict[tuple[str, str], str]:
    """(check, node) -> "pass", "failure" or "error", from a JUnit file, as CI reads it."""
    out = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        verdict = next((t for t in ("failure", "error") if tc.find(t) is not None), "pass")
        out[(tc.get("classname", "").rsplit(".", 1)[-1], tc.get("name", ""))] = verdict
    return out


def test_no_node_reachable_is_exit_2_naming_each_node_with_the_junit_written(
    shared_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    shared_sandbox.wait_builders()
    env = {**shared_sandbox.env, "BINDERFIX_SSH_PORT": "2"}  # nothing listens there: refused
    junit = tmp_path / "check.xml"
    out = run(BINDERFIX, "check", "--junit", str(junit), env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "No hosts remaining" not in out.stderr
    for node in ("node-1", "node-2", "node-3"):
        line = next(x for x in out.stdout.splitlines() if x.startswith(node))
        assert "ERROR" in line and "unreachable" in line and "port 2" in line, line
    assert "3 could not be checked" in out.stdout
    assert set(_cases(junit).values()) == {"error"} and len(_cases(junit)) == 3

    junit = tmp_path / "verify.xml"
    out = run(BINDERFIX, "verify", "--idempotence", "--junit", str(junit), env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    cases = _cases(junit)
    for node in ("node-1", "node-2", "node-3"):
        assert cases[("socket_path_is_a_socket_or_absent", node)] == "error"  # not a finding
        assert cases[("idempotence", node)] == "error"
    # The pods are read from the API, which answers: that check still ran and found node-2.
    assert cases[("builder_pod_is_ready", "node-2")] == "failure"


def test_a_missing_key_file_is_one_line_before_connecting(shared_sandbox: RunningSandbox) -> None:
    env = {**shared_sandbox.env, "BINDERFIX_SSH_KEY": "/nonexistent"}
    for argv in (
        [PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "--dry"],
        [PYINFRA, "binderfix.inventory.kubectl.groups", "binderfix.dind.deploy.remediate_dind"],
        [BINDERFIX, "check"],
    ):
        out = run(*argv, env=env, cwd=REPO)
        assert out.returncode == 2, (argv, out.stderr)
        errors = [x for x in out.stderr.splitlines() if "error:" in x]
        assert errors == [next(x for x in out.stderr.splitlines() if "BINDERFIX_SSH_KEY" in x)]
        assert "/nonexistent" in errors[0] and "hint:" in out.stderr
        assert "Traceback" not in out.stderr and "Connected" not in out.stderr


def test_a_junit_file_that_cannot_be_written_is_one_line_and_exit_2(
    shared_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the reports folder should be")
    junit = str(blocker / "out.xml")
    for command in (["check"], ["verify"], ["netcheck", "--timeout", "2"]):
        out = run(BINDERFIX, *command, "--junit", junit, env=shared_sandbox.env)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert (
            lines[0]
            == f"binderfix: error: cannot write --junit {junit}: {blocker} is a file, not a folder"
        )
        assert lines[1].startswith("  hint:") and len(lines) == 2, out.stderr
        assert "report it" not in out.stderr


def test_verify_junit_holds_the_idempotence_result_the_console_shows(
    shared_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    shared_sandbox.wait_builders()
    junit = tmp_path / "verify.xml"
    out = shared_sandbox.binderfix("verify", "--idempotence", "--junit", str(junit))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "idempotence: FAILED: node-2" in out.stdout
    cases = _cases(junit)
    assert len(cases) == 9  # a case per node and per check
    assert {k for k, v in cases.items() if v != "pass"} == {
        ("socket_path_is_a_socket_or_absent", "node-2"),
        ("builder_pod_is_ready", "node-2"),
        ("idempotence", "node-2"),
    }
    assert {v for v in cases.values()} == {"pass", "failure"}  # findings, not errors
    root = ET.parse(junit).getroot()
    failure = next(
        tc.find("failure")
        for tc in root.iter("testcase")
        if tc.get("classname") == "binderfix.verify.idempotence" and tc.get("name") == "node-2"
    )
    assert "absent or a socket" in failure.get("message", "")


def test_check_and_verify_write_an_error_case_when_they_cannot_run(
    shared_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    env = {**shared_sandbox.env, "BINDERFIX_NAMESPACE": "staging"}
    for command in ("check", "verify"):
        junit = tmp_path / f"{command}.xml"
        out = run(BINDERFIX, command, "--junit", str(junit), env=env)
        assert out.returncode == 2
        root = ET.parse(junit).getroot()
        errors = [tc.find("error") for tc in root.iter("testcase")]
        assert errors and all(
            e is not None and "no builder pods" in e.get("message", "") for e in errors
        )
