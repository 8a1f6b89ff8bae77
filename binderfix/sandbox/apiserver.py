"""The sandbox's Kubernetes API: kmock's KubernetesEmulator, taught what kubectl needs.

kmock keeps the objects and serves get, list, create and delete. This module adds what
the real API server does and kmock lacks:

- bearer-token authentication, and an audit log of every request (verb, resource,
  subresource), which the RBAC test compares with ``deploys/rbac.yaml``;
- ``labelSelector`` and ``fieldSelector`` on lists;
- server-side tables (``Accept: ...;as=Table``), so ``kubectl get pod -o wide`` prints the
  real columns;
- ``pods/log`` and ``pods/exec`` (websocket, channel protocols v4 and v5);
- a kubelet and a DaemonSet controller for the builder pods (:mod:`.kubelet`);
- resourceVersions and watches as the real API server has them (:mod:`.watches`): one
  revision counter for every change, lists that say where they stand, ``?watch=true`` from
  a resourceVersion (an ERROR event with a 410 ``Expired`` Status for one older than the
  history kept), Leases with optimistic concurrency (409 Conflict), Events, and a restart
  (``SIGUSR1``) that drops every watch, refuses connections for a while and forgets the
  history, as an API server whose watch cache starts afresh.

Run as ``python -m binderfix.sandbox.apiserver --sandbox DIR``; it reads ``DIR/state.json``
and writes the port it listens on to ``DIR/apiserver.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.test_utils
import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # the Request type kmock hands to handlers

from binderfix.sandbox import admission, netns, objects, rbac, selectors, tables, watches
from binderfix.sandbox.cluster import Sandbox
from binderfix.sandbox.kubelet import Kubelet
from binderfix.sandbox.objects import (
    DAEMONSETS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES_RES,
)
from binderfix.sandbox.state import SERVICES, State

_VERBS = {
    "LIST": "list",
    "WATCH": "watch",
    "FETCH": "get",
    "CREATE": "create",
    "UPDATE": "patch",
    "DELETE": "delete",
}


@attrs.define(kw_only=True)
class SandboxAPI(kmock.KubernetesEmulator):
    """kmock's emulator plus selectors, tables, logs, exec and authentication."""

    token: str = ""
    restricted_token: str = ""  # a ServiceAccount's, limited to restricted_rules
    restricted_rules: list[dict[str, Any]] = attrs.field(factory=list)
    audit_path: Path | None = None
    kubelet: Kubelet | None = None
    # Every change gets the next revision, as etcd's; the history serves watches that
    # resume from a resourceVersion, and what fell out of it is answered 410 Expired.
    revision: int = 1
    compacted: int = 1
    history: collections.deque[watches.Change] = attrs.field(
        factory=lambda: collections.deque(maxlen=watches.HISTORY)
    )
    watchers: set[asyncio.Queue[watches.Change | None]] = attrs.field(factory=set)

    def changed(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        kind: str = "MODIFIED",
        gone: dict[str, Any] | None = None,
    ) -> None:
        """Record a change: the object's next resourceVersion, and an event for watches."""
        self.revision += 1
        rv = str(self.revision)
        if kind == "DELETED":
            if gone is None:
                return
            raw = {**gone, "metadata": {**gone.get("metadata", {}), "resourceVersion": rv}}
        else:
            obj = self.live(resource, namespace, name)
            if obj is None:
                return
            obj.patch({"metadata": {"resourceVersion": rv}})
            raw = obj.raw
        change = watches.Change(self.revision, resource, namespace, kind, json.dumps(raw))
        if len(self.history) == self.history.maxlen:
            self.compacted = self.history[0].revision
        self.history.append(change)
        for queue in self.watchers:
            queue.put_nowait(change)

    def add_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        self.objects[PODS, namespace, pod["metadata"]["name"]] = pod
        self.changed(PODS, namespace, pod["metadata"]["name"], "ADDED")

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        obj = self.live(PODS, namespace, name)
        if obj is None:
            return False
        obj.patch(patch)
        self.changed(PODS, namespace, name)
        return True

    def forget_history(self) -> None:
        """After a restart the watch cache starts at the current revision."""
        self.history.clear()
        self.compacted = self.revision
        for queue in self.watchers:
            queue.put_nowait(None)  # a restart drops every watch

    def live(self, resource: kmock.resource, namespace: str | None, name: str | None) -> Any:
        """The stored object at that key if it exists and is not deleted (kmock's Object)."""
        key = (resource, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj

    def declare_resources(self) -> None:
        info = kmock.ResourceInfo
        self.resources["v1/pods"] = info(
            kind="Pod",
            singular="pod",
            namespaced=True,
            shortnames={"po"},
            verbs={"get", "list", "watch", "create", "delete", "patch"},
            categories={"all"},
        )
        self.resources["v1/nodes"] = info(
            kind="Node",
            singular="node",
            namespaced=False,
            shortnames={"no"},
            verbs={"get", "list", "watch"},
        )
        self.resources["v1/services"] = info(
            kind="Service",
            singular="service",
            namespaced=True,
            shortnames={"svc"},
            verbs={"get", "list", "watch"},
            categories={"all"},
        )
        self.resources["v1/namespaces"] = info(
            kind="Namespace",
            singular="namespace",
            namespaced=False,
            shortnames={"ns"},
            verbs={"get", "list"},
        )
        self.resources["apps/v1/daemonsets"] = info(
            kind="DaemonSet",
            singular="daemonset",
            namespaced=True,
            shortnames={"ds"},
            verbs={"get", "list", "watch"},
            categories={"all"},
        )
        self.resources["coordination.k8s.io/v1/leases"] = info(
            kind="Lease",
            singular="lease",
            namespaced=True,
            verbs={"get", "list", "watch", "create", "update", "delete"},
        )
        self.resources["v1/events"] = info(
            kind="Event",
            singular="event",
            namespaced=True,
            shortnames={"ev"},
            verbs={"get", "list", "watch", "create", "delete"},
        )

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            return await self._serve(request)
        finally:
            self._forget(request)

    def _forget(self, request: rendering.Request) -> None:
        """Drop an answered request from kmock's record. kmock keeps every request for a
        test's assertions, and matches each new one against that record: a long-lived
        sandbox slowed by 1 s per 20 helper pods made and grew without bound, where a real
        API server's cost per request stays flat. Only requests still being served stay."""
        for record in (self._requests, *(payload._requests for payload in self._payloads)):
            for at in range(len(record) - 1, -1, -1):
                if record[at] is request:
                    del record[at]
                    break

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        # The scheme is case-insensitive, as the real API server reads it (the client's
        # in-cluster configuration sends "bearer <token>").
        scheme, _, credential = raw.headers.get("Authorization", "").partition(" ")
        bearer = f"Bearer {credential}" if scheme.lower() == "bearer" else ""
        restricted = bool(self.restricted_token) and bearer == f"Bearer {self.restricted_token}"
        if self.token and bearer != f"Bearer {self.token}" and not restricted:
            return _status(401, "Unauthorized", "Unauthorized")
        attributes = _attributes(request)
        allowed = not restricted or rbac.allows(self.restricted_rules, attributes)
        self._audit(
            {**attributes, "user": "restricted" if restricted else "admin", "allowed": allowed}
        )
        if not allowed:
            user = 'User "system:serviceaccount:binderfix"'
            if "resource" not in attributes:
                message = (
                    f'forbidden: {user} cannot {attributes["verb"]} path "{attributes["path"]}"'
                )
            else:
                what = attributes["resource"] + (
                    f"/{attributes['subresource']}" if attributes["subresource"] else ""
                )
                message = (
                    f'{what} is forbidden: {user} cannot {attributes["verb"]} resource "{what}"'
                )
            return _status(403, "Forbidden", message)
        path = raw.path
        if path == "/api/v1" and request.method.name == "GET":
            return aiohttp.web.json_response(self._core_discovery())
        if path.startswith("/openapi/"):
            return _status(404, "NotFound", "the sandbox serves no OpenAPI document")
        if request.resource == PODS and request.subresource == "log":
            return await self._serve_log(request)
        if request.resource == PODS and request.subresource == "exec":
            return await self._serve_exec(request, raw)
        if request.action is not None and request.action.name == "WATCH" and request.resource:
            return await watches.serve_watch(self, request, raw)
        if (
            request.method.name == "POST"
            and request.resource is not None
            and request.subresource is None
            and isinstance(request.data, dict)
        ):
            mismatch = _as_created(request.data, request.namespace, pod=request.resource == PODS)
            if mismatch:
                return _status(400, "BadRequest", mismatch)
        if request.resource == LEASES and request.method.name in ("POST", "PUT"):
            return watches.write_lease(self, request, raw)
        if (
            request.name is None
            and request.method.name == "GET"
            and request.resource is not None
            and request.resource.plural
            and request.action is not None
            and request.action.name == "LIST"
        ):
            return self._serve_selected_list(request, raw)
        if (
            request.resource == PODS
            and request.method.name == "POST"
            and request.subresource is None
        ):
            namespace = self.live(NAMESPACES, None, request.namespace)
            if namespace is None:
                return _status(404, "NotFound", f'namespaces "{request.namespace}" not found')
            labels = (namespace.raw.get("metadata") or {}).get("labels") or {}
            refused = admission.refusal(request.data or {}, labels)
            if refused:
                return _status(403, "Forbidden", refused)
            response = await super()._handle(request)
            if response.status < 300 and isinstance(request.data, dict):
                self.changed(PODS, request.namespace, _name_of(request.data), "ADDED")
                if self.kubelet is not None:
                    self.kubelet.pod_created(request.data, request.namespace)
            return response
        deleted: dict[str, Any] | None = None
        if request.resource is not None and request.method.name == "DELETE" and request.name:
            obj = self.live(request.resource, request.namespace, request.name)
            deleted = obj.raw if obj is not None else None
        response = await super()._handle(request)
        if response.status < 300 and request.resource is not None:
            method = request.method.name
            if method == "POST" and isinstance(request.data, dict):
                namespace = request.namespace or request.data.get("metadata", {}).get("namespace")
                self.changed(request.resource, namespace, _name_of(request.data), "ADDED")
            elif method in ("PUT", "PATCH") and request.name:
                self.changed(request.resource, request.namespace, request.name)
            elif deleted is not None and request.name:
                self.changed(request.resource, request.namespace, request.name, "DELETED", deleted)
        if request.resource == PODS and deleted is not None and self.kubelet is not None:
            self.kubelet.pod_deleted(deleted)
        return response

    # -- what kmock lacks -------------------------------------------------------------------

    def _core_discovery(self) -> dict[str, Any]:
        resources = []
        for res in self._get_resources():
            if res.group != "" or res.version != "v1":
                continue
            info = self.resources[res]
            for sub in ["", *sorted(info.subresources)]:
                resources.append(
                    {
                        "name": f"{res.plural}/{sub}" if sub else res.plural,
                        "singularName": info.singular or "",
                        "namespaced": bool(info.namespaced),
                        "kind": info.kind,
                        "verbs": sorted(info.verbs) if not sub else ["create", "get"],
                        "shortNames": sorted(info.shortnames) if not sub else [],
                        "categories": sorted(info.categories) if not sub else [],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "v1",
            "resources": resources,
        }

    def _select(
        self, request: rendering.Request, raw: aiohttp.web.BaseRequest
    ) -> list[dict[str, Any]]:
        labels = selectors.parse_label_selector(raw.query.get("labelSelector", ""))
        fields = selectors.parse_field_selector(raw.query.get("fieldSelector", ""))
        found = []
        for (res, ns, _name), obj in self.objects.items():
            if res != request.resource or obj.deleted:
                continue
            if request.namespace is not None and ns != request.namespace:
                continue
            data = obj.raw
            if labels(data.get("metadata", {}).get("labels", {}) or {}) and fields(data):
                found.append(data)
        return sorted(
            found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    def _serve_selected_list(
        self, request: rendering.Request, raw: aiohttp.web.BaseRequest
    ) -> aiohttp.web.StreamResponse:
        assert request.resource is not None
        if request.resource not in self._get_resources():
            return _status(
                404, "NotFound", f"the server could not find the requested resource ({raw.path})"
            )
        try:
            items = self._select(request, raw)
        except selectors.SelectorError as exc:
            return _status(400, "BadRequest", str(exc))
        if "as=Table" in raw.headers.get("Accept", ""):
            body = tables.table(
                request.resource.plural or "", items, raw.query.get("includeObject", "Metadata")
            )
            return aiohttp.web.json_response(body)
        info = self.resources[request.resource]
        group = request.resource.group
        api_version = f"{group}/{request.resource.version}" if group else request.resource.version
        return aiohttp.web.json_response(
            {
                "kind": f"{info.kind}List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self.revision)},
                "items": items,
            }
        )

    def _pod(self, request: rendering.Request) -> dict[str, Any] | None:
        obj = self.live(PODS, request.namespace, request.name)
        return None if obj is None else obj.raw

    async def _serve_log(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        pod = self._pod(request)
        if pod is None:
            return _status(404, "NotFound", f'pods "{request.name}" not found')
        assert self.kubelet is not None and request._raw_request is not None
        query = request._raw_request.query
        lines = self.kubelet.logs(pod)
        if since := query.get("sinceSeconds"):
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(since))
            lines = [(ts, line) for ts, line in lines if ts >= cutoff]
        if tail := query.get("tailLines"):
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        with_ts = query.get("timestamps") == "true"
        text = "".join(
            f"{ts.isoformat().replace('+00:00', 'Z')} {line}\n" if with_ts else f"{line}\n"
            for ts, line in lines
        )
        if limit := query.get("limitBytes"):
            text = text.encode()[: int(limit)].decode(errors="ignore")
        return aiohttp.web.Response(text=text, content_type="text/plain")

    async def _serve_exec(
        self, request: rendering.Request, raw: aiohttp.web.BaseRequest
    ) -> aiohttp.web.StreamResponse:
        pod = self._pod(request)
        if pod is None:
            return _status(404, "NotFound", f'pods "{request.name}" not found')
        command = raw.query.getall("command", [])
        if not command:
            return _status(
                400, "BadRequest", "you must specify at least one command for the container"
            )
        if raw.headers.get("Upgrade", "").lower() != "websocket":
            return _status(400, "BadRequest", "the sandbox speaks the websocket exec protocol only")
        assert self.kubelet is not None
        target = self.kubelet.exec_target(pod)
        if target is None:
            return _status(
                400,
                "BadRequest",
                f"container of pod {request.name} is not running, cannot exec into it",
            )
        pid, env = target
        ws = aiohttp.web.WebSocketResponse(
            protocols=("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
        )
        await ws.prepare(raw)
        await _run_exec(
            ws,
            pid,
            env,
            command,
            want_stdin=raw.query.get("stdin") in ("true", "1"),
            session=self.kubelet.exec_session(pod["metadata"]["name"]),
        )
        return ws

    def _audit(self, entry: dict[str, Any]) -> None:
        if self.audit_path is not None:
            with self.audit_path.open("a") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")


def _as_created(body: dict[str, Any], namespace: str | None, pod: bool) -> str | None:
    """Set what the real API server sets on every object it creates, whatever the client
    sent: the namespace from the URL, a new uid, the creation time; a new pod's status is
    ``Pending`` until its kubelet reports. Returns the API's refusal when the body names
    another namespace than the URL."""
    meta = body.setdefault("metadata", {})
    if namespace is not None:
        if meta.get("namespace") not in (None, "", namespace):
            return (
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace
    meta.update(uid=objects.uid(), creationTimestamp=objects.now_iso())
    if pod:
        body["status"] = {"phase": "Pending"}
    return None


def _name_of(data: dict[str, Any]) -> str:
    return str((data.get("metadata") or {}).get("name") or "")


def _attributes(request: rendering.Request) -> dict[str, Any]:
    """What RBAC decides on: verb, API group, resource, subresource (or a non-resource path)."""
    raw = request._raw_request
    assert raw is not None
    if request.resource is None or not request.resource.plural:
        # /api/v1, /apis/apps/v1 (discovery) name a group and version, but no resource.
        return {"path": raw.path, "verb": raw.method.lower()}
    verb = (
        _VERBS.get(request.action.name, raw.method.lower())
        if request.action
        else raw.method.lower()
    )
    if raw.method == "PUT":
        verb = "update"  # RBAC's verb for a replace; PATCH is "patch"
    if request.subresource == "log":
        verb = "get"
    elif request.subresource == "exec":
        verb = "create"  # RBAC: exec is `create` on pods/exec, even over a websocket GET
    return {
        "verb": verb,
        "group": request.resource.group,
        "resource": request.resource.plural,
        "subresource": request.subresource or "",
        "namespace": request.namespace or "",
    }


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(status_body(code, reason, message), status=code)


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """The API's ``Status`` object for a failure."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


async def _run_exec(
    ws: aiohttp.web.WebSocketResponse,
    pid: int,
    env: dict[str, str],
    command: list[str],
    want_stdin: bool,
    session: set[asyncio.subprocess.Process],
) -> None:
    """Run ``command`` in the pod's namespaces and speak the channel protocol over ``ws``.
    The process is in ``session`` (the pod's exec sessions) while it runs: deleting the pod
    ends it, as a container runtime ends every process of a container it stops.

    Frames are binary, their first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 the
    final status (JSON), and in v5 255 "close stdin".
    """
    argv = netns.enter(pid, command, env)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: what the pod's deletion kills
        )
    except OSError as exc:
        await _send_status(ws, 126, str(exc))
        return
    session.add(proc)

    async def pump(stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(65536):
            await ws.send_bytes(bytes([channel]) + chunk)

    async def feed() -> None:
        assert proc.stdin is not None
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                break
            data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            if not data:
                continue
            if data[0] == 0:
                proc.stdin.write(data[1:])
                await proc.stdin.drain()
            elif data[0] == 255:  # v5: the client closed stdin
                break
        proc.stdin.close()

    assert proc.stdout is not None and proc.stderr is not None
    feeder = asyncio.create_task(feed()) if want_stdin else None
    try:
        await asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))
        code = await proc.wait()
    finally:
        session.discard(proc)
    code = 128 - code if code < 0 else code  # killed by a signal: 137 for SIGKILL, as kubectl says
    if feeder is not None:
        feeder.cancel()
    # "command terminated with non-zero exit code" is what kubectl prints for this status.
    await _send_status(ws, code, f"command terminated with non-zero exit code: exit status {code}")
    await ws.close()


async def _send_status(ws: aiohttp.web.WebSocketResponse, code: int, message: str) -> None:
    if code == 0:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    await ws.send_bytes(b"\x03" + json.dumps(status).encode())


# -- the cluster's objects ----------------------------------------------------------------------


def populate(api: SandboxAPI, state: State, kubelet: Kubelet) -> None:
    """Nodes, the namespace, the release's Services and DaemonSet, and the non-builder pods."""
    ns = state.namespace
    # The release's namespace runs the privileged dind DaemonSet, so it is labelled to allow
    # privileged pods; `default` keeps the admission default (baseline), as on most clusters.
    for name, labels in {"default": {}, ns: {admission.ENFORCE: "privileged"}}.items():
        api.objects[NAMESPACES, None, name] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": objects.meta(name, labels={"kubernetes.io/metadata.name": name, **labels}),
            "status": {"phase": "Active"},
        }
    for node in state.nodes:
        api.objects[NODES, None, node.name] = objects.node_object(node)
    by_role = {h.role: h for h in state.hosts}
    for svc, (role, ports) in SERVICES.items():
        api.objects[SERVICES_RES, ns, svc] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": objects.meta(
                svc,
                ns,
                {
                    "app": "binder" if role == "binder" else "jupyterhub",
                    "component": role,
                    "release": state.release,
                },
            ),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": by_role[role].ip,
                "selector": {"component": role},
                "ports": [
                    {"name": "http" if p != 8001 else "api", "port": p, "protocol": "TCP"}
                    for p in ports
                ],
            },
        }
    api.objects[DAEMONSETS, ns, f"{state.release}-dind"] = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            **objects.meta(
                f"{state.release}-dind", ns, {"app": "binder", "component": "image-builder"}
            ),
            "uid": kubelet.daemonset_uid,
        },
        "spec": {"selector": {"matchLabels": kubelet.builder_labels()}},
        "status": {"desiredNumberScheduled": len(state.nodes)},
    }
    kubelet.start_control_pods()
    kubelet.start_builders()


