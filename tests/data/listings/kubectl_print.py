"""Print the listing fixtures with the real kubectl: ``.venv/bin/python tests/data/listings/kubectl_print.py``.

kubectl will not print a table from a local file (``get -f pods.json -o wide`` asks the API
server, and ``--local`` does not exist for ``get``), because the columns of ``-o wide`` are
computed by the API server (a ``meta.k8s.io/v1`` Table). So this script serves the pods
below on 127.0.0.1 as a tiny API server (discovery, pod lists as a Table or a PodList, a
``Warning`` header, a 403) and runs the real kubectl against it. kubectl lays the table
out: its tabwriter spacing, ``-A``, ``--show-labels``, ``--show-kind``, ``--no-headers``,
the two-word headers, and its own messages (``Warning: ...``, ``No resources found ...``,
``Error from server (Forbidden): ...``). The cells are computed here by ``pod_cells``, a
port of the API server's pod printer (``printPod`` in kubernetes'
``pkg/printers/internalversion/printers.go``), with a fixed clock so the ages are stable.

The pods are a mybinder-like GKE cluster: release ``prod`` (today's builder labels, every
builder state worth telling apart), pangeo's ``staging`` (the pre-2022 ``component=dind``
labels and the ``staging-dind-jxx6b 0/1 CrashLoopBackOff 2013`` pod from pangeo-binder 47),
a ``pink`` release and a 2i2c ``docker-api`` one, with hub, proxy, binder, user and build
pods around them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from binderfix.sandbox.tables import POD_COLUMNS, pod_row

HERE = Path(__file__).resolve().parent
KUBECTL = Path(sys.executable).parent / "kubectl"
NOW = dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)

Obj = dict[str, Any]


# -- the cluster ----------------------------------------------------------------------------


def ago(**delta: float) -> str:
    """An RFC 3339 timestamp ``delta`` before NOW."""
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def running(started: str) -> Obj:
    return {"running": {"startedAt": started}}


def waiting(reason: str) -> Obj:
    return {"waiting": {"reason": reason}}


def terminated(reason: str, code: int, finished: str) -> Obj:
    return {"terminated": {"reason": reason, "exitCode": code, "finishedAt": finished}}


def container(
    name: str,
    state: Obj,
    *,
    ready: bool = False,
    restarts: int = 0,
    last: Obj | None = None,
    image: str = "docker.io/library/docker:27.3.1-dind",
) -> Obj:
    return {
        "name": name,
        "image": image,
        "ready": ready,
        "restartCount": restarts,
        "started": "running" in state,
        "state": state,
        "lastState": last or {},
    }


def pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    node: str | None,
    ip: str | None,
    phase: str,
    containers: list[Obj],
    init: list[Obj] | None = None,
    age: dt.timedelta = dt.timedelta(days=8),
    deleting: bool = False,
    nominated: str | None = None,
    gates: list[tuple[str, bool]] | None = None,
    reason: str | None = None,
) -> Obj:
    """A Pod as the API serves it, with the fields kubectl's printer reads."""
    ready = bool(containers) and all(c["ready"] for c in containers)
    initialized = all(c["state"].get("terminated", {}).get("exitCode") == 0 for c in init or [])
    conditions = [
        {"type": "PodScheduled", "status": "True" if node else "False"},
        {"type": "Initialized", "status": "True" if initialized else "False"},
        {"type": "ContainersReady", "status": str(ready)},
        {"type": "Ready", "status": str(ready and all(ok for _, ok in gates or []))},
    ]
    conditions += [{"type": gate, "status": str(ok)} for gate, ok in gates or []]
    if not node:
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/6 nodes are available: 6 Insufficient memory.",
            }
        ]
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "creationTimestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{namespace}.{name}")),
    }
    if deleting:
        meta["deletionTimestamp"] = ago(seconds=20)
        meta["deletionGracePeriodSeconds"] = 30
    daemonset = labels.get("name") if labels.get("component") in ("image-builder", "dind") else None
    if labels.get("app.kubernetes.io/component") == "docker-api":
        daemonset = name.rsplit("-", 1)[0]
    if daemonset:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": daemonset, "controller": True}
        ]
    spec: Obj = {
        "containers": [{"name": c["name"], "image": c["image"]} for c in containers],
        "restartPolicy": "Always",
    }
    if init:
        spec["initContainers"] = [{"name": c["name"], "image": c["image"]} for c in init]
    if node:
        spec["nodeName"] = node
    if gates:
        spec["readinessGates"] = [{"conditionType": gate} for gate, _ in gates]
    status: Obj = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
    if node:
        status["hostIP"] = "10.128.0." + str(sum(map(ord, node)) % 200 + 2)
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    if init:
        status["initContainerStatuses"] = init
    if containers and node:
        status["containerStatuses"] = containers
    if nominated:
        status["nominatedNodeName"] = nominated
    if reason:
        status["reason"] = reason
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def builder_labels(release: str, kind: str = "dind", generation: str = "image-builder") -> Obj:
    """The labels of the chart's builder DaemonSet pods (``generation="dind"``: before 2022)."""
    labels = {
        "app": "binder",
        "component": generation,
        "controller-revision-hash": "6d4b5c7f9",
        "heritage": "Helm",
        "name": f"{release}-{kind}",
        "pod-template-generation": "3",
        "release": release,
    }
    return labels


