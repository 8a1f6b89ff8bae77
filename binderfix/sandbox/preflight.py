"""Before ``sandbox up`` touches anything: root, namespaces, the system packages, the --dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from binderfix.errors import BinderfixError

SYSTEM_PACKAGES = {
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sudo": "sudo",  # real nodes have it: deploys with _sudo=True must run here as there
}


def preflight() -> None:
    """Root, namespaces and the system packages: install what is missing when we can."""
    if os.geteuid() != 0:
        raise BinderfixError(
            "binderfix sandbox needs root: it creates network namespaces, a bridge and sshd nodes",
            hint="run it as root (sudo .venv/bin/binderfix sandbox up ...)",
        )
    missing = sorted(
        {
            pkg
            for cmd, pkg in SYSTEM_PACKAGES.items()
            if not shutil.which(cmd) and not os.path.exists(f"/usr/sbin/{cmd}")
        }
    )
    if missing:
        if not shutil.which("apt-get"):
            raise BinderfixError(
                f"missing system packages: {', '.join(missing)}",
                hint="install them with your distribution's package manager",
            )
        print(f"installing system packages: {', '.join(missing)}", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BinderfixError(
                f"could not install {', '.join(missing)}: {proc.stderr.strip()[-500:]}",
                hint=f"apt-get install {' '.join(missing)}",
            )
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--uts", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise BinderfixError(
            f"this kernel or container does not allow new namespaces: {probe.stderr.strip()}",
            hint="run the sandbox on a machine (or a privileged container) with namespaces",
        )


def check_dir(directory: Path) -> None:
    """A --dir that ``up`` can make or use: not a file, under a directory it may write in."""
    try:
        if directory.exists() and not directory.is_dir():
            raise BinderfixError(f"--dir {directory} is not a directory")
        parent = directory
        while not parent.exists():
            parent = parent.parent
    except OSError as exc:
        raise BinderfixError(f"--dir {directory} cannot be reached: {exc.strerror}") from None
    if not parent.is_dir():
        raise BinderfixError(f"--dir {directory} cannot be made: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BinderfixError(f"--dir {directory} cannot be made or written: {parent} is read-only")
