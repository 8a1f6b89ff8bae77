"""``binderfix watch``: the command-line face of :mod:`binderfix.watch.loop`."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds a builder pod may stay not Ready before its node is examined.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Nodes worked on at once.",
)
@click.option(
    "--max-per-hour",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Remediations allowed in any hour; past it, only reports.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be done; change nothing.")
@click.option(
    "--lease-name", default="binderfix-watch", show_default=True, help="The Lease to elect with."
)
@click.option(
    "--lease-duration",
    type=click.IntRange(min=1, max=3600),
    default=15,
    show_default=True,
    help="Seconds a leader's Lease lasts without renewal before another watcher takes over.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=9101,
    show_default=True,
    help="Port for /metrics and /healthz (0: any free port).",
)
@click.option(
    "--metrics-address",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve metrics on (0.0.0.0 for Prometheus in the cluster).",
)
@click.option(
    "--identity",
    default="",
    help="This watcher's name in the Lease (default: POD_NAME, else host-pid).",
)
def watch(
    grace: float,
    max_parallel: int,
    max_per_hour: int,
    dry_run: bool,
    lease_name: str,
    lease_duration: int,
    metrics_port: int,
    metrics_address: str,
    identity: str,
) -> None:
    """Watch builder pods and fix a node's socket path when its builder stays not Ready.

    Settings (cluster, namespace, selectors, node route) are the deploy's environment
    variables (see the README). Only the socket-path problem is acted on; any other cause
    is reported as an Event on the pod. Stops cleanly on SIGTERM or Ctrl-C.
    """
    from binderfix.inventory.settings import from_env
    from binderfix.kube.client import connect
    from binderfix.watch.loop import Options, run_watcher

    settings = from_env()
    options = Options(
        grace=grace,
        max_parallel=max_parallel,
        max_per_hour=max_per_hour,
        dry_run=dry_run,
        lease_name=lease_name,
        lease_duration=lease_duration,
        identity=identity,
        metrics_address=metrics_address,
        metrics_port=metrics_port,
    )
    sys.exit(run_watcher(settings, options, connect))
