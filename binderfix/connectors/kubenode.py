"""
The ``@kubenode`` connector reaches a Kubernetes node through the API alone, no SSH: a
privileged helper pod pinned to the node (as ``kubectl debug node/NAME`` makes), commands run
as ``chroot /host sh -c ...`` through the exec API, files copied over the same exec.

One helper pod per node for the whole run; it is deleted when the run ends, fails, or is
stopped with Ctrl-C or SIGTERM, and a pod that a killed run left is removed by the next run
on that node (and reported by ``binderfix check``).

.. code:: shell

    # A fact and a command on one node
    pyinfra @kubenode/node-2 fact binderfix.dind.facts.SocketPathState path=/var/run/dind/docker.sock
    pyinfra @kubenode/node-2 exec -- ls /var/run/dind

    # Every builder node, the way the inventory reaches them
    BINDERFIX_CONNECT=kubenode pyinfra inventories/kubectl.py deploys/dind.py --dry

Host data (with defaults) says which cluster and how the helper pod looks; see
:class:`ConnectorData`. The account needs to create and delete pods, create ``pods/exec``
and read nodes (``binderfix rbac`` prints the manifest), in a namespace that allows privileged pods.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import sys
import weakref
from collections.abc import Callable
from io import BytesIO
from typing import TYPE_CHECKING, Any

import gevent
from pyinfra import logger
from pyinfra.api.exceptions import ConnectError, InventoryError
from pyinfra.api.output import echo
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector, DataMeta
from pyinfra.connectors.util import (
    CommandOutput,
    OutputLine,
    extract_control_arguments,
    make_unix_command_for_host,
)
from typing_extensions import TypedDict, Unpack, override

from binderfix.errors import BinderfixError
from binderfix.kube import nodepod

if TYPE_CHECKING:
    from pyinfra.api.arguments import ConnectorArguments
    from pyinfra.api.command import StringCommand
    from pyinfra.api.host import Host
    from pyinfra.api.state import State

    from binderfix.kube.client import Cluster

DEFAULT_COMMAND_TIMEOUT = 600.0


class ConnectorData(TypedDict):
    kubenode_node: str
    kubenode_context: str | None
    kubenode_kubeconfig: str | None
    kubenode_namespace: str | None
    kubenode_image: str
    kubenode_start_timeout: float


connector_data_meta: dict[str, DataMeta] = {
    "kubenode_node": DataMeta("the node's name, as `kubectl get nodes` shows it"),
    "kubenode_context": DataMeta("kubeconfig context (default: the current one)"),
    "kubenode_kubeconfig": DataMeta("kubeconfig file (default: KUBECONFIG, ~/.kube/config)"),
    "kubenode_namespace": DataMeta(
        "namespace of the helper pod; it must allow privileged pods (default: the context's)"
    ),
    "kubenode_image": DataMeta(
        "image of the helper pod: it needs sh and chroot", nodepod.DEFAULT_IMAGE
    ),
    "kubenode_start_timeout": DataMeta(
        "seconds to wait for the helper pod to run", nodepod.DEFAULT_START_TIMEOUT
    ),
}


class KubenodeConnector(BaseConnector):
    """
    Run commands on a Kubernetes node through a privileged helper pod and the exec API.
    """

    handles_execution = True

    data_cls = ConnectorData
    data_meta = connector_data_meta
    data: ConnectorData

    cluster: Cluster | None = None
    helper: nodepod.NodeHelper | None = None

    def __init__(self, state: State, host: Host):
        super().__init__(state, host)

    @override
    @staticmethod
    def make_names_data(name: str | None = None):
        if not name:
            raise InventoryError("No node name provided: use @kubenode/NODE")
        yield f"@kubenode/{name}", {"kubenode_node": name}, ["@kubenode"]

    @override
    def connect(self) -> None:
        from binderfix.kube.client import connect

        node = self.data["kubenode_node"]
        try:
            self.cluster = cluster = connect(
                context=self.data["kubenode_context"],
                namespace=self.data["kubenode_namespace"],
                kubeconfig=self.data["kubenode_kubeconfig"],
            )
            # Before any pod exists, a signal must never strand one; and after the client's
            # own exit hook (it deletes its CA file), so that ours runs first at exit.
            _stop_on_signals(self.state)
            self.helper = nodepod.start_helper(
                cluster,
                node,
                image=self.data["kubenode_image"],
                timeout=float(self.data["kubenode_start_timeout"]),
                on_created=lambda helper: _LIVE.__setitem__(helper.pod, (cluster, helper)),
            )
        except BinderfixError as exc:
            said = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            raise ConnectError(said) from None
        logger.debug("--> kubenode: %s runs on %s", self.helper.pod, node)

    @override
    def disconnect(self) -> None:
        if self.cluster is None or self.helper is None:
            return
        try:
            nodepod.stop_helper(self.cluster, self.helper)
        except BinderfixError as exc:
            logger.warning(
                f"{self.host.print_prefix}could not delete helper pod {self.helper.pod}: "
                f"{exc.message}; kubectl delete pod {self.helper.pod} -n {self.helper.namespace}"
            )
        _LIVE.pop(self.helper.pod, None)
        self.helper = None

    def _exec(
        self, argv: list[str], stdin: bytes | None, timeout: float, binary: bool = False
    ) -> Any:
        from binderfix.kube.exec import exec_in_pod

        assert self.cluster is not None and self.helper is not None, "not connected"
        return exec_in_pod(
            self.cluster,
            self.helper.pod,
            nodepod.CONTAINER,
            argv,
            stdin=stdin,
            limit=timeout,
            binary=binary,
            namespace=self.helper.namespace,
        )

    @override
    def run_shell_command(
        self,
        command: StringCommand,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Unpack[ConnectorArguments],
    ) -> tuple[bool, CommandOutput]:
        control = extract_control_arguments(arguments)
        if arguments.get("_sudo") and not arguments.get("_sudo_user"):
            # The helper pod is root on the node already; a node need not have sudo at all.
            arguments["_sudo"] = False
        unix_command = make_unix_command_for_host(self.state, self.host, command, **arguments)
        if print_input:
            echo(f"{self.host.print_prefix}>>> {unix_command.get_masked_value()}", err=True)
        logger.debug("--> Running kubenode command: %s", unix_command.get_masked_value())
        stdin = _stdin_bytes(control.get("_stdin"))
        timeout = float(control.get("_timeout") or DEFAULT_COMMAND_TIMEOUT)
        try:
            done = self._exec(
                ["chroot", nodepod.HOST_ROOT, "sh", "-c", unix_command.get_raw_value()],
                stdin,
                timeout,
            )
        except BinderfixError as exc:
            said = [OutputLine("stderr", exc.message)]
            if exc.hint:
                said.append(OutputLine("stderr", f"hint: {exc.hint}"))
            if print_output:
                for line in said:
                    echo(f"{self.host.print_prefix}{line.line}", err=True)
            return False, CommandOutput(said)
        lines = [OutputLine("stdout", line) for line in done.stdout.splitlines()]
        lines += [OutputLine("stderr", line) for line in done.stderr.splitlines()]
        if done.code is None:
            lines.append(
                OutputLine(
                    "stderr", done.message or f"command did not finish within {timeout:.0f}s"
                )
            )
        if print_output:
            for line in lines:
                echo(f"{self.host.print_prefix}{line.line}", err=line.buffer_name == "stderr")
        codes = control.get("_success_exit_codes") or [0]
        return done.code in codes, CommandOutput(lines)

    @override
    def put_file(
        self,
        filename_or_io,
        remote_filename,
        remote_temp_filename=None,  # not needed: the write is one exec
        print_output: bool = False,
        print_input: bool = False,
        **kwargs,  # _sudo and friends: the helper pod is root
    ) -> bool:
        """Upload a file or IO object to the node: ``head -c SIZE > FILE`` with the bytes on
        stdin, so the end of the data is known even where the exec protocol (v4) cannot say
        "end of input"."""
        with get_file_io(filename_or_io) as file_io:
            data = file_io.read()
        if isinstance(data, str):
            data = data.encode()
        done = self._exec(
            [
                "chroot",
                nodepod.HOST_ROOT,
                "sh",
                "-c",
                'head -c "$1" > "$2"',
                "put_file",
                str(len(data)),
                str(remote_filename),
            ],
            data,
            DEFAULT_COMMAND_TIMEOUT,
        )
        if done.code != 0:
            raise OSError(done.stderr or done.message or f"writing {remote_filename} failed")
        if print_output:
            echo(f"{self.host.print_prefix}file uploaded to node: {remote_filename}", err=True)
        return True

    @override
    def get_file(
        self,
        remote_filename,
        filename_or_io,
        remote_temp_filename=None,  # not needed: the read is one exec
        print_output: bool = False,
        print_input: bool = False,
        **kwargs,
    ) -> bool:
        """Download a file from the node: its bytes from ``cat`` over the exec's stdout."""
        done = self._exec(
            ["chroot", nodepod.HOST_ROOT, "cat", "--", str(remote_filename)],
            None,
            DEFAULT_COMMAND_TIMEOUT,
            binary=True,
        )
        if done.code != 0:
            raise OSError(
                done.stderr.decode("utf-8", "replace") or done.message or "reading failed"
            )
        with get_file_io(filename_or_io, "wb") as file_io:
            file_io.write(done.stdout)
        if print_output:
            echo(f"{self.host.print_prefix}file downloaded from node: {remote_filename}", err=True)
        return True


