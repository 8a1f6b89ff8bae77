"""What force and a refusal may never do, on real sandbox nodes (sshd in their own network and
mount namespaces), through `pyinfra inventories/kubectl.py deploys/dind.py` as a user runs it:

- force never deletes anything reached through a mount point inside the socket path, a bind
  mount of a directory on the same filesystem included (issue 13.1: it emptied the mounted
  directory, then failed with "Device or resource busy");
- the plan says what the apply does on a node whose socket path is refused: no change
  counted, no builder pod deletion promised (issue 13.3).

The mounts are made over SSH, so they live in the node's mount namespace, where pyinfra's
commands run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binderfix.dind.facts import SocketPathState
from binderfix.dind.state import plan
from tests.conftest import BINDERFIX, RunningSandbox, run, start_sandbox
from tests.helpers import SOCKET, names, node, pyinfra

pytestmark = pytest.mark.sandbox

OTHER = "/run/other"  # a directory outside the socket path, on the node's /run tmpfs
SUB = f"{SOCKET}/sub"
FORCE = {"BINDERFIX_FORCE": "1"}


def on(box: RunningSandbox, name: str, script: str) -> None:
    out = box.ssh(name, "sh", "-c", script)
    assert out.returncode == 0, out.stdout + out.stderr


def bind_mount_other(box: RunningSandbox, name: str) -> None:
    """`mount --bind /run/other <socket path>/sub`: the same tmpfs, so the same device."""
    on(
        box,
        name,
        f"mkdir -p {OTHER} && echo precious > {OTHER}/keep.txt && "
        f"rm -rf {SOCKET} && mkdir -p {SUB} && echo own > {SOCKET}/own.txt && "
        f"mount --bind {OTHER} {SUB}",
    )


def test_force_never_deletes_through_a_bind_mount(sandbox: RunningSandbox) -> None:
    pods = sandbox.wait_builders()
    bind_mount_other(sandbox, "node-2")
    pod = pods["node-2"].name

    for env in (FORCE, {}):  # with force or without: the same refusal, naming the mount
        out = pyinfra(sandbox, "-y", env=env)
        text = out.stdout + out.stderr
        # The mounted directory's files, and the path's own, are all still there.
        two = node(sandbox, "node-2")
        assert two.file(f"{OTHER}/keep.txt").content_string == "precious\n", text
        assert two.file(f"{SUB}/keep.txt").content_string == "precious\n"
        assert two.file(f"{SOCKET}/own.txt").content_string == "own\n"
        assert out.returncode != 0, text
        assert "1 mount point at or below it (/run/dind/docker.sock/sub)" in text, text
        assert "Device or resource busy" not in text
        assert names(sandbox)["node-2"] == pod

    dry = pyinfra(sandbox, "--dry", env=FORCE)
    text = dry.stdout + dry.stderr
    assert dry.returncode == 0, text
    assert f"Will refuse to change {SOCKET}" in text and "/run/dind/docker.sock/sub" in text
    assert f"Will delete builder pod {pod}" not in text


def test_a_mount_made_after_the_fact_was_read_is_refused_when_applying(
    sandbox: RunningSandbox,
) -> None:
    """The fact, the plan and the command as the operation runs them, over SSH, with a bind
    mount made in between: the command reads the mount table again before rm -r."""
    sandbox.wait_builders()
    on(sandbox, "node-2", f"mkdir -p {OTHER} && echo precious > {OTHER}/keep.txt")
    on(sandbox, "node-2", f"rm -rf {SOCKET} && mkdir -p {SUB} && echo own > {SOCKET}/own.txt")
    fact = SocketPathState()
    read = sandbox.ssh("node-2", "sh", "-c", fact.command(SOCKET))
    state = fact.process(read.stdout.splitlines())
    assert state is not None and state.kind == "directory", read.stdout + read.stderr
    (command,) = plan(state, SOCKET, force=True).commands

    on(sandbox, "node-2", f"mount --bind {OTHER} {SUB}")
    out = sandbox.ssh("node-2", "sh", "-c", command)
    two = node(sandbox, "node-2")
    assert two.file(f"{OTHER}/keep.txt").content_string == "precious\n"
    assert two.file(f"{SOCKET}/own.txt").content_string == "own\n"
    assert out.returncode != 0
    assert "mounted at or below it now: /run/dind/docker.sock/sub" in out.stderr

    # Unmounted again, the same command does its job, and the other directory is intact.
    on(sandbox, "node-2", f"umount {SUB}")
    done = sandbox.ssh("node-2", "sh", "-c", command)
    assert done.returncode == 0, done.stderr
    # The directory is gone. The path may already hold a socket again: the crash-looping
    # builder's next restart makes dockerd listen there, as on a real node.
    assert not two.file(SOCKET).is_directory
    assert two.file(f"{OTHER}/keep.txt").content_string == "precious\n"


def test_the_plan_matches_the_apply_on_refused_nodes(tmp_path: Path) -> None:
    """A non-empty directory (with a name holding a newline and one like an option), a fifo
    and a parent symlinked elsewhere: the plan counts no change and deletes no pod there,
    as the apply changes nothing there."""
    box = start_sandbox(tmp_path / "sb", nodes=3, broken=0)
    try:
        pods = box.wait_builders()
        setup = {
            "node-1": f"rm -f {SOCKET} && mkdir {SOCKET} && touch {SOCKET}/-rf "
            f"&& touch \"{SOCKET}/a$(printf '\\nb')\"",
            "node-2": f"rm -f {SOCKET} && mkfifo {SOCKET}",
            "node-3": "mv /run/dind /run/dind-real && mkdir -p /run/elsewhere/docker.sock "
            "&& ln -s /run/elsewhere /run/dind",
        }
        for name, script in setup.items():
            on(box, name, script)

        dry = pyinfra(box, "--dry")
        text = dry.stdout + dry.stderr
        assert dry.returncode == 0, text
        assert "Will delete builder pod" not in text
        assert text.count(f"Will refuse to change {SOCKET}") == 3
        # Two entries, each on its own line of the listing, escaped.
        assert "holding 2 entries (./-rf, a\\nb)" in text, text
        assert f"- {SOCKET}/a\\nb" in text
        assert "special file (fifo or device)" in text and "resolves through a symlink" in text
        plan_json = json.loads(pyinfra(box, "--dry", "--json").stdout)["plan"]
        assert [op["hosts_with_change"] for op in plan_json] == [[] for _ in plan_json]

        out = pyinfra(box, "-y")
        assert out.returncode != 0
        assert names(box) == {n: p.name for n, p in pods.items()}
        one = node(box, "node-1")
        assert one.file(f"{SOCKET}/-rf").exists and one.file(SOCKET).is_directory
        assert node(box, "node-2").file(SOCKET).is_pipe
        assert node(box, "node-3").file("/run/elsewhere/docker.sock").is_directory
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
