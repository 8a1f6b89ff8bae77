"""Remediating a 20-node sandbox, half of it broken: the deploy against a plain floor.

Floor (measured in the same run, on its own fresh sandbox): a parallel loop of
`ssh node rmdir /var/run/dind/docker.sock` and `kubectl delete pod` for each broken node,
the runbook by hand, scripted, with no checks and no waiting. The deploy does more: it
reads every node's state, shows nothing it need not change, waits for each replacement
pod to be Ready and checks the new socket.

    sudo .venv/bin/python -m benchmarks.bench_dind [--nodes 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SOCKET = "/var/run/dind/docker.sock"


def sandbox(directory: str, nodes: int) -> dict[str, str]:
    from binderfix.sandbox.cluster import Sandbox

    subprocess.run(
        [
            str(BIN / "binderfix"),
            "sandbox",
            "up",
            "--dir",
            directory,
            "--nodes",
            str(nodes),
            "--broken-nodes",
            str(nodes // 2),
            "--wait",  # the broken builders crash-loop, as they would when someone looks
        ],
        check=True,
        capture_output=True,
    )
    return {**os.environ, **Sandbox(directory).env(), "PATH": f"{BIN}:{os.environ['PATH']}"}


def broken_pods(env: dict[str, str]) -> list[tuple[str, str]]:
    out = subprocess.run(
        [
            "kubectl",
            "get",
            "pod",
            "-l",
            "component=image-builder",
            "--no-headers",
            "-o",
            "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,"
            "READY:.status.containerStatuses[0].ready",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        (name, node)
        for name, node, ready in (line.split() for line in out.splitlines())
        if ready != "true"
    ]


def floor(env: dict[str, str], ssh_config: str) -> float:
    targets = broken_pods(env)
    start = time.perf_counter()

    def fix(target: tuple[str, str]) -> None:
        pod, node = target
        subprocess.run(["ssh", "-F", ssh_config, node, "rmdir", SOCKET], check=True)
        subprocess.run(["kubectl", "delete", "pod", pod], env=env, check=True, capture_output=True)

    with ThreadPoolExecutor(len(targets)) as pool:
        list(pool.map(fix, targets))
    return time.perf_counter() - start


def deploy(env: dict[str, str], *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "pyinfra"), "inventories/kubectl.py", "deploys/dind.py", "-y", *extra],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    times = {}
    runs = {
        "floor": lambda env, d: floor(env, str(Path(d) / "ssh" / "config")),
        "deploy": lambda env, d: deploy(env),
        "limited": lambda env, d: deploy(env, "--limit", "unhealthy"),
    }
    for name, measure in runs.items():
        with tempfile.TemporaryDirectory() as tmp:
            d = str(Path(tmp) / "sb")
            try:  # `down` also when up or the measure fails: nothing is left running
                env = sandbox(d, args.nodes)
                times[name] = measure(env, d)
            finally:
                subprocess.run(
                    [str(BIN / "binderfix"), "sandbox", "down", "--dir", d], capture_output=True
                )
    print(f"nodes: {args.nodes}, broken: {args.nodes // 2}")
    print(f"floor (parallel ssh rmdir + kubectl delete pod): {times['floor']:.2f}s")
    print(f"pyinfra inventories/kubectl.py deploys/dind.py -y:  {times['deploy']:.2f}s")
    print(f"  ... --limit unhealthy:                             {times['limited']:.2f}s")
    print(
        f"ratio: {times['deploy'] / times['floor']:.2f}x the floor, "
        f"{times['limited'] / times['floor']:.2f}x with --limit unhealthy (target: within 2x)"
    )


if __name__ == "__main__":
    main()
