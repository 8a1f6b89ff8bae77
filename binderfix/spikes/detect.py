"""Which time buckets are spikes, and which repositories make them. Pure code.

The rule, for the total and for each repository's own series alike: a bucket is a spike
when its count is at least ``min_count``, at least ``ratio`` times the baseline, and above
``baseline + k * spread``, where the baseline is the median of the previous ``window``
buckets and the spread is the larger of 1.4826 * MAD (a robust standard deviation) and
sqrt(baseline) (the Poisson noise of counts). Medians ignore the spike itself and a few
earlier bursts; the sqrt term keeps a quiet, steady log from flagging its own noise. A
repository that is a small share of the traffic is judged on its own series, so a burst
that multiplies its rate is caught even when the total barely moves. Buckets with no
request at all are gaps in the log, not history. Consecutive spike buckets make one window.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from statistics import median

from binderfix.spikes.aggregate import Counts


@dataclass(frozen=True)
class Rule:
    window: int = 30  # buckets of history behind the baseline
    min_history: int = 5  # buckets needed before anything can be a spike
    k: float = 6.0
    ratio: float = 3.0
    min_count: int = 20

    def is_spike(self, count: int, history: list[int]) -> tuple[bool, float]:
        """(spike?, baseline) for one bucket given the buckets before it."""
        if len(history) < self.min_history:
            return False, 0.0
        recent = history[-self.window :]
        base = median(recent)
        mad = median(abs(x - base) for x in recent)
        spread = max(1.4826 * mad, math.sqrt(base), 1.0)
        spike = (
            count >= self.min_count
            and count >= self.ratio * max(base, 1.0)
            and count > base + self.k * spread
        )
        return spike, float(base)


@dataclass
class Window:
    start: int  # epoch seconds, the first bucket's start
    end: int  # the end of the last bucket
    requests: int
    baseline: float  # typical requests per bucket before it
    repos: list[tuple[str, int, float]] = field(default_factory=list)  # (repo, requests, share)
    flagged: list[str] = field(default_factory=list)  # repos whose own series spiked


def series(counts: Counts) -> list[tuple[int, int]]:
    """(bucket start, requests) for every bucket from the first to the last, gaps as zero."""
    if not counts.buckets:
        return []
    step = counts.bucket_seconds
    first, last = min(counts.buckets), max(counts.buckets)
    return [(b, counts.buckets.get(b, 0)) for b in range(first, last + step, step)]


def find_spikes(counts: Counts, rule: Rule | None = None) -> list[Window]:
    rule = rule or Rule()
    points = series(counts)
    if not points:
        return []
    # Buckets with no request at all are gaps in the log (a restart, a rotation, a stray
    # timestamp), not quiet minutes: baselines are taken over buckets that hold data only.
    live = [i for i, (_b, n) in enumerate(points) if n > 0]
    spiky: dict[int, set[str]] = {}
    baselines: dict[int, float] = {}

    def scan(values: list[int], repo: str | None) -> None:
        history: list[int] = []
        for i in live:
            bucket = points[i][0]
            spike, base = rule.is_spike(values[i], history[-rule.window :])
            if repo is None:
                baselines[bucket] = base
            if spike:
                spiky.setdefault(bucket, set())
                if repo is not None:
                    spiky[bucket].add(repo)
            history.append(values[i])

    scan([n for _b, n in points], None)
    # Each repository with enough traffic to matter, on its own series.
    for repo, total in counts.repos.items():
        if total >= rule.min_count:
            scan(
                [
                    counts.bucket_repos[b].get(repo, 0) if b in counts.bucket_repos else 0
                    for b, _n in points
                ],
                repo,
            )
    windows: list[Window] = []
    step = counts.bucket_seconds
    for bucket in sorted(spiky):
        if windows and windows[-1].end == bucket:
            w = windows[-1]
            w.end = bucket + step
        else:
            w = Window(
                start=bucket, end=bucket + step, requests=0, baseline=baselines.get(bucket, 0.0)
            )
            windows.append(w)
        w.requests += counts.buckets.get(bucket, 0)
        w.flagged = sorted(set(w.flagged) | spiky[bucket])
    for w in windows:
        in_window: Counter[str] = Counter()
        for bucket in range(w.start, w.end, step):
            in_window.update(counts.bucket_repos.get(bucket, {}))
        w.repos = [
            (repo, n, n / w.requests if w.requests else 0.0) for repo, n in in_window.most_common(5)
        ]
    return windows
