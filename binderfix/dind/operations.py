"""pyinfra operations for the Docker-in-Docker socket path."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationError, OperationValueError
from pyinfra.api.util import format_text
from pyinfra.operations.util.files import generate_color_diff

from binderfix.dind.facts import SocketPathState
from binderfix.dind.paths import DEFAULT_ALLOWED, DEFAULT_SOCKET_PATH, check_path
from binderfix.dind.state import plan
from binderfix.errors import BinderfixError


@operation(is_idempotent=True)
def socket_path(
    path: str = DEFAULT_SOCKET_PATH,
    force: bool = False,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED,
):
    """
    Ensure a socket path is absent or a socket, never a directory.

    + path: the socket's path on the node (the chart's ``hostSocketDir`` + socket name)
    + force: remove a non-empty directory too (default: refuse, listing what it holds)
    + allowed_prefixes: where the path must lie; anything else is refused untouched

    A socket, or nothing, is left alone. An empty directory (what the kubelet makes when it
    mounts the path before the builder created its socket) is removed with ``rmdir``. A
    regular file or a symlink is removed without following the link. A non-empty directory,
    a fifo or device, or a path whose parent resolves through a symlink makes the operation
    fail on that host, with the reason, and nothing is changed there.

    Whether it changed a host is the returned meta's ``will_change`` (at plan time) and
    ``did_change()`` (after the run), as for any pyinfra operation.

    **Example:**

    .. code:: python

        from binderfix.dind.operations import socket_path

        socket_path(
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
    todo = plan(current, path, force=force, allowed_prefixes=allowed_prefixes)
    if not todo.changes:
        host.noop(f"{path} is {current.describe()}")
        return
    if not state.is_executing:  # the diff, once, with the plan (dry run or before applying)
        verb = "Will refuse to change" if todo.refusal else "Will change"
        host.log(f"{verb} {format_text(path, bold=True)}", logger.info)
        for line in generate_color_diff(list(todo.current), list(todo.desired)):
            logger.info("  %s", line)
        if todo.refusal:
            logger.info("  %s", todo.refusal)
    if todo.refusal:
        # Failing at run time, not now, fails this host alone: pyinfra stops the whole run
        # for an error raised while it prepares operations.
        yield FunctionCommand(_refuse, (todo.refusal,), {})
        return
    yield from todo.commands


def _refuse(reason: str) -> None:
    raise OperationError(reason)
