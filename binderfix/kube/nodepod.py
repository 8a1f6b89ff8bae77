"""A node reached through the Kubernetes API: a short-lived privileged helper pod pinned to it.

This is how ``kubectl debug node/NAME`` reaches a node without SSH: a pod with ``nodeName``
set, tolerating every taint, in the host's PID, network and IPC namespaces, privileged, with
the node's root filesystem mounted at ``/host``; commands run as ``chroot /host sh -c ...``
through the exec API, so they see the node's own filesystem (its ``/var/run``, its symlinks).

Unlike ``kubectl debug``, the pod is never left behind: it is labelled as binderfix's, it
dies by itself after its lifetime (``activeDeadlineSeconds``), the run that made it deletes
it, and a later run removes one that a killed run left (:func:`leftover_helpers`).
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.model import CANNOT_START
from binderfix.kube.pods import create_pod, delete_pod, list_pods, read_node, read_pod

MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
HELPER_SELECTOR = f"{MANAGED_BY}=binderfix,{COMPONENT}=node-helper"
NODE_ANNOTATION = "binderfix.io/node"
HOLDER_ANNOTATION = "binderfix.io/holder"  # "hostname pid": which run made it
NEVER_READY = "binderfix.io/never-ready"
HOST_ROOT = "/host"
CONTAINER = "node"
DEFAULT_IMAGE = "busybox:1.36"  # a shell and chroot; a few MB to pull
DEFAULT_START_TIMEOUT = 60.0
DEFAULT_LIFETIME = 3600  # seconds before the pod ends itself, whatever happened to its run
PRIVILEGED_LABEL = "pod-security.kubernetes.io/enforce=privileged"


@dataclass(frozen=True)
class NodeHelper:
    """A running helper pod: exec into ``pod`` (container :data:`CONTAINER`) in ``namespace``."""

    node: str
    pod: str
    namespace: str
    image: str


def holder() -> str:
    """Who made a helper pod: this machine and process (to tell a live run from a dead one)."""
    return f"{socket.gethostname()} {os.getpid()}"


def helper_name(node: str) -> str:
    """``binderfix-node-<node>-<random>``: a valid pod name for any node name."""
    stem = re.sub(r"[^a-z0-9-]+", "-", node.lower()).strip("-")[:40].rstrip("-") or "node"
    return f"binderfix-node-{stem}-{os.urandom(3).hex()}"


def helper_manifest(
    node: str, image: str = DEFAULT_IMAGE, lifetime: int = DEFAULT_LIFETIME
) -> dict[str, Any]:
    """The pod that stands in for an SSH login on ``node``.

    It is pinned to the node (no scheduler involved, so a cordoned or tainted node is still
    reachable), tolerates every taint, shares the host's namespaces and is privileged (a
    remediation writes where root writes), and mounts the node's ``/`` at :data:`HOST_ROOT`.
    It is never Ready (a readiness gate nobody sets), so no Service sends it traffic; its
    labels match no controller, so none adopts it; it has no service-account token."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": helper_name(node),
            "labels": {MANAGED_BY: "binderfix", COMPONENT: "node-helper"},
            "annotations": {NODE_ANNOTATION: node, HOLDER_ANNOTATION: holder()},
        },
        "spec": {
            "nodeName": node,
            "hostPID": True,
            "hostNetwork": True,
            "hostIPC": True,
            "tolerations": [{"operator": "Exists"}],
            "restartPolicy": "Never",
            "activeDeadlineSeconds": lifetime,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "readinessGates": [{"conditionType": NEVER_READY}],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": image,
                    "command": ["sleep", str(lifetime)],
                    "securityContext": {"privileged": True},
                    # Mounts the node makes later show up in /host too: a mount made under
                    # the socket path after the pod started must still stop a forced removal.
                    "volumeMounts": [
                        {
                            "name": "host-root",
                            "mountPath": HOST_ROOT,
                            "mountPropagation": "HostToContainer",
                        }
                    ],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
        },
    }


def node_problem(node: dict[str, Any] | None, name: str) -> str:
    """Why a helper pod cannot run on this Node ("" if it can). Pure."""
    if node is None:
        return f"node {name} is not in the cluster (deleted, or scaled down)"
    conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
    ready = conditions.get("Ready") or {}
    if ready.get("status") != "True":
        why = ready.get("reason") or ready.get("message") or "no Ready condition"
        return f"node {name} is NotReady ({why}): its kubelet cannot start a helper pod"
    return ""


