"""``binderfix netcheck``: can the pods reach what they must? One command, one verdict."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import click

from binderfix.errors import BinderfixError
from binderfix.federation import cluster_options
from binderfix.report import dump_json, junit_xml, use_colour, write_text

if TYPE_CHECKING:
    from binderfix.kube.client import Cluster
    from binderfix.netcheck.runner import SourceResult
    from binderfix.netcheck.targets import Target

DEFAULT_SELECTOR = "component=hub"


@click.command(
    epilog="""\b
Sources: the hub pod (-l component=hub) unless --pod, -l or --local say otherwise; several
give one column each. The probe runs in the pod through the exec API: python3 if the pod
has it, else a shell fallback (curl, wget or bash) with coarser verdicts.
\b
Verdicts: ok, dns (the name does not resolve), refused, timeout (connect, read, or the
whole answer not in within the timeout), tls, http-status (4xx/5xx), redirect-loop,
no-token (the source has no proxy token to send), token-rejected (the proxy API refused
it), mismatch (proxy-public's hub API answer differs from the hub's), error.
\b
Exit status: 0 every target as expected, 1 some target is not, 2 the check could not run
(no such pod, pod not running, exec forbidden, API unreachable, nothing to probe with)."""
)
@click.option("--pod", "pods", multiple=True, help="Probe from this pod (repeatable).")
@click.option(
    "-l",
    "--selector",
    "selectors",
    multiple=True,
    help=f"Probe from the first running pod with these labels (repeatable; default {DEFAULT_SELECTOR}).",
)
@click.option("-c", "--container", help="Container to exec into (default: the pod's default).")
@click.option(
    "-n",
    "--namespace",
    envvar="BINDERFIX_NAMESPACE",
    help="Namespace (default: $BINDERFIX_NAMESPACE, else the context's).",
)
@cluster_options(envvar="BINDERFIX_CONTEXT")
@click.option(
    "--probe-pod",
    is_flag=True,
    help="Probe from a short-lived pod carrying the source pod's labels, then delete it.",
)
@click.option("--image", help="The probe pod's image (default: the source container's).")
@click.option(
    "--local",
    is_flag=True,
    help="Probe from this machine (a CI runner, a bastion); with --pod or -l, as well.",
)
@click.option(
    "--target", "extra", multiple=True, help="Also probe this URL or host:port (repeatable)."
)
@click.option(
    "--expect-blocked",
    "blocked",
    multiple=True,
    help="This URL or host:port must NOT be reachable (a network policy test; repeatable).",
)
@click.option(
    "--all-services",
    is_flag=True,
    help="Also connect to every TCP port of every Service in the namespace.",
)
@click.option(
    "--no-defaults",
    is_flag=True,
    help="Probe only --target, --expect-blocked and --all-services, not the runbook's list.",
)
@click.option(
    "--prefix", default="", help="Service name prefix (a chart fullnameOverride), e.g. 'prod-'."
)
@click.option(
    "--internet-url",
    envvar="BINDERFIX_INTERNET_URL",
    default="http://google.com/",
    show_default=True,
    help="Where 'the internet' is (env BINDERFIX_INTERNET_URL).",
)
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="NAME=URL",
    help="Move one of the runbook's targets (binder, hub, proxy-public, proxy-api, internet), "
    "e.g. proxy-public=https://proxy-public/hub/api (repeatable).",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=300),
    help="Seconds for each target: to connect, to answer, and for the whole probe.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML to FILE."
)
@click.option("--debug", is_flag=True, help="Show what each probe did (secrets redacted).")
def netcheck(
    pods: tuple[str, ...],
    selectors: tuple[str, ...],
    container: str | None,
    namespace: str | None,
    contexts: tuple[str, ...],
    all_contexts: bool,
    probe_pod: bool,
    image: str | None,
    local: bool,
    extra: tuple[str, ...],
    blocked: tuple[str, ...],
    all_services: bool,
    no_defaults: bool,
    prefix: str,
    internet_url: str,
    urls: tuple[str, ...],
    timeout: float,
    as_json: bool,
    junit_file: str | None,
    debug: bool,
) -> None:
    """Probe the runbook's targets (binder, the hub API directly and through the proxy, the
    internet, the proxy API with the source pod's CONFIGPROXY_AUTH_TOKEN) from inside a pod,
    all at once, each within one timeout whatever the target does.
    """
    from binderfix.federation import fan_out, federated_members, one_context
    from binderfix.netcheck.report import redact
    from binderfix.netcheck.targets import TOKEN_ENV

    members = federated_members(contexts, all_contexts)
    if members is not None:
        sys.exit(fan_out("netcheck", members, as_json, junit_file))
    context = one_context(contexts)
    plan = Plan(
        pods=pods,
        selectors=selectors or (() if (local or pods) else (DEFAULT_SELECTOR,)),
        container=container,
        probe_pod=probe_pod,
        image=image,
        local=local,
        extra=extra,
        blocked=blocked,
        all_services=all_services,
        no_defaults=no_defaults,
        prefix=prefix,
        internet_url=internet_url,
        urls=urls,
        timeout=timeout,
    )
    # The secrets this process could know: the token --local sends. In a pod the probe fills
    # the token in itself and redacts it before anything leaves the pod.
    secrets = [os.environ.get(TOKEN_ENV, "")]
    try:
        cluster = None
        if plan.pods or plan.selectors or plan.all_services:
            from binderfix.kube.client import connect

            cluster = connect(context=context, namespace=namespace)
        targets = build_targets(plan, cluster)
        secrets += [os.environ.get(n, "") for t in targets for n in t.env_names()]
        jobs, errors = pick_sources(plan, cluster, targets)
        done, failed, took = run_sources(jobs)
        code = report(
            targets, done, errors + failed, took, plan.timeout, secrets, as_json, junit_file, debug
        )
    except BinderfixError as exc:
        raise BinderfixError(redact(exc.message, secrets), redact(exc.hint, secrets)) from None
    except Exception as exc:  # a bug: still no traceback and no secret, unless --debug
        if debug:
            click.echo(redact(traceback.format_exc(), secrets), err=True)
        raise BinderfixError(
            redact(f"netcheck failed unexpectedly: {type(exc).__name__}: {exc}", secrets),
            hint="rerun with --debug, and please report it",
        ) from None
    sys.exit(code)


@dataclass(frozen=True)
class Plan:
    """What to probe from where, as the options say (output options apart)."""

    pods: tuple[str, ...]
    selectors: tuple[str, ...]
    container: str | None
    probe_pod: bool
    image: str | None
    local: bool
    extra: tuple[str, ...]
    blocked: tuple[str, ...]
    all_services: bool
    no_defaults: bool
    prefix: str
    internet_url: str
    urls: tuple[str, ...]
    timeout: float


def build_targets(plan: Plan, cluster: Cluster | None) -> list[Target]:
    """The runbook's targets (moved by --url), --target, --expect-blocked and every Service
    port with --all-services; each once."""
    from binderfix.netcheck.targets import parse_target, runbook_targets, service_targets

    moved = {}
    for item in plan.urls:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise BinderfixError(
                f"--url {item!r} is not NAME=URL", hint="e.g. --url hub=http://hub:8081/hub/api"
            )
        moved[name.strip()] = url.strip()
    targets = [] if plan.no_defaults else runbook_targets(plan.prefix, plan.internet_url, moved)
    targets += [parse_target(t) for t in plan.extra]
    targets += [parse_target(t, expect="blocked", option="--expect-blocked") for t in plan.blocked]
    if plan.all_services and cluster is not None:
        from binderfix.kube.pods import list_services

        targets += service_targets(list_services(cluster))
    unique: dict[str, Target] = {}
    for t in targets:
        if t.id in unique and unique[t.id].expect != t.expect:
            raise BinderfixError(
                f"{t.id} is both a target to reach and one to find blocked",
                hint="give it to either --target or --expect-blocked",
            )
        unique.setdefault(t.id, t)
    if not unique:
        raise BinderfixError(
            "nothing to probe", hint="drop --no-defaults, or add --target / --all-services"
        )
    return list(unique.values())


Job = tuple[str, Callable[[], "SourceResult"]]


def pick_sources(
    plan: Plan, cluster: Cluster | None, targets: list[Target]
) -> tuple[list[Job], list[dict[str, str]]]:
    """One job per source (this machine, each --pod, each -l), and the sources that cannot
    be used, with why."""
    from binderfix.netcheck import runner
    from binderfix.netcheck.probepod import run_probe_pod
    from binderfix.netcheck.sources import pick_pod

    errors: list[dict[str, str]] = []
    jobs: list[Job] = []
    timeout = plan.timeout
    if plan.local:
        jobs.append(("local", lambda: runner.run_local(targets, timeout)))
    chosen = [(f"pod {p}", p, None) for p in plan.pods]
    chosen += [(f"-l {s}", None, s) for s in plan.selectors]
    for label, name, selector in chosen:
        assert cluster is not None
        try:
            pod = pick_pod(cluster, name, selector or DEFAULT_SELECTOR, plan.container)
        except BinderfixError as exc:
            errors.append({"source": label, "message": exc.message, "hint": exc.hint or ""})
            continue
        if plan.probe_pod:
            job = partial(run_probe_pod, cluster, pod, targets, timeout, plan.container, plan.image)
        else:
            job = partial(runner.run_in_pod, cluster, pod, targets, timeout, plan.container)
        jobs.append((label, job))
    return jobs, errors


def run_sources(jobs: list[Job]) -> tuple[list[SourceResult], list[dict[str, str]], float]:
    """Every source at once: what each reported, the ones that failed, and how long it took."""
    started = time.monotonic()
    done: list[SourceResult] = []
    errors: list[dict[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [(label, pool.submit(job)) for label, job in jobs]
        for label, future in futures:
            try:
                done.append(future.result())
            except BinderfixError as exc:
                errors.append({"source": label, "message": exc.message, "hint": exc.hint or ""})
    return done, errors, time.monotonic() - started


def report(
    targets: list[Target],
    done: list[SourceResult],
    errors: list[dict[str, str]],
    took: float,
    timeout: float,
    secrets: list[str],
    as_json: bool,
    junit_file: str | None,
    debug: bool,
) -> int:
    """The matrix (or JSON), the JUnit file, warnings and errors, redacted; the exit status."""
    from binderfix.netcheck.report import (
        debug_lines,
        json_document,
        junit_suites,
        matrix_text,
        redact,
    )
    from binderfix.netcheck.verdicts import exit_status, judge

    matrix = {s.source: judge(targets, s.results) for s in done}
    how = {s.source: s.how for s in done}
    for s in done:
        for warning in s.warnings:
            click.echo(redact(f"binderfix: warning: {warning}", secrets), err=True)
        if debug:
            for line in debug_lines(s.source, s.how, s.debug, matrix[s.source]):
                click.echo(redact(f"debug: {line}", secrets), err=True)
    if debug:
        click.echo(
            f"debug: {len(targets)} targets from {len(done)} sources in {took:.2f}s", err=True
        )
    errors = redact(errors, secrets)
    if junit_file:
        write_text(junit_file, redact(junit_xml(junit_suites(matrix, debug)), secrets), "--junit")
    if as_json:
        document = json_document(matrix, how, errors, took, timeout, debug)
        click.echo(redact(dump_json(document), secrets))
    elif matrix:
        click.echo(redact(matrix_text(matrix, use_colour(sys.stdout)), secrets))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more: see above)" if len(errors) > 1 else ""
        for e in errors[1:]:
            click.echo(f"binderfix: error: {e['source']}: {e['message']}", err=True)
        raise BinderfixError(first["message"] + more, first["hint"] or None)
    return exit_status(matrix, errors)
