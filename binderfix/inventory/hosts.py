"""Turn builder pods into pyinfra hosts: one per node, named after the node.

The host data carries what the deploy needs (pod, status, socket path) and how to reach the
node (``ssh_hostname`` and friends, pyinfra's own keys). Groups: ``builders`` (every node
with a builder pod) and ``unhealthy`` (those whose builder is not Running and Ready), so
``--limit unhealthy`` narrows a run.
"""

from __future__ import annotations

import sys
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.inventory.settings import Settings, from_env
from binderfix.kube.model import BuilderPod

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
    context: str | None = None,
) -> dict[str, Any]:
    """pyinfra host data for the node running ``pod``."""
    data: dict[str, Any] = {
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
        "kube_context": context or settings.context,
        "binderfix_sudo": settings.use_sudo,
    }
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
        data["ssh_hostname"] = address
    for key, value in (
        ("ssh_user", settings.ssh_user),
        ("ssh_key", settings.ssh_key),
        ("ssh_port", settings.ssh_port),
        ("ssh_known_hosts_file", settings.ssh_known_hosts),
        ("ssh_config_file", settings.ssh_config),
    ):
        if value is not None:
            data[key] = value
    if settings.ssh_known_hosts:
        data["ssh_strict_host_key_checking"] = "yes"
    return data


def kubenode_data(node: str, settings: Settings) -> dict[str, Any]:
    """The @kubenode connector's host data for ``node`` (see binderfix.connectors.kubenode)."""
    return {
        "kubenode_node": node,
        "kubenode_context": settings.context,
        "kubenode_namespace": settings.node_namespace or settings.namespace,
        "kubenode_image": settings.node_image,
        "kubenode_start_timeout": settings.node_start_timeout,
    }


def host_name(node: str, settings: Settings) -> str:
    """The pyinfra host name: the node's, with the connector's prefix when it is not SSH."""
    return f"@kubenode/{node}" if settings.connect == "kubenode" else node


def build_groups(
    pods: list[BuilderPod], settings: Settings, addresses: dict[str, dict[str, str]]
) -> tuple[HostList, list[str]]:
    """``(builders, unhealthy)``: one host per node; an unhealthy pod wins over a healthy one."""
    by_node: dict[str, BuilderPod] = {}
    for pod in pods:
        current = by_node.get(pod.node)
        if current is None or (current.healthy and not pod.healthy):
            by_node[pod.node] = pod
    builders = [
        (host_name(node, settings), host_data(pod, settings, addresses))
        for node, pod in sorted(by_node.items())
    ]
    unhealthy = [
        host_name(node, settings) for node, pod in sorted(by_node.items()) if not pod.healthy
    ]
    return builders, unhealthy


def builder_groups(settings: Settings) -> tuple[HostList, list[str]]:
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
    return build_groups(pods, settings, addresses)


def inventory_groups() -> tuple[HostList, list[str]]:
    """What ``inventories/kubectl.py`` exposes. Exits with a clear message (status 2) on errors."""
    try:
        return builder_groups(from_env())
    except BinderfixError as exc:
        print(f"binderfix inventory: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        raise SystemExit(2) from None
