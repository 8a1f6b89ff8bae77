"""Nodes reached through the Kubernetes API alone: the ``@kubenode`` connector, end to end.

Every sandbox here refuses every SSH login (its nodes' authorized_keys is emptied, and the
first test shows that SSH really fails), so whatever reaches a node goes through the API:
a privileged helper pod on the node, exec, ``chroot /host``. Node state is set up and
asserted from the machine itself (``nsenter`` into the node), independently of the route
under test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from binderfix.sandbox.cluster import node_exec
from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run, start_sandbox

pytestmark = pytest.mark.sandbox

SOCKET = "/var/run/dind/docker.sock"
HELPERS = "app.kubernetes.io/managed-by=binderfix"
MISSING = "registry.invalid/nothing:missing"


def no_ssh(box: RunningSandbox) -> None:
    (box.box.dir / "ssh" / "authorized_keys").write_text("")


def on_node(box: RunningSandbox, node: str, script: str) -> str:
    """Run a shell script in a node's namespaces from the machine (not through the API)."""
    host = box.box.load().host(node)
    return node_exec(host.pid, ["sh", "-c", script]).stdout


def state(box: RunningSandbox, node: str) -> str:
    return box.box.socket_state(box.box.load().host(node))


def helper_pods(box: RunningSandbox) -> list[str]:
    out = box.kubectl("get", "pod", "-A", "-l", HELPERS, "-o", "name")
    return out.stdout.split()


def kubenode(box: RunningSandbox, **extra: str) -> dict[str, str]:
    return {**box.env, "BINDERFIX_CONNECT": "kubenode", **extra}


def deploy(box: RunningSandbox, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        PYINFRA,
        "inventories/kubectl.py",
        "deploys/dind.py",
        *args,
        env=kubenode(box, **extra),
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("kubenode") / "sb", nodes=3, broken=1)
    no_ssh(sandbox)
    try:
        yield sandbox
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(sandbox.dir))


