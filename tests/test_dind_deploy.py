"""The Docker-in-Docker remediation end to end, as a user runs it:

    pyinfra inventories/kubectl.py deploys/dind.py --dry / -y

against a sandbox (real sshd nodes, the sandbox's Kubernetes API), with testinfra asserting
the nodes' state before and after over real SSH.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PYINFRA, RunningSandbox, run
from tests.helpers import SOCKET, names, node, pyinfra

pytestmark = pytest.mark.sandbox


def test_dry_run_shows_the_diff_and_changes_nothing(sandbox: RunningSandbox) -> None:
    pods = sandbox.wait_builders()
    assert node(sandbox, "node-2").file(SOCKET).is_directory
    out = pyinfra(sandbox, "--dry")
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    broken = pods["node-2"]
    # The per-node diff: the path's current and target state, the pod that would go.
    assert "node-2" in text and "directory" in text and "absent" in text
    assert broken.name in text and "CrashLoopBackOff" in text
    assert "node-1" in text
    # Nothing changed anywhere.
    assert node(sandbox, "node-2").file(SOCKET).is_directory
    assert node(sandbox, "node-1").file(SOCKET).is_socket
    assert names(sandbox) == {n: p.name for n, p in pods.items()}


def test_apply_fixes_the_broken_node_and_leaves_healthy_ones_alone(sandbox: RunningSandbox) -> None:
    sandbox.wait_builders()
    before = names(sandbox)
    out = pyinfra(sandbox, "-y")
    assert out.returncode == 0, out.stdout + out.stderr
    after = sandbox.builder_pods()
    assert node(sandbox, "node-2").file(SOCKET).is_socket
    assert after["node-2"].name != before["node-2"] and after["node-2"].healthy
    # Healthy nodes: same pods, same sockets.
    assert after["node-1"].name == before["node-1"] and after["node-3"].name == before["node-3"]
    assert node(sandbox, "node-1").file(SOCKET).is_socket

    # Idempotence: a second apply changes nothing and deletes no pod.
    again = pyinfra(sandbox, "-y")
    assert again.returncode == 0, again.stdout + again.stderr
    assert names(sandbox) == {n: p.name for n, p in after.items()}
    plan = json.loads(pyinfra(sandbox, "--dry", "--json").stdout)["plan"]
    assert [op["hosts_with_change"] for op in plan] == [[] for _ in plan]


def test_each_node_state_gets_the_right_treatment(tmp_path: Path) -> None:
    """absent, socket, empty dir, non-empty dir, file, symlink: one node each, one run."""
    from tests.conftest import start_sandbox

    box = start_sandbox(tmp_path / "sb", nodes=6, broken=0)
    try:
        box.wait_builders()
        setup = {
            "node-1": "true",  # a healthy socket
            "node-2": f"rm -f {SOCKET}",  # absent
            "node-3": f"rm -f {SOCKET} && mkdir {SOCKET}",  # empty directory
            "node-4": f"rm -f {SOCKET} && mkdir {SOCKET} && echo x > {SOCKET}/keep.txt",  # non-empty
            "node-5": f"rm -f {SOCKET} && echo stray > {SOCKET}",  # a regular file
            "node-6": f"rm -f {SOCKET} && echo precious > /root/target && ln -s /root/target {SOCKET}",
        }
        for name, script in setup.items():
            assert box.ssh(name, "sh", "-c", script).returncode == 0
        out = pyinfra(box, "-y")
        text = out.stdout + out.stderr
        # The non-empty directory fails its node, with what it holds; the others still run.
        assert out.returncode != 0
        assert "node-4" in text and "keep.txt" in text
        assert node(box, "node-4").file(f"{SOCKET}/keep.txt").content_string == "x\n"
        assert node(box, "node-3").file(SOCKET).is_socket  # rmdir'd, then the new builder bound it
        assert node(box, "node-5").file(SOCKET).is_socket
        six = node(box, "node-6")
        assert (
            six.file(SOCKET).is_socket and six.file("/root/target").content_string == "precious\n"
        )
        assert node(box, "node-1").file(SOCKET).is_socket
        # With force, the non-empty directory goes too.
        forced = pyinfra(box, "-y", "--limit", "node-4", env={"BINDERFIX_FORCE": "1"})
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert node(box, "node-4").file(SOCKET).is_socket
    finally:
        run(str(Path(PYINFRA).parent / "binderfix"), "sandbox", "down", "--dir", str(box.dir))


def test_an_unreachable_node_does_not_stop_the_others(sandbox: RunningSandbox) -> None:
    sandbox.wait_builders()
    state = sandbox.box.load()
    # node-1's sshd stops: the node is down for SSH while its pod still shows in the API.
    from binderfix.sandbox import netns

    netns.stop_pids([state.host("node-1").pid], sandbox.box.marker)
    out = pyinfra(sandbox, "-y")
    assert out.returncode != 0
    assert "node-1" in out.stdout + out.stderr
    assert node(sandbox, "node-2").file(SOCKET).is_socket
    assert sandbox.builder_pods()["node-2"].healthy


def test_inventory_from_a_saved_kubectl_listing(sandbox: RunningSandbox, tmp_path: Path) -> None:
    sandbox.wait_builders()
    listing = tmp_path / "pods.txt"
    listing.write_text(sandbox.kubectl("get", "pod", "-o", "wide").stdout)
    env = {"BINDERFIX_LISTING": str(listing), "BINDERFIX_SSH_ADDRESS": "name"}
    out = pyinfra(sandbox, "-y", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert node(sandbox, "node-2").file(SOCKET).is_socket


def test_no_builder_pods_is_a_clear_message(sandbox: RunningSandbox) -> None:
    out = pyinfra(sandbox, "--dry", env={"BINDERFIX_NAMESPACE": "staging"})
    assert out.returncode != 0
    assert "no builder pods found" in out.stderr and "Traceback" not in out.stderr
