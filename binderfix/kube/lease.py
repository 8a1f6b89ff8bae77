"""coordination.k8s.io/v1 Leases: read, create, replace with optimistic concurrency.

A replace carries the resourceVersion that was read; the API refuses it with
``409 Conflict`` when someone else wrote in between, raised here as :class:`Conflict`
(a create of a Lease that exists is one too). The election's decisions are pure code in
:mod:`binderfix.watch.decide`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from binderfix.kube.client import Cluster, namespaced

Object = dict[str, Any]


class Conflict(Exception):
    """Someone else wrote the Lease first (409): read it again."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says: who holds it, for how long, and the version it was read at."""

    holder: str = ""
    duration: int = 15
    renew_time: str = ""
    acquire_time: str = ""
    transitions: int = 0
    resource_version: str = ""

    @classmethod
    def from_object(cls, obj: Object) -> LeaseRecord:
        spec = obj.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration=int(spec.get("leaseDurationSeconds") or 15),
            renew_time=spec.get("renewTime") or "",
            acquire_time=spec.get("acquireTime") or "",
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str((obj.get("metadata") or {}).get("resourceVersion") or ""),
        )

    def spec(self) -> Object:
        return {
            "holderIdentity": self.holder or None,
            "leaseDurationSeconds": self.duration,
            "acquireTime": self.acquire_time or None,
            "renewTime": self.renew_time or None,
            "leaseTransitions": self.transitions,
        }


def micro_time(when: dt.datetime | None = None) -> str:
    """The API's MicroTime format: ``2026-12-03T08:50:00.123456Z``."""
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


COORDINATION = "/apis/coordination.k8s.io/v1"


def read_lease(cluster: Cluster, name: str) -> LeaseRecord | None:
    from kubernetes.client.exceptions import ApiException

    with cluster.errors(f"reading lease {name} in namespace {cluster.namespace!r}"):
        try:
            lease = cluster.api.get_json(
                namespaced(cluster, None, "leases", name, api=COORDINATION),
                timeout=cluster.request_timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return LeaseRecord.from_object(lease)


def write_lease(cluster: Cluster, name: str, record: LeaseRecord, create: bool) -> LeaseRecord:
    """Create the Lease, or replace it if it is still at ``record.resource_version``."""
    from kubernetes.client.exceptions import ApiException

    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": record.spec(),
    }
    if not create:
        body["metadata"]["resourceVersion"] = record.resource_version
    method, where = (
        ("POST", namespaced(cluster, None, "leases", api=COORDINATION))
        if create
        else ("PUT", namespaced(cluster, None, "leases", name, api=COORDINATION))
    )
    with cluster.errors(f"writing lease {name} in namespace {cluster.namespace!r}"):
        try:
            written = cluster.api.send_json(method, where, body, timeout=cluster.request_timeout)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(name) from None
            raise
        return LeaseRecord.from_object(written)
