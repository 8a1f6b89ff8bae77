"""Realistic access logs with a planted spike, in each format, deterministic by seed.

Used by the tests, the benchmark, and the sandbox's ingress controller pods. Traffic is
steady background across ~30 repositories with a skewed popularity (a few repositories
get most builds, as on mybinder.org), other requests (launch pages, static files, the hub)
making up two thirds of the lines, and one repository bursting for a while.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

REPOS = [
    "gh/jupyterlab/jupyterlab-demo",
    "gh/binder-examples/requirements",
    "gh/ipython/ipython-in-depth",
    "gh/binder-examples/r",
    "gh/jupyter-widgets/ipywidgets",
    "gh/bokeh/bokeh-notebooks",
    "gh/QuantStack/xeus-cling",
    "gh/SamLau95/nbinteract-image",
    "gh/data-8/materials-sp18",
    "gh/geopandas/geopandas",
    "gh/holoviz/panel",
    "gh/pangeo-data/pangeo-tutorial",
    "gh/rasbt/python-machine-learning-book",
    "gh/trekhleb/homemade-machine-learning",
    "gh/jakevdp/PythonDataScienceHandbook",
    "gh/mwaskom/seaborn",
    "gh/numpy/numpy-tutorials",
    "gh/scikit-learn/scikit-learn",
    "gh/sympy/sympy",
    "gh/voila-dashboards/voila",
    "gl/gitlab-org%2Fgitlab-docs",
    "gl/mygroup%2Fsubgroup%2Fproject",
    "git/https%3A%2F%2Fcodeberg.org%2Fexample%2Fnotebooks",
    "gist/fperez/1234abcd",
    "zenodo/10.5281/zenodo.3242074",
    "figshare/10.6084/m9.figshare.9782777.v1",
    "hydroshare/b8f6eae9d89241cf8b5904033460af61",
    "dataverse/10.7910/DVN/TJCLKP",
    "ckan/https%3A%2F%2Fdemo.ckan.org/my-dataset",
    "gh/executablebooks/jupyter-book",
]
SPIKE_REPO = "gh/someone/flooding-repo"
REFS = ["HEAD", "main", "master", "v1.0", "feature/new-ui", "3f2c9a1e"]
OTHER_PATHS = [
    "/v2/gh/jupyterlab/jupyterlab-demo/HEAD",
    "/static/dist/bundle.js",
    "/hub/api",
    "/",
    "/health",
    "/badge_logo.svg",
    "/user/abc-123/lab",
]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "python-requests/2.31.0", "curl/8.4.0"]
FORMATS = ("nginx-ingress", "ingress-nginx", "traefik", "binderhub", "traefik-json")


@dataclass(frozen=True)
class Burst:
    repo: str = SPIKE_REPO
    start_minute: int = 60
    minutes: int = 10
    per_minute: int = 60


BURST = Burst()  # the default planted spike: an hour in, ten minutes, 60 builds a minute


def format_line(
    fmt: str, when: dt.datetime, client: str, path: str, status: int, agent: str
) -> str:
    """One access-log line in ``fmt``, for a GET of ``path``."""
    clf = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    if fmt == "nginx-ingress":
        return (
            f'{client} - [{client}] - - [{clf}] "GET {path} HTTP/2.0" {status} 327 "https://mybinder.org/" '
            f'"{agent}" 48 0.878 [prod-binder-8585] 10.12.0.184:8585 344 0.878 {status}'
        )
    if fmt == "ingress-nginx":
        return (
            f'{client} - - [{clf}] "GET {path} HTTP/1.1" {status} 612 "https://mybinder.org/" "{agent}" 512 '
            f"0.004 [prod-binder-80] [] 10.12.0.184:8585 612 0.004 {status} 5c2b9f0e6a7d4e1f"
        )
    if fmt == "traefik":
        return (
            f'{client} - - [{clf}] "GET {path} HTTP/1.1" {status} 612 "-" "{agent}" 1042 '
            f'"prod-binder@kubernetes" "http://10.12.0.184:8585" 4ms'
        )
    if fmt == "traefik-json":  # accessLog.format=json: Go writes the keys sorted
        start = when.astimezone(dt.UTC)
        record = {
            "ClientAddr": f"{client}:43512",
            "ClientHost": client,
            "ClientPort": "43512",
            "ClientUsername": "-",
            "DownstreamContentSize": 612,
            "DownstreamStatus": status,
            "Duration": 4_012_345,
            "OriginContentSize": 612,
            "OriginDuration": 3_912_345,
            "OriginStatus": status,
            "Overhead": 100_000,
            "RequestAddr": "mybinder.org",
            "RequestContentSize": 0,
            "RequestCount": 1042,
            "RequestHost": "mybinder.org",
            "RequestMethod": "GET",
            "RequestPath": path,
            "RequestPort": "-",
            "RequestProtocol": "HTTP/1.1",
            "RequestScheme": "https",
            "RetryAttempts": 0,
            "RouterName": "prod-binder@kubernetes",
            "ServiceAddr": "10.12.0.184:8585",
            "ServiceName": "prod-binder@kubernetes",
            "ServiceURL": "http://10.12.0.184:8585",
            "StartLocal": start.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
            "StartUTC": start.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
            "entryPointName": "websecure",
            "level": "info",
            "msg": "",
            "request_User-Agent": agent,
            "time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json.dumps(record, separators=(",", ":"))
    if fmt == "binderhub":  # binderhub/log.py: info below 400, warning below 500, else error
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        level = "I" if status < 400 else "W" if status < 500 else "E"
        return f"[{level} {stamp} BinderHub log:135] {status} GET {path} (@{client}) 12.34ms"
    raise ValueError(f"unknown format {fmt!r}")


def generate(
    fmt: str = "nginx-ingress",
    start: dt.datetime | None = None,
    minutes: int = 120,
    builds_per_minute: int = 20,
    burst: Burst | None = BURST,
    seed: int = 0,
    other_per_build: float = 2,
    more_repos: int = 0,
    ragged: bool = False,
) -> Iterator[str]:
    """Lines in time order: ``builds_per_minute`` builds (Poisson), ``other_per_build``
    other requests per build (0.05: 95% of the lines are builds), and the burst's extra
    builds of one repository. ``more_repos``: that many more distinct repositories, in the
    long tail of the popularity; ``ragged``: lines from a few dozen bytes to a few
    kilobytes (long user agents, referers and query strings)."""
    rng = random.Random(seed)
    start = start or dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    repos = REPOS + [f"gh/user{n}/project-{n:x}" for n in range(more_repos)]
    weights = [1 / (rank + 1) for rank in range(len(repos))]  # Zipf-like popularity
    for minute in range(minutes):
        builds = _poisson(rng, builds_per_minute)
        paths = [_build_path(rng, repo) for repo in rng.choices(repos, weights, k=builds)]
        if burst and burst.start_minute <= minute < burst.start_minute + burst.minutes:
            paths += [_build_path(rng, burst.repo) for _ in range(_poisson(rng, burst.per_minute))]
        paths += [rng.choice(OTHER_PATHS) for _ in range(round(len(paths) * other_per_build))]
        seconds = sorted(rng.random() * 60 for _ in paths)
        rng.shuffle(paths)
        base = start + dt.timedelta(minutes=minute)
        for offset, path in zip(seconds, paths, strict=True):
            if path.startswith("/build/") and fmt != "nginx-ingress":  # BinderHub >= 1.0
                path += "?build_token=" + _token(rng, fmt)
            status = 200 if rng.random() > 0.02 else rng.choice([404, 429, 500])
            client = f"10.{rng.randrange(1, 4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            agent = rng.choice(AGENTS)
            if ragged:  # lengths spread over two orders of magnitude
                agent += " x" * (int(rng.paretovariate(1.2) * 8) % 2000)
                if rng.random() < 0.3:
                    path += ("&" if "?" in path else "?") + "q=" + "a" * rng.randrange(1, 600)
            yield format_line(fmt, base + dt.timedelta(seconds=offset), client, path, status, agent)


def _token(rng: random.Random, fmt: str) -> str:
    """A build token as the page passes it (a JWT); BinderHub's own log scrubs it."""
    if fmt == "binderhub":
        return "[secret]"
    return "eyJhbGciOiJIUzI1NiJ9.eyJ2IjoxfQ." + f"{rng.getrandbits(128):032x}"