def test_ssh_is_impossible_and_the_connector_reaches_the_node_anyway(box: RunningSandbox) -> None:
    box.wait_builders()
    ssh = run(BINDERFIX, "sandbox", "ssh", "--dir", str(box.dir), "node-2", "--", "true")
    assert ssh.returncode != 0  # the route these tests must do without

    out = run(PYINFRA, "@kubenode/node-2", "exec", "--", "hostname", env=box.env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[@kubenode/node-2] node-2" in out.stdout + out.stderr

    fact = run(
        PYINFRA,
        "@kubenode/node-2",
        "fact",
        "binderfix.dind.facts.SocketPathState",
        f"path={SOCKET}",
        env=box.env,
    )
    assert fact.returncode == 0, fact.stdout + fact.stderr
    printed = fact.stdout + fact.stderr  # pyinfra prints the fact's JSON after its log lines
    start = printed.index("{\n")
    seen = json.JSONDecoder().raw_decode(printed[start:])[0]["@kubenode/node-2"]
    # The node's own filesystem: /var/run is the node's /run, a directory sits at the path.
    assert seen["kind"] == "directory" and seen["parent_real"] == "/run/dind"
    assert helper_pods(box) == []


def test_files_go_to_and_come_from_the_node_byte_for_byte(
    box: RunningSandbox, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 64 + b"\n\x00tail without newline"
    local = tmp_path / "payload.bin"
    local.write_bytes(payload)
    put = run(
        PYINFRA,
        "@kubenode/node-1",
        "files.put",
        f"src={local}",
        "dest=/run/binderfix-payload.bin",
        "-y",
        env=box.env,
    )
    assert put.returncode == 0, put.stdout + put.stderr
    on_node_sum = on_node(box, "node-1", "sha256sum /run/binderfix-payload.bin").split()[0]
    import hashlib

    assert on_node_sum == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    got = run(
        PYINFRA,
        "@kubenode/node-1",
        "files.get",
        "src=/run/binderfix-payload.bin",
        f"dest={back}",
        "-y",
        env=box.env,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert back.read_bytes() == payload
    # Another node's /run does not have it: the file went to node-1 and nowhere else.
    assert on_node(box, "node-3", "ls /run/binderfix-payload.bin 2>/dev/null || echo none") == (
        "none\n"
    )


def test_dry_run_apply_and_rerun_over_the_api_with_the_guards_holding(
    box: RunningSandbox,
) -> None:
    box.wait_builders()
    # node-2 is broken (an empty directory); node-3: a non-empty directory (refused); node-1:
    # the path's parent is a symlink that leads out of /run (refused, on the node's own
    # filesystem, not the helper pod's).
    on_node(box, "node-3", f"rm -f {SOCKET} && mkdir {SOCKET} && echo x > {SOCKET}/keep.txt")
    on_node(
        box,
        "node-1",
        "mkdir -p /tmp/bfx-elsewhere && rm -rf /run/dind && ln -s /tmp/bfx-elsewhere /run/dind",
    )
    before = {n: p.name for n, p in box.builder_pods().items()}

    dry = deploy(box, "--dry")
    text = dry.stdout + dry.stderr
    assert "@kubenode/node-2" in text and "directory (empty)" in text and "absent" in text
    assert state(box, "node-2") == "directory (empty)"  # a dry run changes nothing
    assert {n: p.name for n, p in box.builder_pods().items()} == before

    applied = deploy(box, "-y")
    text = applied.stdout + applied.stderr
    assert applied.returncode != 0  # node-3 and node-4 are refused, and named
    assert "keep.txt" in text and "@kubenode/node-3" in text and "@kubenode/node-1" in text
    assert state(box, "node-2") == "socket"
    assert (
        box.builder_pods()["node-2"].healthy
        and box.builder_pods()["node-2"].name != before["node-2"]
    )
    assert on_node(box, "node-3", f"cat {SOCKET}/keep.txt") == "x\n"
    assert on_node(box, "node-1", "readlink /run/dind") == "/tmp/bfx-elsewhere\n"
    assert helper_pods(box) == []

    # Put node-3 and node-4 right by hand: then a rerun changes nothing at all.
    on_node(box, "node-3", f"rm -rf {SOCKET}")
    on_node(box, "node-1", "rm /run/dind && mkdir /run/dind")
    box.wait_builders(timeout=10)
    settle = deploy(box, "-y")
    assert settle.returncode == 0, settle.stdout + settle.stderr
    plan = json.loads(deploy(box, "--dry", "--json").stdout)["plan"]
    assert [op["hosts_with_change"] for op in plan] == [[] for _ in plan]
    assert helper_pods(box) == []


def test_check_and_verify_read_nodes_over_the_api(box: RunningSandbox, tmp_path: Path) -> None:
    on_node(box, "node-1", f"rm -f {SOCKET} && mkdir {SOCKET}")
    checked = run(BINDERFIX, "check", "--json", env=kubenode(box))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    findings = {f["subject"]: f for f in json.loads(checked.stdout)["findings"]}
    assert findings["@kubenode/node-1"]["verdict"] == "problem"
    assert "directory" in findings["@kubenode/node-1"]["summary"]

    junit = tmp_path / "verify.xml"
    verified = run(BINDERFIX, "verify", "--junit", str(junit), env=kubenode(box))
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert "kubenode://node-1" in verified.stdout
    assert 'failures="' in junit.read_text()
    assert helper_pods(box) == []

    fixed = deploy(box, "-y")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    again = run(BINDERFIX, "verify", "--idempotence", env=kubenode(box))
    assert again.returncode == 0, again.stdout + again.stderr
    assert helper_pods(box) == []


def test_a_killed_run_leaves_a_pod_that_check_reports_and_the_next_run_removes(
    box: RunningSandbox,
) -> None:
    box.wait_builders()
    proc = subprocess.Popen(
        [PYINFRA, "@kubenode/node-1", "exec", "--", "sleep", "30"],
        env=box.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not helper_pods(box) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert helper_pods(box), "the helper pod never appeared"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = helper_pods(box)
    assert len(left) == 1
    checked = run(BINDERFIX, "check", "--json", "--only", "helpers", env=kubenode(box))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    (finding,) = json.loads(checked.stdout)["findings"]
    assert finding["verdict"] == "problem" and "killed run" in finding["summary"]

    out = run(PYINFRA, "@kubenode/node-1", "exec", "--", "true", env=box.env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert helper_pods(box) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_mid_run_removes_the_helper_pod(
    box: RunningSandbox, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [PYINFRA, "@kubenode/node-1", "exec", "--", "sleep", "30"],
        env=box.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not helper_pods(box) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert helper_pods(box)
    proc.send_signal(sig)
    # It stops promptly: the running exec is dropped, not waited for (pyinfra's pool kept
    # its slot until `sleep 30` ended, so the disconnect that deletes the pod waited).
    output, _ = proc.communicate(timeout=20)
    assert helper_pods(box) == [], output
    # One line and the exit code a shell expects (pyinfra exits 0 on Ctrl-C), no traceback.
    assert proc.returncode == (143 if sig == signal.SIGTERM else 0), output
    assert "Traceback" not in output
    assert (
        "Exiting upon SIGTERM!" if sig == signal.SIGTERM else "Exiting upon user request!"
    ) in output


def test_what_the_api_refuses_is_a_clear_line_and_the_other_nodes_carry_on(
    tmp_path: Path,
) -> None:
    sb = tmp_path / "sb"
    run(
        BINDERFIX, "sandbox", "up", "--dir", str(sb), "--nodes", "2", "--broken-nodes", "1",
        "--missing-image", MISSING, check=True,
    )  # fmt: skip
    box = RunningSandbox(sb)
    no_ssh(box)
    try:
        box.wait_builders()
        # A namespace that does not allow privileged pods: PodSecurity's refusal, and the fix.
        out = deploy(box, "--dry", BINDERFIX_NODE_NAMESPACE="default")
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "Traceback" not in text
        assert 'violates PodSecurity "baseline:latest"' in text
        assert "pod-security.kubernetes.io/enforce=privileged" in text

        # An image the nodes cannot pull: named with the node, well before any timeout.
        started = time.monotonic()
        out = deploy(box, "--dry", BINDERFIX_NODE_IMAGE=MISSING)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "Traceback" not in text
        assert MISSING in text and "node-1" in text and "cannot be pulled" in text
        assert time.monotonic() - started < 30

        # A node that went NotReady: named, and the other node is still fixed.
        from binderfix.kube.client import connect

        cluster = connect(kubeconfig=str(box.box.kubeconfig))
        cluster.api.send_json(
            "PATCH",
            "/api/v1/nodes/node-1/status",
            {
                "status": {
                    "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletStopped"}]
                }
            },
            content_type="application/merge-patch+json",
        )
        out = deploy(box, "-y")
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "Traceback" not in text
        assert "node-1 is NotReady (KubeletStopped)" in text
        assert state(box, "node-2") == "socket"
        assert helper_pods(box) == []
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(sb))


def test_gke_names_from_the_providerid(sandbox: RunningSandbox) -> None:
    """BINDERFIX_SSH_ADDRESS=gce connects to NAME.ZONE.PROJECT, which the SSH config knows."""
    sandbox.wait_builders()
    out = run(
        PYINFRA,
        "inventories/kubectl.py",
        "deploys/dind.py",
        "-y",
        env={**sandbox.env, "BINDERFIX_SSH_ADDRESS": "gce"},
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert state(sandbox, "node-2") == "socket"
    listed = run(
        PYINFRA, "inventories/kubectl.py", "debug-inventory",
        env={**sandbox.env, "BINDERFIX_SSH_ADDRESS": "gce"}, cwd=REPO,
    )  # fmt: skip
    assert "node-2.sandbox-a.binderfix-sandbox" in listed.stdout + listed.stderr


def test_a_bind_mount_in_the_path_stops_force_over_the_api_even_one_made_later(
    box: RunningSandbox,
) -> None:
    from binderfix.kube import nodepod
    from binderfix.kube.client import connect
    from binderfix.kube.exec import exec_in_pod

    box.wait_builders()
    cluster = connect(kubeconfig=str(box.box.kubeconfig))
    helper = nodepod.start_helper(cluster, "node-1")
    try:
        # Made on the node after the helper pod started: the pod sees it (HostToContainer).
        on_node(
            box,
            "node-1",
            f"mkdir -p /run/other && echo keep > /run/other/keep.txt && rm -rf {SOCKET} && "
            f"mkdir -p {SOCKET}/sub && mount --bind /run/other {SOCKET}/sub",
        )
        seen = exec_in_pod(
            cluster,
            helper.pod,
            nodepod.CONTAINER,
            [
                "chroot",
                nodepod.HOST_ROOT,
                "grep",
                "-c",
                " /run/dind/docker.sock/sub ",
                "/proc/self/mountinfo",
            ],
        )
        assert seen.stdout.strip() == "1", seen
    finally:
        nodepod.stop_helper(cluster, helper)
    try:
        forced = deploy(box, "-y", "--limit", "@kubenode/node-1", BINDERFIX_FORCE="1")
        text = forced.stdout + forced.stderr
        assert forced.returncode != 0 and "mount" in text and "Traceback" not in text
        assert on_node(box, "node-1", "cat /run/other/keep.txt") == "keep\n"
        assert on_node(box, "node-1", f"cat {SOCKET}/sub/keep.txt") == "keep\n"
    finally:
        on_node(box, "node-1", f"umount {SOCKET}/sub; rm -rf {SOCKET} /run/other")
    assert helper_pods(box) == []
