"""Builder pods through the API: find them, read their nodes' addresses, replace one.

The waiting is written with an injectable ``sleep`` so that pyinfra (which runs hosts as
gevent greenlets without monkey-patching) can pass ``gevent.sleep`` and wait for many
nodes at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.inventory.model import BuilderPod, from_pod_object
from binderfix.kube.client import Cluster, api_errors


def _items(response: Any) -> list[dict[str, Any]]:
    """The items of a list response read as plain JSON (``_preload_content=False``).

    binderfix turns pods into its own records anyway; skipping the client's models also
    means one odd object in a real cluster cannot fail the whole listing.
    """
    return json.loads(response.data).get("items") or []


def list_builder_pods(
    cluster: Cluster, selectors: Iterable[str], node: str | None = None
) -> list[BuilderPod]:
    """Every builder pod matching any of the selectors, server-side, once each, by node.

    ``node`` narrows the listing to one node's pods (a field selector), as the wait does.
    """
    found: dict[str, BuilderPod] = {}
    fields = f"spec.nodeName={node}" if node else ""
    for selector in selectors:
        with api_errors(f"listing pods with {selector!r} in namespace {cluster.namespace!r}"):
            response = cluster.core.list_namespaced_pod(
                cluster.namespace,
                label_selector=selector,
                field_selector=fields,
                _preload_content=False,
            )
        for pod in _items(response):
            builder = from_pod_object(pod)
            if builder.node:  # an unscheduled pod has no node to fix
                found[builder.name] = builder
    return sorted(found.values(), key=lambda p: (p.node, p.name))


def node_addresses(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Node name -> {InternalIP: ..., ExternalIP: ..., Hostname: ...}."""
    with api_errors("listing nodes"):
        nodes = _items(cluster.core.list_node(_preload_content=False))
    return {
        n["metadata"]["name"]: {
            a["type"]: a["address"] for a in (n.get("status") or {}).get("addresses") or []
        }
        for n in nodes
    }


def delete_pod(cluster: Cluster, name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        cluster.core.delete_namespaced_pod(name, cluster.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return  # already gone: the DaemonSet will replace it all the same
        with api_errors(f"deleting pod {name}"):
            raise


def wait_for_replacement(
    cluster: Cluster,
    node: str,
    old_name: str,
    selectors: Iterable[str],
    timeout: float,
    sleep: Callable[[float], Any] = time.sleep,
    interval: float = 0.1,
) -> BuilderPod:
    """Wait until a builder pod other than ``old_name`` runs on ``node`` and is Ready."""
    deadline = time.monotonic() + timeout
    selectors = tuple(selectors)
    last: BuilderPod | None = None
    while True:
        for pod in list_builder_pods(cluster, selectors, node=node):
            if pod.node == node and pod.name != old_name:
                last = pod
                if pod.healthy:
                    return pod
        if time.monotonic() >= deadline:
            seen = (
                f"{last.name} is {last.status}, {last.restarts} restarts"
                if last
                else "no replacement pod yet"
            )
            raise BinderfixError(
                f"the builder pod on {node} did not become Ready within {timeout:.0f}s ({seen})",
                hint="kubectl describe pod on that node; raise BINDERFIX_WAIT_TIMEOUT if it is slow",
            )
        sleep(interval)


def pod_summary(pod: BuilderPod) -> str:
    """`prod-dind-rp7z8 (CrashLoopBackOff, 0/1 ready, 2013 restarts)`: what the diff shows."""
    ready = "ready" if pod.ready else "not ready"
    return f"{pod.name} ({pod.status}, {ready}, {pod.restarts} restarts)"
