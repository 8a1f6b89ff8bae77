"""Pods, nodes and services through the API: list, read, create, delete, and pods' logs.

Objects come back as plain JSON (``_preload_content=False``): binderfix turns them into its
own records anyway, and skipping the client's models means one odd object in a real cluster
cannot fail a whole listing. Every call carries the cluster's timeouts and turns what the
client raises into a :class:`~binderfix.errors.BinderfixError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from binderfix.kube.client import Cluster, api_message, status_of

Object = dict[str, Any]


def _items(response: Any) -> list[Object]:
    return json.loads(response.data).get("items") or []


def list_pods(
    cluster: Cluster, selector: str = "", fields: str = "", namespace: str | None = None
) -> list[Object]:
    """The pods matching a label and a field selector, server-side, sorted by name."""
    ns = namespace or cluster.namespace
    what = f"listing pods with {selector!r}" if selector else "listing pods"
    with cluster.errors(f"{what} in namespace {ns!r}"):
        response = cluster.core.list_namespaced_pod(
            ns,
            label_selector=selector,
            field_selector=fields,
            _preload_content=False,
            _request_timeout=cluster.request_timeout,
        )
        return sorted(_items(response), key=lambda p: p["metadata"]["name"])


def read_pod(cluster: Cluster, name: str, namespace: str | None = None) -> Object | None:
    """One pod, or None if there is no such pod."""
    from kubernetes.client.exceptions import ApiException

    ns = namespace or cluster.namespace
    with cluster.errors(f"reading pod {name} in namespace {ns!r}"):
        try:
            response = cluster.core.read_namespaced_pod(
                name, ns, _preload_content=False, _request_timeout=cluster.request_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(response.data)


def create_pod(cluster: Cluster, manifest: Object, namespace: str | None = None) -> Object:
    """Create a pod from a manifest; the API's refusal (admission, quota) is a BinderfixError
    that carries the API's own message."""
    ns = namespace or cluster.namespace
    name = manifest.get("metadata", {}).get("name", "")
    with cluster.errors(f"creating pod {name} in namespace {ns!r}"):
        response = cluster.core.create_namespaced_pod(
            ns, manifest, _preload_content=False, _request_timeout=cluster.request_timeout
        )
        return json.loads(response.data)


def delete_pod(
    cluster: Cluster,
    name: str,
    namespace: str | None = None,
    grace_period_seconds: int | None = None,
) -> bool:
    """Delete a pod; False if it was already gone (not an error: the goal is reached)."""
    from kubernetes.client.exceptions import ApiException

    ns = namespace or cluster.namespace
    kwargs: dict[str, Any] = {"_request_timeout": cluster.request_timeout}
    if grace_period_seconds is not None:
        kwargs["grace_period_seconds"] = grace_period_seconds
    with cluster.errors(f"deleting pod {name} in namespace {ns!r}"):
        try:
            cluster.core.delete_namespaced_pod(name, ns, _preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


def list_nodes(cluster: Cluster) -> list[Object]:
    with cluster.errors("listing nodes"):
        response = cluster.core.list_node(
            _preload_content=False, _request_timeout=cluster.request_timeout
        )
        return _items(response)


def read_node(cluster: Cluster, name: str) -> Object | None:
    """One Node, or None if the cluster has no such node."""
    from kubernetes.client.exceptions import ApiException

    with cluster.errors(f"reading node {name}"):
        try:
            response = cluster.core.read_node(
                name, _preload_content=False, _request_timeout=cluster.request_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(response.data)


def list_services(cluster: Cluster) -> list[Object]:
    with cluster.errors(f"listing services in namespace {cluster.namespace!r}"):
        response = cluster.core.list_namespaced_service(
            cluster.namespace, _preload_content=False, _request_timeout=cluster.request_timeout
        )
        return _items(response)


def pod_log(cluster: Cluster, name: str, container: str | None = None) -> str:
    """A (short) pod's whole log as text."""
    kwargs: dict[str, Any] = {"_request_timeout": cluster.stream_timeout}
    if container:
        kwargs["container"] = container
    with cluster.errors(f"reading pod {name}'s log"):
        return cluster.core.read_namespaced_pod_log(name, cluster.namespace, **kwargs)


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

    kwargs: dict[str, Any] = {
        "_preload_content": False,
        "_request_timeout": cluster.stream_timeout,
    }
    if since_seconds:
        kwargs["since_seconds"] = since_seconds
    if container:
        kwargs["container"] = container
    try:
        stream = cluster.core.read_namespaced_pod_log(name, cluster.namespace, **kwargs)
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
