"""Connecting to the cluster, and turning API failures into messages a person can act on.

Every request binderfix makes goes out with a connect and a read timeout
(``BINDERFIX_API_TIMEOUT``), so that an API server that stops answering (a network
partition, an overloaded control plane) ends a command with a clear error instead of a
hang; idempotent reads are retried once.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from binderfix.errors import BinderfixError
from binderfix.kube.rest import Rest, path

# Where Kubernetes mounts a pod's ServiceAccount token, CA and namespace.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
API_TIMEOUT_VARIABLE = "BINDERFIX_API_TIMEOUT"
DEFAULT_API_TIMEOUT = 10.0
# A log stream may pause longer between two reads than an ordinary answer takes.
LOG_READ_FACTOR = 6


def namespaced(
    cluster: Cluster, namespace: str | None, plural: str, *name: str, api: str = "/api/v1"
) -> str:
    """The path of a namespaced collection or object (core/v1 unless ``api`` says another
    group's, e.g. ``/apis/coordination.k8s.io/v1``), each part quoted; the cluster's
    namespace unless ``namespace`` is given."""
    return path(f"{api}/namespaces", namespace or cluster.namespace, plural, *name)


def api_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds a request to the API may take to connect and to answer: BINDERFIX_API_TIMEOUT."""
    env = os.environ if env is None else env
    raw = env.get(API_TIMEOUT_VARIABLE) or ""
    if not raw:
        return DEFAULT_API_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0.5 <= value <= 600):  # also refuses nan and inf
        raise BinderfixError(
            f"{API_TIMEOUT_VARIABLE}={raw!r} is not a number of seconds from 0.5 to 600",
            hint=f"e.g. {API_TIMEOUT_VARIABLE}=10 (the default)",
        )
    return value


@dataclass(frozen=True)
class Cluster:
    """An API client, the namespace to work in, and how long a request may take."""

    api: Rest
    namespace: str
    context: str | None
    timeout: float = DEFAULT_API_TIMEOUT

    @property
    def server(self) -> str:
        """The API server's address, for messages (never its credentials)."""
        return self.api.host

    @property
    def request_timeout(self) -> tuple[float, float]:
        """``_request_timeout`` for an ordinary request: (connect, read)."""
        return (self.timeout, self.timeout)

    @property
    def stream_timeout(self) -> tuple[float, float]:
        """``_request_timeout`` for a log stream: the same connect, a longer pause between reads."""
        return (self.timeout, self.timeout * LOG_READ_FACTOR)

    def errors(self, doing: str) -> AbstractContextManager[None]:
        """``with cluster.errors("listing pods"):`` translates what the client raises."""
        return api_errors(doing, self.server)


@functools.lru_cache(maxsize=8)
def connect(
    context: str | None = None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    timeout: float | None = None,
) -> Cluster:
    """Load the kubeconfig like kubectl does (``kubeconfig``, else KUBECONFIG, else ~/.kube/config).

    Cached: pyinfra runs each node's kube step in the same process, and one client (one
    kubeconfig parse, one TLS connection pool) serves them all.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException
    from urllib3.util.retry import Retry

    timeout = api_timeout() if timeout is None else timeout
    if context is None and in_cluster(kubeconfig):
        return _connect_in_cluster(namespace, timeout)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = current
        if context is not None:
            chosen = next((c for c in contexts if c["name"] == context), None)
            if chosen is None:
                names = ", ".join(c["name"] for c in contexts) or "none"
                raise BinderfixError(
                    f"no context {context!r} in the kubeconfig", hint=f"contexts: {names}"
                )
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=kubeconfig,
            context=chosen["name"] if chosen else None,
            client_configuration=configuration,
            persist_config=False,
        )
    except ConfigException as exc:
        raise BinderfixError(
            f"cannot load a kubeconfig: {exc}",
            hint="set KUBECONFIG, or check that `kubectl get pods` works",
        ) from None
    except OSError as exc:
        raise BinderfixError(
            f"cannot read the kubeconfig: {exc}", hint="set KUBECONFIG to a readable file"
        ) from None
    # One retry of a read that timed out or lost its connection; urllib3 never retries a
    # POST whose request was sent (a create or an exec must not happen twice).
    configuration.retries = Retry(total=1, redirect=0, status=0, raise_on_status=False)
    ns = namespace or ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Cluster(
        api=Rest(client.ApiClient(configuration)),
        namespace=ns,
        context=(chosen or {}).get("name"),
        timeout=timeout,
    )


def in_cluster(kubeconfig: str | None = None) -> bool:
    """Running in a pod with no kubeconfig: use the pod's ServiceAccount, as kubectl does."""
    if kubeconfig or os.environ.get("KUBECONFIG"):
        return False
    if os.path.exists(os.path.expanduser("~/.kube/config")):
        return False
    token = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(token)


