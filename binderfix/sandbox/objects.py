"""The sandbox cluster's objects as its API server stores them: the resources, metadata with
one uid format, the objects ``up`` starts with, and what the kubelet may do to pods.

The kubelet writes pods through :class:`PodStore` (add one, patch one), not through the API
server's class: it is the kubelet's whole view of the API, as the real kubelet's is its
client's pods and pods/status.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, Protocol

import kmock

from binderfix.sandbox.state import GCE_PROJECT, GCE_ZONE, Host

PODS = kmock.resource("", "v1", "pods")
NODES = kmock.resource("", "v1", "nodes")
SERVICES_RES = kmock.resource("", "v1", "services")
NAMESPACES = kmock.resource("", "v1", "namespaces")
DAEMONSETS = kmock.resource("apps", "v1", "daemonsets")
LEASES = kmock.resource("coordination.k8s.io", "v1", "leases")
EVENTS = kmock.resource("", "v1", "events")

Obj = dict[str, Any]


class PodStore(Protocol):
    """What the kubelet needs of the API server."""

    def add_pod(self, namespace: str, pod: Obj) -> None:
        """Store a new pod and tell the watches (ADDED)."""

    def patch_pod(self, namespace: str, name: str, patch: Obj) -> bool:
        """Merge ``patch`` into a live pod and tell the watches (MODIFIED); False if the
        pod is gone (deleted while the kubelet was still reporting on it)."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid() -> str:
    """A UUID, as the API server gives every object."""
    return str(uuid.uuid4())


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> Obj:
    """``metadata`` of a new object: its name, a uid, when it was made, its labels."""
    out: Obj = {
        "name": name,
        "uid": uid(),
        "creationTimestamp": now_iso(),
        "resourceVersion": "1",
        "labels": labels or {},
    }
    if namespace:
        out["namespace"] = namespace
    return out


def pod(
    name: str, namespace: str, labels: dict[str, str], spec: Obj, status: Obj, **more: Any
) -> Obj:
    """A Pod object; ``more`` adds to its metadata (generateName, ownerReferences)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**meta(name, namespace, labels), **more},
        "spec": spec,
        "status": status,
    }


def node_object(node: Host) -> dict[str, Any]:
    uname = Path("/proc/sys/kernel/osrelease").read_text().strip()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(
            node.name,
            labels={
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "hub.jupyter.org/node-purpose": "user",
            },
        ),
        "spec": {"providerID": f"gce://{GCE_PROJECT}/{GCE_ZONE}/{node.name}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.ip},
                {"type": "Hostname", "address": node.name},
            ],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {
                "kubeletVersion": "v1.31.0-sandbox",
                "kubeProxyVersion": "v1.31.0-sandbox",
                "osImage": "binderfix sandbox node",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "kernelVersion": uname,
                "containerRuntimeVersion": "sandbox://1.0",
                "machineID": node.name,
                "systemUUID": node.name,
                "bootID": node.name,
            },
        },
    }
