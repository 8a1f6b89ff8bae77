"""binderfix spikes on a large log against the runbook's `grep '/build' FILE | wc -l`.

Generates a log of --lines lines (default 3 million, about 660 MB, a third of them /build
requests, with a planted spike), then times, in the same run and with the file in the page
cache, the runbook's grep count and the real CLI `binderfix spikes FILE --json` (the full
report: repositories, statuses, clients, buckets, spikes), each the better of --runs runs,
and prints both times, their ratio and binderfix's peak memory (ru_maxrss of the child and
the processes it waited for).

    .venv/bin/python -m benchmarks.bench_spikes [--lines 3000000] [--runs 2] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from binderfix.spikes import synth

BIN = Path(sys.executable).parent


def make_log(path: Path, lines: int) -> None:
    """``lines`` lines of ingress-nginx log: 300 builds a minute, two other requests per
    build, and one repository at twice the whole rate for 20 minutes, two thirds in."""
    builds = 300
    minutes = max(lines // (builds * 3), 60)
    burst = synth.Burst(start_minute=minutes * 2 // 3, minutes=20, per_minute=builds * 2)
    with path.open("w") as fh:
        for n, line in enumerate(
            synth.generate(
                "ingress-nginx", minutes=minutes, builds_per_minute=builds, burst=burst, seed=7
            )
        ):
            if n >= lines:
                break
            fh.write(line + "\n")


def timed(argv: list[str]) -> tuple[float, str, int]:
    """(seconds, standard output, peak resident KiB) of one run of ``argv``."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        out.seek(0)
        return took, out.read().decode(), usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--keep", help="write the log here and keep it (reused if it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(args.keep) if args.keep else Path(tmp) / "access.log"
        if not log.exists():
            started = time.perf_counter()
            make_log(log, args.lines)
            print(
                f"generated {args.lines} lines ({log.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - started:.0f}s"
            )
        size = log.stat().st_size / 1e6
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # page cache
        grep_s, grep_out, _ = min(
            timed(["sh", "-c", 'grep "/build" "$1" | wc -l', "sh", str(log)])
            for _ in range(args.runs)
        )
        ours_s, ours_out, peak_kib = min(
            timed([str(BIN / "binderfix"), "spikes", str(log), "--json"]) for _ in range(args.runs)
        )
        report = json.loads(ours_out)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"grep '/build' | wc -l: {grep_s:.2f}s ({int(grep_out)} lines)")
        print(
            f"binderfix spikes --json: {ours_s:.2f}s ({report['build_lines']} lines, "
            f"{report['build_requests']} /build requests, {len(report['spikes'])} spike window(s))"
        )
        print(f"ratio: {ours_s / grep_s:.1f}x grep's time (target: at most 3x)")
        print(
            f"peak memory of binderfix spikes: {peak_kib / 1024:.0f} MiB for {size:.0f} MB of log"
        )
        assert report["build_lines"] == int(grep_out), "counts differ from grep's"


if __name__ == "__main__":
    main()
