"""The watcher: list and watch builder pods, hold the Lease, fix a node when it is due.

Threads: one watch per builder selector (feeding the :class:`~.decide.Tracker`), one for
the Lease, one for the metrics server; the main thread decides and does the node work,
so a signal finds it either between two nodes or inside one, which it then finishes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.inventory.settings import Settings
from binderfix.kube.client import Cluster
from binderfix.kube.model import from_pod_object
from binderfix.watch import decide
from binderfix.watch.metrics import Metrics

_LOG_LOCK = threading.Lock()
# How long the main loop may go without a heartbeat before /healthz says so.
HEARTBEAT_LIMIT = 60.0


@dataclass(frozen=True)
class Options:
    grace: float = 120.0
    max_parallel: int = 1
    max_per_hour: int = 10
    dry_run: bool = False
    lease_name: str = "binderfix-watch"
    lease_duration: int = 15
    identity: str = ""
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9101


def default_identity() -> str:
    """The pod's name in the cluster (the Deployment passes POD_NAME), else host and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def log(event: str, **fields: Any) -> None:
    """One structured line on standard error: what happened, to which node and pod."""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    text = json.dumps(line) + "\n"
    with _LOG_LOCK:  # several threads log: one whole line at a time
        sys.stderr.write(text)
        sys.stderr.flush()