def hub_labels(release: str, component: str) -> Obj:
    return {"app": "jupyterhub", "component": component, "heritage": "Helm", "release": release}


PROD_CORE = "gke-prod-core-pool-1a2b3c4d-9xyz"
PROD_USER = "gke-prod-user-pool-5e6f7a8b-{}"
STAGING = "gke-pangeo-staging-default-pool-8e2f1c3d-{}"
DIND = "docker.io/library/docker:27.3.1-dind"


def cluster() -> list[Obj]:
    """Every pod of the fixture cluster."""
    ok = {"ready": True}
    prod = builder_labels("prod")
    pods = [
        # -- prod: mybinder.org, today's labels --------------------------------------------
        pod(
            "binder-7d8f9c6b5-x2k4p",
            "prod",
            {"app": "binder", "component": "binder", "heritage": "Helm", "release": "prod"},
            node=PROD_CORE,
            ip="10.12.0.184",
            phase="Running",
            containers=[container("binder", running(ago(days=12)), **ok)],
            age=dt.timedelta(days=12),
        ),
        pod(
            "hub-5d8f7c9b6-q2wrt",
            "prod",
            hub_labels("prod", "hub"),
            node=PROD_CORE,
            ip="10.12.0.185",
            phase="Running",
            containers=[container("hub", running(ago(days=12)), **ok)],
            age=dt.timedelta(days=12),
        ),
        pod(
            "proxy-6c9d8b7f5-lmnpq",
            "prod",
            hub_labels("prod", "proxy"),
            node=PROD_CORE,
            ip="10.12.0.186",
            phase="Running",
            containers=[container("chp", running(ago(days=12)), **ok)],
            age=dt.timedelta(days=12),
            gates=[("cloud.google.com/load-balancer-neg-ready", True)],
        ),
        pod(
            "jupyter-ines-2dnotebooks-2dabc123",
            "prod",
            hub_labels("prod", "singleuser-server"),
            node=PROD_USER.format("abcd"),
            ip="10.12.3.7",
            phase="Running",
            containers=[container("notebook", running(ago(minutes=14)), **ok)],
            age=dt.timedelta(minutes=14),
        ),
        pod(
            "jupyter-wei-2dclimate-2dq9x7b2kd",
            "prod",
            hub_labels("prod", "singleuser-server"),
            node=None,
            ip=None,
            phase="Pending",
            containers=[container("notebook", {})],
            age=dt.timedelta(seconds=40),
            nominated=PROD_USER.format("efgh"),
        ),
        pod(
            "build-ines-2dnotebooks-5f3a2c-8d1-7b",
            "prod",
            {"component": "binderhub-build", "name": "build-ines-2dnotebooks-5f3a2c-8d1-7b"},
            node=PROD_USER.format("abcd"),
            ip="10.12.3.9",
            phase="Failed",
            containers=[container("builder", terminated("Error", 1, ago(minutes=3)))],
            age=dt.timedelta(minutes=6),
        ),
        pod(
            "image-awaiter-k2r9s",
            "prod",
            hub_labels("prod", "image-puller"),
            node=PROD_CORE,
            ip="10.12.0.190",
            phase="Succeeded",
            containers=[container("image-awaiter", terminated("Completed", 0, ago(days=12)))],
            age=dt.timedelta(days=12),
        ),
        pod(  # the runbook's case: the socket path is a directory, the builder crash-loops
            "prod-dind-rp7z8",
            "prod",
            prod,
            node=PROD_USER.format("abcd"),
            ip="10.12.3.2",
            phase="Running",
            containers=[
                container(
                    "dind",
                    waiting("CrashLoopBackOff"),
                    restarts=2013,
                    last=terminated("Error", 1, ago(minutes=4, seconds=12)),
                )
            ],
        ),
        pod(
            "prod-dind-t4k9q",
            "prod",
            prod,
            node=PROD_USER.format("efgh"),
            ip="10.12.4.2",
            phase="Running",
            containers=[
                container(
                    "dind",
                    running(ago(days=5)),
                    ready=True,
                    restarts=3,
                    last=terminated("Error", 1, ago(days=5)),
                )
            ],
        ),
        pod(
            "prod-dind-zz2bb",
            "prod",
            prod,
            node=PROD_USER.format("ijkl"),
            ip=None,
            phase="Pending",
            containers=[container("dind", waiting("ContainerCreating"))],
            age=dt.timedelta(seconds=3),
        ),
        pod(  # binderhub 1828's init container: rmdir refuses a non-empty directory
            "prod-dind-w8nrc",
            "prod",
            prod,
            node=PROD_USER.format("mnpq"),
            ip="10.12.6.2",
            phase="Pending",
            init=[
                container(
                    "rmdir-socket",
                    waiting("CrashLoopBackOff"),
                    restarts=7,
                    last=terminated("Error", 1, ago(seconds=90)),
                    image="docker.io/library/busybox:1.37",
                )
            ],
            containers=[container("dind", waiting("PodInitializing"))],
            age=dt.timedelta(minutes=16),
        ),
        pod(
            "prod-dind-m2vjc",
            "prod",
            prod,
            node=PROD_USER.format("uvwx"),
            ip="10.12.8.2",
            phase="Pending",
            init=[
                container(
                    "rmdir-socket",
                    running(ago(seconds=2)),
                    image="docker.io/library/busybox:1.37",
                )
            ],
            containers=[container("dind", waiting("PodInitializing"))],
            age=dt.timedelta(seconds=5),
        ),
        pod(  # between two crashes: the container has exited, the kubelet will restart it
            "prod-dind-c7fkd",
            "prod",
            prod,
            node=PROD_USER.format("yz12"),
            ip="10.12.9.2",
            phase="Running",
            containers=[
                container(
                    "dind",
                    terminated("Error", 1, ago(seconds=1)),
                    restarts=5,
                    last=terminated("Error", 1, ago(seconds=41)),
                )
            ],
            age=dt.timedelta(minutes=9),
        ),
        pod(
            "prod-dind-g5h2x",
            "prod",
            prod,
            node=PROD_USER.format("qrst"),
            ip="10.12.7.2",
            phase="Running",
            containers=[container("dind", running(ago(days=8)), ready=True)],
            deleting=True,
        ),
        pod(
            "prod-dind-x6qhv",
            "prod",
            prod,
            node=None,
            ip=None,
            phase="Pending",
            containers=[container("dind", {})],
            age=dt.timedelta(seconds=3),
        ),
        # -- staging: pangeo-binder, labels from before late 2022 ----------------------------
        pod(
            "hub-7f6d5c4b3-v8wzn",
            "staging",
            hub_labels("staging", "hub"),
            node=STAGING.format("k9m2"),
            ip="10.8.0.12",
            phase="Running",
            containers=[container("hub", running(ago(days=40)), **ok)],
            age=dt.timedelta(days=40),
        ),
        pod(  # pangeo-binder 47
            "staging-dind-jxx6b",
            "staging",
            builder_labels("staging", generation="dind"),
            node=STAGING.format("k9m2"),
            ip="10.8.1.3",
            phase="Running",
            containers=[container("dind", waiting("CrashLoopBackOff"), restarts=2013)],
            age=dt.timedelta(days=6, hours=20),
        ),
        pod(
            "staging-dind-9k2lp",
            "staging",
            builder_labels("staging", generation="dind"),
            node=STAGING.format("p3d7"),
            ip="10.8.2.3",
            phase="Running",
            containers=[container("dind", running(ago(days=40)), **ok)],
            age=dt.timedelta(days=40),
        ),
        # -- ovh: a pink (Podman) builder ----------------------------------------------------
        pod(
            "ovh-pink-7xk2m",
            "ovh",
            builder_labels("ovh", kind="pink"),
            node="ovh-node-b2-30-1",
            ip="10.2.1.5",
            phase="Running",
            containers=[container("pink", running(ago(days=3)), **ok)],
            age=dt.timedelta(days=3),
        ),
        pod(
            "ovh-pink-p4rzc",
            "ovh",
            builder_labels("ovh", kind="pink"),
            node="ovh-node-b2-30-2",
            ip="10.2.2.5",
            phase="Running",
            containers=[
                container(
                    "pink",
                    waiting("CrashLoopBackOff"),
                    restarts=48,
                    last=terminated("Error", 125, ago(minutes=2, seconds=5)),
                )
            ],
            age=dt.timedelta(days=3),
        ),
        # -- showcase: 2i2c's binderhub-service chart, a docker-api DaemonSet -----------------
        pod(
            "binderhub-service-docker-api-5ht8q",
            "showcase",
            {
                "app.kubernetes.io/component": "docker-api",
                "app.kubernetes.io/instance": "binderhub-service",
                "app.kubernetes.io/name": "binderhub-service",
                "controller-revision-hash": "84c5d9f7b6",
                "pod-template-generation": "1",
            },
            node="gke-2i2c-user-pool-77aa88bb-h5dq",
            ip="10.4.3.11",
            phase="Running",
            containers=[container("docker-api", running(ago(days=21)), **ok)],
            age=dt.timedelta(days=21),
        ),
    ]
    return pods


