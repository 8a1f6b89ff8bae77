"""`binderfix check` across a federation against the same check run cluster by cluster.

Three sandbox clusters of 10 nodes (2 broken each), as one federation (one merged kubeconfig
and settings file, `binderfix sandbox env --dir A --dir B --dir C`). In the same run:
`binderfix check --all-contexts` once, and `binderfix check --context X` for each cluster
one after another. Target: the federation run at most 1.2x the slowest single cluster.

All clusters share this machine's two cores, where a real federation's live on machines of
their own: the same run also times the floor of the node work, parallel `ssh node test -d
P` to every node of one cluster and to every node of all of them, whose ratio is what the
shared cores alone add.

    sudo .venv/bin/python -m benchmarks.bench_federation [--clusters 3] [--nodes 10]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True)
    return time.perf_counter() - start


def ssh_all(dirs: list[str], nodes: int) -> float:
    """Parallel `ssh node test -d P` to every node of these sandboxes, timed."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["ssh", "-F", str(Path(d) / "ssh" / "config"), f"node-{i}", "test", "-d", SOCKET],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for d in dirs
        for i in range(1, nodes + 1)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


SOCKET = "/var/run/dind/docker.sock"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binderfix = str(BIN / "binderfix")
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [str(Path(tmp) / f"c{i}") for i in range(args.clusters)]
        try:
            for d in dirs:
                subprocess.run(
                    [binderfix, "sandbox", "up", "--dir", d, "--nodes", str(args.nodes),
                     "--broken-nodes", str(max(1, args.nodes // 5)), "--wait"],
                    check=True, capture_output=True,
                )  # fmt: skip
            printed = subprocess.run(
                [binderfix, "sandbox", "env", *(a for d in dirs for a in ("--dir", d))],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
            for line in printed.splitlines():
                if line.startswith("unset "):
                    for name in line.split()[1:]:
                        env.pop(name, None)
                else:
                    name, _, value = line.removeprefix("export ").partition("=")
                    env[name] = shlex.split(value)[0]
            print(f"load before: {os.getloadavg()[0]:.2f}")
            together, slowest, one_by_one, ssh_one, ssh_every = [], [], [], [], []
            for _ in range(args.rounds):  # alternate, so that load hits both alike
                together.append(timed([binderfix, "check", "--all-contexts"], env))
                singles = [
                    timed([binderfix, "check", "--context", Path(d).name], env) for d in dirs
                ]
                slowest.append(max(singles))
                one_by_one.append(sum(singles))
                ssh_one.append(ssh_all(dirs[:1], args.nodes))
                ssh_every.append(ssh_all(dirs, args.nodes))
            print(f"load after: {os.getloadavg()[0]:.2f}")
        finally:
            for d in dirs:
                subprocess.run([binderfix, "sandbox", "down", "--dir", d], capture_output=True)
    t, s, o, f1, fa = (
        statistics.median(x) for x in (together, slowest, one_by_one, ssh_one, ssh_every)
    )
    print(f"{args.clusters} clusters x {args.nodes} nodes, medians of {args.rounds} rounds")
    print(f"check --all-contexts:              {t:.2f}s")
    print(f"check per cluster, one after another: {o:.2f}s (slowest cluster {s:.2f}s)")
    print(
        f"ratio: {t / s:.2f}x the slowest single cluster (target at most 1.2x); {o / t:.1f}x faster than one by one"
    )
    print(
        f"floor on these shared cores: parallel ssh test to one cluster's {args.nodes} nodes "
        f"{f1:.2f}s, to all {args.clusters * args.nodes} {fa:.2f}s: {fa / f1:.2f}x"
    )


if __name__ == "__main__":
    main()
