"""The server-side tables kubectl prints (``as=Table``). Pure code.

kubectl has no client-side printer for pods any more: the real API server renders the
columns itself, as k8s.io/kubernetes/pkg/printers/internalversion does, and these functions
are that printer for the sandbox's pods, nodes and services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """kubectl's AGE format (k8s.io/apimachinery duration.HumanDuration)."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 365 * 2 else f"{d // 365}y"


def _since(ts: str | None, now: dt.datetime) -> str:
    if not ts:
        return "<unknown>"
    when = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return human_duration((now - when).total_seconds())


def _col(name: str, priority: int = 0, fmt: str = "", typ: str = "string") -> Obj:
    return {"name": name, "type": typ, "format": fmt, "description": "", "priority": priority}


def _last_finish(cs: Obj, last: str | None) -> str | None:
    finished = (cs.get("lastState") or {}).get("terminated", {}).get("finishedAt")
    return max(filter(None, [finished, last]), default=None)


def _exit_reason(state: Obj, prefix: str = "") -> str:
    term = state["terminated"]
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_row(p: Obj, now: dt.datetime) -> list[Any]:
    """NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES, as printPod."""
    meta, spec, status = p["metadata"], p.get("spec") or {}, p.get("status") or {}
    reason = status.get("reason") or status.get("phase", "")
    restarts, ready, last = 0, 0, None
    initializing = False
    inits = status.get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        restarts += cs.get("restartCount", 0)
        last = _last_finish(cs, last)
        state = cs.get("state") or {}
        if state.get("terminated", {}).get("exitCode", None) == 0:
            continue
        if "terminated" in state:
            reason = _exit_reason(state, "Init:")
        elif state.get("waiting", {}).get("reason", "PodInitializing") != "PodInitializing":
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers', []))}"
        initializing = True
        break
    if not initializing:
        restarts, last = 0, None
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last = _last_finish(cs, last)
            state = cs.get("state") or {}
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                reason = _exit_reason(state)
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            reason = "Running" if conditions.get("Ready") == "True" else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restart_cell = f"{restarts} ({_since(last, now)} ago)" if last else str(restarts)
    gates = spec.get("readinessGates") or []
    if gates:
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        true = sum(conditions.get(g["conditionType"]) == "True" for g in gates)
        gate_cell = f"{true}/{len(gates)}"
    else:
        gate_cell = "<none>"
    return [
        meta["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restart_cell,
        _since(meta.get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_cell,
    ]


POD_COLUMNS = [
    _col("Name", fmt="name"),
    _col("Ready"),
    _col("Status"),
    _col("Restarts", typ="string"),
    _col("Age"),
    _col("IP", 1),
    _col("Node", 1),
    _col("Nominated Node", 1),
    _col("Readiness Gates", 1),
]


def node_row(node: Obj, now: dt.datetime) -> list[Any]:
    status = node.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
    addresses = {a["type"]: a["address"] for a in status.get("addresses", [])}
    info = status.get("nodeInfo", {})
    labels = node.get("metadata", {}).get("labels", {})
    roles = ",".join(
        sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    )
    return [
        node["metadata"]["name"],
        "Ready" if ready.get("status") == "True" else "NotReady",
        roles or "<none>",
        _since(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


NODE_COLUMNS = [
    _col("Name", fmt="name"),
    _col("Status"),
    _col("Roles"),
    _col("Age"),
    _col("Version"),
    _col("Internal-IP", 1),
    _col("External-IP", 1),
    _col("OS-Image", 1),
    _col("Kernel-Version", 1),
    _col("Container-Runtime", 1),
]


def service_row(svc: Obj, now: dt.datetime) -> list[Any]:
    spec = svc.get("spec", {})
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", []))
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec.get("selector", {}).items()))
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        "<none>",
        ports or "<none>",
        _since(svc["metadata"].get("creationTimestamp"), now),
        selector or "<none>",
    ]


SERVICE_COLUMNS = [
    _col("Name", fmt="name"),
    _col("Type"),
    _col("Cluster-IP"),
    _col("External-IP"),
    _col("Port(s)"),
    _col("Age"),
    _col("Selector", 1),
]


def default_row(obj: Obj, now: dt.datetime) -> list[Any]:
    return [obj["metadata"]["name"], _since(obj["metadata"].get("creationTimestamp"), now)]


DEFAULT_COLUMNS = [_col("Name", fmt="name"), _col("Age")]

PRINTERS: dict[str, tuple[list[Obj], Callable[[Obj, dt.datetime], list[Any]]]] = {
    "pods": (POD_COLUMNS, pod_row),
    "nodes": (NODE_COLUMNS, node_row),
    "services": (SERVICE_COLUMNS, service_row),
}


def table(plural: str, objects: list[Obj], include_object: str = "Metadata") -> Obj:
    """A ``meta.k8s.io/v1`` Table, the response to ``Accept: application/json;as=Table``."""
    columns, row = PRINTERS.get(plural, (DEFAULT_COLUMNS, default_row))
    now = dt.datetime.now(dt.UTC)
    rows = []
    for obj in objects:
        if include_object == "Object":
            embedded = obj
        elif include_object == "None":
            embedded = None
        else:
            embedded = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append({"cells": row(obj, now), "object": embedded})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": columns,
        "rows": rows,
    }