# -- the pod printer: the sandbox API's own, at the fixed NOW ------------------------------


def pod_cells(p: Obj) -> list[str]:
    """The cells of `kubectl get pod -o wide`, as the sandbox API's printer makes them."""
    return pod_row(p, NOW)


# -- the API server -------------------------------------------------------------------------


class API(BaseHTTPRequestHandler):
    """Discovery and ``GET`` of pods: enough for ``kubectl get pod``."""

    pods: list[Obj] = []
    warning: str = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/api":
            return self._json({"kind": "APIVersions", "versions": ["v1"]})
        if url.path == "/apis":
            return self._json({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if url.path == "/api/v1":
            return self._json(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": "v1",
                    "resources": [
                        {
                            "name": "pods",
                            "singularName": "pod",
                            "namespaced": True,
                            "kind": "Pod",
                            "shortNames": ["po"],
                            "categories": ["all"],
                            "verbs": ["get", "list"],
                        }
                    ],
                }
            )
        namespace = parts[3] if len(parts) > 4 and parts[2] == "namespaces" else None
        if parts[-1] != "pods" and not (len(parts) == 6 and parts[4] == "pods"):
            return self._status(404, "NotFound", f"the server could not find {url.path}")
        if namespace == "locked":
            return self._status(
                403,
                "Forbidden",
                'pods is forbidden: User "system:serviceaccount:locked:binderfix" cannot list '
                'resource "pods" in API group "" in the namespace "locked"',
            )
        items = [p for p in self.pods if namespace in (None, p["metadata"]["namespace"])]
        if len(parts) == 6:
            items = [p for p in items if p["metadata"]["name"] == parts[5]]
            if not items:
                return self._status(404, "NotFound", f'pods "{parts[5]}" not found')
        query = parse_qs(url.query)
        if "labelSelector" in query:
            wanted = dict(s.split("=", 1) for s in query["labelSelector"][0].split(","))
            items = [p for p in items if wanted.items() <= p["metadata"]["labels"].items()]
        if "as=Table" in self.headers.get("Accept", ""):
            return self._json(
                {
                    "kind": "Table",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": "1"},
                    "columnDefinitions": POD_COLUMNS,
                    "rows": [
                        {
                            "cells": pod_cells(p),
                            "object": {
                                "kind": "PartialObjectMetadata",
                                "apiVersion": "meta.k8s.io/v1",
                                "metadata": p["metadata"],
                            },
                        }
                        for p in items
                    ],
                }
            )
        if len(parts) == 6:
            return self._json(items[0])
        return self._json(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        )

    def _json(self, body: Obj, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.warning:
            self.send_header("Warning", f'299 - "{self.warning}"')
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
        self._json(body | {"message": message, "reason": reason, "code": code}, code)


# -- the fixtures ---------------------------------------------------------------------------

# file name -> (kubectl arguments, also capture stderr as `2>&1` would, server warning)
FIXTURES: dict[str, tuple[list[str], bool, str]] = {
    "wide.txt": (["-n", "prod", "-o", "wide"], False, ""),
    "wide-labels.txt": (["-n", "prod", "-o", "wide", "--show-labels"], False, ""),
    "wide-no-headers.txt": (["-n", "prod", "-o", "wide", "--no-headers"], False, ""),
    "wide-all-namespaces.txt": (["-A", "-o", "wide"], False, ""),
    "wide-all-namespaces-labels.txt": (["-A", "-o", "wide", "--show-labels"], False, ""),
    "wide-all-namespaces-no-headers.txt": (["-A", "-o", "wide", "--no-headers"], False, ""),
    "wide-all-namespaces-labels-no-headers.txt": (
        ["-A", "-o", "wide", "--show-labels", "--no-headers"],
        False,
        "",
    ),
    "wide-labels-no-headers.txt": (
        ["-n", "prod", "-o", "wide", "--show-labels", "--no-headers"],
        False,
        "",
    ),
    "wide-label-columns.txt": (["-n", "prod", "-o", "wide", "-L", "release,name"], False, ""),
    "wide-show-kind.txt": (["-n", "staging", "-o", "wide", "--show-kind"], False, ""),
    "staging-wide.txt": (["-n", "staging", "-o", "wide"], False, ""),
    "narrow.txt": (["-n", "prod"], False, ""),
    "narrow-all-namespaces-no-headers.txt": (["-A", "--no-headers"], False, ""),
    "warning-wide.txt": (
        ["-n", "staging", "-o", "wide"],
        True,
        "pods in namespace staging are deprecated, move them to prod",
    ),
    "empty-namespace.txt": (["-n", "nobody", "-o", "wide"], True, ""),
    "forbidden.txt": (["-n", "locked", "-o", "wide"], True, ""),
    "pods.json": (["-A", "-o", "json"], False, ""),
    "pod.json": (["-n", "prod", "prod-dind-rp7z8", "-o", "json"], False, ""),
}


def kubectl(port: int, home: str, args: list[str], stderr_too: bool) -> str:
    config = Path(home) / "config"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "KUBECONFIG": str(config)}
    proc = subprocess.run(
        [str(KUBECTL), "get", "pod", *args, "--cache-dir", f"{home}/cache"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr_too else subprocess.PIPE,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and not stderr_too:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def print_fixtures(out: Path = HERE) -> list[str]:
    """Write every fixture of FIXTURES into ``out``; the names written."""
    # The API server lists by namespace, then name (its storage keys' order).
    API.pods = sorted(cluster(), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), API)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as home:
            for name, (args, stderr_too, warning) in FIXTURES.items():
                API.warning = warning
                (out / name).write_text(kubectl(server.server_port, home, args, stderr_too))
    finally:
        server.shutdown()
        server.server_close()
    return list(FIXTURES)


if __name__ == "__main__":
    for written in print_fixtures():
        print(f"wrote {written}")
