"""Prometheus as a ``spikes`` source: BinderHub's per-repository build and launch counters.

BinderHub counts ``binderhub_build_count_total{status,provider,repo}`` and
``binderhub_launch_count_total{status,provider,repo}``; its Grafana panel shows
``sum(increase(binderhub_build_count_total[1h])) by (repo)``. Here one range query
(``/api/v1/query_range``, a step per ``--bucket``) reads the counters themselves, and the
increase of each series from one step to the next is taken here, as ``increase()`` does
without its extrapolation: the counts are whole builds that add up to the window's total,
a counter that went down (a restarted binder pod) counts from zero again. A series that
appears while its target was already scraped is a repository's first builds (BinderHub makes
the counter then) and counts from zero, where ``increase()`` would drop them: the start of a
flood by a new repository; the first values of a target seen for the first time are only a
baseline (the first scrape of a long-running pod is no spike).
The increase over (t - bucket, t] is counted in the bucket that starts at t - bucket,
where a log line dated in that bucket is counted.

``provider`` and ``repo`` (BinderHub's ``provider.name`` and ``get_repo_url()``) name the
repository the way a ``/build/<provider>/<spec>`` path does (:mod:`binderfix.spikes.specs`),
so that counts from Prometheus and from logs meet under the same names.

The parsing of Prometheus's JSON answer (:func:`parse_answer`, :func:`counts_from_series`)
is pure; :func:`query_range` and :func:`tally_prometheus` do the HTTP.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from urllib.parse import quote, urlencode, urlsplit

from binderfix.errors import BinderfixError
from binderfix.spikes.aggregate import Counts
from binderfix.spikes.specs import SpecError, parse_build_path

FORMAT = "prometheus"  # the name under ``formats`` in the report
METRICS = {"build": "binderhub_build_count_total", "launch": "binderhub_launch_count_total"}
TIMEOUT = 30.0  # seconds for one HTTP request: connecting and reading the answer
MAX_POINTS = 10_000  # steps per range query (Prometheus refuses more than 11,000)

# BinderHub's provider names (RepoProvider.name) -> the /build/ path prefix.
PROVIDERS = {
    "GitHub": "gh",
    "Gist": "gist",
    "GitLab": "gl",
    "Git": "git",
    "Zenodo": "zenodo",
    "Figshare": "figshare",
    "Hydroshare": "hydroshare",
    "Dataverse": "dataverse",
    "CKAN": "ckan",
}


class PrometheusError(BinderfixError):
    """Prometheus could not be asked, or did not answer what was asked."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its (time, value) points, oldest first."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def label_repo(provider: str, repo: str) -> str:
    """BinderHub's metric labels -> the repository a /build/ path names.

    >>> label_repo("GitHub", "https://github.com/Jupyterlab/JupyterLab-Demo")
    'gh:jupyterlab/jupyterlab-demo'
    >>> label_repo("GitLab", "https://gitlab.com/group/project.git")
    'gl:group/project'

    A provider BinderHub does not ship (a custom one) is kept as ``<provider>:<repo>``.
    """
    prefix = PROVIDERS.get(provider)
    path = urlsplit(repo).path.strip("/")
    if prefix in ("gh", "gist"):  # https://<host>/<user>/<repo>; a gist's ends in .git
        user, _, name = path.partition("/")
        spec = f"{user}/{name.split('/', 1)[0].removesuffix('.git')}/x"
    elif prefix == "gl":  # https://<host>/<namespace>.git
        spec = quote(path.removesuffix(".git"), safe="") + "/x"
    elif prefix in ("git", "ckan"):  # the URL as given
        spec = quote(repo, safe="") + ("/x" if prefix == "git" else "")
    elif prefix is not None:  # DOIs and Hydroshare's resource URL, as the spec
        spec = repo
    else:
        return f"{provider}:{repo}"
    try:
        return parse_build_path(f"/build/{prefix}/{spec}").repo
    except SpecError:
        return f"{provider}:{repo}"


