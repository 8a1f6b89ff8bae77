"""The watcher's decisions, without a cluster: when a node is due, what the path says,
what is done about it, the budget, the backoff and the Lease election."""

from __future__ import annotations

from binderfix.dind.state import PathState
from binderfix.kube.lease import LeaseRecord
from binderfix.kube.model import BuilderPod
from binderfix.watch import decide

PATH = "/var/run/dind/docker.sock"


def pod(name: str = "prod-dind-a", node: str = "node-1", ready: bool = False) -> BuilderPod:
    return BuilderPod(
        name=name,
        namespace="prod",
        node=node,
        phase="Running",
        ready=ready,
        restarts=3,
        reason="" if ready else "CrashLoopBackOff",
    )


def test_a_pod_is_due_only_after_the_grace_period_of_one_episode() -> None:
    tracker = decide.Tracker()
    tracker.observe(pod(), "uid-1", now=100.0)
    tracker.observe(pod(), "uid-1", now=150.0)  # still not Ready: the episode began at 100
    assert decide.due(tracker, 219.0, 120, set(), set()) == []
    assert [s.pod.name for s in decide.due(tracker, 221.0, 120, set(), set())] == ["prod-dind-a"]
    tracker.observe(pod(ready=True), "uid-1", now=222.0)
    tracker.observe(pod(), "uid-1", now=223.0)  # a new episode starts the clock again
    assert decide.due(tracker, 300.0, 120, set(), set()) == []


def test_a_replacement_pod_starts_its_own_episode_and_handled_pods_are_skipped() -> None:
    tracker = decide.Tracker()
    tracker.observe(pod(), "uid-1", now=0.0)
    assert decide.due(tracker, 10.0, 0, {"uid-1"}, set()) == []
    tracker.forget("prod-dind-a")
    tracker.observe(pod("prod-dind-b"), "uid-2", now=5.0)
    assert [s.uid for s in decide.due(tracker, 10.0, 0, {"uid-1"}, set())] == ["uid-2"]


def test_due_takes_one_pod_per_node_longest_waiting_first_and_skips_busy_nodes() -> None:
    tracker = decide.Tracker()
    tracker.observe(pod("b", "node-2"), "u2", now=2.0)
    tracker.observe(pod("a", "node-1"), "u1", now=1.0)
    tracker.observe(pod("c", "node-1"), "u3", now=3.0)
    assert [s.pod.name for s in decide.due(tracker, 10.0, 0, set(), set())] == ["a", "b"]
    assert [s.pod.name for s in decide.due(tracker, 10.0, 0, set(), {"node-1"})] == ["b"]


def test_a_relist_keeps_the_episode_and_drops_pods_that_are_gone() -> None:
    tracker = decide.Tracker()
    tracker.observe(pod("a"), "u1", now=1.0)
    tracker.observe(pod("gone", "node-2"), "u2", now=1.0)
    tracker.relist([(pod("a"), "u1")], now=50.0)
    assert set(tracker.pods) == {"a"}
    assert tracker.pods["a"].not_ready_since == 1.0


def test_the_verdict_uses_the_deploys_own_plan_and_guards() -> None:
    real = {"parent_real": "/run/dind", "prefix_real": "/run", "mounts": ()}
    empty = PathState(kind="directory", **real)
    full = PathState(kind="directory", entries=("keep",), entry_count=1, **real)
    assert decide.verdict(empty, PATH).kind == "fix"
    refused = decide.verdict(full, PATH)
    assert refused.kind == "refuse" and "keep" in refused.detail
    assert decide.verdict(full, PATH, force=True).kind == "fix"
    assert decide.verdict(PathState(kind="socket", **real), PATH).kind == "other"
    assert decide.verdict(PathState(kind="absent", **real), PATH).kind == "other"
    unread = decide.verdict(None, PATH, error="cannot connect over SSH")
    assert unread == decide.Verdict("unknown", "cannot connect over SSH")


def test_only_the_socket_problem_is_acted_on_and_only_within_budget() -> None:
    fix = decide.Verdict("fix", "x")
    assert decide.decide(fix, dry_run=False, budget=1) == decide.Decision(
        True, decide.REMEDIATED, False, None
    )
    assert decide.decide(fix, dry_run=True, budget=1).reason == decide.WOULD
    spent = decide.decide(fix, dry_run=False, budget=0)
    assert (spent.act, spent.reason, spent.result) == (False, decide.BUDGET, "refused")
    for kind, reason, result in (
        ("refuse", decide.REFUSED, "refused"),
        ("other", decide.OTHER, None),
        ("unknown", decide.UNKNOWN, None),
    ):
        d = decide.decide(decide.Verdict(kind, "x"), dry_run=False, budget=5)
        assert (d.act, d.reason, d.result) == (False, reason, result)
        assert d.reason.startswith("Binderfix")


def test_the_budget_counts_the_last_hour_only() -> None:
    assert decide.budget_left([], now=5000.0, per_hour=10) == 10
    assert decide.budget_left([1000.0, 2000.0, 4999.0], now=5000.0, per_hour=2) == 0
    assert decide.budget_left([1000.0, 1399.0, 4999.0], now=5000.0, per_hour=2) == 1


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [decide.backoff(n) for n in range(0, 5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert decide.backoff(50) == 30.0


def test_the_lease_is_taken_only_when_free_or_expired_as_we_observed_it() -> None:
    theirs = LeaseRecord(holder="other", duration=15, resource_version="7")
    assert decide.lease_step(None, "me", 0.0, 0.0) == "create"
    assert decide.lease_step(LeaseRecord(holder="me"), "me", 0.0, 100.0) == "renew"
    assert decide.lease_step(theirs, "me", observed_at=100.0, now=114.0) == "wait"
    assert decide.lease_step(theirs, "me", observed_at=100.0, now=115.0) == "take"
    assert decide.lease_step(LeaseRecord(holder=""), "me", 100.0, 100.0) == "take"


def test_a_leader_stops_acting_well_before_its_lease_could_be_taken() -> None:
    assert decide.still_leader(100.0, 109.0, 15)
    assert not decide.still_leader(100.0, 110.5, 15)
    assert not decide.still_leader(None, 0.0, 15)
