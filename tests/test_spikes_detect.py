"""The spike rule: ordinary Poisson noise is never a spike, at any rate; a burst that
multiplies one repository's rate always is, even when the total barely moves."""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from binderfix.spikes import synth
from binderfix.spikes.aggregate import Counts, Tally
from binderfix.spikes.detect import Rule, find_spikes, since


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def traffic(
    seed: int,
    per_bucket: float,
    repos: int = 30,
    buckets: int = 240,
    burst: tuple[int, float, int, int] | None = None,
) -> Counts:
    """Counts of steady Poisson traffic over Zipf-popular repositories; ``burst`` is
    (repository rank, factor, first bucket, buckets): that repository's rate multiplied."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(repos)]
    rates = [per_bucket * w / sum(weights) for w in weights]
    counts = Counts(bucket_seconds=60)
    for b in range(buckets):
        for rank, rate in enumerate(rates):
            if burst and rank == burst[0] and burst[2] <= b < burst[2] + burst[3]:
                rate *= burst[1]
            n = _poisson(rng, rate)
            if n:
                repo = f"gh:org/repo{rank}"
                counts.bucket_repos.setdefault(b * 60, Counter())[repo] = n
                counts.buckets[b * 60] += n
                counts.repos[repo] += n
    return counts


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 2**32),
    st.floats(0.5, 3000),
    st.integers(1, 60),
)
def test_steady_poisson_traffic_is_never_a_spike(seed: int, per_bucket: float, repos: int) -> None:
    assert find_spikes(traffic(seed, per_bucket, repos)) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.floats(2, 40), st.integers(0, 5))
def test_a_burst_that_multiplies_one_repositorys_rate_is_caught(
    seed: int, repo_rate: float, rank: int
) -> None:
    """Ten times a repository's own rate for ten buckets (or 30 a bucket, if ten times
    its rate is under --min-count): caught whatever its share of the total."""
    weights = [1 / (r + 1) for r in range(30)]
    per_bucket = repo_rate * sum(weights) / weights[rank]  # so that `rank` has repo_rate
    factor = max(10.0, 30 / repo_rate)
    counts = traffic(seed, per_bucket, burst=(rank, factor, 150, 10))
    windows = find_spikes(counts)
    assert windows, (per_bucket, repo_rate)
    assert all(w.start >= 150 * 60 and w.end <= 160 * 60 for w in windows)
    assert any(f"gh:org/repo{rank}" in w.flagged for w in windows)


def test_a_small_repositorys_burst_is_caught_though_the_total_barely_moves() -> None:
    tally = Tally()
    busy = synth.Burst(repo="gh/tiny/repo", start_minute=100, minutes=5, per_minute=30)
    for line in synth.generate("traefik", minutes=160, builds_per_minute=150, burst=busy, seed=9):
        tally.feed(line.encode() + b"\n")
    counts = tally.close()
    (window,) = find_spikes(counts)
    assert window.flagged == ["gh:tiny/repo"] and window.peak < 3 * window.baseline
    usual = {repo: baseline for repo, _n, _share, baseline in window.repos}
    assert usual["gh:tiny/repo"] == 0 and usual["gh:jupyterlab/jupyterlab-demo"] > 20


def test_a_burst_longer_than_half_the_window_is_one_window_to_its_end() -> None:
    """Spike buckets stay out of the history after them: the burst does not become its own
    baseline after 15 minutes."""
    (window,) = find_spikes(traffic(4, 60, burst=(0, 10, 100, 25)))
    assert (window.start // 60, window.end // 60) == (100, 125)
    assert 40 < window.baseline < 80


def test_the_rule_in_numbers() -> None:
    rule = Rule()
    flat = [10] * 30
    assert not rule.is_spike(29, flat)  # under ratio x B
    assert not rule.is_spike(40, flat[:4])  # too little history
    assert rule.is_spike(40, flat)  # 40 > 10 + 6 * (sqrt(40) + sqrt(10)) / 2 = 38.5
    assert not rule.is_spike(19, [0] * 30)  # under min_count
    assert rule.is_spike(20, [0] * 30)
    noisy = [0, 40] * 15  # a bursty history: MAD keeps its own ups from counting
    assert not rule.is_spike(100, noisy)


def test_windows_merge_consecutive_buckets_and_since_keeps_the_recent_ones() -> None:
    counts = traffic(1, 50, burst=(0, 12, 100, 3))
    burst_two = traffic(2, 50, burst=(1, 20, 200, 2))
    for b, repos in burst_two.bucket_repos.items():
        if b >= 200 * 60:
            counts.bucket_repos[b] = repos
            counts.buckets[b] = burst_two.buckets[b]
    windows = find_spikes(counts)
    assert [(w.start // 60, w.end // 60) for w in windows] == [(100, 103), (200, 202)]
    assert windows[0].requests == sum(counts.buckets[b * 60] for b in range(100, 103))
    last = max(counts.buckets) + 60
    assert since(windows, counts, last - 150 * 60) == windows[1:]
    assert since(windows, counts, None) == windows
