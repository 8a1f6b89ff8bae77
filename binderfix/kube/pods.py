"""Pods, nodes and services through the API: list, read, create, delete, and pods' logs.

Objects come back as plain JSON (:mod:`binderfix.kube.rest`): binderfix turns them into its
own records anyway, and skipping the client's models means one odd object in a real cluster
cannot fail a whole listing. Every call carries the cluster's timeouts and turns what the
client raises into a :class:`~binderfix.errors.BinderfixError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from binderfix.kube.client import Cluster, api_message, namespaced, status_of
from binderfix.kube.rest import path

Object = dict[str, Any]


def _items(cluster: Cluster, resource: str, query: dict[str, Any] | None = None) -> list[Object]:
    return cluster.api.get_json(resource, query, cluster.request_timeout).get("items") or []


def _get_or_none(cluster: Cluster, resource: str) -> Object | None:
    """An object, or None when the API answers 404."""
    from kubernetes.client.exceptions import ApiException

    try:
        return cluster.api.get_json(resource, timeout=cluster.request_timeout)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def list_pods(
    cluster: Cluster, selector: str = "", fields: str = "", namespace: str | None = None
) -> list[Object]:
    """The pods matching a label and a field selector, server-side, sorted by name."""
    ns = namespace or cluster.namespace
    what = f"listing pods with {selector!r}" if selector else "listing pods"
    with cluster.errors(f"{what} in namespace {ns!r}"):
        pods = _items(
            cluster,
            namespaced(cluster, ns, "pods"),
            {"labelSelector": selector, "fieldSelector": fields},
        )
        return sorted(pods, key=lambda p: p["metadata"]["name"])


def read_pod(cluster: Cluster, name: str, namespace: str | None = None) -> Object | None:
    """One pod, or None if there is no such pod."""
    ns = namespace or cluster.namespace
    with cluster.errors(f"reading pod {name} in namespace {ns!r}"):
        return _get_or_none(cluster, namespaced(cluster, ns, "pods", name))


def create_pod(cluster: Cluster, manifest: Object, namespace: str | None = None) -> Object:
    """Create a pod from a manifest; the API's refusal (admission, quota) is a BinderfixError
    that carries the API's own message."""
    ns = namespace or cluster.namespace
    name = manifest.get("metadata", {}).get("name", "")
    with cluster.errors(f"creating pod {name} in namespace {ns!r}"):
        return cluster.api.send_json(
            "POST", namespaced(cluster, ns, "pods"), manifest, timeout=cluster.request_timeout
        )


def delete_pod(
    cluster: Cluster,
    name: str,
    namespace: str | None = None,
    grace_period_seconds: int | None = None,
) -> bool:
    """Delete a pod; False if it was already gone (not an error: the goal is reached)."""
    from kubernetes.client.exceptions import ApiException

    ns = namespace or cluster.namespace
    with cluster.errors(f"deleting pod {name} in namespace {ns!r}"):
        try:
            cluster.api.request(
                "DELETE",
                namespaced(cluster, ns, "pods", name),
                {"gracePeriodSeconds": grace_period_seconds},
                timeout=cluster.request_timeout,
            ).release_conn()
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


def list_nodes(cluster: Cluster) -> list[Object]:
    with cluster.errors("listing nodes"):
        return _items(cluster, "/api/v1/nodes")


def read_node(cluster: Cluster, name: str) -> Object | None:
    """One Node, or None if the cluster has no such node."""
    with cluster.errors(f"reading node {name}"):
        return _get_or_none(cluster, path("/api/v1/nodes", name))


def list_services(cluster: Cluster) -> list[Object]:
    with cluster.errors(f"listing services in namespace {cluster.namespace!r}"):
        return _items(cluster, namespaced(cluster, None, "services"))


def pod_log(cluster: Cluster, name: str, container: str | None = None) -> str:
    """A (short) pod's whole log as text."""
    with cluster.errors(f"reading pod {name}'s log"):
        response = cluster.api.request(
            "GET",
            namespaced(cluster, None, "pods", name, "log"),
            {"container": container},
            timeout=cluster.stream_timeout,
        )
        return response.data.decode("utf-8", "replace")


def follow_log(
    cluster: Cluster,
    name: str,
    consume: Callable[[Callable[[int], bytes]], None],
    since_seconds: int | None = None,
    container: str | None = None,
) -> str:
    """Stream a pod's log into ``consume`` (which is handed the stream's ``read1``).

    Returns "" when the whole log was read, else why it was not (what was read still
    counts): the pod went away, the stream was cut, or the API's own refusal."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    query = {"sinceSeconds": since_seconds or None, "container": container}
    try:
        stream = cluster.api.request(
            "GET",
            namespaced(cluster, None, "pods", name, "log"),
            query,
            timeout=cluster.stream_timeout,
        )
        try:
            consume(stream.read1)
        finally:
            stream.release_conn()
    except ApiException as exc:
        if exc.status == 404:
            return "gone while being read (404)"
        message = api_message(exc)
        return f"the API answered {status_of(exc)} {exc.reason}" + (
            f": {message}" if message else ""
        )
    except (HTTPError, OSError) as exc:
        return f"read stopped: {type(exc).__name__}"
    return ""
