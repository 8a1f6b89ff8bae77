"""Builder pods through the API: find them, read their nodes' addresses, replace one.

Waiting for a replacement watches the node's builder pods (as ``kubectl wait`` does) rather
than listing them again and again: one request per node however long the wait, and the
pod seen Ready the moment the API says so. The watch's read blocks; under pyinfra's CLI
(gevent with sockets patched) other hosts run meanwhile, and the kube step hands it to a
thread where sockets are not patched (pyinfra's API in ``binderfix watch``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

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
    labels: Mapping[str, str] | None = None,
) -> BuilderPod:
    """Wait until a builder pod other than ``old_name`` runs on ``node`` and is Ready.

    Lists the node's builder pods, then watches them from the version listed until the
    replacement is Ready, listing again when the API ends the watch or no longer remembers
    that version (410). The replacement has its predecessor's ``labels``, which say the
    selector to watch; without them, the node's pods are listed every 0.1 s until one is
    seen to tell."""
    from binderfix.kube.watch import Expired, list_pods_at, watch_pods

    deadline = time.monotonic() + timeout
    fields = f"spec.nodeName={node}"
    selectors = tuple(selectors)
    seen: list[BuilderPod] = []  # the replacements seen, the latest last

    def ready(pod: BuilderPod) -> BuilderPod | None:
        if pod.node != node or pod.name == old_name:
            return None
        seen.append(pod)
        return pod if pod.healthy else None

    known = next((s for s in selectors if labels and _matches(s, labels)), None)
    while True:
        found = [] if known else list_builder_pods(cluster, selectors, node=node)
        watched = known or next(
            (s for s in selectors if found and _matches(s, found[0].labels)), None
        )
        if watched is not None:
            known = watched  # a relist after the watch ends needs no search again
            listing = list_pods_at(cluster, watched, fields)
            done = next(filter(None, map(ready, map(from_pod_object, listing.items))), None)
            if done is not None:
                return done
            seconds = math.ceil(deadline - time.monotonic())
            if seconds > 0:
                try:
                    for kind, obj in watch_pods(
                        cluster, watched, listing.resource_version, seconds, fields
                    ):
                        if kind in ("ADDED", "MODIFIED") and (done := ready(from_pod_object(obj))):
                            return done
                except Expired:
                    pass  # list again, from now
        else:
            done = next(filter(None, map(ready, found)), None)
            if done is not None:
                return done
        if time.monotonic() >= deadline:
            last = seen[-1] if seen else None
            what = (
                f"{last.name} is {last.status}, {last.restarts} restarts"
                if last
                else "no replacement pod yet"
            )
            raise BinderfixError(
                f"the builder pod on {node} did not become Ready within {timeout:.0f}s ({what})",
                hint="kubectl describe pod on that node; raise BINDERFIX_WAIT_TIMEOUT if it is slow",
            )
        if watched is None:
            time.sleep(0.1)


def _matches(selector: str, labels: dict[str, str]) -> bool:
    """Does an equality-based selector (``a=b,c=d``, as the builder selectors are) match?"""
    pairs = [term.split("=", 1) for term in selector.split(",") if "=" in term]
    return all(labels.get(k.strip()) == v.strip() for k, v in pairs)


def pod_summary(pod: BuilderPod) -> str:
    """`prod-dind-rp7z8 (CrashLoopBackOff, 0/1 ready, 2013 restarts)`: what the diff shows."""
    ready = "ready" if pod.ready else "not ready"
    return f"{pod.name} ({pod.status}, {ready}, {pod.restarts} restarts)"
