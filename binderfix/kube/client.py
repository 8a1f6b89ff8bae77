"""Connecting to the cluster, and turning API failures into messages a person can act on."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from binderfix.errors import BinderfixError


@dataclass
class Cluster:
    """An API client and the namespace to work in."""

    core: object  # kubernetes.client.CoreV1Api (imported lazily: it is slow to import)
    namespace: str
    context: str | None


@functools.lru_cache(maxsize=8)
def connect(
    context: str | None = None, namespace: str | None = None, kubeconfig: str | None = None
) -> Cluster:
    """Load the kubeconfig like kubectl does (``kubeconfig``, else KUBECONFIG, else ~/.kube/config).

    Cached: pyinfra runs each node's kube step in the same process, and one client (one
    kubeconfig parse, one TLS connection pool) serves them all.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

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
        api_client = config.new_client_from_config(
            config_file=kubeconfig, context=chosen["name"] if chosen else None
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
    ns = namespace or ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Cluster(
        core=client.CoreV1Api(api_client), namespace=ns, context=(chosen or {}).get("name")
    )


@contextmanager
def api_errors(doing: str) -> Iterator[None]:
    """Translate what the kubernetes client raises into a BinderfixError saying what to do."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        hints = {
            401: "your credentials were refused: refresh them (e.g. gcloud container clusters get-credentials)",
            403: "your account lacks a permission: `binderfix rbac` prints what binderfix needs",
            404: "check the namespace (BINDERFIX_NAMESPACE or --namespace)",
        }
        raise BinderfixError(
            f"{doing}: the Kubernetes API answered {exc.status} {exc.reason}",
            hint=hints.get(exc.status or 0),
        ) from None
    except (HTTPError, OSError) as exc:
        raise BinderfixError(
            f"{doing}: cannot reach the Kubernetes API ({type(exc).__name__}: {exc})",
            hint="check that `kubectl get pods` works from here",
        ) from None
