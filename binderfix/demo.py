"""``binderfix demo``: the runbook, start to finish, on a sandbox cluster.

It types the commands an operator would, shows what they print, and says what to look
at. Every command is the real one (kubectl, pyinfra, binderfix) against a real sandbox.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from binderfix.report import paint, use_colour

if TYPE_CHECKING:
    from binderfix.sandbox.cluster import Sandbox


class Transcript:
    """Runs commands as a person would type them, and shows their output indented."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.colour = use_colour()
        self.failures: list[str] = []

    def heading(self, text: str) -> None:
        click.echo("")
        click.echo(paint(f"== {text}", "bold", self.colour))

    def say(self, text: str) -> None:
        click.echo(paint(f"   {text}", "dim", self.colour))

    def run(
        self, argv: Sequence[str], expect: Sequence[int] = (0,), shown: str | None = None
    ) -> int:
        click.echo(paint(f"$ {shown or shlex.join(argv)}", "green", self.colour))
        start = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            click.echo(f"  {line.rstrip()}")
        code = proc.wait()
        took = time.monotonic() - start
        verdict = f"exit {code}, {took:.1f}s"
        if code not in expect:
            self.failures.append(f"{shown or shlex.join(argv)}: {verdict}")
            verdict += f" (expected {' or '.join(map(str, expect))})"
        click.echo(paint(f"  [{verdict}]", "dim" if code in expect else "red", self.colour))
        return code


def run_demo(directory: str | None = None, keep: bool = False) -> int:
    """Bring a sandbox up (3 nodes, 1 broken), walk the runbook, take it down. Returns an exit code."""
    from binderfix.sandbox.cluster import Sandbox

    workdir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="binderfix-demo-"))
    box = Sandbox(workdir / "sandbox")
    bin_dir = str(Path(sys.executable).parent)
    exe = "binderfix"  # found on PATH, which starts with this installation's bin/
    # Everything it runs comes with the installed package (no checkout needed), in a folder
    # of its own.
    t = Transcript(
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}, cwd=workdir
    )

    t.heading("A sandbox BinderHub cluster: 3 nodes, and node-2 has the Docker-in-Docker bug")
    t.run([exe, "sandbox", "up", "--dir", str(box.dir), "--nodes", "3", "--broken-nodes", "1"])
    try:
        t.env.update(box.env())
        t.env["PYINFRA_PROGRESS"] = "off"
        _wait_for_crashloop(box)
        _runbook(t, exe, box)
        _federation(t, exe, box, workdir)
    finally:
        if keep:
            t.heading("Keeping the sandbox (--keep)")
            t.say(
                f'eval "$(binderfix sandbox env --dir {box.dir})"; binderfix sandbox down --dir {box.dir}'
            )
        else:
            t.heading("Taking the sandbox down")
            t.run([exe, "sandbox", "down", "--dir", str(box.dir)])
    t.heading("Summary")
    if t.failures:
        for failure in t.failures:
            click.echo(paint(f"   unexpected: {failure}", "red", t.colour))
        return 1
    t.say("every step did what the runbook says it should")
    return 0


