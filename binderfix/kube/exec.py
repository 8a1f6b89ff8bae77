"""Running a command in a pod through the Kubernetes exec API, as ``kubectl exec`` does.

The kubernetes client's websocket (``kubernetes.stream.ws_client``) on ``pods/NAME/exec``,
with channels v5 (or v4) for stdin, stdout, stderr and a status channel that carries the exit
code.
netcheck's probes and the ``kubenode`` connector both run through :func:`exec_in_pod`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster, api_error, api_message, namespaced, status_of

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


@dataclass
class ExecResult:
    """What an exec printed, and how it ended (from the exec protocol's status channel)."""

    stdout: str
    stderr: str
    code: int | None  # the exit code, None if unknown (still running at the deadline)
    message: str = ""  # the status channel's message on failure


@dataclass
class BinaryExecResult:
    """The same, for an exec whose output is read as bytes (a file fetched from a node)."""

    stdout: bytes
    stderr: bytes
    code: int | None
    message: str = ""


def container_of(pod: Mapping[str, Any], wanted: str | None = None) -> str:
    """The container to exec into: ``wanted``, else the pod's default-container annotation
    (as kubectl), else its first container."""
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    name = wanted or (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
    if name and names and name not in names:
        raise BinderfixError(
            f"pod {pod['metadata']['name']} has no container {name!r}",
            hint=f"its containers: {', '.join(names)}",
        )
    return name or (names[0] if names else "")


def exec_error(exc: BaseException, pod: str, server: str | None = None) -> BinderfixError:
    """What the kubernetes client raised for an exec, as a message a person can act on."""
    status = status_of(exc)
    if status == 403:
        said = api_message(exc)
        return BinderfixError(
            f"exec into {pod} is forbidden (403)" + (f": {said}" if said else ""),
            hint="the account needs `create` on pods/exec: `binderfix rbac` prints what binderfix needs",
        )
    if status == 401:
        return BinderfixError(
            f"exec into {pod}: the Kubernetes API refused the credentials (401)",
            hint="refresh them (e.g. gcloud container clusters get-credentials)",
        )
    if status == 404:
        return BinderfixError(
            f"exec into {pod}: no such pod (404): it went away", hint="run the command again"
        )
    if status:
        said = api_message(exc) or " ".join(str(getattr(exc, "reason", exc)).split())[:200]
        return BinderfixError(
            f"exec into {pod} failed ({status}): {said}",
            hint="is the container running? kubectl describe pod " + pod,
        )
    return api_error(exc, f"exec into {pod}", server)


def exec_status(text: str | bytes) -> tuple[int | None, str]:
    """The exit code and message from the exec protocol's status channel (a v1 Status)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not text.strip():
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return None, " ".join(text.split())[:200]
    if status.get("status") == "Success":
        return 0, ""
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    return (int(code) if str(code).isdigit() else None), str(status.get("message") or "")


def exec_in_pod(
    cluster: Cluster,
    pod: str,
    container: str,
    command: list[str],
    stdin: str | bytes | None = None,
    limit: float = 60,
    binary: bool = False,
    namespace: str | None = None,
) -> Any:
    """Run ``command`` in ``pod`` through the exec API and wait up to ``limit`` seconds.

    Returns an :class:`ExecResult` (a :class:`BinaryExecResult` with ``binary``); raises a
    :class:`BinderfixError` if the exec cannot start. Each exec is its own websocket, so
    several may run at once beside the REST calls."""
    import websocket

    if websocket.getdefaulttimeout() is None:  # the websocket's connect must not hang
        websocket.setdefaulttimeout(cluster.timeout)
    empty: str | bytes = b"" if binary else ""
    query = [
        *(("command", part) for part in command),
        ("container", container or None),
        ("stderr", True),
        ("stdin", stdin is not None),
        ("stdout", True),
        ("tty", False),
    ]
    resp = None
    try:
        resp = cluster.api.websocket(
            namespaced(cluster, namespace, "pods", pod, "exec"), query, binary=binary
        )
        if stdin is not None:
            resp.write_stdin(stdin)
            resp.close_channel(0)  # v5: end of input; v4 cannot say it: the probe reads a line
        resp.run_forever(timeout=limit)
        finished = not resp.is_open()
        out = resp.read_stdout(timeout=0) or empty
        err = resp.read_stderr(timeout=0) or empty
        status_text = resp.read_channel(3, timeout=0) if finished else ""
        resp.close()
    except BinderfixError:
        raise
    except Exception as exc:  # ApiException, or the websocket client's own errors
        raise exec_error(exc, pod, cluster.server) from None
    finally:
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.close()
    code, message = exec_status(status_text) if finished else (None, "")
    return (BinaryExecResult if binary else ExecResult)(out, err, code, message)