class Watcher:
    def __init__(self, settings: Settings, options: Options, cluster: Cluster) -> None:
        self.settings = settings
        self.options = options
        self.cluster = cluster
        self.identity = options.identity or default_identity()
        self.metrics = Metrics()
        self.lock = threading.Lock()
        self.trackers = {s: decide.Tracker() for s in settings.selectors}
        self.handled: set[str] = set()  # pod uids examined, with an answer
        # pods whose node could not be read or fixed (same pod still there): uid -> (failures,
        # when to try again); a passing blip must not leave a broken node alone for good
        self.retry: dict[str, tuple[int, float]] = {}
        self.starts: deque[float] = deque(maxlen=max(options.max_per_hour, 1))
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.synced: set[str] = set()  # selectors listed at least once
        self.last_renewed: float | None = None
        self.heartbeat = time.monotonic()
        self.working_on: str = ""

    # -- the watch --------------------------------------------------------------------------

    def on_event(self, selector: str, kind: str, obj: dict[str, Any]) -> None:
        """One watch event into the tracker (also what the memory benchmark feeds)."""
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        pod = from_pod_object(obj)
        uid = (obj.get("metadata") or {}).get("uid") or ""
        with self.lock:
            tracker = self.trackers[selector]
            if kind == "DELETED":
                tracker.forget(pod.name)
                self.handled.discard(uid)
                self.retry.pop(uid, None)
            elif pod.node:
                tracker.observe(pod, uid, time.monotonic())
        self.wake.set()

    def relist(self, selector: str, items: list[dict[str, Any]]) -> None:
        pods = [(from_pod_object(o), (o.get("metadata") or {}).get("uid") or "") for o in items]
        with self.lock:
            self.trackers[selector].relist([(p, u) for p, u in pods if p.node], time.monotonic())
            alive = {u for t in self.trackers.values() for s in t.pods.values() for u in [s.uid]}
            self.handled &= alive  # uids of pods gone for good need no memory
            self.retry = {u: r for u, r in self.retry.items() if u in alive}
        self.synced.add(selector)
        self.wake.set()

    def watch_forever(self, selector: str) -> None:
        from binderfix.kube.watch import Expired, list_pods_at, resource_version, watch_pods

        version = ""
        failures = 0
        while not self.stop.is_set():
            try:
                if not version:
                    listing = list_pods_at(self.cluster, selector)
                    self.relist(selector, listing.items)
                    version = listing.resource_version
                    log("listed", selector=selector, pods=len(listing.items), version=version)
                for kind, obj in watch_pods(self.cluster, selector, version):
                    failures = 0
                    version = resource_version(obj) or version
                    self.on_event(selector, kind, obj)
                    if self.stop.is_set():
                        return
                # The API ended the watch (its timeout): resume from the version kept.
            except Expired as exc:
                self.metrics.watch_restarts.inc()
                log("watch expired, listing again", selector=selector, detail=str(exc))
                version = ""
            except (BinderfixError, ValueError, OSError) as exc:
                failures += 1
                wait = decide.backoff(failures)
                self.metrics.watch_restarts.inc()
                message = getattr(exc, "message", None) or str(exc)
                log("watch interrupted", selector=selector, error=message, retry_in=wait)
                self.stop.wait(wait)

    # -- the Lease --------------------------------------------------------------------------

    def elect_forever(self) -> None:
        from binderfix.kube.lease import Conflict, LeaseRecord, micro_time, read_lease, write_lease

        seen_version, seen_at = None, time.monotonic()
        period = max(0.2, self.options.lease_duration / 5)
        name, me = self.options.lease_name, self.identity
        was_leader = False
        while not self.stop.is_set():
            try:
                record = read_lease(self.cluster, name)
                now = time.monotonic()
                version = record.resource_version if record else None
                if version != seen_version:
                    seen_version, seen_at = version, now
                step = decide.lease_step(record, me, seen_at, now)
                stamp = micro_time()
                if step != "wait":
                    mine = LeaseRecord(
                        holder=me,
                        duration=self.options.lease_duration,
                        renew_time=stamp,
                        acquire_time=record.acquire_time if record and step == "renew" else stamp,
                        transitions=(record.transitions if record else 0)
                        + (1 if step == "take" else 0),
                        resource_version=record.resource_version if record else "",
                    )
                    write_lease(self.cluster, name, mine, create=step == "create")
                    self.last_renewed = time.monotonic()
            except Conflict:
                pass  # another candidate wrote first: read it again next round
            except BinderfixError as exc:
                log("lease not renewed", lease=name, error=exc.message)
            leader = self.is_leader()
            if leader != was_leader:
                log("leader" if leader else "not leader", lease=name, identity=me)
                was_leader = leader
            self.metrics.leader.set(1 if leader else 0)
            self.stop.wait(period)

    def is_leader(self) -> bool:
        return decide.still_leader(self.last_renewed, time.monotonic(), self.options.lease_duration)

    def release(self) -> None:
        """Hand the Lease back so that another watcher need not wait for it to expire."""
        from binderfix.kube.lease import LeaseRecord, read_lease, write_lease

        if self.last_renewed is None:
            return
        try:
            record = read_lease(self.cluster, self.options.lease_name)
            if record is not None and record.holder == self.identity:
                empty = LeaseRecord(
                    holder="",
                    duration=record.duration,
                    transitions=record.transitions,
                    resource_version=record.resource_version,
                )
                write_lease(self.cluster, self.options.lease_name, empty, create=False)
                log("lease released", lease=self.options.lease_name, identity=self.identity)
        except Exception as exc:  # noqa: BLE001 (shutting down: say it, do not fail)
            log("lease not released", error=str(exc))
        self.last_renewed = None
        self.metrics.leader.set(0)

    # -- deciding and acting ----------------------------------------------------------------

    def due(self) -> list[decide.Seen]:
        merged = decide.Tracker()
        with self.lock:
            for tracker in self.trackers.values():
                merged.pods.update(tracker.pods)
            now = time.monotonic()
            waiting = {u for u, (_n, when) in self.retry.items() if when > now}
            found = decide.due(merged, now, self.options.grace, self.handled | waiting, set())
        return found[: self.options.max_parallel]

    def try_again_later(self, seen: decide.Seen) -> None:
        """The node could not be read, or the fix failed before the pod was replaced."""
        with self.lock:
            self.handled.discard(seen.uid)
            failures = self.retry.get(seen.uid, (0, 0.0))[0] + 1
            wait = decide.backoff(failures, base=5.0, cap=300.0)
            self.retry[seen.uid] = (failures, time.monotonic() + wait)
        log("will look again", node=seen.pod.node, pod=seen.pod.name, retry_in=wait)

    def handle(self, batch: list[decide.Seen]) -> None:
        from binderfix.inventory.hosts import host_data, host_name
        from binderfix.watch.remedy import examine, fix

        addresses: dict[str, dict[str, str]] = {}
        if self.settings.connect == "ssh" and self.settings.ssh_address != "name":
            from binderfix.kube.builders import node_addresses

            addresses = node_addresses(self.cluster)
        hosts, by_host = [], {}
        for seen in batch:
            name = host_name(seen.pod.node, self.settings)
            hosts.append((name, host_data(seen.pod, self.settings, addresses)))
            by_host[name] = seen
            with self.lock:
                self.handled.add(seen.uid)
        self.working_on = ", ".join(s.pod.node for s in batch)
        found = examine(hosts)
        to_fix = []
        planned = 0
        for name, data in hosts:
            seen = by_host[name]
            what = found[name]
            v = decide.verdict(
                what.state, data["socket_path"], force=self.settings.force, error=what.error
            )
            left = decide.budget_left(self.starts, time.time(), self.options.max_per_hour)
            d = decide.decide(v, self.options.dry_run, left - planned)
            if d.act:
                planned += 1
                to_fix.append((name, data))
                continue
            message = {
                decide.OTHER: f"not touched: {v.detail}",
                decide.UNKNOWN: f"not touched: {v.detail}",
                decide.REFUSED: f"refused: {v.detail}",
                decide.WOULD: f"dry run: would fix {v.detail} and replace the pod",
                decide.BUDGET: f"would fix {v.detail}, but {self.options.max_per_hour} "
                "remediations in the last hour is the budget: only reporting",
            }[d.reason]
            self.report(seen, d.reason, message, d.warning, v.kind)
            if v.kind == "unknown":
                self.try_again_later(seen)
            if d.result:
                self.metrics.remediations.labels(d.result).inc()
        if to_fix:
            now = time.time()
            for _ in to_fix:
                self.starts.append(now)
            for name, _data in to_fix:
                log("remediating", node=by_host[name].pod.node, pod=by_host[name].pod.name)
            started = time.monotonic()
            outcome = fix(to_fix)
            took = time.monotonic() - started
            for name, data in to_fix:
                seen = by_host[name]
                if outcome[name]:
                    self.metrics.remediations.labels("failure").inc()
                    self.report(seen, decide.FAILED, outcome[name], True, "failure")
                    self.try_again_later(seen)  # a replaced pod is a new uid anyway
                else:
                    self.metrics.remediations.labels("success").inc()
                    self.report(
                        seen,
                        decide.REMEDIATED,
                        f"fixed {data['socket_path']} on {seen.pod.node} and replaced the "
                        f"builder pod ({took:.1f}s)",
                        False,
                        "success",
                    )
            self.metrics.last_remediation.set(time.time())
        self.working_on = ""

    def report(
        self, seen: decide.Seen, reason: str, message: str, warning: bool, outcome: str
    ) -> None:
        """An Event on the pod and a log line; the Event failing does not stop the watcher."""
        from binderfix.kube.events import create_event, event_object

        pod = {"name": seen.pod.name, "namespace": seen.pod.namespace, "uid": seen.uid}
        log(
            "decision",
            reason=reason,
            node=seen.pod.node,
            pod=seen.pod.name,
            outcome=outcome,
            message=message,
        )
        try:
            create_event(self.cluster, event_object(pod, reason, message, warning, self.identity))
        except BinderfixError as exc:
            log("event not recorded", pod=seen.pod.name, error=exc.message)

    # -- the whole --------------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        quiet = time.monotonic() - self.heartbeat
        if quiet > HEARTBEAT_LIMIT and not self.working_on:
            return False, f"the main loop has not run for {quiet:.0f}s"
        synced = len(self.synced) == len(self.trackers)
        role = "leader" if self.is_leader() else "standby"
        return True, f"ok ({role}, {'watching' if synced else 'listing'})"

    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._signalled)
        where = f"{self.options.metrics_address}:{self.options.metrics_port}"
        try:
            server = self.metrics.serve(
                self.options.metrics_address, self.options.metrics_port, self.healthy
            )
        except OSError as exc:
            raise BinderfixError(
                f"cannot serve metrics on {where}: {exc.strerror or exc}",
                hint="choose another --metrics-port (0: any free port) or --metrics-address",
            ) from None
        host, port = server.server_address[:2]
        log(
            "started",
            identity=self.identity,
            namespace=self.cluster.namespace,
            selectors=list(self.settings.selectors),
            grace=self.options.grace,
            dry_run=self.options.dry_run,
            metrics=f"http://{host}:{port}/metrics",
        )
        threads = [
            threading.Thread(target=self.watch_forever, args=(s,), name=f"watch {s}", daemon=True)
            for s in self.settings.selectors
        ]
        threads.append(threading.Thread(target=self.elect_forever, name="lease", daemon=True))
        for thread in threads:
            thread.start()
        try:
            while not self.stop.is_set():
                self.heartbeat = time.monotonic()
                self.wake.wait(0.5)
                self.wake.clear()
                if self.stop.is_set() or not self.is_leader():
                    continue
                batch = self.due()
                if batch:
                    try:
                        self.handle(batch)
                    except Exception as exc:  # noqa: BLE001 (a controller must not die of one node)
                        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                        log("node work failed", nodes=[s.pod.node for s in batch], error=message)
                        for seen in batch:
                            self.try_again_later(seen)
                        self.working_on = ""
        finally:
            self.stop.set()
            self.release()
            server.shutdown()
            log("stopped", identity=self.identity)
        return 0

    def _signalled(self, signum: int, _frame: object) -> None:
        if not self.stop.is_set():
            busy = f"; finishing {self.working_on} first" if self.working_on else ""
            log("stopping", signal=signal.Signals(signum).name + busy)
        self.stop.set()
        self.wake.set()


def run_watcher(settings: Settings, options: Options, connect: Callable[..., Cluster]) -> int:
    """The entry point: connect as the deploy does, then watch until a signal."""
    cluster = connect(context=settings.context, namespace=settings.namespace)
    return Watcher(settings, options, cluster).run()
