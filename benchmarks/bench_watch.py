"""`binderfix watch`: how fast a broken builder is Ready again, and what a busy day costs.

1. Time to Ready (needs root, one sandbox of 3 nodes): a node's socket path is broken the
   kubelet's way and its builder pod replaced; the clock runs from the moment the new pod
   is seen not Ready to the moment a builder on that node is Ready again. Against, in the
   same run and on the same sandbox: the deploy run by hand on that one node
   (`pyinfra inventories/kubectl.py deploys/dind.py -y --limit NODE`), started the moment
   the pod is seen not Ready (an operator who was already looking). The watcher runs with
   `--grace 0`. Target: watcher / by hand <= 1.5.
2. Memory: a Watcher's tracker fed 20,000 pod updates (60 builder pods flapping, pods
   replaced now and then, as a busy day's watch stream brings them), through the same
   `on_event` the watch threads call; growth of traced Python memory and of RSS after a
   warm-up of 2,000 updates. Target: under 10 MB.

    sudo .venv/bin/python -m benchmarks.bench_watch [--rounds 3] [--updates 20000]
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
NODE = "node-2"


def _pods(box):  # noqa: ANN001, ANN202
    from binderfix.kube.builders import list_builder_pods
    from binderfix.kube.client import connect

    cluster = connect(kubeconfig=str(box.kubeconfig), namespace="prod")
    return {p.node: p for p in list_builder_pods(cluster, ("app=binder,component=image-builder",))}


def _node_sh(box, script: str) -> None:  # noqa: ANN001
    from binderfix.sandbox.cluster import node_exec

    node_exec(box.load().host(NODE).pid, ["sh", "-c", script])


def _break_and_time(box, env: dict[str, str], by_hand: bool) -> float:  # noqa: ANN001
    old = _pods(box)[NODE].name
    _node_sh(box, "p=/var/run/dind/docker.sock; rm -f $p; mkdir $p")
    subprocess.run(
        [str(BIN / "kubectl"), "delete", "pod", "-n", "prod", old, "--wait=false"],
        env=env,
        check=True,
        capture_output=True,
    )
    while True:  # the replacement appears, not Ready
        pod = _pods(box).get(NODE)
        if pod is not None and pod.name != old and not pod.healthy:
            break
        time.sleep(0.02)
    started = time.monotonic()
    new = pod.name
    if by_hand:
        subprocess.run(
            [str(BIN / "pyinfra"), "inventories/kubectl.py", "deploys/dind.py", "-y"]
            + ["--limit", NODE],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    while True:
        pod = _pods(box).get(NODE)
        if pod is not None and pod.name != new and pod.healthy:
            return time.monotonic() - started
        if time.monotonic() - started > 120:
            raise SystemExit("the node was not fixed within 120 s")
        time.sleep(0.02)


def time_to_ready(rounds: int) -> None:
    from binderfix.sandbox.cluster import Sandbox

    with tempfile.TemporaryDirectory() as tmp:
        d = str(Path(tmp) / "sb")
        subprocess.run(
            [str(BIN / "binderfix"), "sandbox", "up", "--dir", d, "--nodes", "3"]
            + ["--broken-nodes", "0"],
            check=True,
            capture_output=True,
        )
        box = Sandbox(d)
        env = {**os.environ, **box.env(), "PATH": f"{BIN}:{os.environ['PATH']}"}
        try:
            watcher = subprocess.Popen(
                [str(BIN / "binderfix"), "watch", "--grace", "0", "--metrics-port", "0"]
                + ["--max-per-hour", "100"],
                env=env,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(3)  # listed, and the Lease taken
            watched = [_break_and_time(box, env, by_hand=False) for _ in range(rounds)]
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=15)
            by_hand = [_break_and_time(box, env, by_hand=True) for _ in range(rounds)]
        finally:
            subprocess.run([str(BIN / "binderfix"), "sandbox", "down", "--dir", d])
    w, h = statistics.median(watched), statistics.median(by_hand)
    print(
        f"time to Ready, median of {rounds} (s): watcher --grace 0 {w:.2f}, "
        f"deploy by hand {h:.2f}, ratio {w / h:.2f}x (target <= 1.5x)"
    )
    print(
        f"  watcher: {', '.join(f'{x:.2f}' for x in watched)}; "
        f"by hand: {', '.join(f'{x:.2f}' for x in by_hand)}"
    )


def _template() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "prod-dind-00000",
            "namespace": "prod",
            "uid": "0",
            "resourceVersion": "1",
            "labels": {"app": "binder", "component": "image-builder", "name": "prod-dind"},
        },
        "spec": {"nodeName": "node-0", "containers": [{"name": "dind", "image": "docker:27"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "dind", "ready": True, "restartCount": 0, "state": {"running": {}}}
            ],
        },
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(updates: int) -> None:
    from binderfix.inventory.settings import Settings
    from binderfix.watch.loop import Options, Watcher

    selector = "app=binder,component=image-builder"
    watcher = Watcher(Settings(selectors=(selector,)), Options(identity="bench"), cluster=None)  # type: ignore[arg-type]
    base = _template()
    names = [f"prod-dind-{i:05d}" for i in range(60)]
    generation = [0] * 60

    def feed(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            k = i % 60
            obj = copy.deepcopy(base)
            meta = obj["metadata"]
            if i % 997 == 0:  # now and then a pod is replaced: DELETED, then a new one
                meta["name"], meta["uid"] = names[k], f"{k}-{generation[k]}"
                watcher.on_event(selector, "DELETED", obj)
                generation[k] += 1
                names[k] = f"prod-dind-{k:02d}{generation[k]:03d}"
            meta["name"], meta["uid"] = names[k], f"{k}-{generation[k]}"
            meta["resourceVersion"] = str(i)
            obj["spec"]["nodeName"] = f"node-{k}"
            ready = (i // 60) % 3 != 0
            obj["status"]["conditions"][0]["status"] = "True" if ready else "False"
            obj["status"]["containerStatuses"][0]["ready"] = ready
            obj["status"]["containerStatuses"][0]["restartCount"] = i // 60
            watcher.on_event(selector, "MODIFIED", obj)

    feed(2000, 0)  # warm-up: every pod known, caches filled
    gc.collect()
    tracemalloc.start()
    traced0 = tracemalloc.get_traced_memory()[0]
    rss0 = _rss_mb()
    started = time.perf_counter()
    feed(updates, 2000)
    took = time.perf_counter() - started
    gc.collect()
    traced = (tracemalloc.get_traced_memory()[0] - traced0) / 2**20
    tracemalloc.stop()
    rss = _rss_mb() - rss0
    print(
        f"memory after {updates} pod updates: traced growth {traced:.3f} MB, RSS growth "
        f"{rss:.2f} MB (target < 10 MB); {updates / took:,.0f} updates/s with tracing on; "
        f"{len(watcher.trackers[selector].pods)} pods tracked"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    memory(args.updates)
    if not args.memory_only:
        time_to_ready(args.rounds)


if __name__ == "__main__":
    main()
