"""The watcher's decisions, as pure functions over plain data: no API, no clock, no node.

- :class:`Tracker`: which builder pods are not Ready, since when (the watch feeds it).
- :func:`due`: which of them have been not Ready for longer than the grace period.
- :func:`verdict`: what the socket path's state says about the cause, with the deploy's
  own plan (:func:`binderfix.dind.state.plan`), so the guards are the same.
- :func:`decide`: act, pretend (dry run), refuse (budget), or only report.
- :func:`budget_left`, :func:`backoff`: the hourly budget and the wait after a failure.
- :func:`lease_step`, :func:`still_leader`: the Lease election, as client-go does it
  (expiry judged from when *we* saw the record change, so clocks need not agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from binderfix.dind.paths import DEFAULT_ALLOWED
from binderfix.dind.state import PathState, plan
from binderfix.kube.lease import LeaseRecord
from binderfix.kube.model import BuilderPod

HOUR = 3600.0


@dataclass
class Seen:
    """A builder pod as last seen, and since when it has not been Ready (None: Ready)."""

    pod: BuilderPod
    uid: str
    not_ready_since: float | None


@dataclass
class Tracker:
    """The builder pods by name; memory stays bounded by how many exist, not by events."""

    pods: dict[str, Seen] = field(default_factory=dict)

    def observe(self, pod: BuilderPod, uid: str, now: float) -> None:
        before = self.pods.get(pod.name)
        if pod.healthy:
            since = None
        elif before is not None and before.uid == uid and before.not_ready_since is not None:
            since = before.not_ready_since  # still the same episode
        else:
            since = now
        self.pods[pod.name] = Seen(pod, uid, since)

    def forget(self, name: str) -> None:
        self.pods.pop(name, None)

    def relist(self, pods: Iterable[tuple[BuilderPod, str]], now: float) -> None:
        """Replace what is known with a fresh list; a pod's episode carries over."""
        old = self.pods
        self.pods = {}
        for pod, uid in pods:
            if pod.name in old:
                self.pods[pod.name] = old[pod.name]
            self.observe(pod, uid, now)


def due(
    tracker: Tracker, now: float, grace: float, handled: set[str], busy_nodes: set[str]
) -> list[Seen]:
    """Pods not Ready for longer than ``grace``, not yet handled (by uid), on free nodes;
    the longest waiting first, one per node."""
    found: dict[str, Seen] = {}
    for seen in sorted(tracker.pods.values(), key=lambda s: s.not_ready_since or 0.0):
        since = seen.not_ready_since
        if since is None or now - since < grace or seen.uid in handled:
            continue
        if seen.pod.node and seen.pod.node not in busy_nodes and seen.pod.node not in found:
            found[seen.pod.node] = seen
    return list(found.values())


@dataclass(frozen=True)
class Verdict:
    """What the node's socket path says: ``fix`` (the socket-path problem, fixable),
    ``refuse`` (it is the problem, but a guard forbids touching it), ``other`` (the path is
    fine: the pod fails for another reason), ``unknown`` (the node could not be read)."""

    kind: str
    detail: str


def verdict(
    state: PathState | None,
    path: str,
    force: bool = False,
    allowed: tuple[str, ...] = DEFAULT_ALLOWED,
    error: str = "",
) -> Verdict:
    if state is None:
        return Verdict("unknown", error or f"could not read {path}")
    todo = plan(state, path, force=force, allowed_prefixes=allowed)
    if todo.refusal:
        return Verdict("refuse", todo.refusal)
    if todo.changes:
        return Verdict("fix", f"{path}: {state.describe()}")
    return Verdict("other", f"{path}: {state.describe()}; the pod fails for another reason")


@dataclass(frozen=True)
class Decision:
    act: bool  # run the deploy's operation and kube step on the node
    reason: str  # the Event's reason
    warning: bool  # the Event's type
    result: str | None  # the metric's result label, None when nothing was attempted


REMEDIATED = "BinderfixRemediated"
FAILED = "BinderfixRemediationFailed"
WOULD = "BinderfixWouldRemediate"
REFUSED = "BinderfixRefused"
BUDGET = "BinderfixBudgetExhausted"
OTHER = "BinderfixNotTheSocket"
UNKNOWN = "BinderfixNodeUnreadable"


def decide(found: Verdict, dry_run: bool, budget: int) -> Decision:
    if found.kind == "other":
        return Decision(False, OTHER, True, None)
    if found.kind == "unknown":
        return Decision(False, UNKNOWN, True, None)
    if found.kind == "refuse":
        return Decision(False, REFUSED, True, "refused")
    if dry_run:
        return Decision(False, WOULD, False, None)
    if budget <= 0:
        return Decision(False, BUDGET, True, "refused")
    return Decision(True, REMEDIATED, False, None)  # the outcome sets result and reason


def budget_left(starts: Iterable[float], now: float, per_hour: int) -> int:
    """How many remediations the last hour leaves (``starts``: when each began)."""
    return per_hour - sum(1 for t in starts if now - t < HOUR)


def backoff(failures: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait after ``failures`` failures in a row: 0.5, 1, 2, ... up to ``cap``."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** (failures - 1))


def lease_step(record: LeaseRecord | None, me: str, observed_at: float, now: float) -> str:
    """``create`` (no Lease), ``renew`` (ours), ``take`` (released, or not renewed for a
    whole lease duration since we saw it change), or ``wait``."""
    if record is None:
        return "create"
    if record.holder == me:
        return "renew"
    if not record.holder or now - observed_at >= record.duration:
        return "take"
    return "wait"


def still_leader(last_renewed: float | None, now: float, duration: float) -> bool:
    """Act only while the last renewal is recent: stop well before another may take over."""
    return last_renewed is not None and now - last_renewed < duration * 2 / 3
