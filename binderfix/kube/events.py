"""Kubernetes Events on a pod (core/v1): where operators look (`kubectl describe pod`,
`kubectl get events`) to learn what a controller did and why."""

from __future__ import annotations

import secrets
from typing import Any

from binderfix.kube.client import Cluster, namespaced
from binderfix.kube.lease import micro_time

COMPONENT = "binderfix-watch"


def event_object(
    pod: dict[str, Any], reason: str, message: str, warning: bool, instance: str
) -> dict[str, Any]:
    """The Event for ``pod`` (its name, namespace, uid). Pure."""
    now = micro_time()
    second = now[:19] + "Z"  # firstTimestamp and lastTimestamp are whole seconds
    name = f"{pod['name']}.{secrets.token_hex(8)}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": pod["namespace"]},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod["name"],
            "namespace": pod["namespace"],
            "uid": pod.get("uid") or "",
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "action": reason.removeprefix("Binderfix"),
        "count": 1,
        "firstTimestamp": second,
        "lastTimestamp": second,
        "eventTime": now,
    }


def create_event(cluster: Cluster, event: dict[str, Any]) -> None:
    ns = event["metadata"]["namespace"]
    with cluster.errors(f"recording an event on pod {event['involvedObject']['name']}"):
        cluster.api.send_json(
            "POST", namespaced(cluster, ns, "events"), event, timeout=cluster.request_timeout
        )


def list_events(cluster: Cluster, pod: str | None = None) -> list[dict[str, Any]]:
    """Events in the namespace, or those about one pod."""
    fields = f"involvedObject.name={pod}" if pod else ""
    with cluster.errors(f"listing events in namespace {cluster.namespace!r}"):
        listing = cluster.api.get_json(
            namespaced(cluster, None, "events"),
            {"fieldSelector": fields},
            cluster.request_timeout,
        )
        return listing.get("items") or []
