"""``binderfix spikes``: is there a spike to the /build API now, since when, and who makes it."""

from __future__ import annotations

import re
import sys

import click

from binderfix.errors import BinderfixError
from binderfix.report import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    dump_json,
    render_table,
    use_colour,
    write_text,
)
from binderfix.spikes.detect import Rule

_DURATION = re.compile(r"^(\d+)([smhd]?)$")


def parse_duration(text: str, option: str) -> int:
    """`90s`, `5m`, `1h`, `2d`, or plain seconds."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise BinderfixError(
            f"{option} {text!r} is not a duration", hint=f"e.g. {option} 30m, 1h, 90s"
        )
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@click.command(
    epilog=f"""\b
Spike rule: {Rule.__doc__ or ""}
\b
Exit status: 0 no spike in the window, 1 spike found, 2 the logs could not be read."""
)
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "-l",
    "--selector",
    default="component=controller",
    show_default=True,
    help="Pods whose logs to read: the ingress controller's labels (ingress-nginx: "
    "app.kubernetes.io/component=controller; Traefik: app.kubernetes.io/name=traefik).",
)
@click.option("-n", "--namespace", help="Namespace of those pods (default: the context's).")
@click.option("--context", help="kubeconfig context (default: the current one).")
@click.option("--since", help="Only the last DURATION of pod logs (e.g. 1h, 30m).")
@click.option(
    "--bucket",
    default="1m",
    show_default=True,
    help="Time bucket for the series and the spike rule.",
)
@click.option(
    "--grep",
    "word",
    help="Also print what `grep '/build' | grep WORD | wc -l` prints, and the breakdown.",
)
@click.option("--top", default=10, show_default=True, help="Repositories and clients to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report.",
)
@click.option(
    "--k", "k", default=Rule.k, show_default=True, help="Spike rule: spreads above the baseline."
)
@click.option(
    "--ratio",
    default=Rule.ratio,
    show_default=True,
    help="Spike rule: times the baseline, at least.",
)
@click.option(
    "--min-count",
    default=Rule.min_count,
    show_default=True,
    help="Spike rule: requests per bucket, at least.",
)
@click.option(
    "--window", default=Rule.window, show_default=True, help="Spike rule: buckets of history."
)
def spikes(
    files: tuple[str, ...],
    selector: str,
    namespace: str | None,
    context: str | None,
    since: str | None,
    bucket: str,
    word: str | None,
    top: int,
    as_json: bool,
    html_file: str | None,
    k: float,
    ratio: float,
    min_count: int,
    window: int,
) -> None:
    """Spikes to the BinderHub /build API, from ingress controller logs.

    With FILES (plain or gzip; - for standard input), reads those; otherwise reads the logs
    of every pod matching --selector through the Kubernetes API, concurrently. Recognises
    old nginx-ingress, ingress-nginx, Traefik and BinderHub's own log lines, line by line;
    other lines are skipped and counted.
    """
    from binderfix.spikes.aggregate import Tally
    from binderfix.spikes.detect import find_spikes
    from binderfix.spikes.render import as_data, html_report, text_report
    from binderfix.spikes.sources import tally_files, tally_large_file, tally_pods

    bucket_seconds = parse_duration(bucket, "--bucket")
    grep = word.encode() if word else None
    if files:
        big = tally_large_file(files[0], bucket_seconds, grep) if len(files) == 1 else None
        if big is not None:
            counts = big
        else:
            tally = Tally(bucket_seconds, grep)
            tally_files(files, tally)
            counts = tally.counts
        source = ", ".join(files)
    else:
        since_seconds = parse_duration(since, "--since") if since else None
        from binderfix.kube.client import connect

        cluster = connect(context=context, namespace=namespace)
        counts = tally_pods(cluster, selector, since_seconds, bucket_seconds, grep)
        source = f"pods {selector}"
    if counts.lines == 0 and counts.sources_failed:
        for src, why in sorted(counts.sources_failed.items()):
            click.echo(f"binderfix spikes: {src}: {why}", err=True)
        sys.exit(EXIT_ERROR)
    windows = find_spikes(counts, Rule(window=window, k=k, ratio=ratio, min_count=min_count))
    if html_file:
        write_text(html_file, html_report(counts, windows, f"/build requests: {source}"))
    if as_json:
        click.echo(dump_json(as_data(counts, windows, top)))
    else:
        click.echo(text_report(counts, windows, use_colour(), top))
        if word is not None:
            click.echo(f"\ngrep '/build' | grep {word!r} | wc -l: {counts.grep_lines}")
            rows = sorted(counts.grep_repos.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            if rows:
                click.echo(render_table(["REPOSITORY", "REQUESTS"], rows))
    sys.exit(EXIT_FOUND if windows else EXIT_OK)
