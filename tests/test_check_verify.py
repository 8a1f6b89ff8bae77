"""binderfix check and verify, as a CI pipeline runs them against a sandbox: each exit
code, each output format, and the idempotence check catching a node broken again."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import PYINFRA, REPO, RunningSandbox, run

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
    assert len(cases) == 6 and all(tc.find("failure") is None for tc in cases)  # 2 tests x 3 nodes

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
