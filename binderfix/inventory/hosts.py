"""Turn builder pods into pyinfra hosts: one per node, named after the node.

The host data carries what the deploy needs (pod, status, socket path) and how to reach the
node (``ssh_hostname`` and friends, pyinfra's own keys). Groups: ``builders`` (every node
with a builder pod) and ``unhealthy`` (those whose builder is not Running and Ready), so
``--limit unhealthy`` narrows a run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from binderfix.dind.hostdata import BuilderHostData
from binderfix.errors import BinderfixError
from binderfix.inventory.settings import Settings
from binderfix.kube.model import BuilderPod

if TYPE_CHECKING:
    from binderfix.inventory.clusters import Member

HostList = list[tuple[str, dict[str, Any]]]


def read_builder_pods(settings: Settings) -> tuple[list[BuilderPod], dict[str, dict[str, str]]]:
    """The builder pods, from a saved listing or the API, and node addresses when needed."""
    if settings.listing:
        from binderfix.inventory.listing import parse_listing

        if settings.ssh_address != "name" and settings.connect == "ssh":
            raise BinderfixError(
                f"BINDERFIX_SSH_ADDRESS={settings.ssh_address} needs the Node objects, which a saved "
                "listing does not have",
                hint="unset BINDERFIX_SSH_ADDRESS to connect by node name, or read from the API",
            )
        text = sys.stdin.read() if settings.listing == "-" else _read(settings.listing)
        return parse_listing(text, namespace=settings.namespace), {}
    from binderfix.kube.builders import list_builder_pods, node_addresses
    from binderfix.kube.client import connect

    cluster = connect(context=settings.context, namespace=settings.namespace)
    pods = list_builder_pods(cluster, settings.selectors)
    by_address = settings.ssh_address != "name" and settings.connect == "ssh"
    addresses = node_addresses(cluster) if by_address and pods else {}
    return pods, addresses


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        raise BinderfixError(
            f"cannot read BINDERFIX_LISTING={path}: {exc.strerror}",
            hint="save one with: kubectl get pod -o wide > pods.txt",
        ) from None


def host_data(
    pod: BuilderPod,
    settings: Settings,
    addresses: dict[str, dict[str, str]],
    cluster: str | None = None,
) -> dict[str, Any]:
    """pyinfra host data for the node running ``pod`` (``cluster``: in a federation run):
    a :class:`BuilderHostData` and the keys of the route to the node."""
    data: BuilderHostData = {
        "node": pod.node,
        "pod_name": pod.name,
        "namespace": pod.namespace,
        "phase": pod.phase,
        "reason": pod.reason,
        "status": pod.status,
        "ready": pod.ready,
        "restarts": pod.restarts,
        "healthy": pod.healthy,
        "builder_kind": pod.kind,
        "socket_path": settings.socket_path or pod.default_socket_path(),
        "force": settings.force,
        "wait_timeout": settings.wait_timeout,
        "selectors": list(settings.selectors),
        "kube_context": settings.context,
        "cluster": cluster or "",
        "binderfix_sudo": settings.use_sudo,
        "init_cleans_socket": pod.init_cleans_socket,
    }
    route: dict[str, Any] = {}
    if settings.connect == "kubenode":
        return {**data, **kubenode_data(pod.node, settings)}
    if settings.ssh_address != "name":
        address = addresses.get(pod.node, {}).get(settings.ssh_address)
        if not address:
            if settings.ssh_address == "gce":
                raise BinderfixError(
                    f"node {pod.node} has no gce:// providerID, so no GKE instance name",
                    hint="BINDERFIX_SSH_ADDRESS=gce is for GKE nodes; use name, InternalIP or "
                    "ExternalIP elsewhere",
                )
            raise BinderfixError(
                f"node {pod.node} has no {settings.ssh_address} address",
                hint="set BINDERFIX_SSH_ADDRESS to another kind, or name",
            )
        route["ssh_hostname"] = address
    elif cluster:
        route["ssh_hostname"] = pod.node  # the host's name carries its cluster; SSH wants the node
    for key, value in (
        ("ssh_user", settings.ssh_user),
        ("ssh_key", settings.ssh_key),
        ("ssh_port", settings.ssh_port),
        ("ssh_known_hosts_file", settings.ssh_known_hosts),
        ("ssh_config_file", settings.ssh_config),
    ):
        if value is not None:
            route[key] = value
    if settings.ssh_known_hosts:
        route["ssh_strict_host_key_checking"] = "yes"
    return {**data, **route}


def kubenode_data(node: str, settings: Settings) -> dict[str, Any]:
    """The @kubenode connector's host data for ``node`` (see binderfix.connectors.kubenode)."""
    return {
        "kubenode_node": node,
        "kubenode_context": settings.context,
        "kubenode_namespace": settings.node_namespace or settings.namespace,
        "kubenode_image": settings.node_image,
        "kubenode_start_timeout": settings.node_start_timeout,
    }