def _build_path(rng: random.Random, repo: str) -> str:
    """A /build/ path for ``repo``; records (DOIs, datasets) have no ref, as BinderHub's
    page builds them."""
    if repo.split("/", 1)[0] in ("zenodo", "figshare", "dataverse", "hydroshare", "ckan"):
        return f"/build/{repo}"
    return f"/build/{repo}/{rng.choice(REFS)}"


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # the normal approximation is plenty here, and fast
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def sandbox_log_lines(
    fmt: str = "nginx-ingress", now: dt.datetime | None = None, seed: int = 0
) -> list[str]:
    """What the sandbox's ingress controller pods log: two hours of traffic ending at
    ``now`` (default: the current time), about 5,500 lines in format ``fmt``.

    Steady background of 12 builds a minute across 30 repositories (Poisson, Zipf-like
    popularity, two other requests per build), and ``gh:someone/flooding-repo`` at 40
    builds a minute (ten times the busiest repository) from 25 to 15 minutes before
    ``now``: the spike ``binderfix spikes`` must find. Deterministic for a ``seed``.
    """
    now = now or dt.datetime.now(dt.UTC)
    minutes = 120
    start = (now - dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    burst = Burst(start_minute=minutes - 25, minutes=10, per_minute=40)
    return list(
        generate(fmt, start=start, minutes=minutes, builds_per_minute=12, burst=burst, seed=seed)
    )
