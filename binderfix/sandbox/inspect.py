"""What ``binderfix sandbox status`` shows: nodes, socket paths, pods (read through the API)."""

from __future__ import annotations

from typing import Any

from binderfix.sandbox.cluster import Sandbox


def describe(box: Sandbox) -> dict[str, Any]:
    from kubernetes import client, config

    state = box.require()
    api = client.CoreV1Api(config.new_client_from_config(str(box.kubeconfig)))
    pods = api.list_namespaced_pod(state.namespace).items
    builders = {}
    others = []
    for pod in pods:
        statuses = pod.status.container_statuses or []
        waiting = next(
            (cs.state.waiting.reason for cs in statuses if cs.state and cs.state.waiting), None
        )
        entry = {
            "name": pod.metadata.name,
            "node": pod.spec.node_name,
            "ip": pod.status.pod_ip,
            "status": waiting or pod.status.phase,
            "ready": all(cs.ready for cs in statuses) and bool(statuses),
            "restarts": sum(cs.restart_count for cs in statuses),
        }
        if "-dind-" in pod.metadata.name:
            builders[pod.spec.node_name] = entry
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
        "api": f"http://127.0.0.1:{state.apiserver_port}",
        "nodes": nodes,
        "pods": sorted(others, key=lambda p: p["name"]),
    }
