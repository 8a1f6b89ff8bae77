"""The sandbox binder's Prometheus counters, fed by the traffic its ingress pods log.

The sandbox's ingress controller pods log :func:`binderfix.spikes.synth.sandbox_log_lines`
(one seed per pod) ending at the sandbox's start; the binder pod counts the same
``/build`` requests as BinderHub does, in ``binderhub_build_count_total`` and
``binderhub_launch_count_total`` with labels ``status``, ``provider`` (the repo provider's
name) and ``repo`` (its ``get_repo_url()``). The sandbox's binder has no image cache: each
request counts a build (``success`` below HTTP 400, else ``failure``), and each
successful build a launch. A ``/build/`` request sent to the sandbox's binder itself counts
too, when it comes (:meth:`Counters.count`).

:func:`exposition` is what ``/metrics`` serves (Prometheus's text format, as
prometheus_client writes it, children at zero from the start); :func:`history` writes the
same counters over the traffic's past as OpenMetrics with timestamps, for ``promtool tsdb
create-blocks-from openmetrics`` (a scrape only sees the present).
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from binderfix.spikes.formats import parse_line
from binderfix.spikes.synth import sandbox_log_lines

INGRESS_PODS = 2  # the sandbox's ingress controller pods, seeds 0 and 1
LOG_FORMAT = "nginx-ingress"
HELP = {
    "binderhub_build_count": "Counter of builds by repo",
    "binderhub_launch_count": "Counter of launches by repo",
}
# A /build/ path's provider -> (BinderHub's provider name, its get_repo_url()).
_NAMES = {
    "gh": "GitHub",
    "gist": "Gist",
    "gl": "GitLab",
    "git": "Git",
    "zenodo": "Zenodo",
    "figshare": "Figshare",
    "hydroshare": "Hydroshare",
    "dataverse": "Dataverse",
    "ckan": "CKAN",
}


@dataclass(frozen=True, order=True)
class Event:
    """One counter increment: when (epoch seconds), which metric, and its labels."""

    time: float
    metric: str
    status: str
    provider: str
    repo: str


def binderhub_labels(path: str) -> tuple[str, str]:
    """``/build/gh/User/Repo/ref`` -> ("GitHub", "https://github.com/User/Repo"): the
    ``provider`` and ``repo`` labels BinderHub gives the request's counters."""
    prefix, _, spec = path.split("?", 1)[0].removeprefix("/build/").partition("/")
    name = _NAMES[prefix]
    if prefix == "gh":
        user, repo, _ref = spec.split("/", 2)
        return name, f"https://github.com/{user}/{repo.removesuffix('.git')}"
    if prefix == "gist":
        user, gist = spec.split("/")[:2]
        return name, f"https://gist.github.com/{user}/{gist}.git"
    if prefix == "gl":
        return name, f"https://gitlab.com/{unquote(spec.split('/', 1)[0])}.git"
    if prefix == "git":
        return name, unquote(spec.split("/", 1)[0])
    if prefix == "hydroshare":
        return name, f"https://www.hydroshare.org/resource/{spec.strip('/')}"
    if prefix == "ckan":
        return name, unquote(spec)
    return name, spec  # DOIs: the spec as given


def traffic(now: dt.datetime, pods: int = INGRESS_PODS) -> list[Event]:
    """The counter increments of the sandbox's ingress traffic ending at ``now``, in time
    order: what the binder behind those ingress pods counted."""
    events = []
    for seed in range(pods):
        for line in sandbox_log_lines(LOG_FORMAT, now=now, seed=seed):
            parsed = parse_line(line.encode(), LOG_FORMAT)
            if parsed is None or not parsed[1][2].startswith(b"/build/"):
                continue
            _client, stamp, path, status = parsed[1]
            when = dt.datetime.strptime(stamp.decode(), "%d/%b/%Y:%H:%M:%S %z").timestamp()
            provider, repo = binderhub_labels(path.decode())
            ok = int(status) < 400
            label = "success" if ok else "failure"
            events.append(Event(when, "binderhub_build_count", label, provider, repo))
            if ok:
                events.append(Event(when, "binderhub_launch_count", "success", provider, repo))
    events.sort()
    return events


class Counters:
    """The counters at any time: ``values(t)`` counts the increments before ``t``."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.times: dict[tuple[str, str, str, str], list[float]] = {}
        for e in events:
            self.times.setdefault((e.metric, e.status, e.provider, e.repo), []).append(e.time)
        self.lock = threading.Lock()  # the server answers requests in threads

    def count(self, path: str, status: int, at: float) -> None:
        """A /build request the binder answers now (live traffic, after the logged)."""
        provider, repo = binderhub_labels(path)
        label = "success" if status < 400 else "failure"
        keys = [("binderhub_build_count", label, provider, repo)]
        if status < 400:
            keys.append(("binderhub_launch_count", "success", provider, repo))
        with self.lock:
            for key in keys:
                bisect.insort(self.times.setdefault(key, []), at)

    def values(self, at: float) -> dict[tuple[str, str, str, str], int]:
        # Increments dated in whole seconds before ``at``: a request logged at 10:00:00
        # happened during that second, after a scrape at 10:00:00.000.
        with self.lock:
            return {key: bisect.bisect_left(times, at) for key, times in self.times.items()}


def _labels(status: str, provider: str, repo: str) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return f'provider="{esc(provider)}",repo="{esc(repo)}",status="{esc(status)}"'


def exposition(counters: Counters, at: float) -> str:
    """``/metrics`` at time ``at``, in the text format 0.0.4."""
    values = counters.values(at)
    out = []
    for metric, text in HELP.items():
        out += [f"# HELP {metric}_total {text}", f"# TYPE {metric}_total counter"]
        for (m, *labels), n in sorted(values.items()):
            if m == metric:
                out.append(f"{metric}_total{{{_labels(*labels)}}} {float(n)}")
    return "\n".join(out) + "\n"


def history(counters: Counters, start: float, end: float, step: int = 15, target: str = "") -> str:
    """The counters every ``step`` seconds from ``start`` to ``end`` as OpenMetrics with
    timestamps, what a scrape every ``step`` seconds would have stored; ``target``
    (host:port) adds the ``job="binder"`` and ``instance`` labels such a scrape adds."""
    out = []
    scrape = f'instance="{target}",job="binder",' if target else ""
    first = int(start) - int(start) % step
    times = range(first, int(end) + 1, step)
    for metric, text in HELP.items():
        out += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
        for (m, *labels), stamps in sorted(counters.times.items()):
            if m != metric:
                continue
            tag = scrape + _labels(*labels)
            out += [f"{metric}_total{{{tag}}} {bisect.bisect_left(stamps, t)} {t}" for t in times]
    return "\n".join(out) + "\n# EOF\n"