def host_name(node: str, settings: Settings, cluster: str | None = None) -> str:
    """The pyinfra host name: the node's, after its cluster's name in a federation run
    (``gke/node-1``: every cluster has its own node-1), with the connector's prefix when it
    is not SSH."""
    name = f"{cluster}/{node}" if cluster else node
    return f"@kubenode/{name}" if settings.connect == "kubenode" else name


def build_groups(
    pods: list[BuilderPod],
    settings: Settings,
    addresses: dict[str, dict[str, str]],
    cluster: str | None = None,
) -> tuple[HostList, list[str]]:
    """``(builders, unhealthy)``: one host per node; an unhealthy pod wins over a healthy one."""
    by_node: dict[str, BuilderPod] = {}
    for pod in pods:
        current = by_node.get(pod.node)
        if current is None or (current.healthy and not pod.healthy):
            by_node[pod.node] = pod
    builders = [
        (host_name(node, settings, cluster), host_data(pod, settings, addresses, cluster))
        for node, pod in sorted(by_node.items())
    ]
    unhealthy = [
        host_name(node, settings, cluster)
        for node, pod in sorted(by_node.items())
        if not pod.healthy
    ]
    return builders, unhealthy


def builder_groups(settings: Settings, cluster: str | None = None) -> tuple[HostList, list[str]]:
    """``(builders, unhealthy)`` for these settings; finding no builder pod is an error, not
    an empty, healthy cluster (it almost always means the wrong namespace or labels)."""
    pods, addresses = read_builder_pods(settings)
    if not pods:
        where = (
            f"namespace {settings.namespace!r}" if settings.namespace else "the context's namespace"
        )
        source = settings.listing or f"the API ({where})"
        raise BinderfixError(
            f"no builder pods found in {source} with selectors {'; '.join(settings.selectors)}",
            hint="set BINDERFIX_NAMESPACE to the release's namespace, or BINDERFIX_SELECTOR to "
            "your builder pods' labels",
        )
    return build_groups(pods, settings, addresses, cluster)


def federation_groups(members: Sequence[Member], federated: bool) -> dict[str, Any]:
    """Groups ``builders``, ``unhealthy`` and one per cluster (in a federation run), read
    from every cluster at once. A cluster that cannot be read is named on stderr and stands
    in the run as one host that cannot connect (``@binderfix-cluster/NAME``), so pyinfra's
    own results name it and the run ends non-zero while the others are fixed."""
    from binderfix.inventory.clusters import for_each

    if not federated:
        builders, unhealthy = builder_groups(members[0].settings)
        return {"builders": builders, "unhealthy": unhealthy}
    groups: dict[str, Any] = {"builders": [], "unhealthy": []}
    for outcome in for_each(members, lambda m: builder_groups(m.settings, m.name)):
        name = outcome.member.name
        if outcome.error is not None:
            said = outcome.error.message + (
                f" (hint: {outcome.error.hint})" if outcome.error.hint else ""
            )
            print(f"binderfix inventory: cluster {name}: error: {said}", file=sys.stderr)
            stand_in = (f"@binderfix-cluster/{name}", {"binderfix_cluster_error": said})
            groups["builders"].append(stand_in)
            groups[name] = [stand_in[0]]
            continue
        builders, unhealthy = outcome.value or ([], [])
        groups["builders"] += builders
        groups["unhealthy"] += unhealthy
        groups[name] = [host for host, _data in builders]
    return groups


def inventory_groups() -> dict[str, Any]:
    """What ``inventories/kubectl.py`` exposes: group name -> hosts, for the clusters that
    ``BINDERFIX_CONTEXTS`` names (else the one cluster of the environment's settings).
    Exits with a clear message (status 2) on errors."""
    from binderfix.inventory.clusters import choose

    try:
        return federation_groups(*choose())
    except BinderfixError as exc:
        print(f"binderfix inventory: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        raise SystemExit(2) from None
