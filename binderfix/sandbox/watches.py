"""Watches and Leases in the sandbox's API, as the real API server serves them.

- ``GET ...?watch=true``: a chunked stream of ``{"type": ..., "object": ...}`` lines.
  Without a resourceVersion (or with "0") it starts with an ADDED event per object that
  matches, then follows; with one, it replays the changes after it from the history and
  follows. A resourceVersion older than the history kept is answered, as the real server
  does, with HTTP 200 and one ERROR event holding a 410 ``Expired`` Status
  (``too old resource version: 12 (345)``); the client relists. ``timeoutSeconds`` ends
  the stream cleanly. Label and field selectors apply to each event's object.
- Leases (coordination.k8s.io/v1): a create of an existing one is 409 AlreadyExists; an
  update (PUT) whose ``metadata.resourceVersion`` is not the stored one is 409 Conflict
  with the real server's message, so two candidates cannot both win an election.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp.web
import kmock
from kmock._internal import rendering

from binderfix.sandbox import selectors
from binderfix.sandbox.objects import LEASES

if TYPE_CHECKING:
    from binderfix.sandbox.apiserver import SandboxAPI

# How many changes the sandbox remembers for resuming watches (etcd keeps about 5 minutes).
HISTORY = 5000
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Change:
    revision: int
    resource: kmock.resource
    namespace: str | None
    kind: str  # ADDED, MODIFIED, DELETED
    body: str  # the object as JSON, frozen at this revision


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    from binderfix.sandbox.apiserver import status_body

    return status_body(code, reason, message)


def _reply(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(_status(code, reason, message), status=code)


async def serve_watch(
    api: SandboxAPI, request: rendering.Request, raw: aiohttp.web.BaseRequest
) -> aiohttp.web.StreamResponse:
    resource = request.resource
    assert resource is not None
    if resource not in api._get_resources():
        return _reply(
            404, "NotFound", f"the server could not find the requested resource ({raw.path})"
        )
    try:
        labels = selectors.parse_label_selector(raw.query.get("labelSelector", ""))
        fields = selectors.parse_field_selector(raw.query.get("fieldSelector", ""))
        timeout = float(raw.query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
    except (selectors.SelectorError, ValueError) as exc:
        return _reply(400, "BadRequest", str(exc))
    since = raw.query.get("resourceVersion", "")
    if since and not since.isdigit():
        return _reply(
            400, "BadRequest", f'resourceVersion: Invalid value: "{since}": must be a number'
        )

    def matches(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        return labels(meta.get("labels") or {}) and fields(obj)

    queue: asyncio.Queue[Change | None] = asyncio.Queue()
    first: list[bytes] = []
    expired = False
    if since in ("", "0"):
        start = api.revision
        for obj in api._select(request, raw):
            first.append(_line("ADDED", obj))
    elif int(since) < api.compacted:
        expired = True
        start = api.revision
    else:
        start = int(since)
        for change in api.history:
            if change.revision > start and change.resource == resource:
                obj = json.loads(change.body)
                if matches(obj):
                    first.append(_line(change.kind, obj))
        start = max(start, api.revision)
    api.watchers.add(queue)  # no await since the snapshot: nothing is missed or doubled
    try:
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"}
        )
        response.enable_chunked_encoding()
        await response.prepare(raw)
        if expired:
            status = _status(410, "Expired", f"too old resource version: {since} ({api.compacted})")
            await response.write(_line("ERROR", status))
            await response.write_eof()
            return response
        for line in first:
            await response.write(line)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                change = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            if change is None:  # the server restarts: the connection just drops
                if raw.transport is not None:
                    raw.transport.abort()
                return response
            if change.revision <= start or change.resource != resource:
                continue
            obj = json.loads(change.body)
            if matches(obj):
                await response.write(_line(change.kind, obj))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
    finally:
        api.watchers.discard(queue)


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def write_lease(
    api: SandboxAPI, request: rendering.Request, raw: aiohttp.web.BaseRequest
) -> aiohttp.web.Response:
    """Create (POST) or replace (PUT) a Lease, with the real server's concurrency rules."""

    body = request.data if isinstance(request.data, dict) else {}
    meta = dict(body.get("metadata") or {})
    name = request.name or meta.get("name") or ""
    namespace = request.namespace or meta.get("namespace")
    what = f'leases.coordination.k8s.io "{name}"'
    if not name:
        return _reply(
            422,
            "Invalid",
            "Lease.coordination.k8s.io is invalid: metadata.name: Required value: name or generateName is required",
        )
    current = api.live(LEASES, namespace, name)
    if request.method.name == "POST":
        if current is not None:
            return _reply(409, "AlreadyExists", f"{what} already exists")
        kind, code = "ADDED", 201  # namespace, uid and creation time: set as for any create
    else:
        if current is None:
            return _reply(404, "NotFound", f"{what} not found")
        stored = current.raw["metadata"]
        asked = meta.get("resourceVersion")
        if asked and asked != stored.get("resourceVersion"):
            return _reply(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {what}: the object has been modified; "
                "please apply your changes to the latest version and try again",
            )
        meta.update(
            uid=stored.get("uid"),
            creationTimestamp=stored.get("creationTimestamp"),
            namespace=namespace,
        )
        kind, code = "MODIFIED", 200
    meta["name"] = name
    obj = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": body.get("spec") or {},
    }
    api.objects[LEASES, namespace, name] = obj  # a PUT replaces, it does not merge
    api.changed(LEASES, namespace, name, kind)
    return aiohttp.web.json_response(api.live(LEASES, namespace, name).raw, status=code)