def start_problem(pod: dict[str, Any]) -> str:
    """Why a helper pod will not start by itself ("" while it may still start). Pure."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return f"it ended ({status.get('phase')}: {status.get('reason') or status.get('message') or 'no reason given'})"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason in CANNOT_START:
            said = waiting.get("message") or ""
            return f"{CANNOT_START[reason]} ({reason}{': ' + said if said else ''})"
    return ""


def is_running(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        "running" in (cs.get("state") or {}) for cs in status.get("containerStatuses") or []
    )


def start_helper(
    cluster: Cluster,
    node: str,
    image: str = DEFAULT_IMAGE,
    timeout: float = DEFAULT_START_TIMEOUT,
    namespace: str | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    on_created: Callable[[NodeHelper], Any] = lambda helper: None,
) -> NodeHelper:
    """Create the helper pod on ``node`` and wait until its container runs.

    Raises a :class:`BinderfixError` naming the node (and the image, when it is the image)
    when the node is gone or NotReady, the API refuses the pod (PodSecurity admission,
    RBAC), or the pod does not start within ``timeout``; a pod that was made is deleted.
    ``on_created`` is told of the pod as soon as it exists (to clean it up on a signal)."""
    ns = namespace or cluster.namespace
    problem = node_problem(read_node(cluster, node), node)
    if problem:
        raise BinderfixError(problem, hint="kubectl get nodes; the other nodes carry on")
    remove_leftovers(cluster, node, ns)
    manifest = helper_manifest(node, image)
    name = manifest["metadata"]["name"]
    try:
        create_pod(cluster, manifest, ns)
    except BinderfixError as exc:
        raise _refused(exc, ns) from None
    made = NodeHelper(node=node, pod=name, namespace=ns, image=image)
    on_created(made)
    try:
        deadline = time.monotonic() + timeout
        interval = 0.05
        while True:
            pod = read_pod(cluster, name, ns)
            if pod is None:
                raise BinderfixError(
                    f"helper pod {name} on node {node} was deleted before it started",
                    hint="another run, or an admission controller, removed it: try again",
                )
            if is_running(pod):
                return made
            problem = start_problem(pod)
            if problem:
                raise BinderfixError(
                    f"helper pod on node {node} cannot start: {problem}; image {image}",
                    hint="set BINDERFIX_NODE_IMAGE to an image the node can pull "
                    "(it needs sh and chroot, e.g. busybox)",
                )
            if time.monotonic() >= deadline:
                raise BinderfixError(
                    f"helper pod on node {node} (image {image}) did not start within "
                    f"{timeout:.0f}s (phase {(pod.get('status') or {}).get('phase', 'Pending')})",
                    hint=f"kubectl describe pod {name} -n {ns}; raise "
                    "BINDERFIX_NODE_START_TIMEOUT if the image is slow to pull",
                )
            sleep(interval)
            interval = min(interval * 2, 1.0)
    except BaseException:
        stop_helper(cluster, made)
        raise


def _refused(exc: BinderfixError, namespace: str) -> BinderfixError:
    """The API's refusal to create the helper pod, with what to do about it."""
    if "PodSecurity" in exc.message:
        return BinderfixError(
            f"{exc.message}",
            hint=f"namespace {namespace!r} does not allow privileged pods: label it "
            f"(kubectl label namespace {namespace} {PRIVILEGED_LABEL}) or set "
            "BINDERFIX_NODE_NAMESPACE to one that is",
        )
    if " 403 " in exc.message:
        return BinderfixError(
            exc.message,
            hint="the account needs `create` on pods (and pods/exec) in that namespace: "
            "`binderfix rbac` prints them",
        )
    return exc


def stop_helper(cluster: Cluster, helper: NodeHelper) -> bool:
    """Delete a helper pod now (no grace period: it holds nothing). False if it was gone."""
    return delete_pod(cluster, helper.pod, helper.namespace, grace_period_seconds=0)


def leftover_helpers(cluster: Cluster, namespace: str | None = None) -> list[dict[str, Any]]:
    """Helper pods that are not this process's: left by a run that was killed, or in use."""
    mine = holder()
    return [
        pod
        for pod in list_pods(cluster, HELPER_SELECTOR, namespace=namespace)
        if (pod["metadata"].get("annotations") or {}).get(HOLDER_ANNOTATION) != mine
    ]


def is_abandoned(pod: dict[str, Any], here: str | None = None) -> bool:
    """Was this helper pod made on this machine by a process that is gone? Pure but for
    /proc. A pod held by a live process (another run), or by another machine, is not ours
    to remove: it ends by itself at its deadline."""
    here = here or socket.gethostname()
    held = (pod["metadata"].get("annotations") or {}).get(HOLDER_ANNOTATION, "")
    host, _, pid = held.rpartition(" ")
    if host != here or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}")


def remove_leftovers(cluster: Cluster, node: str, namespace: str | None = None) -> list[str]:
    """Delete the helper pods on ``node`` that a killed run of this machine left."""
    removed = []
    for pod in leftover_helpers(cluster, namespace):
        on = (pod["metadata"].get("annotations") or {}).get(NODE_ANNOTATION)
        if on == node and is_abandoned(pod):
            name = pod["metadata"]["name"]
            delete_pod(cluster, name, pod["metadata"].get("namespace"), grace_period_seconds=0)
            removed.append(name)
    return removed
