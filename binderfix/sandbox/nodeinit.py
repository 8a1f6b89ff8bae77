"""PID 1 of a sandbox node or pod: give it its own /run and hostname, then exec its server.

Started as ``ip netns exec NS unshare --mount --uts --propagation private -- python -m
binderfix.sandbox.nodeinit ...``: the netns gives the node its own network, unshare its own
mount and UTS namespaces. Mounting a fresh tmpfs on /run here is what makes the node's
``/var/run`` (a symlink to /run on Debian) its own: the host's /run is never touched.
"""

from __future__ import annotations

import argparse
import os
import pwd
import socket
import subprocess


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="binderfix.sandbox.nodeinit")
    parser.add_argument("--sandbox", required=True, help="the sandbox dir (marks our processes)")
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--hosts-file", help="bind-mounted over /etc/hosts: the cluster's DNS")
    parser.add_argument("--resolv-file", help="bind-mounted over /etc/resolv.conf: no outside DNS")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755,size=16m", "tmpfs", "/run"], check=True)
    # The node's mounts propagate to the pods that ask for it (mountPropagation:
    # HostToContainer), as a real node's do; these peer groups are the node's own, so the
    # machine's mounts are not touched.
    subprocess.run(["mount", "--make-rshared", "/"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    for source, target in ((args.hosts_file, "/etc/hosts"), (args.resolv_file, "/etc/resolv.conf")):
        if source:
            subprocess.run(["mount", "--bind", source, target], check=True)
    _clean_shell_startup()
    socket.sethostname(args.hostname)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    os.execvp(command[0], command)


def _clean_shell_startup() -> None:
    """The node's root starts its shells as a node's would: sshd runs every command through
    the login shell, and bash then sources ``~/.bashrc``. This machine's (pyenv, cargo) is
    not a node's: it cost 0.1 to 0.2 s of CPU per SSH command and printed pyenv's errors.
    Debian's default (``/etc/skel/.bashrc``, which returns at once when not interactive), or
    nothing, is mounted over it in this node's mount namespace only."""
    # sshd starts the shell in the home the password database names, whatever $HOME says.
    bashrc = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".bashrc")
    if os.path.isfile(bashrc) and not os.path.islink(bashrc):
        clean = "/etc/skel/.bashrc" if os.path.isfile("/etc/skel/.bashrc") else "/dev/null"
        subprocess.run(["mount", "--bind", clean, bashrc], check=True)


if __name__ == "__main__":
    main()
