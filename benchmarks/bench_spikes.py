"""binderfix spikes against the runbook's `grep '/build' FILE | wc -l`, and GoAccess.

Generates, in one run, logs of --lines lines each: ingress-nginx with 5%, 42% and 95% of
its lines /build requests (the /build-share sweep; thousands of distinct repositories, a
planted spike) and a mixed log, all five formats interleaved line by line, lines from a few
dozen bytes to kilobytes. With each file in the page cache it times, alternately, the
runbook's grep count and the real CLI `binderfix spikes FILE --json` (the full report),
--runs times each, and prints the medians, their ratio, the load average around them and
binderfix's peak memory (ru_maxrss of the child and the processes it waited for). GoAccess
(Debian's `goaccess`), when installed, reads the 42% log once in the same run, to JSON.

    .venv/bin/python -m benchmarks.bench_spikes [--lines 3000000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from operator import itemgetter
from pathlib import Path

from binderfix.spikes import synth
from binderfix.spikes.aggregate import CHUNK
from binderfix.spikes.formats import fast_pattern, mixed_pattern

BIN = Path(sys.executable).parent
GREP_TARGET, GOACCESS_TARGET = 1.5, 30.0
# name -> (formats, other requests per /build request, ragged lines)
LOGS = {
    "ingress-nginx, 5% /build": (("ingress-nginx",), 19.0, False),
    "ingress-nginx, 42% /build": (("ingress-nginx",), 1.38, False),
    "ingress-nginx, 95% /build": (("ingress-nginx",), 0.0526, False),
    "mixed: 5 formats interleaved, 42%, ragged": (synth.FORMATS, 1.38, True),
}
GOACCESS_LOG = "ingress-nginx, 42% /build"


def make_log(path: Path, lines: int, formats: tuple[str, ...], other: float, ragged: bool) -> None:
    """``lines`` lines: 300 builds a minute across 3,030 repositories, ``other`` other
    requests per build, one repository at twice the whole rate for 20 minutes, two thirds
    in; with several formats, each line's format drawn at random."""
    builds = 300
    minutes = max(int(lines / (builds * (1 + other))), 60)
    burst = synth.Burst(start_minute=minutes * 2 // 3, minutes=20, per_minute=builds * 2)
    streams = [
        synth.generate(
            fmt,
            minutes=minutes * 2,  # enough lines whatever the draw
            builds_per_minute=builds,
            burst=burst,
            seed=7 + n,
            other_per_build=other,
            more_repos=3000,
            ragged=ragged,
        )
        for n, fmt in enumerate(formats)
    ]
    rng = random.Random(7)
    with path.open("w") as fh:
        for _ in range(lines):
            fh.write(next(rng.choice(streams)) + "\n")


def timed(argv: list[str]) -> tuple[float, str, int, float]:
    """(seconds, standard output, peak resident KiB, CPU seconds) of one run of ``argv``
    (CPU: user and system time of it and of the processes it waited for)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        out.seek(0)
        return took, out.read().decode(), usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def compare(log: Path, runs: int) -> dict:
    """Medians of alternating runs of grep and binderfix on ``log`` (warm cache)."""
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # page cache
    load_before = os.getloadavg()[0]
    grep_times, ours_times, grep_cpu, ours_cpu, peak_kib = [], [], [], [], 0
    grep_out = ours_out = ""
    for _ in range(runs):
        took, grep_out, _kib, cpu = timed(
            ["sh", "-c", 'grep "/build" "$1" | wc -l', "sh", str(log)]
        )
        grep_times.append(took)
        grep_cpu.append(cpu)
        took, ours_out, kib, cpu = timed([str(BIN / "binderfix"), "spikes", str(log), "--json"])
        ours_times.append(took)
        ours_cpu.append(cpu)
        peak_kib = max(peak_kib, kib)
    report = json.loads(ours_out)
    assert report["build_lines"] == int(grep_out), "counts differ from grep's"
    return {
        "grep": statistics.median(grep_times),
        "ours": statistics.median(ours_times),
        "grep_cpu": statistics.median(grep_cpu),
        "ours_cpu": statistics.median(ours_cpu),
        "peak_kib": peak_kib,
        "build_lines": report["build_lines"],
        "requests": report["build_requests"],
        "load": (load_before, os.getloadavg()[0]),
    }


def regex_floor(log: Path, mixed: bool) -> float:
    """CPU seconds, on one core, of the least any CPython reading takes: the fast
    pattern's ``findall`` over every block (the /build lines only, for the mixed log) and
    one Counter of the paths found, with no other count."""
    pattern = mixed_pattern("ingress-nginx")[0] if mixed else fast_pattern("ingress-nginx")
    paths: Counter[bytes] = Counter()
    started = time.process_time()
    with log.open("rb") as fh:
        rest = b""
        while data := fh.read(CHUNK):
            cut = data.rfind(b"\n") + 1
            block, rest = b"\n" + rest + data[:cut], data[cut:]
            if mixed:
                lines = [line for line in block.split(b"\n") if b"/build" in line]
                block = b"\n" + b"\n".join(lines) + b"\n"
            paths.update(map(itemgetter(2), pattern.findall(block)))
    return time.process_time() - started


def goaccess(log: Path, tmp: Path) -> float | None:
    """Seconds GoAccess takes to read ``log`` into a JSON report, or None if not installed."""
    if shutil.which("goaccess") is None:
        return None
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)
    report = tmp / "goaccess.json"
    argv = ["goaccess", str(log), "--log-format=COMBINED", "--no-global-config"]
    took, _out, _kib, _cpu = timed([*argv, "--no-progress", "-o", str(report)])
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000, help="lines of each log")
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the median counts")
    parser.add_argument("--keep", help="write the logs in this folder and keep them (reused)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for n, (name, (formats, other, ragged)) in enumerate(LOGS.items()):
            paths[name] = folder / f"access-{n}-{args.lines}.log"
            if not paths[name].exists():
                started = time.perf_counter()
                make_log(paths[name], args.lines, formats, other, ragged)
                print(f"generated {name}: {time.perf_counter() - started:.0f}s", flush=True)
        print(f"machine: {os.cpu_count()} cores; medians of {args.runs} alternating runs")
        worst = 0.0
        for name, path in paths.items():
            r = compare(path, args.runs)
            ratio = r["ours"] / r["grep"]
            worst = max(worst, ratio)
            print(
                f"{name}: {args.lines} lines, {path.stat().st_size / 1e6:.0f} MB, "
                f"{r['build_lines']} /build lines, {r['requests']} requests; "
                f"load {r['load'][0]:.1f}->{r['load'][1]:.1f}\n"
                f"  grep '/build' | wc -l {r['grep']:.2f}s, binderfix spikes --json "
                f"{r['ours']:.2f}s: {ratio:.2f}x grep's time (target: at most {GREP_TARGET}x); "
                f"peak memory {r['peak_kib'] / 1024:.0f} MiB\n"
                f"  CPU time: grep and wc {r['grep_cpu']:.2f}s, binderfix {r['ours_cpu']:.2f}s "
                f"(on both cores, idle: at best {r['ours_cpu'] / 2 / r['grep_cpu']:.2f}x "
                f"grep's)",
                flush=True,
            )
            cpu = regex_floor(path, mixed=len(LOGS[name][0]) > 1)
            print(
                f"  floor of CPython: the regex alone (findall + one Counter) {cpu:.2f}s CPU, "
                f"{cpu / 2:.2f}s on both cores = {cpu / 2 / r['grep_cpu']:.2f}x grep's CPU time",
                flush=True,
            )
            if name == GOACCESS_LOG:
                took = goaccess(path, Path(tmp))
                if took is None:
                    print("  GoAccess: not installed (apt-get install goaccess), not measured")
                else:
                    print(
                        f"  GoAccess 1.7 --log-format=COMBINED to JSON: {took:.2f}s, binderfix "
                        f"{took / r['ours']:.1f}x faster (target: at least {GOACCESS_TARGET:.0f}x)",
                        flush=True,
                    )
        print(f"worst ratio to grep: {worst:.2f}x")


if __name__ == "__main__":
    main()
