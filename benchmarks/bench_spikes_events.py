"""binderfix spikes on three days of mybinder.org's launch-events archive against
`grep -c` on the same files.

Generates --days daily files ``events-YYYY-MM-DD.jsonl`` of --per-day launch events each
(default 3 days of 103,680: 72 a minute, Poisson, version 6 with origin, ref, build_token
and request_origin, as the archive writes them), one repository flooding for 20 minutes on
the second day; then times, in the same run and with the files in the page cache, `grep -c
binderhub.jupyter.org/launch FILES` (counting the launch lines, the least any tool must do)
and the real CLI `binderfix spikes FILES --json` (the full report: repositories, members,
statuses, buckets, spikes by repository and by member), each the better of --runs runs,
and prints both times and their ratio.

    .venv/bin/python -m benchmarks.bench_spikes_events [--days 3] [--per-day 103680] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.bench_spikes import BIN, timed
from binderfix.spikes import events, synth

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def make_archive(directory: Path, days: int, per_day: int) -> list[Path]:
    """The daily files, reused if they are there already."""
    per_minute = max(per_day // 1440, 1)
    paths = []
    for day in range(days):
        when = START + dt.timedelta(days=day)
        path = directory / f"events-{when:%Y-%m-%d}.jsonl"
        paths.append(path)
        if path.exists():
            continue
        burst = synth.Burst(start_minute=600, minutes=20, per_minute=2 * per_minute)
        lines = events.generate(
            start=when,
            minutes=1440,
            per_minute=per_minute,
            burst=burst if day == 1 else None,
            seed=day,
        )
        path.write_text("\n".join(lines) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=103_680)
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--keep", help="write the archive in this directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        paths = make_archive(directory, args.days, args.per_day)
        names = [str(p) for p in paths]
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"archive: {len(paths)} files, {size:.0f} MB ({time.perf_counter() - started:.0f}s)")
        subprocess.run(["cat", *names], stdout=subprocess.DEVNULL, check=True)  # page cache
        grep_s, grep_out, _ = min(
            timed(["grep", "-c", "binderhub.jupyter.org/launch", *names]) for _ in range(args.runs)
        )
        ours_s, ours_out, peak_kib = min(
            timed([str(BIN / "binderfix"), "spikes", *names, "--json"]) for _ in range(args.runs)
        )
        launches = sum(int(line.rsplit(":", 1)[1]) for line in grep_out.split())
        report = json.loads(ours_out)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"grep -c: {grep_s:.2f}s ({launches} launch lines)")
        print(
            f"binderfix spikes --json: {ours_s:.2f}s ({report['build_requests']} launches, "
            f"{len(report['spikes'])} spike window(s), "
            f"{len(report['origins']['spikes'])} by member), peak {peak_kib / 1024:.0f} MiB"
        )
        print(f"ratio: {ours_s / grep_s:.1f}x grep -c's time")
        assert report["build_requests"] == launches, "counts differ from grep's"


if __name__ == "__main__":
    main()