async def serve(sandbox: Sandbox) -> None:
    state = sandbox.load()
    if state is None:
        raise SystemExit(f"no sandbox state in {sandbox.dir}")
    manifest = sandbox.dir / "rbac.yaml"
    api = SandboxAPI(
        token=sandbox.secret("api-token"),
        audit_path=sandbox.dir / "logs" / "api-audit.jsonl",
        restricted_token=sandbox.secret("restricted-token") if manifest.exists() else "",
        restricted_rules=rbac.rules_from_manifest(manifest.read_text())
        if manifest.exists()
        else [],
    )
    api.declare_resources()
    kubelet = Kubelet(api=api, state=state, sandbox=sandbox)
    api.kubelet = kubelet
    stop = asyncio.Event()
    restart = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, restart.set)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(
        sandbox.dir / "secrets" / "apiserver.crt", sandbox.dir / "secrets" / "apiserver.key"
    )
    # kmock.Server cannot pass a TLS context down to aiohttp, so start aiohttp's server ourselves.
    server = aiohttp.test_utils.RawTestServer(api, host="127.0.0.1", port=0)
    async with api:
        # The real API server takes request lines up to 1 MiB (exec carries its command in the URL).
        await server.start_server(ssl=tls, max_line_size=1 << 20, max_field_size=1 << 16)
        try:
            populate(api, state, kubelet)
            (sandbox.dir / "apiserver.json").write_text(json.dumps({"port": server.port}))
            print(f"sandbox API listening on https://127.0.0.1:{server.port}", flush=True)
            while True:
                await _first(stop.wait(), restart.wait())
                if stop.is_set():
                    break
                restart.clear()
                # A restart, as a test asks for one (Sandbox.restart_api): every watch is
                # dropped, connections are refused for a while, and the history is gone.
                down = _restart_downtime(sandbox)
                print(f"sandbox API restarting: down for {down:.1f}s", flush=True)
                api.forget_history()
                port = server.port
                await server.close()
                await asyncio.sleep(down)
                api.forget_history()  # what changed while down is not in the new cache
                server = aiohttp.test_utils.RawTestServer(api, host="127.0.0.1", port=port)
                await server.start_server(ssl=tls, max_line_size=1 << 20, max_field_size=1 << 16)
                print("sandbox API back", flush=True)
            await kubelet.shutdown()
        finally:
            await server.close()


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def _restart_downtime(sandbox: Sandbox) -> float:
    try:
        return float(json.loads((sandbox.dir / "api-restart.json").read_text())["down"])
    except (OSError, ValueError, KeyError):
        return 2.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="binderfix.sandbox.apiserver")
    parser.add_argument("--sandbox", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(Sandbox(args.sandbox)))


if __name__ == "__main__":
    sys.exit(main())
