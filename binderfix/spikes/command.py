"""``binderfix spikes``: is there a spike to the /build API, since when, and who makes it."""

from __future__ import annotations

import os
import re
import sys

import click

from binderfix.errors import BinderfixError
from binderfix.federation import cluster_options
from binderfix.report import EXIT_ERROR, EXIT_FOUND, EXIT_OK, dump_json, use_colour, write_text
from binderfix.spikes.detect import Rule

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_DEFAULT = Rule()


def parse_duration(text: str, option: str) -> int:
    """Seconds in ``90s``, ``5m``, ``1h``, ``2d`` or a plain number of seconds."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise BinderfixError(
            f"{option} {text!r} is not a duration", hint=f"e.g. {option} 30m, 1h, 90s"
        )
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@click.command(
    epilog="Spike rule: "
    + _DEFAULT.describe()
    + "\n\nThe count --grep prints is what `grep '/build' | grep WORD | wc -l` prints (WORD "
    "read as grep reads it; lines compared as bytes, like grep -a), with the requests and "
    "other lines behind it.\n\nExit status: 0 no spike in the window, 1 spike found, "
    "2 the logs could not be read (a named file missing or cut short, the API unreachable, "
    "no pod's log readable; a pod deleted while being read is only reported)."
)
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "-l",
    "--selector",
    default="component=controller",
    show_default=True,
    help="Pods whose logs to read, by label: the ingress controller's (old nginx-ingress "
    "chart: component=controller; ingress-nginx: app.kubernetes.io/component=controller; "
    "Traefik: app.kubernetes.io/name=traefik).",
)
@click.option("-n", "--namespace", help="Their namespace (default: the context's, else default).")
@cluster_options(envvar="BINDERFIX_CONTEXT")
@click.option(
    "-c", "--container", help="Container whose log to read (default: the pod's only one)."
)
@click.option(
    "--since",
    metavar="DURATION",
    help="Look for spikes in the last DURATION (e.g. 1h, 30m): of pod logs, read that much "
    "and --window buckets more for the baseline; of files, before their newest line.",
)
@click.option(
    "--bucket",
    default="1m",
    show_default=True,
    metavar="DURATION",
    help="Time bucket of the series and of the spike rule.",
)
@click.option(
    "--grep",
    "word",
    metavar="WORD",
    help="Also print the runbook's `grep '/build' | grep WORD | wc -l` and its breakdown.",
)
@click.option(
    "--base-url",
    default="/",
    show_default=True,
    help="BinderHub's base_url, if it is not served at the root (e.g. /binder/).",
)
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Repositories and clients to list.",
)
@click.option(
    "--prometheus",
    metavar="URL",
    help="Count from Prometheus at URL instead of logs: BinderHub's per-repository "
    "counters over --since (default 1h) and its baseline, a step per --bucket.",
)
@click.option(
    "--metric",
    type=click.Choice(["build", "launch"]),
    default="build",
    show_default=True,
    help="With --prometheus: count binderhub_build_count_total or binderhub_launch_count_total.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (keys in the README)."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Also write a self-contained HTML report (inline SVG chart, no network).",
)
@click.option(
    "--propose",
    is_flag=True,
    help="Also print BinderHub values (banned_specs regexes, or spec_config quotas) that "
    "would stop the repositories making the spikes, to review: nothing is applied.",
)
@click.option(
    "--k",
    "k",
    default=_DEFAULT.k,
    show_default=True,
    type=click.FloatRange(0),
    help="Spike rule: spreads above the baseline, at least.",
)
@click.option(
    "--ratio",
    default=_DEFAULT.ratio,
    show_default=True,
    type=click.FloatRange(0),
    help="Spike rule: times the baseline, at least.",
)
@click.option(
    "--min-count",
    default=_DEFAULT.min_count,
    show_default=True,
    type=click.IntRange(1),
    help="Spike rule: requests in the bucket, at least.",
)
@click.option(
    "--window",
    default=_DEFAULT.window,
    show_default=True,
    type=click.IntRange(1),
    help="Spike rule: buckets of history behind the baseline.",
)
def spikes(
    files: tuple[str, ...],
    selector: str,
    namespace: str | None,
    contexts: tuple[str, ...],
    all_contexts: bool,
    container: str | None,
    since: str | None,
    bucket: str,
    word: str | None,
    base_url: str,
    top: int,
    prometheus: str | None,
    metric: str,
    as_json: bool,
    html_file: str | None,
    propose: bool,
    k: float,
    ratio: float,
    min_count: int,
    window: int,
) -> None:
    """Spikes to the BinderHub /build API, from ingress controller logs.

    With FILES (plain or gzip; - for standard input, so that `kubectl logs ... |
    binderfix spikes -` works), reads those; otherwise reads the log of every pod matching
    --selector through the Kubernetes API, concurrently. Lines of the old nginx-ingress
    chart, ingress-nginx, Traefik (common or JSON) and BinderHub's own log are recognised
    one by one, in any mix; lines mentioning /build that are none of these are skipped and
    counted. Files from a node's /var/log/pods (CRI or Docker json-file records) are
    unwrapped first. FILES may also be mybinder.org's launch-events archive
    (events-YYYY-MM-DD.jsonl), recognised by their first line: each launch counts as a
    /build request, by repository and by federation member (origin).
    """
    from functools import partial

    from binderfix.federation import fan_out, federated_members, one_context

    members = federated_members(contexts, all_contexts)
    if members is not None:
        from binderfix.spikes.render import federation_shares

        sys.exit(fan_out("spikes", members, as_json, None, across=federation_shares))
    context = one_context(contexts)

    from binderfix.spikes.aggregate import Tally
    from binderfix.spikes.detect import find_spikes
    from binderfix.spikes.detect import since as within
    from binderfix.spikes.grep import Grep
    from binderfix.spikes.render import as_data, html_report, text_report
    from binderfix.spikes.sources import failure_hint, tally_files, tally_pods

    if html_file and not os.path.isdir(os.path.dirname(html_file) or "."):
        raise BinderfixError(  # said before the logs are read, not after
            f"cannot write {html_file}: no folder {os.path.dirname(html_file)}",
            hint="--html to a file in an existing folder",
        )
    bucket_seconds = parse_duration(bucket, "--bucket")
    since_seconds = parse_duration(since, "--since") if since else None
    if not base_url.startswith("/"):
        raise BinderfixError(f"--base-url {base_url!r} must start with /", hint="e.g. /binder/")
    rule = Rule(window=window, k=k, ratio=ratio, min_count=min_count)
    try:
        grep = Grep(word) if word else None
    except ValueError as exc:
        raise BinderfixError(f"--grep: {exc}", hint="quote the word as grep needs it") from None
    new_tally = partial(Tally, bucket_seconds, grep, base_url)
    if prometheus:
        from binderfix.spikes.prometheus import tally_prometheus

        if files or grep:
            raise BinderfixError(
                "--prometheus counts from Prometheus: no FILES or --grep with it",
                hint="read logs, or ask Prometheus, one at a time",
            )
        since_seconds = since_seconds or 3600
        counts = tally_prometheus(prometheus, metric, since_seconds, bucket_seconds, window)
        source = f"Prometheus {prometheus}"
    elif files:
        from binderfix.spikes.events import AutoTally, check_files

        check_files(files, bucket_seconds)
        counts = tally_files(files, partial(AutoTally, bucket_seconds, grep, base_url))
        source = ", ".join(files)
    else:
        from binderfix.kube.client import connect

        cluster = connect(context=context, namespace=namespace)
        fetch = since_seconds + window * bucket_seconds if since_seconds else None
        counts = tally_pods(cluster, selector, fetch, new_tally, container)
        source = f"pods {selector} in namespace {cluster.namespace}"

    # A named file that cannot be read in full is an error; a pod that goes away while
    # being read is not (the summary names it), unless no pod could be read at all.
    failed = counts.sources_failed
    none_read = bool(failed) and len(failed) >= len(counts.sources)
    unread = none_read or (bool(files) and bool(failed))
    if unread:
        for name, why in sorted(failed.items()):
            click.echo(f"binderfix: error: {name}: {why}", err=True)
        for hint in sorted({h for why in failed.values() if (h := failure_hint(why))}):
            click.echo(f"  hint: {hint}", err=True)
        if none_read and counts.lines == 0:
            sys.exit(EXIT_ERROR)
    windows = within(find_spikes(counts, rule), counts, since_seconds)
    origin_windows = []
    if counts.origins:  # launch events: the same rule by federation member
        from binderfix.spikes.events import origin_view

        origin_windows = within(find_spikes(origin_view(counts), rule), counts, since_seconds)
    proposal = None
    if propose:
        from binderfix.spikes.propose import propose as make_proposal

        proposal = make_proposal(counts, windows)
    if html_file:
        page = html_report(
            counts, windows, rule, f"/build requests: {source}", since_seconds=since_seconds
        )
        try:
            write_text(html_file, page)
        except OSError as exc:
            raise BinderfixError(
                f"cannot write {html_file}: {exc.strerror}", hint="--html to a writable place"
            ) from None
    if as_json:
        from binderfix.spikes import propose as proposing

        extra = proposing.as_data(proposal) if proposal else None
        click.echo(
            dump_json(as_data(counts, windows, rule, top, since_seconds, origin_windows, extra))
        )
    else:
        from binderfix.spikes.propose import as_yaml

        snippet = as_yaml(proposal) if proposal else None
        report = text_report(
            counts, windows, rule, use_colour(), top, since_seconds, 60, origin_windows, snippet
        )
        click.echo(report)
    if unread:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FOUND if windows or origin_windows else EXIT_OK)
