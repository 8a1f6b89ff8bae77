"""The kube step of a remediation, as a pyinfra operation.

It runs after :func:`binderfix.dind.operations.socket_path` on the same node and does the
runbook's step 4 (delete the builder pod, Kubernetes makes a new one), then what the runbook
leaves to the operator's eyes: wait for the replacement to be Running and Ready, and check
that the node's socket path now holds a socket.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.util import format_text
from pyinfra.operations.util.files import generate_color_diff

from binderfix.errors import BinderfixError
from binderfix.kube.model import DEFAULT_SELECTORS


@operation(is_idempotent=True)
def builder_pod(
    pod: str,
    node: str,
    namespace: str,
    status: str,
    restarts: int,
    healthy: bool,
    node_changed: bool | OperationMeta,
    socket_path: str,
    selectors: tuple[str, ...] = DEFAULT_SELECTORS,
    context: str | None = None,
    timeout: float = 120.0,
    node_refused: bool = False,
):
    """
    Replace a node's builder pod when the node was just fixed or the pod is unhealthy.

    + pod: the builder pod on this node (``prod-dind-rp7z8``)
    + node: the node's name, where the DaemonSet will put the replacement
    + namespace: the pod's namespace
    + status, restarts: what the pod shows now (for the diff)
    + healthy: whether the pod is Running and Ready
    + node_changed: whether an earlier step changed the node: a bool, or better that step's
      result (its OperationMeta), asked ``will_change`` for a plan and ``did_change()`` once
      it ran, so that ``-y`` (no change detection) reads no node state ahead of the run
    + socket_path: checked to be a socket once the replacement is Ready
    + selectors: label selectors that find the builder pods
    + context: kubeconfig context (default: the current one)
    + timeout: seconds to wait for the replacement to be Ready
    + node_refused: whether the earlier step refused to change the node when planned
      (``binderfix.dind.operations.planned_refusal``): applying fails the node there and
      pyinfra runs nothing after it, so the plan deletes no pod either

    A healthy pod on an unchanged node is left alone, so a second run deletes nothing.

    **Example:**

    .. code:: python

        fixed = socket_path(name="Socket path is absent or a socket", _sudo=True)
        builder_pod(
            name="Replace the builder pod if needed",
            pod=host.data.pod_name, node=host.name, namespace="prod",
            status=host.data.status, restarts=host.data.restarts,
            healthy=host.data.healthy, node_changed=fixed,
            socket_path="/var/run/dind/docker.sock",
        )
    """
    if node_refused and not state.is_executing:
        host.noop(f"builder pod {pod} is left alone: the node's socket path step refuses")
        return
    if isinstance(node_changed, OperationMeta):
        node_changed = node_changed.did_change() if state.is_executing else node_changed.will_change
    if healthy and not node_changed:
        host.noop(f"builder pod {pod} is Running and Ready and the node is unchanged")
        return
    why = "the node was changed" if node_changed else f"the pod is {status}"
    if not state.is_executing:  # show it once, with the plan, not again while applying
        host.log(f"Will delete builder pod {format_text(pod, bold=True)} ({why})", logger.info)
        current = [
            f"pod {pod}  {status}, {'ready' if healthy else 'not ready'}, {restarts} restarts"
        ]
        desired = [
            f"pod {pod}  deleted; the DaemonSet starts a new builder pod on {node}",
            f"wait up to {timeout:.0f}s for it to be Running and Ready, then check {socket_path} is a socket",
        ]
        for line in generate_color_diff(current, desired):
            logger.info("  %s", line)
    yield FunctionCommand(
        _replace, (pod, node, namespace, tuple(selectors), context, socket_path, timeout), {}
    )


def _replace(
    state,
    host,
    pod: str,
    node: str,
    namespace: str,
    selectors: tuple[str, ...],  # noqa: ANN001
    context: str | None,
    socket_path: str,
    timeout: float,
) -> bool:
    """Delete, wait for the replacement, check the socket. Runs in the host's greenlet."""
    import gevent
    from gevent import monkey
    from pyinfra.api.command import StringCommand

    from binderfix.kube.builders import pod_summary, wait_for_replacement
    from binderfix.kube.client import connect
    from binderfix.kube.pods import delete_pod, read_pod

    started = time.monotonic()
    try:
        cluster = connect(context=context, namespace=namespace)
        old = read_pod(cluster, pod)  # its labels are the replacement's: the selector to watch
        delete_pod(cluster, pod)
        labels = ((old or {}).get("metadata") or {}).get("labels") or {}
        wait = functools.partial(
            wait_for_replacement, cluster, node, pod, selectors, timeout, labels
        )
        # The wait reads a watch: cooperative under pyinfra's CLI, which patches sockets
        # (and time.sleep); elsewhere (pyinfra's API in `binderfix watch`) in a thread, so
        # that the other hosts' greenlets go on meanwhile.
        patched = monkey.is_module_patched("socket")
        new = wait() if patched else gevent.get_hub().threadpool.apply(wait)
    except BinderfixError as exc:
        return _fail(host, exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
    ok, output = host.run_shell_command(
        StringCommand("test", "-S", socket_path), _sudo=bool(host.data.get("binderfix_sudo"))
    )
    if not ok:
        return _fail(host, f"{new.name} is Ready but {socket_path} on {node} is not a socket")
    host.log(
        f"builder pod {pod} replaced by {pod_summary(new)} in {time.monotonic() - started:.1f}s; "
        f"{socket_path} is a socket",
        logger.info,
    )
    return True


def _fail(host: Any, message: str) -> bool:
    """Fail this host alone, with one line: as the socket step's refusals do. An exception
    raised in a callback would print pyinfra's "Unexpected error" and a traceback."""
    host.log_styled(f"Failed: {message}", fg="red", log_func=logger.error)
    return False
