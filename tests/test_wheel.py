"""A pip-installed binderfix, with no checkout in sight, does everything the README says.

How the installation is made, and why it is honest and fast:

- the wheel is built from a copy of this checkout's ``pyproject.toml``, ``README.md`` and
  ``binderfix/`` with ``pip wheel --no-deps`` (so the checkout gets no build/ or egg-info);
- a fresh virtual environment (``python -m venv --without-pip``) in a temporary folder gets
  that wheel with ``pip install --no-deps --no-index``: binderfix's own files come only
  from the wheel, its console script is the wheel's;
- its dependencies (pyinfra, kubernetes, kmock...) are not downloaded again (a minute of
  network on every run): a ``.pth`` file adds the project venv's site-packages as a plain
  path. Python does not process the ``.pth`` files of a path added that way, so the
  project's editable install of binderfix (a ``.pth`` finder) stays invisible, and the
  tests assert that ``binderfix`` is imported from the new venv;
- for the same reason the dependencies' console scripts are not in the new venv's bin/:
  pyinfra is run as ``python -m pyinfra`` (what its ``pyinfra`` script calls), and kubectl
  is put alone on PATH for the demo.

Everything runs from an empty folder outside the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import KUBECTL, REPO, RunningSandbox, run


@dataclass
class Installed:
    venv: Path
    cwd: Path  # an empty folder, far from any checkout
    tools: Path  # a folder holding only kubectl, for PATH
    home: Path  # kubectl keeps a cache there

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def binderfix(self) -> str:
        return str(self.venv / "bin" / "binderfix")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {"PATH": f"{self.tools}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.home)}
        return {**base, **(extra or {})}

    def pyinfra(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return run(self.python, "-m", "pyinfra", *args, env=env, cwd=self.cwd)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "binderfix", src / "binderfix", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = root / "dist"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        str(dist),
        str(src),
        check=True,
    )
    (wheel,) = dist.glob("binderfix-*.whl")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), check=True)
    purelib = run(
        str(venv / "bin" / "python"),
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        check=True,
    ).stdout.strip()
    (Path(purelib) / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        str(wheel),
        check=True,
    )
    cwd = root / "elsewhere"
    cwd.mkdir()
    tools = root / "tools"
    tools.mkdir()
    (tools / "kubectl").symlink_to(shutil.which(KUBECTL) or KUBECTL)
    home = root / "home"
    home.mkdir()
    yield Installed(venv=venv, cwd=cwd, tools=tools, home=home)


def test_the_package_comes_from_the_wheel_with_its_data(installed: Installed) -> None:
    where = run(
        installed.python, "-c", "import binderfix; print(binderfix.__file__)", cwd=installed.cwd
    )
    assert where.stdout.startswith(str(installed.venv)), where.stdout + where.stderr
    out = run(installed.binderfix, "rbac", env=installed.env(), cwd=installed.cwd)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (REPO / "deploys" / "rbac.yaml").read_text()
    other = run(installed.binderfix, "rbac", "-n", "staging", env=installed.env())
    assert "namespace: staging" in other.stdout and "namespace: prod" not in other.stdout


@pytest.mark.sandbox
def test_the_deploy_runs_through_pyinfra_module_forms(
    installed: Installed, shared_sandbox: RunningSandbox
) -> None:
    shared_sandbox.wait_builders()
    env = installed.env(shared_sandbox.box.env())
    inventory, deploy = "binderfix.inventory.kubectl.groups", "binderfix.dind.deploy.remediate_dind"

    dry = installed.pyinfra(inventory, deploy, "--dry", env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "[node-2] Will change /var/run/dind/docker.sock" in dry.stderr
    assert all(f"[{n}] Connected" in dry.stderr for n in ("node-1", "node-2", "node-3"))

    limited = installed.pyinfra(inventory, deploy, "--dry", "--limit", "unhealthy", env=env)
    assert limited.returncode == 0, limited.stdout + limited.stderr
    assert "[node-2] Connected" in limited.stderr and "[node-1] Connected" not in limited.stderr

    for wrong in (
        "binderfix.inventory.kubectl.grups",
        "binderfix.inventory.kubectl",
        "binderfix.inventories.kubectl.groups",
    ):
        out = installed.pyinfra(wrong, deploy, "--dry", env=env)
        assert out.returncode == 2, (wrong, out.stdout, out.stderr)
        assert f"binderfix: error: pyinfra inventory {wrong}:" in out.stderr
        assert "binderfix.inventory.kubectl.groups" in out.stderr  # the hint names the right one
        assert "Connecting" not in out.stderr
    out = installed.pyinfra(inventory, "binderfix.dind.deploy.remediate", "--dry", env=env)
    assert out.returncode != 0 and "remediate" in out.stdout + out.stderr


@pytest.mark.sandbox
def test_the_demo_runs_from_the_wheel(installed: Installed) -> None:
    out = run(installed.binderfix, "demo", env=installed.env(), cwd=installed.cwd, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "every step did what the runbook says it should" in out.stdout
    assert "pyinfra binderfix.inventory.kubectl.groups binderfix.dind.deploy.remediate_dind" in (
        out.stdout
    )
    assert not list(installed.cwd.iterdir())  # it left nothing behind in the folder it ran in
