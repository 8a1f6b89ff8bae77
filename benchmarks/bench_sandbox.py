"""How long `binderfix sandbox up` and `down` take, for 3 and for 50 nodes (needs root).

Baseline, measured in the same run: the bare floor of what `up` must do per node, creating
and deleting that many network namespaces with one `ip netns add`/`del` each, as a shell
script would. The ratio says how much the rest (veths, sshd, the API, the DaemonSet) costs.

    sudo .venv/bin/python -m benchmarks.bench_sandbox [--nodes 3 50]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def baseline(nodes: int) -> float:
    start = time.perf_counter()
    for i in range(nodes):
        subprocess.run(["ip", "netns", "add", f"bfxbench{i}"], check=True)
    for i in range(nodes):
        subprocess.run(["ip", "netns", "del", f"bfxbench{i}"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 50])
    args = parser.parse_args()
    print(
        f"{'nodes':>5}  {'up (s)':>7}  {'down (s)':>8}  {'netns floor (s)':>15}  {'up+down / floor':>15}"
    )
    for n in args.nodes:
        with tempfile.TemporaryDirectory() as tmp:
            d = str(Path(tmp) / "sb")
            up = timed(
                [
                    str(BIN / "binderfix"),
                    "sandbox",
                    "up",
                    "--dir",
                    d,
                    "--nodes",
                    str(n),
                    "--broken-nodes",
                    str(max(1, n // 3)),
                ]
            )
            down = timed([str(BIN / "binderfix"), "sandbox", "down", "--dir", d])
        floor = baseline(n)
        print(f"{n:>5}  {up:>7.2f}  {down:>8.2f}  {floor:>15.2f}  {(up + down) / floor:>14.1f}x")


if __name__ == "__main__":
    main()
