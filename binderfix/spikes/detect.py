"""Which time buckets are spikes, and which repositories make them. Pure code.

See :class:`Rule` for the rule. It is applied to the total series and to each
repository's own series, so a burst that multiplies one repository's rate is caught even
when that repository is a small share of the traffic and the total barely moves.
Consecutive spike buckets make one :class:`Window`.

A log's time span is that of most of its lines (:func:`span`): a few lines dated far from
the rest (1970, 9999, a clock set wrong) are counted as outliers, not taken as the start or
the end of the log, so that they neither stretch the series nor move ``--since``'s end.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median

from binderfix.spikes.aggregate import Counts


@dataclass(frozen=True)
class Rule:
    """A bucket is a spike when its count n satisfies all of

        n >= min_count,  n >= ratio * max(B, 1),
        n > B + k * max(1.4826 * MAD, (sqrt(n) + sqrt(B)) / 2, 1)

    where B is the median and MAD the median absolute deviation of the previous
    ``window`` buckets (at least ``min_history`` of them) that hold any request and are not
    spikes themselves: an empty bucket is a gap in the log, not a quiet minute, and a
    burst is measured against what came before it, however long it lasts.

    The median ignores the odd busy bucket; 1.4826 * MAD is a robust standard deviation;
    (sqrt(n) + sqrt(B)) / 2 is the Poisson noise of counts, taken between the baseline and
    the count (k of it is k/2 on the square-root scale, where Poisson counts have a
    spread of one half), so that a steady log does not flag its own noise, small counts
    included. ``ratio`` and ``min_count`` keep a quiet log's ups and downs from counting.
    """

    window: int = 30
    min_history: int = 5
    k: float = 6.0
    ratio: float = 3.0
    min_count: int = 20

    def describe(self) -> str:
        """The rule with these knobs, in one paragraph for --help and reports."""
        return (
            f"a bucket is a spike when its count n is at least {self.min_count} (--min-count), "
            f"at least {self.ratio:g} (--ratio) times the baseline B, and above "
            f"B + {self.k:g} (--k) x max(1.4826 x MAD, (sqrt(n) + sqrt(B)) / 2, 1), "
            "where B and MAD are the "
            f"median and median absolute deviation of the previous {self.window} (--window) "
            f"buckets that hold any request and are no spike (at least {self.min_history}). "
            "Judged for the total and for each repository's own series; consecutive spike "
            "buckets make one window."
        )

    def baseline(self, history: list[int]) -> float | None:
        """B for a bucket with this history (oldest first), or None if it is too short."""
        recent = history[-self.window :]
        if len(recent) < self.min_history:
            return None
        return float(median(recent))

    def is_spike(self, count: int, history: list[int]) -> bool:
        """Is ``count`` a spike after ``history`` (the counts of the buckets before it)?"""
        if count < self.min_count:  # cheap, and true of most buckets
            return False
        recent = history[-self.window :]
        if recent and count < self.ratio * max(min(recent), 1):  # B >= min: cheap too
            return False
        base = self.baseline(history)
        if base is None or count < self.ratio * max(base, 1.0):
            return False
        recent = history[-self.window :]
        mad = median(abs(x - base) for x in recent)
        noise = (math.sqrt(count) + math.sqrt(base)) / 2
        return count > base + self.k * max(1.4826 * mad, noise, 1.0)


@dataclass
class Window:
    """Consecutive spike buckets: when, how many requests, and who made them."""

    start: int  # epoch seconds: the first bucket's start
    end: int  # the last bucket's end
    requests: int
    baseline: float  # the total's usual requests per bucket before it
    peak: int = 0  # requests in its busiest bucket
    repos: list[tuple[str, int, float, float]] = field(default_factory=list)
    # (repo, requests in the window, share of them, its usual requests per bucket before)
    flagged: list[str] = field(default_factory=list)  # repos whose own series spiked


MAX_POINTS = 100_000  # buckets in a series with its gaps; past it, the buckets with requests
FAR = 3  # spreads beyond the middle half of the buckets: far out (Tukey's fences)
MIN_SPREAD = 3600  # seconds: the spread of a log shorter than that is taken as an hour


@dataclass(frozen=True)
class Span:
    """The first and last bucket of a log's real span (None if it has no request), and the
    requests dated far outside it: ``outliers`` of them, in buckets from ``outlier_first``
    to ``outlier_last``."""

    first: int | None
    last: int | None
    outliers: int = 0
    outlier_first: int | None = None
    outlier_last: int | None = None


def span(counts: Counts) -> Span:
    """The span of the buckets holding requests, leaving out either tail if it lies more
    than FAR spreads outside the middle half (the spread: the middle half's length, at
    least MIN_SPREAD) and holds at most one bucket in twenty (and at least one): a stray
    line, not a part of the log. Fewer than four buckets are all kept."""
    live = sorted(b for b, n in counts.buckets.items() if n > 0)
    if not live:
        return Span(None, None)
    m = len(live)
    keep_from, keep_to = 0, m
    if m >= 4:
        q1, q3 = live[m // 4], live[3 * m // 4]
        spread = max(q3 - q1, MIN_SPREAD)
        limit = max(1, m // 20)
        below = bisect_left(live, q1 - FAR * spread)
        above = bisect_right(live, q3 + FAR * spread)
        keep_from = below if below <= limit else 0
        keep_to = above if m - above <= limit else m
    out = live[:keep_from] + live[keep_to:]
    return Span(
        live[keep_from],
        live[keep_to - 1],
        sum(counts.buckets[b] for b in out),
        out[0] if out else None,
        out[-1] if out else None,
    )


def series(counts: Counts, within: Span | None = None) -> list[tuple[int, int]]:
    """(bucket start, requests) for every bucket of the log's span (``within``, else
    :func:`span`), gaps as zero; only the buckets with requests if the span holds more
    than MAX_POINTS buckets, so that memory stays bounded whatever the dates."""
    within = within or span(counts)
    if within.first is None or within.last is None:
        return []
    step, first, last = counts.bucket_seconds, within.first, within.last
    if (last - first) // step < MAX_POINTS:
        return [(b, counts.buckets.get(b, 0)) for b in range(first, last + step, step)]
    return sorted((b, n) for b, n in counts.buckets.items() if n > 0 and first <= b <= last)


def find_spikes(counts: Counts, rule: Rule | None = None) -> list[Window]:
    """The spike windows in ``counts``, oldest first.

    A bucket found to be a spike is left out of the history of the buckets after it, so
    that a long burst is measured against what came before it, not against itself.
    """
    rule = rule or Rule()
    within = span(counts)
    if within.first is None or within.last is None:
        return []
    first, last = within.first, within.last
    live = sorted(b for b, n in counts.buckets.items() if n > 0 and first <= b <= last)
    totals = [counts.buckets[b] for b in live]
    total_spikes = _scan(rule, totals, range(len(totals)))
    spiky: dict[int, set[str]] = {live[i]: set() for i in total_spikes}
    # Each repository on its own series; only buckets where it has min_count can spike.
    position = {b: i for i, b in enumerate(live)}
    per_repo: dict[str, list[int]] = {}
    for bucket, repos in counts.bucket_repos.items():
        if bucket not in position:  # an outlier
            continue
        for repo, n in repos.items():
            if n >= rule.min_count:
                per_repo.setdefault(repo, []).append(position[bucket])
    empty: Counter[str] = Counter()
    repo_spikes: dict[str, list[int]] = {}
    for repo, candidates in per_repo.items():
        values = [counts.bucket_repos.get(b, empty).get(repo, 0) for b in live]
        repo_spikes[repo] = _scan(rule, values, sorted(candidates))
        for i in repo_spikes[repo]:
            spiky.setdefault(live[i], set()).add(repo)
    return _windows(counts, rule, spiky, live, totals, total_spikes, repo_spikes)


def _scan(rule: Rule, values: list[int], candidates: Iterable[int]) -> list[int]:
    """The candidates (ascending indices) that are spikes of ``values``."""
    found: list[int] = []
    for i in candidates:
        if rule.is_spike(values[i], _history(values, i, rule.window, found)):
            found.append(i)
    return found


def _history(values: list[int], i: int, window: int, skip: list[int]) -> list[int]:
    """The ``window`` values before index ``i``, leaving out the indices in ``skip``."""
    if not skip or skip[-1] < i - window:
        return values[max(0, i - window) : i]
    left_out = set(skip)
    out: list[int] = []
    j = i - 1
    while j >= 0 and len(out) < window:
        if j not in left_out:
            out.append(values[j])
        j -= 1
    return out


def _windows(
    counts: Counts,
    rule: Rule,
    spiky: dict[int, set[str]],
    live: list[int],
    totals: list[int],
    total_spikes: list[int],
    repo_spikes: dict[str, list[int]],
) -> list[Window]:
    step = counts.bucket_seconds
    position = {b: i for i, b in enumerate(live)}
    windows: list[Window] = []
    flagged: list[set[str]] = []
    for bucket in sorted(spiky):
        n = counts.buckets[bucket]
        if windows and windows[-1].end == bucket:
            w = windows[-1]
            w.end = bucket + step
            w.requests += n
            w.peak = max(w.peak, n)
            flagged[-1] |= spiky[bucket]
            continue
        i = position[bucket]
        base = rule.baseline(_history(totals, i, rule.window, total_spikes)) or 0.0
        windows.append(Window(start=bucket, end=bucket + step, requests=n, baseline=base, peak=n))
        flagged.append(set(spiky[bucket]))
    for w, names in zip(windows, flagged, strict=True):
        in_window: Counter[str] = Counter()
        for bucket in range(w.start, w.end, step):
            in_window.update(counts.bucket_repos.get(bucket, {}))
        top = sorted(in_window.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        w.repos = [
            (
                repo,
                n,
                n / w.requests if w.requests else 0.0,
                _usual(counts, live, w, repo, rule, repo_spikes),
            )
            for repo, n in top
        ]
        w.flagged = sorted(names)
    return windows


def _usual(
    counts: Counts,
    live: list[int],
    w: Window,
    repo: str,
    rule: Rule,
    repo_spikes: dict[str, list[int]],
) -> float:
    """A repository's median requests per bucket over the history before a window."""
    start = live.index(w.start)
    values = [counts.bucket_repos.get(b, {}).get(repo, 0) for b in live[: start + 1]]
    history = _history(values, start, rule.window, repo_spikes.get(repo, []))
    return float(median(history)) if history else 0.0


def since(windows: list[Window], counts: Counts, seconds: int | None) -> list[Window]:
    """The windows that reach into the last ``seconds`` of the log (all if None), counted
    back from the log's real end (a line dated far after it is an outlier)."""
    last = span(counts).last
    if not seconds or last is None:
        return windows
    cutoff = last + counts.bucket_seconds - seconds
    return [w for w in windows if w.end > cutoff]
