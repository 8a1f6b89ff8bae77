"""What ``binderfix sandbox status`` shows: nodes, socket paths, pods (read through the API)."""

from __future__ import annotations

from typing import Any

from binderfix.sandbox.cluster import Sandbox


def describe(box: Sandbox) -> dict[str, Any]:
    from binderfix.kube.client import connect
    from binderfix.kube.model import from_pod_object, is_builder
    from binderfix.kube.pods import list_pods

    state = box.require()
    cluster = connect(kubeconfig=str(box.kubeconfig), namespace=state.namespace)
    builders = {}
    others = []
    for pod in map(from_pod_object, list_pods(cluster)):
        entry = {
            "name": pod.name,
            "node": pod.node,
            "ip": pod.pod_ip,
            "status": pod.status,
            "ready": pod.ready,
            "restarts": pod.restarts,
        }
        if is_builder(pod.labels):
            builders[pod.node] = entry
        else:
            others.append(entry)
    nodes = [
        {
            "name": h.name,
            "ip": h.ip,
            "broken_at_start": h.broken,
            "socket_path": box.socket_state(h),
            "builder": builders.get(h.name),
        }
        for h in state.nodes
    ]
    return {
        "dir": str(box.dir),
        "namespace": state.namespace,
        "socket_path": state.socket_path,
        "api": f"https://127.0.0.1:{state.apiserver_port}",
        "nodes": nodes,
        "pods": sorted(others, key=lambda p: p["name"]),
    }
