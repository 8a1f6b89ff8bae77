"""``binderfix netcheck``: can the pods reach what they must? One command, one verdict."""

from __future__ import annotations

import os
import sys
import time

import click

from binderfix.errors import BinderfixError
from binderfix.report import dump_json, junit_xml, use_colour, write_text


@click.command(
    epilog="""\b
Verdicts: ok, dns (the name does not resolve), refused, timeout (connect or read),
tls, http-status (4xx/5xx), token-rejected (proxy API), mismatch (proxy-public's hub API
answer differs from the hub's), error.
\b
Exit status: 0 every target reachable, 1 some target is not, 2 the check could not run
(no such pod, pod not running, exec forbidden, API unreachable)."""
)
@click.option("--pod", help="Probe from this pod (default: the hub pod, by --selector).")
@click.option(
    "-l", "--selector", default="component=hub", show_default=True, help="Source pod by labels."
)
@click.option("-n", "--namespace", help="Namespace (default: the context's).")
@click.option("--context", help="kubeconfig context (default: the current one).")
@click.option(
    "--probe-pod",
    is_flag=True,
    help="Run the probe in a short-lived pod carrying the source pod's labels, then delete it.",
)
@click.option(
    "--local",
    is_flag=True,
    help="Probe from this machine instead of a pod (a CI runner, a bastion).",
)
@click.option(
    "--target", "extra", multiple=True, help="Also probe this URL or host:port (repeatable)."
)
@click.option(
    "--all-services",
    is_flag=True,
    help="Also connect to every port of every Service in the namespace.",
)
@click.option(
    "--no-defaults",
    is_flag=True,
    help="Probe only --target and --all-services, not the runbook's list.",
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
    "--timeout",
    default=5.0,
    show_default=True,
    help="Connect timeout and read timeout, each, in seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option(
    "--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML to FILE."
)
@click.option("--debug", is_flag=True, help="Show what each probe did (secrets redacted).")
def netcheck(
    pod: str | None,
    selector: str,
    namespace: str | None,
    context: str | None,
    probe_pod: bool,
    local: bool,
    extra: tuple[str, ...],
    all_services: bool,
    no_defaults: bool,
    prefix: str,
    internet_url: str,
    timeout: float,
    as_json: bool,
    junit_file: str | None,
    debug: bool,
) -> None:
    """Probe the runbook's targets (binder, the hub API directly and through the proxy, the
    internet, the proxy API with the source pod's CONFIGPROXY_AUTH_TOKEN) from inside a pod,
    all at once, each with its own connect and read timeout."""
    from binderfix.netcheck.report import exit_code, judge, junit, matrix_text, redact
    from binderfix.netcheck.runner import pick_pod, run_in_pod, run_local, run_probe_pod
    from binderfix.netcheck.targets import parse_target, runbook_targets, service_targets

    if timeout <= 0:
        raise BinderfixError(f"--timeout must be positive, not {timeout}")
    targets = [] if no_defaults else runbook_targets(prefix, internet_url)
    targets += [parse_target(t) for t in extra]
    cluster = None
    if not local or all_services:
        from binderfix.kube.client import api_errors, connect

        cluster = connect(context=context, namespace=namespace)
    if all_services:
        import json

        with api_errors("listing services"):
            raw = cluster.core.list_namespaced_service(cluster.namespace, _preload_content=False)
        targets += service_targets(json.loads(raw.data).get("items") or [])
    if not targets:
        raise BinderfixError(
            "nothing to probe", hint="drop --no-defaults, or add --target / --all-services"
        )
    started = time.monotonic()
    if local:
        source = run_local(targets, timeout)
    else:
        chosen = pick_pod(cluster, pod, selector)
        source = (run_probe_pod if probe_pod else run_in_pod)(cluster, chosen, targets, timeout)
    matrix = {source.source: judge(source, targets)}
    took = time.monotonic() - started
    secrets = [os.environ.get("CONFIGPROXY_AUTH_TOKEN", "")]
    if debug:
        for t in targets:
            auth = (
                " with Authorization: token [redacted] from the source's environment"
                if t.auth
                else ""
            )
            click.echo(
                redact(
                    f"debug: {source.how}: GET {t.url or t.address}{auth}, "
                    f"connect/read timeout {timeout}s",
                    secrets,
                ),
                err=True,
            )
        click.echo(f"debug: {len(targets)} probes in {took:.2f}s", err=True)
    if junit_file:
        write_text(junit_file, redact(junit_xml(junit(matrix)), secrets))
    if as_json:
        click.echo(redact(dump_json({"sources": matrix, "seconds": round(took, 2)}), secrets))
    else:
        click.echo(redact(matrix_text(matrix, use_colour()), secrets))
    sys.exit(exit_code(matrix))
