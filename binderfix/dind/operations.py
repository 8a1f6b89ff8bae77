"""pyinfra operations for the Docker-in-Docker socket path."""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationValueError
from pyinfra.api.util import format_text
from pyinfra.context import ctx_host
from pyinfra.operations.util.files import generate_color_diff

from binderfix.dind.facts import SocketPathState
from binderfix.dind.paths import DEFAULT_ALLOWED, DEFAULT_SOCKET_PATH, check_path
from binderfix.dind.state import Plan, plan
from binderfix.errors import BinderfixError

# What socket_path refused while pyinfra planned, per host (the Host itself, not pyinfra's
# context proxy, which stands for whichever host is current) and path. A refusal is no change
# (see _refused), so a later step cannot learn it from the OperationMeta: it asks
# planned_refusal() instead.
_PLANNED_REFUSALS: WeakKeyDictionary[Any, dict[str, str]] = WeakKeyDictionary()


@operation()
def socket_path(
    path: str = DEFAULT_SOCKET_PATH,
    force: bool = False,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED,
    init_cleans: bool = False,
) -> Generator[Any, None, None]:
    """
    Ensure a socket path is absent or a socket, never a directory.

    + path: the socket's path on the node (the chart's ``hostSocketDir`` + socket name)
    + force: remove a non-empty directory too (default: refuse, listing what it holds)
    + init_cleans: the builder's chart has the init container that ``rmdir``s the path when
      the pod is created (BinderHub since 2024): an empty directory is then left for it, and
      deleting the pod (the kube step) is the whole fix
    + allowed_prefixes: where the path must lie; anything else is refused untouched

    A socket, or nothing, is left alone. An empty directory (what the kubelet makes when it
    mounts the path before the builder created its socket) is removed with ``rmdir``. A
    regular file or a symlink is removed without following the link. A non-empty directory
    (unless ``force``), a fifo or device, or a path whose parent resolves through a symlink
    fails the operation on that host alone, with the reason (and a non-empty directory's
    listing), and nothing is changed there. So does a path with a mount point at or below
    it, even with ``force``: nothing reached through a mount is ever deleted. The commands
    re-check the path (and the node's mount table) when they run, so a path that changed
    since it was read is never mistreated.

    A refusal is not a change: while planning it yields no command, so pyinfra's plan
    counts no change on that host (applying changes nothing there either) and
    ``will_change`` is false; a later step learns of it from :func:`planned_refusal`.
    While applying it yields a command that fails the host, with the reason.

    A bad ``path`` (relative, ``..``, ``/``, outside ``allowed_prefixes``) raises
    ``OperationValueError`` before the path is read on any host, and pyinfra stops the
    deploy: it is the deploy's mistake, not a host's. (With ``-y`` pyinfra first runs this
    body while applying, and prints a traceback with the message.)

    The diff (``- <path>  directory (empty)`` / ``+ <path>  absent ...``) is printed per host
    once: when pyinfra plans (``--dry``, or before its prompt), or when it applies with
    ``-y`` (which skips planning).

    Whether it changed a host: the returned ``OperationMeta``. Read it in a later
    operation's body (pyinfra runs that once this one ran on the host):
    ``meta.did_change() if state.is_executing else meta.will_change``. ``did_change()``
    (pyinfra 3.10: it succeeded and ran a command; a no-op or a refusal is false) raises
    ``RuntimeError`` before the operation ran, so while planning (``--dry``) ask
    ``will_change``, which reads the fact. ``.changed`` does the same, but is deprecated.
    A command that found the goal already met when it ran (the path became a socket in
    between) still counts as a change: the cautious answer for "replace the builder pod?".

    **Example:**

    .. code:: python

        from binderfix.dind.operations import socket_path

        fixed = socket_path(
            name="dind socket path is absent or a socket",
            path="/var/run/dind/docker.sock",
            _sudo=True,
        )
    """
    try:
        path = check_path(path, allowed_prefixes)
    except BinderfixError as exc:
        raise OperationValueError(str(exc)) from None
    current = host.get_fact(SocketPathState, path=path, allowed_prefixes=tuple(allowed_prefixes))
    if current is None:
        # The fact printed nothing: pyinfra already failed this host if its command failed.
        yield from _refused(path, f"could not read what is at {path}")
        return
    todo = plan(current, path, force, allowed_prefixes, init_cleans)
    if not state.is_executing:
        _PLANNED_REFUSALS.setdefault(ctx_host.get(), {}).pop(path, None)
    # Planning runs this body once and applying once more; -y skips planning. Showing the
    # diff when planning, or when applying without a plan, shows it exactly once.
    show = not state.is_executing or not state.should_check_for_changes()
    if not todo.changes:
        if todo.desired and show:  # left to the chart's init container: the plan says so
            _log_diff(path, todo, verb="Leaves to the builder pod's init container")
        host.noop(f"{path} is {current.describe()}")
        return
    if show:
        _log_diff(path, todo)
    if todo.refusal:
        yield from _refused(path, todo.refusal)
        return
    yield from todo.commands


def planned_refusal(path: str) -> str:
    """Why :func:`socket_path` refused ``path`` on the current host when pyinfra planned,
    or "" (no refusal, or no plan: ``-y`` skips planning).

    For a later step of the same deploy, while planning: a refused host fails when applied
    and pyinfra runs nothing after that on it, so the plan must not promise more.
    """
    normal = posixpath.normpath("/" + path.lstrip("/"))  # as check_path normalises it
    return _PLANNED_REFUSALS.get(ctx_host.get(), {}).get(normal, "")


def _refused(path: str, reason: str) -> Generator[Any, None, None]:
    if not state.is_executing:
        # Planning: no command, so no change counted; _log_diff has said what happens.
        _PLANNED_REFUSALS.setdefault(ctx_host.get(), {})[path] = reason
        return
    # Applying: fail from a command, not by raising: pyinfra aborts every host for an
    # exception raised in an operation's body (OperationError included), and an exception
    # in a callback prints a traceback. A callback returning False fails this host alone.
    yield FunctionCommand(_refuse, (reason,), {})


def _log_diff(path: str, todo: Plan, verb: str = "") -> None:
    verb = verb or ("Will refuse to change" if todo.refusal else "Will change")
    host.log(f"{verb} {format_text(path, bold=True)}", logger.info)
    for line in generate_color_diff(list(todo.current), list(todo.desired)):
        logger.info("  %s", line)
    if todo.refusal and not state.is_executing:  # when executing, _refuse says it next
        logger.info("  %s", format_text(todo.refusal, "yellow"))


def _refuse(state: Any, host: Any, reason: str) -> bool:
    # pyinfra passes state and host to a callback that names both, and uses its return.
    host.log_styled(f"Refused: {reason}", fg="red", log_func=logger.error)
    return False
