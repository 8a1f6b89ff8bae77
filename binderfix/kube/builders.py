"""Builder pods through the API: find them, read their nodes' addresses, replace one.

The waiting is written with an injectable ``sleep`` so that pyinfra (which runs hosts as
gevent greenlets without monkey-patching) can pass ``gevent.sleep`` and wait for many
nodes at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.model import BuilderPod, from_pod_object
from binderfix.kube.pods import list_nodes, list_pods


def list_builder_pods(
    cluster: Cluster, selectors: Iterable[str], node: str | None = None
) -> list[BuilderPod]:
    """Every builder pod matching any of the selectors, server-side, once each, by node.

    ``node`` narrows the listing to one node's pods (a field selector), as the wait does.
    """
    found: dict[str, BuilderPod] = {}
    fields = f"spec.nodeName={node}" if node else ""
    for selector in selectors:
        for pod in list_pods(cluster, selector, fields):
            builder = from_pod_object(pod)
            if builder.node:  # an unscheduled pod has no node to fix
                found[builder.name] = builder
    return sorted(found.values(), key=lambda p: (p.node, p.name))


def node_addresses(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Node name -> {InternalIP: ..., ExternalIP: ..., Hostname: ..., gce: ...}.

    ``gce`` is the GKE instance's SSH alias ``NAME.ZONE.PROJECT``, from the Node's providerID
    ``gce://PROJECT/ZONE/NAME``: the host name `gcloud compute config-ssh` writes."""
    found = {}
    for n in list_nodes(cluster):
        addresses = {
            a["type"]: a["address"] for a in (n.get("status") or {}).get("addresses") or []
        }
        alias = gce_alias((n.get("spec") or {}).get("providerID") or "")
        if alias:
            addresses["gce"] = alias
        found[n["metadata"]["name"]] = addresses
    return found


def gce_alias(provider_id: str) -> str:
    """``gce://my-project/us-central1-a/gke-prod-pool-1-abcd`` -> ``gke-prod-pool-1-abcd.
    us-central1-a.my-project`` ("" for another cloud's or no providerID). Pure."""
    scheme, _, rest = provider_id.partition("://")
    parts = rest.split("/")
    if scheme != "gce" or len(parts) != 3 or not all(parts):
        return ""
    project, zone, name = parts
    return f"{name}.{zone}.{project}"


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
        found = list_builder_pods(cluster, selectors, node=node)
        if found:  # the replacement has its predecessor's labels: ask only what finds them
            selectors = tuple(s for s in selectors if _matches(s, found[0].labels)) or selectors
        for pod in found:
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


def _matches(selector: str, labels: dict[str, str]) -> bool:
    """Does an equality-based selector (``a=b,c=d``, as the builder selectors are) match?"""
    pairs = [term.split("=", 1) for term in selector.split(",") if "=" in term]
    return all(labels.get(k.strip()) == v.strip() for k, v in pairs)


def pod_summary(pod: BuilderPod) -> str:
    """`prod-dind-rp7z8 (CrashLoopBackOff, 0/1 ready, 2013 restarts)`: what the diff shows."""
    ready = "ready" if pod.ready else "not ready"
    return f"{pod.name} ({pod.status}, {ready}, {pod.restarts} restarts)"
