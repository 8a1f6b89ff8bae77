"""Shared fixtures. Sandbox tests start real clusters (root and namespaces needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from binderfix.kube.model import BuilderPod

BIN = Path(sys.executable).parent
BINDERFIX = str(BIN / "binderfix")
KUBECTL = (
    str(BIN / "kubectl") if (BIN / "kubectl").exists() else (shutil.which("kubectl") or "kubectl")
)
PYINFRA = str(BIN / "pyinfra")
REPO = Path(__file__).resolve().parent.parent


def _can_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "sandbox tests need root (network namespaces, sshd nodes)"
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return "this machine does not allow network namespaces"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _can_sandbox()
    if reason:
        for item in items:
            if "sandbox" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def run(
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = False,
    input: str | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would, capturing what it prints."""
    proc = subprocess.run(
        list(args), capture_output=True, text=True, env=env, input=input, timeout=timeout, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


class RunningSandbox:
    """A sandbox cluster for a test, with the environment `binderfix sandbox env` prints."""

    def __init__(self, directory: Path, restricted: bool = False) -> None:
        from binderfix.sandbox.cluster import Sandbox

        self.dir = directory
        self.box = Sandbox(directory)
        self.restricted = restricted  # use the token limited by `up --rbac`

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.box.env(self.restricted),
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(KUBECTL, *args, env=self.env, check=check, input=input)

    def binderfix(self, *args: str, check: bool = False, **kw) -> subprocess.CompletedProcess[str]:
        return run(BINDERFIX, *args, env=self.env, check=check, **kw)

    def ssh(self, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return run(BINDERFIX, "sandbox", "ssh", "--dir", str(self.dir), node, "--", *argv)

    def builder_pods(self) -> dict[str, BuilderPod]:
        """node -> builder pod, as the kubernetes client reads them."""
        from binderfix.kube.builders import list_builder_pods
        from binderfix.kube.client import connect

        cluster = connect(kubeconfig=str(self.box.kubeconfig))
        pods = list_builder_pods(cluster, ("app=binder,component=image-builder", "component=dind"))
        return {p.node: p for p in pods}

    def wait_builders(self, timeout: float = 30) -> dict[str, BuilderPod]:
        """Wait until every healthy node's builder is Ready and every broken one crash-loops."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            pods = self.builder_pods()
            state = self.box.load()
            settled = len(pods) == len(state.nodes) and all(
                (p.reason == "CrashLoopBackOff")
                if self.box.socket_state(state.host(n)) != "socket"
                else p.healthy
                for n, p in pods.items()
            )
            if settled or time.monotonic() > deadline:
                return pods
            time.sleep(0.2)


def start_sandbox(
    directory: Path,
    nodes: int = 3,
    broken: int = 1,
    labels: str = "current",
    rbac: Path | None = None,
) -> RunningSandbox:
    run(
        BINDERFIX,
        "sandbox",
        "up",
        "--dir",
        str(directory),
        "--nodes",
        str(nodes),
        "--broken-nodes",
        str(broken),
        "--labels",
        labels,
        *(["--rbac", str(rbac)] if rbac else []),
        check=True,
    )
    return RunningSandbox(directory, restricted=rbac is not None)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A fresh 3-node sandbox with one broken node, taken down after the test."""
    box = start_sandbox(tmp_path / "sandbox")
    try:
        yield box
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """One sandbox for a module's read-mostly tests (3 nodes, 1 broken)."""
    box = start_sandbox(tmp_path_factory.mktemp("shared") / "sandbox")
    try:
        yield box
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
