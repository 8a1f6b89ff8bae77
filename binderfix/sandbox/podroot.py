"""The root filesystem of a sandbox pod that mounts the node's ``/`` (a hostPath volume).

A real container runs in its image's filesystem, with hostPath volumes mounted into it. The
sandbox has no images, so a pod like ``kubectl debug node`` makes (``hostPath: /`` at
``/host``) gets a small root of its own instead: a tmpfs holding the machine's ``/usr`` (the
"image": sh, chroot, coreutils) and the node's whole ``/`` at the mount path. It runs as
``nsenter -t NODE -m -u -n -- unshare --mount --propagation private -- python -m
binderfix.sandbox.podroot --volume /host -- COMMAND``: in a private copy of the node's mount
namespace, so nothing is created on the machine's filesystem and nothing leaks back.
``kubectl exec`` then enters this process's namespaces *and root* (``nsenter -r -w``), so
``chroot /host`` lands in the node's filesystem, as on a real node.
"""

from __future__ import annotations

import argparse
import os
import subprocess

# An empty directory that every Debian-like machine has, mounted over (in the private mount
# namespace only) to hold the pod's root.
ROOT = "/mnt"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="binderfix.sandbox.podroot")
    parser.add_argument("--volume", action="append", default=[], help="where the node's / goes")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    _mount("-t", "tmpfs", "-o", "mode=755,size=4m", "pod-root", ROOT)
    for name in ("usr", "etc", "tmp", "proc", "dev"):
        os.makedirs(f"{ROOT}/{name}", exist_ok=True)
    _mount("--rbind", "/usr", f"{ROOT}/usr")
    _mount("--rbind", "/etc", f"{ROOT}/etc")  # passwd and group for `sh`, as an image has
    _mount("--rbind", "/proc", f"{ROOT}/proc")
    _mount("--rbind", "/dev", f"{ROOT}/dev")
    for name in ("bin", "sbin", "lib", "lib64"):  # merged /usr, as in current images
        if os.path.islink(f"/{name}"):
            os.symlink(os.readlink(f"/{name}"), f"{ROOT}/{name}")
        elif os.path.isdir(f"/{name}"):
            os.makedirs(f"{ROOT}/{name}", exist_ok=True)
            _mount("--rbind", f"/{name}", f"{ROOT}/{name}")
    for volume in args.volume:
        target = f"{ROOT}/{volume.strip('/')}"
        os.makedirs(target, exist_ok=True)
        _mount("--rbind", "/", target)
    os.chroot(ROOT)
    os.chdir("/")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
