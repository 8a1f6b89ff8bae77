"""Listing then watching pods through the API's watch protocol, resourceVersion kept.

A watch is a long GET (``?watch=true&resourceVersion=N``) answering one JSON event a line.
Its callers keep the last resourceVersion seen and resume from it; the API answers a
version it no longer remembers with an ERROR event holding a ``410 Expired`` Status
(``too old resource version``), raised here as :class:`Expired`: list again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from binderfix.kube.client import Cluster, namespaced

Object = dict[str, Any]
# The API server ends a watch after timeoutSeconds; a watch then resumes from where it was.
WATCH_SECONDS = 240


class Expired(Exception):
    """The resourceVersion is older than what the API remembers (410): relist."""


@dataclass(frozen=True)
class Listing:
    items: list[Object]
    resource_version: str


def list_pods_at(cluster: Cluster, selector: str, fields: str = "") -> Listing:
    """The pods matching ``selector`` (and the field selector ``fields``, e.g.
    ``spec.nodeName=node-1``) and the resourceVersion the list was read at."""
    with cluster.errors(f"listing pods with {selector!r} in namespace {cluster.namespace!r}"):
        body = cluster.api.get_json(
            namespaced(cluster, None, "pods"),
            {"labelSelector": selector, "fieldSelector": fields},
            cluster.request_timeout,
        )
    return Listing(
        items=body.get("items") or [],
        resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
    )


def watch_pods(
    cluster: Cluster,
    selector: str,
    resource_version: str,
    seconds: int = WATCH_SECONDS,
    fields: str = "",
) -> Iterator[tuple[str, Object]]:
    """``(type, pod)`` for each change after ``resource_version`` (ADDED, MODIFIED, DELETED,
    BOOKMARK), until the API ends the watch. Raises :class:`Expired` on a 410, and a
    :class:`~binderfix.errors.BinderfixError` when the API cannot be reached or the stream
    breaks."""
    doing = f"watching pods with {selector!r} in namespace {cluster.namespace!r}"
    with cluster.errors(doing):
        response = cluster.api.request(
            "GET",
            namespaced(cluster, None, "pods"),
            {
                "labelSelector": selector,
                "fieldSelector": fields,
                "watch": True,
                "resourceVersion": resource_version,
                "allowWatchBookmarks": True,
                "timeoutSeconds": seconds,
            },
            # No read timeout beyond the watch's own: a quiet cluster sends nothing for minutes.
            timeout=(cluster.timeout, seconds + cluster.timeout),
        )
        try:
            for line in _lines(response):
                event = json.loads(line)
                kind, obj = event.get("type", ""), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired(obj.get("message") or "too old resource version")
                    raise _status_error(obj)
                yield kind, obj
        finally:
            response.release_conn()


def _lines(response: Any) -> Iterator[bytes]:
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _status_error(status: Object) -> Exception:
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=int(status.get("code") or 500), reason=status.get("reason") or "")
    exc.body = json.dumps(status)
    return exc


def resource_version(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
