"""Thin wrappers over iproute2 and /proc: network namespaces, a bridge, veth pairs, pids.

Everything a sandbox creates is named from its index ``k`` (``bfx<k>``, ``bfx<k>-<host>``,
``bfx<k>h<i>``), so ``down`` can find leftovers even when the state file missed them.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable

from binderfix.errors import BinderfixError


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise BinderfixError(
            f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}",
            hint="the sandbox needs root and a kernel with network namespaces (CAP_NET_ADMIN)",
        )
    return proc


def ip_batch(commands: list[str], force: bool = False) -> None:
    """Run many ip commands in one process: 50 nodes in milliseconds, not seconds.

    ``force`` goes on past failing commands (clean-up, where some things may be gone already).
    """
    if not commands:
        return
    proc = subprocess.run(
        ["ip", *(["-force"] if force else []), "-batch", "-"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and not force:
        raise BinderfixError(
            f"`ip -batch` failed: {proc.stderr.strip()}",
            hint="the sandbox needs root and network namespaces",
        )


def list_netns(prefix: str) -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def list_links(prefix: str) -> list[str]:
    out = ip("-o", "link", "show", check=False).stdout
    names = [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", out, re.M)]
    return [n for n in names if n.startswith(prefix)]


def used_indexes() -> set[int]:
    """Sandbox indexes in use on this machine: those of the bridges, and of veths and
    namespaces that a sandbox which crashed may have left without their bridge."""
    names = list_links("bfx") + [n.split("-", 1)[0] for n in list_netns("bfx")]
    return {int(m.group(1)) for name in names if (m := re.fullmatch(r"bfx(\d+)(h\d+)?", name))}


def make_bridge(name: str) -> bool:
    """Create a bridge (no forwarding delay); False if an interface of that name exists."""
    proc = ip("link", "add", name, "type", "bridge", "forward_delay", "0", check=False)
    if proc.returncode == 0:
        return True
    if "File exists" in proc.stderr:
        return False
    raise BinderfixError(
        f"`ip link add {name} type bridge` failed: {proc.stderr.strip()}",
        hint="the sandbox needs root and a kernel with network namespaces (CAP_NET_ADMIN)",
    )


def enter(pid: int, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """The command line that runs ``argv`` in the network, mount and UTS namespaces of
    ``pid`` (a node or a pod), in its root and working directory (a pod with a root of its
    own, see :mod:`.podroot`), with exactly ``env`` as its environment when given."""
    prefix = ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-r", "-w", "--"]
    if env is None:
        return [*prefix, *argv]
    return [*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]


def pid_alive(pid: int, marker: str) -> bool:
    """Is ``pid`` alive and one of ours? That guards against a recycled pid, and against
    another sandbox's processes. Ours carry ``--sandbox <dir>`` in their arguments, except
    sshd, which rewrites its process title: it is known by its config file in the sandbox."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if any(a == "--sandbox" and b == marker for a, b in zip(args, args[1:], strict=False)):
        return True
    title = " ".join(args)
    return title.startswith("sshd") and f" -f {marker}/ssh/sshd_config " in f"{title} "


NsId = tuple[int, int]  # (st_dev, st_ino) of a namespace file: the namespace's identity


def ns_id(path: str) -> NsId | None:
    """The identity of the namespace behind ``path`` (/run/netns/NAME, /proc/PID/ns/net)."""
    try:
        st = os.stat(path)
    except OSError:  # gone, or a zombie's, which has no namespaces left
        return None
    return (st.st_dev, st.st_ino)


def namespaces_of(netns_names: list[str], pids: list[int]) -> set[NsId]:
    """The network namespaces with these names, and the network and mount namespaces of
    these pids (a node's own mount namespace: what ``nsenter -m`` enters), less the host's.

    The host's are left out because the API server runs in them, and a recycled pid could too.
    """
    ids = {ns_id(f"/run/netns/{name}") for name in netns_names}
    ids |= {ns_id(f"/proc/{pid}/ns/{kind}") for pid in pids for kind in ("net", "mnt")}
    host = {ns_id(f"/proc/{who}/ns/{kind}") for who in ("self", "1") for kind in ("net", "mnt")}
    return ids - host - {None}  # type: ignore[operator]


def isolated(pid: int) -> bool:
    """Does ``pid`` live in namespaces of its own (a node's or pod's), not the host's?
    False when it is gone, or when its pid now belongs to a process of the host."""
    return bool(namespaces_of([], [pid]))


def belongs(pid: int, marker: str, namespaces: set[NsId]) -> bool:
    """Is ``pid`` a process of the sandbox in directory ``marker``? It is when it lives in one
    of the sandbox's namespaces, carries its marker, or writes to one of its logs.

    The namespace test finds what markers cannot: sshd's per-connection processes (their
    titles say only ``sshd: root@notty``) and anything a client started on a node. The logs
    find them even when the namespaces were deleted under them (a crash, or an older
    ``down``): every process of a sandbox inherits its host's log as stdout and stderr.
    Only ``logs/`` counts: a sandbox made in /tmp must not take every user of /tmp with it.
    """
    if namespaces and (
        ns_id(f"/proc/{pid}/ns/net") in namespaces or ns_id(f"/proc/{pid}/ns/mnt") in namespaces
    ):
        return True
    if pid_alive(pid, marker):
        return True
    logs = marker.rstrip("/") + "/logs/"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(logs):
                return True
        except OSError:
            continue
    return False


def sandbox_pids(marker: str, namespaces: set[NsId]) -> list[int]:
    """Every process of the sandbox (see :func:`belongs`), except this one and its ancestors
    (a shell that runs ``down`` with its output going into the sandbox's directory)."""
    spared = _ancestors(os.getpid())
    return [
        pid
        for pid in (int(e) for e in os.listdir("/proc") if e.isdigit())
        if pid not in spared and belongs(pid, marker, namespaces)
    ]


def stop_pids(pids: list[int], marker: str, grace: float = 3.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left. Ours only."""
    stop(pids, lambda pid: pid_alive(pid, marker), grace)


def stop(pids: list[int], ours: Callable[[int], bool], grace: float = 3.0) -> None:
    """SIGTERM the processes for which ``ours(pid)`` holds, give them up to ``grace`` seconds
    to exit, then SIGKILL what is left and wait for it to die.

    Each process is held by a pidfd, opened before ``ours`` is asked: a signal reaches the
    process that was checked or none, never another that took its pid meanwhile.
    """
    held: dict[int, int] = {}
    try:
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except OSError:  # already gone
                continue
            held[pid] = fd
            if not ours(pid) or not _send(fd, signal.SIGTERM):
                os.close(held.pop(pid))
        left = _wait_exit(held, grace)
        for pid in left:
            _send(held[pid], signal.SIGKILL)
        _wait_exit({pid: held[pid] for pid in left}, 2.0)
    finally:
        for fd in held.values():
            os.close(fd)
    for pid in pids:  # reap our own children so they leave no zombie behind
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _send(pidfd: int, sig: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    return True


def _wait_exit(held: dict[int, int], timeout: float) -> list[int]:
    """Wait until these processes have exited (a pidfd turns readable then); the pids left."""
    poller = select.poll()
    by_fd = {fd: pid for pid, fd in held.items()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while by_fd and (remaining := deadline - time.monotonic()) > 0:
        for fd, _event in poller.poll(remaining * 1000):
            poller.unregister(fd)
            by_fd.pop(fd)
    return list(by_fd.values())


def _ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 0 and pid not in found:
        found.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found
