"""What the Docker-in-Docker deploy reads from each host: the inventory's contract with it.

``binderfix.inventory`` fills these keys for every builder node (plus the route's own:
pyinfra's ``ssh_*``, or the ``kubenode_*`` keys of the @kubenode connector), and
:func:`binderfix.dind.deploy.remediate_dind` reads them. They live here, beside their reader,
so that the inventory depends on dind and not the other way round.
"""

from __future__ import annotations

from typing import TypedDict


class BuilderHostData(TypedDict):
    """The host data of a builder node, as the deploy, ``check`` and ``verify`` read it (plus
    pyinfra's own ``ssh_*`` keys, or the ``kubenode_*`` keys of the @kubenode connector).
    Each key is described in :data:`HOST_DATA`."""

    node: str
    pod_name: str
    namespace: str
    phase: str
    reason: str
    status: str
    ready: bool
    restarts: int
    healthy: bool
    builder_kind: str
    socket_path: str
    force: bool
    wait_timeout: float
    selectors: list[str]
    kube_context: str | None
    cluster: str
    binderfix_sudo: bool
    init_cleans_socket: bool


HOST_DATA: dict[str, str] = {
    "node": "the node's name (the host's name, unless a prefix or cluster is added)",
    "pod_name": "its builder pod (prod-dind-rp7z8)",
    "namespace": "the builder pod's namespace",
    "phase": "the pod's phase (Pending, Running, ...)",
    "reason": "the first container's waiting or terminated reason, if any",
    "status": "kubectl's STATUS column: the reason, else the phase",
    "ready": "whether the pod is Ready",
    "restarts": "the pod's container restarts",
    "healthy": "Running and Ready: the builder accepts builds",
    "builder_kind": "dind, pink or docker-api",
    "socket_path": "the socket path on the node (BINDERFIX_SOCKET_PATH, else the kind's)",
    "force": "remove a non-empty directory (BINDERFIX_FORCE)",
    "wait_timeout": "seconds the kube step waits for the replacement pod",
    "selectors": "the label selectors that find builder pods",
    "kube_context": "the kubeconfig context of its cluster",
    "cluster": "its cluster's name in a federation run, else empty",
    "binderfix_sudo": "whether node commands run with sudo",
    "init_cleans_socket": "the builder pod's chart rmdirs an empty socket path itself when the "
    "pod is created (its `filesystem` init container): deleting the pod suffices there",
}
