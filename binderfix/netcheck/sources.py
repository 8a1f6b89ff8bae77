"""Which pod netcheck probes from: by name, or the first running pod with the given labels.

Never one of netcheck's own probe pods, which carry their source's labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.exec import container_of
from binderfix.kube.pods import list_pods, read_pod
from binderfix.netcheck.probepod import PROBE_LABEL


def pick_pod(
    cluster: Cluster,
    name: str | None = None,
    selector: str = "component=hub",
    container: str | None = None,
) -> dict[str, Any]:
    """The source pod: by name, or the first (by name) running pod matching ``selector``.

    Never one of netcheck's own probe pods: they carry the source's labels, so a selector
    matches them, and one left behind (its deletion failed) must not stand in for the hub.
    Raises :class:`BinderfixError` when there is no such pod, or it is not running."""
    ns = cluster.namespace
    if name:
        found = read_pod(cluster, name)
        if found is None:
            raise BinderfixError(
                f"no pod {name!r} in namespace {ns!r}",
                hint="kubectl get pods; or pick the source with --selector",
            )
        if _is_probe_pod(found):
            raise BinderfixError(
                f"pod {name} is a netcheck probe pod, not a source",
                hint=f"name the pod it stands for; kubectl delete pod {name}",
            )
    else:
        items = [p for p in list_pods(cluster, selector) if not _is_probe_pod(p)]
        if not items:
            raise BinderfixError(
                f"no pod matches {selector!r} in namespace {ns!r}",
                hint="name the source with --pod, or another --selector (and -n)",
            )
        running = [p for p in items if not _not_running(p, container)]
        if not running:
            raise BinderfixError(
                f"no running pod matches {selector!r} in namespace {ns!r}: "
                + "; ".join(
                    f"{p['metadata']['name']} {_not_running(p, container)}" for p in items[:5]
                ),
                hint="name the source with --pod, or another --selector",
            )
        found = running[0]
    container_of(found, container)  # no such container: say so, with the ones it has
    why = _not_running(found, container)
    if why:
        raise BinderfixError(
            f"pod {found['metadata']['name']} {why}: cannot exec into it",
            hint="pick a running pod with --pod or --selector",
        )
    return found


def _is_probe_pod(pod: Mapping[str, Any]) -> bool:
    return PROBE_LABEL in ((pod.get("metadata") or {}).get("labels") or {})


def _not_running(pod: Mapping[str, Any], container: str | None) -> str:
    """Why netcheck cannot exec into ``pod`` ("" if it can)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if pod["metadata"].get("deletionTimestamp"):
        return "is being deleted"
    if phase != "Running":
        return f"is {phase}, not Running"
    try:
        name = container_of(pod, container)
    except BinderfixError as exc:
        return exc.message.replace(f"pod {pod['metadata']['name']} ", "")
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == name and "running" not in (cs.get("state") or {}):
            state = cs.get("state") or {}
            reason = next((v.get("reason") for v in state.values() if v.get("reason")), "")
            return f"has container {name} not running" + (f" ({reason})" if reason else "")
    return ""
