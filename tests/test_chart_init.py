"""Today's chart: the builder DaemonSet's init container rmdirs the socket path when a pod is
created. On it, deleting the pod is the whole fix for an empty directory, and a non-empty one
shows as Init:Error / Init:CrashLoopBackOff, which check names and the deploy still refuses.
The sandbox runs the init container for real, in the node, on every new builder pod."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from binderfix.sandbox.cluster import node_exec
from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run

pytestmark = pytest.mark.sandbox

SOCKET = "/var/run/dind/docker.sock"


@pytest.fixture
def chart(tmp_path: Path) -> Iterator[RunningSandbox]:
    d = tmp_path / "sb"
    run(BINDERFIX, "sandbox", "up", "--dir", str(d), "--nodes", "2", "--broken-nodes", "1",
        "--init-container", "--wait", check=True)  # fmt: skip
    try:
        yield RunningSandbox(d)
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(d))


def deploy(box: RunningSandbox, *args: str) -> str:
    out = run(PYINFRA, "inventories/kubectl.py", "deploys/dind.py", *args, env=box.env, cwd=REPO)
    text = out.stdout + out.stderr
    assert "Traceback" not in text
    return text


def test_an_empty_directory_is_fixed_by_deleting_the_pod_alone(chart: RunningSandbox) -> None:
    pods = chart.wait_builders()
    assert pods["node-2"].reason == "CrashLoopBackOff"
    plan = deploy(chart, "--dry")
    assert "deleting the pod suffices" in plan and "Will delete builder pod" in plan
    dry = json.loads(
        run(PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "--dry", "--json",
            env=chart.env, cwd=REPO).stdout
    )  # fmt: skip
    changed = {op["name"]: op["hosts_with_change"] for op in dry["plan"]}
    assert [hosts for name, hosts in changed.items() if "absent or a socket" in name] == [[]]
    deploy(chart, "-y")
    assert chart.box.socket_state(chart.box.load().host("node-2")) == "socket"
    assert chart.builder_pods()["node-2"].healthy


def test_a_non_empty_directory_is_an_init_failure_that_check_names_and_the_deploy_refuses(
    chart: RunningSandbox,
) -> None:
    chart.wait_builders()
    node = chart.box.load().host("node-1")
    node_exec(node.pid, ["sh", "-c", f"rm -f {SOCKET} && mkdir {SOCKET} && echo x > {SOCKET}/keep"])
    chart.kubectl("delete", "pod", chart.builder_pods()["node-1"].name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pod = chart.builder_pods().get("node-1")
        if pod is not None and pod.status.startswith("Init:"):
            break
        time.sleep(0.2)
    assert pod is not None and pod.status in ("Init:Error", "Init:CrashLoopBackOff")
    checked = run(BINDERFIX, "check", "--json", env=chart.env)
    found = {f["subject"]: f for f in json.loads(checked.stdout)["findings"]}
    assert checked.returncode == 1
    assert "Init:" in found["node-1"]["summary"] and "directory" in found["node-1"]["summary"]
    text = deploy(chart, "-y", "--limit", "node-1")
    assert "keep" in text and "Refused" in text
    assert node_exec(node.pid, ["cat", f"{SOCKET}/keep"]).stdout == "x\n"