def _stdin_bytes(stdin: Any) -> bytes | None:
    """pyinfra's ``_stdin`` (a string, lines, or a file) as bytes, one line each, as its local
    connector writes it."""
    if not stdin:
        return None
    if hasattr(stdin, "readlines"):
        stdin = stdin.readlines()
    if not isinstance(stdin, list | tuple):
        stdin = [stdin]
    out = BytesIO()
    for line in stdin:
        line = line if isinstance(line, str) else line.decode()
        out.write((line if line.endswith("\n") else line + "\n").encode())
    return out.getvalue()


# -- never leave a helper pod behind -------------------------------------------------------------

_LIVE: dict[str, tuple[Any, nodepod.NodeHelper]] = {}
_STATES: weakref.WeakSet[State] = weakref.WeakSet()
_installed = False


def _remove_all() -> None:
    """Delete every helper pod this process still has (at exit, whatever ended it)."""
    for name, (cluster, helper) in list(_LIVE.items()):
        # If the API is gone, the pod's deadline ends it and the next run removes it.
        with contextlib.suppress(BinderfixError):
            nodepod.stop_helper(cluster, helper)
        _LIVE.pop(name, None)


def _end_running_ops() -> None:
    """End every operation and fact greenlet still running, without waiting for them.

    pyinfra's pool has one slot per host and its Ctrl-C handler leaves the operation
    running: the disconnect that deletes the helper pod then waited for a free slot until
    the command on the node ended by itself (``exec -- sleep 30`` hung for 30 s). Ended
    here, the operation's exec is dropped and the disconnect runs at once."""
    current = gevent.getcurrent()
    for state in list(_STATES):
        for pool in (state.pool, getattr(state, "fact_pool", None)):  # where pyinfra has one
            if pool is not None:
                gevent.killall([g for g in pool if g is not current], block=False)


def _stop_on_signals(state: State) -> None:
    """SIGTERM is handled as Ctrl-C is: the running operations end, pyinfra disconnects
    every host (deleting its helper pod) on the way out, and the run exits 143 (Ctrl-C: 0,
    as pyinfra does); what is left is deleted at exit."""
    global _installed
    _STATES.add(state)
    if _installed:
        return
    _installed = True
    atexit.register(_remove_all)

    def terminate(signum: int, frame: Any) -> None:
        _end_running_ops()
        # As pyinfra's Ctrl-C handler: a line and SystemExit (which gevent's hub passes on
        # without printing a traceback), with the shell's code for a SIGTERM.
        echo("Exiting upon SIGTERM!")
        sys.exit(128 + signal.SIGTERM)

    def interrupt(previous: Callable[[int, Any], Any]) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: Any) -> None:
            _end_running_ops()
            previous(signum, frame)  # pyinfra's: "Exiting upon user request!"

        return handler

    # Greenlets run in the main OS thread (where handlers may be set) even when the
    # monkey-patched threading module says otherwise; elsewhere, atexit still cleans up.
    with contextlib.suppress(ValueError):
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, terminate)
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):  # not when Ctrl-C is ignored
            signal.signal(signal.SIGINT, interrupt(previous))