def parse_answer(body: bytes, query: str) -> list[Series]:
    """The series of a ``query_range`` answer; :class:`PrometheusError` for an error answer
    or one that is not Prometheus's."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise PrometheusError(
            "the answer is not JSON: is this Prometheus's address?",
            hint="--prometheus http://prometheus:9090 (the server, not a Grafana page)",
        ) from None
    if not isinstance(doc, dict) or "status" not in doc:
        raise PrometheusError(
            "the answer is not from the Prometheus HTTP API",
            hint="--prometheus http://prometheus:9090 (the server's base address)",
        )
    if doc["status"] != "success":
        kind = doc.get("errorType", "error")
        raise PrometheusError(
            f"Prometheus refused the query {query!r}: {kind}: {doc.get('error', '')}".rstrip(),
            hint="check --since and --bucket (at most 11,000 steps a query) and the metric",
        )
    data = doc.get("data") or {}
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise PrometheusError(
            f"Prometheus answered {data.get('resultType')!r} to a range query, not a matrix",
            hint="--prometheus must be the Prometheus HTTP API",
        )
    found = []
    try:
        for item in data["result"]:
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            points = [(float(t), float(v)) for t, v in item.get("values") or ()]
            found.append(Series(labels, [p for p in points if math.isfinite(p[1])]))
    except (AttributeError, TypeError, ValueError):
        raise PrometheusError(
            "Prometheus's answer holds series that are not (time, value) points",
            hint="--prometheus must be the Prometheus HTTP API",
        ) from None
    return found


def counts_from_series(series: list[Series], bucket_seconds: int, source: str = "") -> Counts:
    """Counts by repository, ref (none: counters have no ref), status and bucket from the
    range query's series, whose steps are ``bucket_seconds`` apart."""
    counts = Counts(bucket_seconds=bucket_seconds)
    names: dict[tuple[str, str], str] = {}
    scraped_from: dict[str, float] = {}  # a target -> its first step in the answer
    for one in series:
        if one.points:
            target = one.labels.get("instance", "")
            scraped_from[target] = min(scraped_from.get(target, one.points[0][0]), one.points[0][0])
    for one in series:
        points = one.points
        if points and points[0][0] > scraped_from[one.labels.get("instance", "")]:
            # Appeared while its target was being scraped: BinderHub made the counter at
            # the repository's first build, so it counts from zero (a first scrape of a
            # whole target is only a baseline).
            points = [(points[0][0] - bucket_seconds, 0.0), *points]
        key = (one.labels.get("provider", ""), one.labels.get("repo", ""))
        repo = names.get(key)
        if repo is None:
            repo = names[key] = label_repo(*key)
        status = one.labels.get("status", "")
        for start, n in _increases(points, bucket_seconds):
            counts.repos[repo] += n
            counts.statuses[status] += n
            counts.buckets[start] += n
            counts.bucket_repos.setdefault(start, Counter())[repo] += n
            counts.build_requests += n
    counts.build_lines = counts.grep_lines = counts.build_requests
    if counts.build_requests:
        counts.formats[FORMAT] = counts.build_requests
    for repo, n in counts.repos.items():
        counts.refs[repo] = Counter({"": n})  # counters carry no ref: one unnamed ref
    if source:
        counts.sources.append(source)
    return counts


def _increases(points: list[tuple[float, float]], step: int) -> list[tuple[int, int]]:
    """(bucket start, increase) between consecutive steps of one counter series.

    A step missing (no sample within Prometheus's lookback) is skipped over: the increase
    across the gap is counted in the bucket before the step where the series is back.
    """
    out = []
    for (_t0, v0), (t1, v1) in pairwise(points):
        n = v1 - v0 if v1 >= v0 else v1  # went down: the counter restarted from zero
        whole = int(round(n))
        if whole > 0:
            end = int(round(t1))
            out.append((end - step - (end - step) % step, whole))
    return out


def query_range(
    base: str, query: str, start: int, end: int, step: int, timeout: float = TIMEOUT
) -> list[Series]:
    """Run a range query against the Prometheus at ``base``; errors as one clear line."""
    url = base.rstrip("/") + "/api/v1/query_range"
    params = urlencode({"query": query, "start": start, "end": end, "step": f"{step}s"})
    request = urllib.request.Request(
        url, data=params.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (checked)
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()  # Prometheus says why in JSON (400 bad query, 422 execution)
        if body[:1] != b"{":
            raise PrometheusError(
                f"{url} answered HTTP {exc.code} {exc.reason}",
                hint="--prometheus must be the Prometheus server's base address",
            ) from None
    except (urllib.error.URLError, OSError) as exc:  # TimeoutError is an OSError
        why = getattr(exc, "reason", exc)
        if isinstance(why, TimeoutError):
            raise PrometheusError(
                f"Prometheus at {base} did not answer within {timeout:g} seconds",
                hint="check the address, or ask for less (a shorter --since)",
            ) from None
        raise PrometheusError(
            f"cannot reach Prometheus at {base}: {getattr(why, 'strerror', None) or why}",
            hint="is it running? e.g. kubectl port-forward svc/prometheus-server 9090:80",
        ) from None
    return parse_answer(body, query)


def check_url(url: str) -> str:
    """``url`` if it can be Prometheus's base address; else a clear error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusError(
            f"--prometheus {url!r} is not an http(s) URL",
            hint="e.g. --prometheus http://localhost:9090",
        )
    try:
        parts.port  # noqa: B018 (raises for a port that is no number)
    except ValueError:
        raise PrometheusError(
            f"--prometheus {url!r} has a bad port", hint="e.g. --prometheus http://localhost:9090"
        ) from None
    return url


def tally_prometheus(
    url: str,
    what: str,
    since_seconds: int,
    bucket_seconds: int,
    history_buckets: int,
    now: float | None = None,
    timeout: float = TIMEOUT,
) -> Counts:
    """Counts of ``what`` (build or launch) over the last ``since_seconds`` and
    ``history_buckets`` buckets before them (the spike rule's baseline), from Prometheus."""
    check_url(url)
    metric = METRICS[what]
    step = bucket_seconds
    end = math.ceil((time.time() if now is None else now) / step) * step
    # One step more than the buckets: the first is the baseline of the counters.
    start = end - (math.ceil(since_seconds / step) + history_buckets + 1) * step
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    at = start
    while at < end:  # in pieces Prometheus accepts, overlapping by one step
        stop = min(end, at + MAX_POINTS * step)
        for one in query_range(url, metric, at, stop, step, timeout):
            points = series.setdefault(tuple(sorted(one.labels.items())), [])
            points += [p for p in one.points if not points or p[0] > points[-1][0]]
        at = stop
    if not series:
        raise PrometheusError(
            f"Prometheus at {url} has no {metric} series in the last {(end - start) // 60} minutes",
            hint="is BinderHub's /metrics scraped (a job for the binder pods)? a longer --since?",
        )
    found = [Series(dict(k), v) for k, v in series.items()]
    return counts_from_series(found, bucket_seconds, f"{metric} at {url}")