def _connect_in_cluster(namespace: str | None, timeout: float) -> Cluster:
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader
    from urllib3.util.retry import Retry

    configuration = client.Configuration()
    try:
        InClusterConfigLoader(
            token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
            cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise BinderfixError(
            f"cannot use the pod's ServiceAccount: {exc}",
            hint="mount its token (automountServiceAccountToken), or set KUBECONFIG",
        ) from None
    configuration.retries = Retry(total=1, redirect=0, status=0, raise_on_status=False)
    if namespace is None:
        try:
            with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as fh:
                namespace = fh.read().strip() or None
        except OSError:
            namespace = None
    return Cluster(
        api=Rest(client.ApiClient(configuration)),
        namespace=namespace or "default",
        context=None,
        timeout=timeout,
    )


_HINTS = {
    401: "your credentials were refused: refresh them (e.g. gcloud container clusters get-credentials)",
    403: "your account lacks a permission: `binderfix rbac` prints what binderfix needs",
    404: "check the namespace (BINDERFIX_NAMESPACE or --namespace)",
}


def api_message(exc: BaseException) -> str:
    """The API's own message in its Status answer (which permission, which container), or ""."""
    body = getattr(exc, "body", None) or str(getattr(exc, "reason", None) or "")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    said = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', str(body))
    return said.group(1).encode().decode("unicode_escape", "replace") if said else ""


def status_of(exc: BaseException) -> int:
    """The HTTP status of a failed call; a websocket handshake's failure carries it in text
    (``ApiException(status=0, reason="Handshake status 403 Forbidden ...")``)."""
    status = int(getattr(exc, "status", 0) or 0)
    found = re.search(r"Handshake status (\d{3})", str(getattr(exc, "reason", None) or exc))
    return int(found.group(1)) if found else status


def api_error(exc: BaseException, doing: str, server: str | None = None) -> BinderfixError:
    """What the kubernetes client (or its websocket) raised, as a message a person can act on."""
    from urllib3.exceptions import (
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
        TimeoutError,
    )

    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # what the last try ran into, not the retry bookkeeping
    where = f" at {server}" if server else ""
    status = status_of(exc)
    if status:
        message = api_message(exc)
        reason = getattr(exc, "reason", "") or ""
        if "Handshake status" in str(reason):
            reason = ""
        said = f": {message}" if message else ""
        return BinderfixError(
            f"{doing}: the Kubernetes API answered {status} {reason}".rstrip() + said,
            hint=_HINTS.get(status),
        )
    text = " ".join(str(exc).split())[:200]
    refused = isinstance(exc, NewConnectionError)  # (urllib3 makes it a kind of timeout)
    if not refused and (isinstance(exc, TimeoutError | ReadTimeoutError) or "timed out" in text):
        return BinderfixError(
            f"{doing}: the Kubernetes API{where} did not answer in time",
            hint=f"is the API server overloaded or cut off? raise {API_TIMEOUT_VARIABLE} "
            "(seconds) if it is only slow",
        )
    if isinstance(exc, ProtocolError) or "Connection aborted" in text:
        return BinderfixError(
            f"{doing}: the Kubernetes API{where} closed the connection ({text})",
            hint="check that `kubectl get pods` works from here, and try again",
        )
    if refused:
        text = text.split(": ", 1)[-1]  # "[Errno 111] Connection refused", not the pool's name
    return BinderfixError(
        f"{doing}: cannot reach the Kubernetes API{where} ({type(exc).__name__}: {text})",
        hint="check that `kubectl get pods` works from here",
    )


@contextmanager
def api_errors(doing: str, server: str | None = None) -> Iterator[None]:
    """Translate what the kubernetes client raises into a BinderfixError saying what to do."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError
    from websocket import WebSocketException

    try:
        yield
    except (ApiException, HTTPError, OSError, WebSocketException) as exc:
        raise api_error(exc, doing, server) from None
