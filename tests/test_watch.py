"""`binderfix watch` end to end on a sandbox: real watchers (processes), the sandbox's API
with watches, Leases and Events, real nodes whose socket path is broken for real."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import BINDERFIX, RunningSandbox, run, start_sandbox
from tests.helpers import (
    break_node,
    events,
    free_port,
    node_sh,
    path_state,
    reasons,
    replace_builder,
    wait_for,
)

pytestmark = pytest.mark.sandbox

GRACE = 1.0
LEASE = 3  # seconds: a short lease so that a takeover fits in a test


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """Three healthy nodes; each test breaks what it needs and leaves them healthy."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("watch") / "sandbox", nodes=3, broken=0)
    try:
        heal(sandbox)  # every builder Ready before the first test breaks one
        yield sandbox
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(sandbox.dir))


class Watcher:
    """One `binderfix watch` process, its log and its metrics."""

    def __init__(self, box: RunningSandbox, name: str, lease: str, *args: str) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = box.dir.parent / f"{name}-{lease}.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                BINDERFIX,
                "watch",
                "--grace",
                str(GRACE),
                "--lease-name",
                lease,
                "--lease-duration",
                str(LEASE),
                "--identity",
                name,
                "--metrics-port",
                str(self.port),
                *args,
            ],
            env=box.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )

    def lines(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def metrics(self) -> dict[str, float]:
        """`name{labels}` -> value, from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values

    def count(self, result: str) -> float:
        try:
            values = self.metrics()
        except OSError:  # not serving yet
            return 0.0
        return values.get(f'binderfix_remediations_total{{result="{result}"}}', 0.0)

    def leader(self) -> bool:
        try:
            return self.metrics().get("binderfix_leader") == 1.0
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log_file.close()
        return code, time.monotonic() - started


@pytest.fixture
def watchers(
    box: RunningSandbox, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []
    lease = request.node.name.replace("_", "-")[-40:].strip("-")

    def start(name: str, *args: str) -> Watcher:
        w = Watcher(box, name, lease, *args)
        started.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            w.stop(signal.SIGKILL)
        heal(box)


def heal(box: RunningSandbox) -> None:
    """Every node's socket path clean and every builder Ready again."""
    for node in ("node-1", "node-2", "node-3"):
        if "socket" not in path_state(box, node):
            node_sh(
                box,
                node,
                "p=/var/run/dind/docker.sock; rm -rf $p; [ -d /var/run/dind ] || "
                "{ rm -f /var/run/dind; mkdir -p /var/run/dind; }",
            )
            replace_builder(box, node)
    wait_for(
        lambda: (
            all(p.healthy for p in box.builder_pods().values()) and len(box.builder_pods()) == 3
        ),
        30,
        "every builder to be Ready",
    )


def leader_of(ws: list[Watcher]) -> Watcher:
    return wait_for(lambda: next((w for w in ws if w.leader()), None), 15, "a leader")


def test_two_watchers_fix_a_broken_node_exactly_once_then_stop_on_sigterm(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    a, b = watchers("watcher-a"), watchers("watcher-b")
    leader_of([a, b])
    time.sleep(0.5)
    assert sum(w.leader() for w in (a, b)) == 1, "exactly one leader"
    broken_at = time.monotonic()
    pod = break_node(box, "node-2")
    fixed = wait_for(
        lambda: (p := box.builder_pods().get("node-2")) and p.name != pod and p.healthy,
        GRACE + 30,
        "node-2's builder to be Ready again",
    )
    took = time.monotonic() - broken_at
    assert fixed
    assert "socket" in path_state(box, "node-2")
    time.sleep(GRACE + 1)  # a second watcher acting late would show now
    assert reasons(box, pod) == ["BinderfixRemediated"]
    assert a.count("success") + b.count("success") == 1
    assert a.count("failure") + b.count("failure") == 0
    # within grace plus one fix (the deploy on one node takes a few seconds here)
    assert took < GRACE + 20, took
    for w in (a, b):
        code, seconds = w.stop()
        assert code == 0 and seconds < 10, (code, seconds)
        said = [line["event"] for line in w.lines()]
        assert said[-1] == "stopped"
    remediated = [
        line for w in (a, b) for line in w.lines() if line.get("reason") == "BinderfixRemediated"
    ]
    assert len(remediated) == 1
    assert remediated[0]["node"] == "node-2" and remediated[0]["pod"] == pod


def test_the_other_watcher_takes_over_when_the_leader_is_killed(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    a, b = watchers("watcher-a"), watchers("watcher-b")
    first = leader_of([a, b])
    other = b if first is a else a
    first.stop(signal.SIGKILL)  # no release: the other must wait for the lease to expire
    wait_for(other.leader, LEASE * 3 + 5, "the other watcher to take the lease")
    pod = break_node(box, "node-1")
    wait_for(lambda: other.count("success") == 1, GRACE + 30, "the new leader to fix node-1")
    assert reasons(box, pod) == ["BinderfixRemediated"]
    assert "socket" in path_state(box, "node-1")


def test_the_watch_resumes_after_the_api_restarts(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a")
    leader_of([w])
    wait_for(lambda: any(line["event"] == "listed" for line in w.lines()), 10, "a listing")
    box.box.restart_api(down=2.0)
    time.sleep(3)
    assert w.proc.poll() is None, "the API being down must not end the watcher"
    wait_for(
        lambda: w.metrics().get("binderfix_watch_restarts_total", 0) >= 1, 20, "a watch restart"
    )
    said = [line["event"] for line in w.lines()]
    assert "watch interrupted" in said
    # The old resourceVersion is gone from the restarted API: 410, then a fresh list.
    wait_for(
        lambda: "watch expired, listing again" in [line["event"] for line in w.lines()],
        20,
        "the watcher to relist after 410",
    )
    pod = break_node(box, "node-3")
    wait_for(lambda: w.count("success") == 1, GRACE + 30, "the fix after the restart")
    assert reasons(box, pod) == ["BinderfixRemediated"]


def test_past_the_budget_it_only_reports(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a", "--max-per-hour", "0")
    leader_of([w])
    pod = break_node(box, "node-2")
    wait_for(lambda: reasons(box, pod), GRACE + 15, "an event on the pod")
    assert reasons(box, pod) == ["BinderfixBudgetExhausted"]
    assert w.count("refused") == 1 and w.count("success") == 0
    assert path_state(box, "node-2").startswith("directory")
    assert box.builder_pods()["node-2"].name == pod, "the pod was not replaced"


def test_dry_run_changes_nothing_and_says_what_it_would_do(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a", "--dry-run")
    leader_of([w])
    pod = break_node(box, "node-1")
    wait_for(lambda: reasons(box, pod), GRACE + 15, "an event on the pod")
    [event] = events(box, pod)
    assert event["reason"] == "BinderfixWouldRemediate"
    assert "would fix /var/run/dind/docker.sock: directory (empty)" in event["message"]
    time.sleep(1)
    assert path_state(box, "node-1").startswith("directory")
    assert box.builder_pods()["node-1"].name == pod
    assert w.count("success") == 0


def test_a_crash_loop_with_another_cause_is_reported_and_not_touched(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a")
    leader_of([w])
    # The socket path's parent is a file: the builder cannot start, but the socket path
    # itself is not the problem, so nothing may be changed.
    node_sh(box, "node-3", "rm -rf /var/run/dind && echo not-a-dir > /var/run/dind")
    old = replace_builder(box, "node-3")
    pod = wait_for(
        lambda: next(
            (p.name for n, p in box.builder_pods().items() if n == "node-3" and p.name != old),
            None,
        ),
        10,
        "a new builder pod",
    )
    wait_for(lambda: reasons(box, pod), GRACE + 20, "an event on the pod")
    [event] = events(box, pod)
    assert event["reason"] == "BinderfixNotTheSocket" and event["type"] == "Warning"
    assert "another reason" in event["message"]
    node_sh(box, "node-3", "test -f /var/run/dind")  # untouched
    assert w.count("success") == w.count("failure") == 0


def test_a_non_empty_directory_is_refused_and_the_event_says_so(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a")
    leader_of([w])
    pod = break_node(box, "node-2", contents="precious")
    wait_for(lambda: reasons(box, pod), GRACE + 15, "an event on the pod")
    [event] = events(box, pod)
    assert event["reason"] == "BinderfixRefused" and event["type"] == "Warning"
    assert "precious" in event["message"] and "refusing" in event["message"]
    assert w.count("refused") == 1
    node_sh(box, "node-2", "test -e /var/run/dind/docker.sock/precious")


def test_the_sandbox_api_answers_watches_and_leases_as_a_real_one(box: RunningSandbox) -> None:
    from binderfix.kube.client import connect
    from binderfix.kube.lease import Conflict, LeaseRecord, read_lease, write_lease
    from binderfix.kube.watch import Expired, list_pods_at, watch_pods

    cluster = connect(kubeconfig=str(box.box.kubeconfig), namespace="prod")
    listing = list_pods_at(cluster, "app=binder,component=image-builder")
    seen: list[tuple[str, str]] = []

    def follow() -> None:
        for kind, obj in watch_pods(
            cluster, "app=binder,component=image-builder", listing.resource_version, seconds=4
        ):
            seen.append((kind, obj["metadata"]["name"]))

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)
    old = replace_builder(box, "node-1")
    thread.join()
    assert ("DELETED", old) in seen and seen[1][0] == "ADDED"
    assert all(name.startswith("prod-dind-") for _kind, name in seen)  # the selector holds

    first = write_lease(cluster, "api-test", LeaseRecord(holder="a"), create=True)
    with pytest.raises(Conflict):
        write_lease(cluster, "api-test", LeaseRecord(holder="b"), create=True)
    write_lease(
        cluster,
        "api-test",
        LeaseRecord(holder="a", resource_version=first.resource_version),
        create=False,
    )
    with pytest.raises(Conflict):  # a stale update: someone wrote since
        write_lease(
            cluster,
            "api-test",
            LeaseRecord(holder="b", resource_version=first.resource_version),
            create=False,
        )
    assert read_lease(cluster, "api-test").holder == "a"
    # The real message text of a 409 Conflict
    out = box.kubectl(
        "get", "--raw", "/apis/coordination.k8s.io/v1/namespaces/prod/leases/api-test", check=False
    )
    assert '"holderIdentity":"a"' in out.stdout.replace(" ", "")

    box.box.restart_api(down=0.5)
    wait_for(lambda: _answers(cluster), 10, "the API to answer again after its restart")
    with pytest.raises(Expired, match="too old resource version"):
        list(watch_pods(cluster, "app=binder", listing.resource_version, seconds=1))
    heal(box)


def _answers(cluster) -> bool:  # noqa: ANN001
    from binderfix.errors import BinderfixError
    from binderfix.kube.watch import list_pods_at

    try:
        time.sleep(0.2)
        list_pods_at(cluster, "app=binder")
        return True
    except BinderfixError:
        return False


def test_metrics_listen_on_localhost_only_by_default(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a")
    leader_of([w])
    with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read().startswith(b"ok")
    out = subprocess.run(["ss", "-ltnH", f"sport = :{w.port}"], capture_output=True, text=True)
    assert [line.split()[3] for line in out.stdout.splitlines()] == [f"127.0.0.1:{w.port}"]
    names = set(w.metrics())
    assert {
        'binderfix_remediations_total{result="success"}',
        'binderfix_remediations_total{result="failure"}',
        'binderfix_remediations_total{result="refused"}',
        "binderfix_leader",
        "binderfix_watch_restarts_total",
        "binderfix_last_remediation_timestamp_seconds",
    } <= names


def test_max_parallel_fixes_two_broken_nodes_in_one_run(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    pods = [break_node(box, "node-1"), break_node(box, "node-3")]
    w = watchers("watcher-a", "--max-parallel", "2", "--grace", "0")
    wait_for(lambda: w.count("success") == 2, 40, "both nodes fixed")
    for pod in pods:
        assert reasons(box, pod) == ["BinderfixRemediated"]
    starts = [line for line in w.lines() if line["event"] == "remediating"]
    assert len({line["time"] for line in starts}) == 1, "one batch, not one node after the other"


def test_sigterm_during_a_fix_finishes_the_node_and_exits_cleanly(
    box: RunningSandbox, watchers: Callable[..., Watcher]
) -> None:
    w = watchers("watcher-a")
    leader_of([w])
    break_node(box, "node-2")
    wait_for(
        lambda: any(line["event"] == "remediating" for line in w.lines()), 20, "the fix to start"
    )
    code, seconds = w.stop(signal.SIGTERM)
    assert code == 0 and seconds < 10, (code, seconds)
    said = [line["event"] for line in w.lines()]
    assert said.index("stopping") < said.index("decision")  # the node was finished
    assert "socket" in path_state(box, "node-2")
    wait_for(lambda: box.builder_pods()["node-2"].healthy, 20, "the new builder to be Ready")
    assert said[-2:] == ["lease released", "stopped"]
