"""binderfix spikes on a large log against the runbook's `grep '/build' FILE | wc -l`.

Generates a log of --lines lines (default 3 million, about 600 MB, a third of them /build
requests, with a planted spike), then times, in the same run, grep's count and
`binderfix spikes FILE --json` (the full breakdown), each the better of two runs with the
file in the page cache, and prints the ratio and the peak memory (ru_maxrss of the children).

    .venv/bin/python -m benchmarks.bench_spikes [--lines 3000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from binderfix.spikes import synth

BIN = Path(sys.executable).parent


def make_log(path: Path, lines: int) -> None:
    builds = 300  # per minute; with two other requests per build: 900 lines a minute
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


def timed(argv: list[str], shell: bool = False) -> tuple[float, str, int]:
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        argv if not shell else argv[0], shell=shell, capture_output=True, text=True
    )
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, out.stdout, max(peak, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--keep", help="write the log here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(args.keep) if args.keep else Path(tmp) / "access.log"
        if not log.exists():
            started = time.perf_counter()
            make_log(log, args.lines)
            print(
                f"generated {args.lines} lines ({log.stat().st_size / 1e6:.0f} MB) in "
                f"{time.perf_counter() - started:.0f}s"
            )
        # Same footing for both: the file in the page cache, and the better of two runs each.
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)
        grep_s, grep_out, _ = min(
            timed([f"grep '/build' {log} | wc -l"], shell=True) for _ in range(2)
        )
        ours_s, ours_out, peak_kb = min(
            timed([str(BIN / "binderfix"), "spikes", str(log), "--json"]) for _ in range(2)
        )
        report = json.loads(ours_out)
        print(f"grep '/build' | wc -l: {grep_s:.2f}s ({grep_out.strip()} lines)")
        print(
            f"binderfix spikes --json: {ours_s:.2f}s ({report['grep_lines']} lines, "
            f"{report['build_requests']} /build requests, {len(report['spikes'])} spike window(s))"
        )
        print(f"ratio: {ours_s / grep_s:.1f}x grep's time (target: at most 3x)")
        print(
            f"peak memory of binderfix spikes: {peak_kb / 1024:.0f} MiB "
            f"for {log.stat().st_size / 1e6:.0f} MB of log"
        )
        assert report["grep_lines"] == int(grep_out), "counts differ from grep's"
        if args.keep:
            os.sync()


if __name__ == "__main__":
    main()