def _runbook(t: Transcript, exe: str, box: Sandbox) -> None:
    t.heading("Runbook step 1: which node has the crashing dind pod?")
    t.run(["kubectl", "--namespace=prod", "get", "pod", "-o", "wide"])
    t.run([exe, "sandbox", "status", "--dir", str(box.dir)])

    t.heading("binderfix: the dry run shows, per node, what would change (nothing is touched)")
    from binderfix.inventory.kubectl import PYINFRA_ARGS

    # This installation's pyinfra (its script may not be on PATH), shown as a person types it.
    pyinfra = [sys.executable, "-m", "pyinfra", *PYINFRA_ARGS]
    shown = shlex.join(["pyinfra", *PYINFRA_ARGS])
    t.run([*pyinfra, "--dry"], shown=f"{shown} --dry")

    t.heading("binderfix check: the same question for a CI job (exit 1: something to fix)")
    t.run([exe, "check"], expect=(1,))

    t.heading(
        "Apply: rmdir the directory on node-2, delete its pod, wait for the new one, check the socket"
    )
    t.run([*pyinfra, "-y"], shown=f"{shown} -y")

    t.heading("Verify: every socket path is a socket, every builder Ready; nothing left to change")
    t.run([exe, "check"], expect=(0,))
    t.run([exe, "verify", "--idempotence"], expect=(0,))

    t.heading("A second run changes nothing and deletes no pod")
    t.run([*pyinfra, "-y"], shown=f"{shown} -y")

    t.heading("No SSH to the nodes? The same fix through the Kubernetes API alone")
    t.say("node-2 breaks again: a directory at the socket path, and its builder pod restarts")
    _break(box, "node-2")
    t.run(["kubectl", "delete", "pod", "-l", "app=binder,component=image-builder",
           "--field-selector", "spec.nodeName=node-2"])  # fmt: skip
    _wait_for_crashloop(box)
    t.env["BINDERFIX_CONNECT"] = "kubenode"
    t.run([*pyinfra, "-y"], shown=f"BINDERFIX_CONNECT=kubenode {shown} -y")
    t.say("the helper pods (one per node, privileged, pinned to it) are gone again")
    t.run(["kubectl", "get", "pod", "-l", "app.kubernetes.io/managed-by=binderfix"])
    del t.env["BINDERFIX_CONNECT"]

    t.heading("Runbook: networking errors. Probe the runbook's targets from the hub pod")
    t.run([exe, "netcheck"], expect=(0,))
    t.say("now stop the binder service and probe again: the matrix names it, exit 1")
    box.stop_service("binder")
    t.run([exe, "netcheck"], expect=(1,))

    t.heading("Runbook: spikes to the /build API in the ingress controller's logs")
    t.run([exe, "spikes", "--selector", "component=controller"], expect=(1,))
    t.run(
        [
            "sh",
            "-c",
            "kubectl --namespace=prod logs -l component=controller --tail=-1 | grep '/build' | wc -l",
        ],
        shown="kubectl --namespace=prod logs -l component=controller | grep '/build' | wc -l",
    )


def _federation(t: Transcript, exe: str, box: Sandbox, workdir: Path) -> None:
    """A second cluster beside the first, both seen as one federation: one check, one fix."""
    from binderfix.inventory.kubectl import PYINFRA_ARGS
    from binderfix.sandbox.cluster import Sandbox
    from binderfix.sandbox.federation import federation_env

    other = Sandbox(workdir / "west")
    t.heading("The federation: a second cluster, whose nodes have the same names, in one run")
    t.run([exe, "sandbox", "up", "--dir", str(other.dir), "--nodes", "2", "--broken-nodes", "1",
           "--wait"])  # fmt: skip
    single = dict(t.env)
    try:
        exports, unsets = federation_env([box, other])
        t.say(f'eval "$(binderfix sandbox env --dir {box.dir} --dir {other.dir})"')
        for name in unsets:
            t.env.pop(name, None)
        t.env.update(exports)
        t.env["BINDERFIX_CONTEXTS"] = "all"
        t.run([exe, "check"], expect=(1,), shown="BINDERFIX_CONTEXTS=all binderfix check")
        pyinfra = [sys.executable, "-m", "pyinfra", *PYINFRA_ARGS, "-y"]
        t.run(pyinfra, shown=f"BINDERFIX_CONTEXTS=all {shlex.join(['pyinfra', *PYINFRA_ARGS])} -y")
        t.run([exe, "check"], expect=(0,), shown="BINDERFIX_CONTEXTS=all binderfix check")
    finally:
        t.env = single
        t.run([exe, "sandbox", "down", "--dir", str(other.dir)])


def _break(box: Sandbox, node: str) -> None:
    """The bug itself, made on the node from this machine (not through binderfix)."""
    from binderfix.sandbox.cluster import node_exec

    path = "/var/run/dind/docker.sock"
    node_exec(box.require().host(node).pid, ["sh", "-c", f"rm -rf {path} && mkdir {path}"])


def _wait_for_crashloop(box: Sandbox, timeout: float = 20) -> None:
    """Let the broken node's builder show CrashLoopBackOff before the operator looks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = subprocess.run(
            ["kubectl", "get", "pod", "-l", "app=binder,component=image-builder"],
            env={**os.environ, **box.env()},
            capture_output=True,
            text=True,
        )
        if "CrashLoopBackOff" in info.stdout and info.stdout.count("Running") >= 2:
            return
        time.sleep(0.3)
