"""``binderfix sandbox``: a local BinderHub cluster of real parts (needs root)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

import click

from binderfix.report import dump_json, paint, render_table, use_colour

DIR_OPTION = click.option(
    "--dir",
    "directory",
    default="./sandbox",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the sandbox keeps its state.",
)


def _sandbox(directory: str):  # noqa: ANN202 (imported lazily: the sandbox extra may be missing)
    from binderfix.sandbox.cluster import Sandbox

    return Sandbox(directory)


def _progress(msg: str) -> None:
    click.echo(msg, err=True)


@click.group()
def sandbox() -> None:
    """A local BinderHub cluster: sshd nodes in network namespaces, a Kubernetes API that
    kubectl accepts, a builder DaemonSet that crash-loops where the socket path is a directory."""


@sandbox.command()
@DIR_OPTION
@click.option("--nodes", default=3, show_default=True, help="How many nodes (1 to 240).")
@click.option(
    "--broken-nodes",
    default=0,
    show_default=True,
    help="How many nodes get the bug: a directory at /var/run/dind/docker.sock.",
)
@click.option(
    "--labels",
    type=click.Choice(["current", "legacy"]),
    default="current",
    show_default=True,
    help="Builder pod labels: component=image-builder (current) or component=dind (before 2022).",
)
@click.option(
    "--rbac",
    type=click.Path(dir_okay=False, exists=True),
    help="An RBAC manifest (e.g. deploys/rbac.yaml): also make a token limited to its rules.",
)
@click.option(
    "--missing-image",
    "missing_images",
    multiple=True,
    metavar="IMAGE",
    help="An image no node can pull (pods using it fail with ErrImagePull). Repeatable.",
)
@click.option(
    "--init-container",
    is_flag=True,
    help="Today's chart: the builder DaemonSet's init container rmdirs the socket path when a "
    "pod is created (default: the older chart, without it).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Return once the builder pods have settled: Ready, or CrashLoopBackOff on broken nodes.",
)
def up(
    directory: str,
    nodes: int,
    broken_nodes: int,
    labels: str,
    rbac: str | None,
    missing_images: tuple[str, ...],
    init_container: bool,
    wait: bool,
) -> None:
    """Start a sandbox cluster in DIR."""
    box = _sandbox(directory)
    start = time.monotonic()
    try:
        box.up(
            nodes=nodes,
            broken=broken_nodes,
            labels=labels,
            progress=_progress,
            rbac=rbac,
            wait=wait,
            missing_images=missing_images,
            init_container=init_container,
        )
    except KeyboardInterrupt:
        click.echo("binderfix: interrupted: sandbox up stopped what it had started", err=True)
        sys.exit(130)
    click.echo(
        f"sandbox up in {time.monotonic() - start:.1f}s. Point your tools at it with:", err=True
    )
    click.echo(f'  eval "$(binderfix sandbox env --dir {shlex.quote(directory)})"', err=True)


@sandbox.command()
@DIR_OPTION
def down(directory: str) -> None:
    """Stop the sandbox in DIR and remove its namespaces and interfaces (idempotent)."""
    box = _sandbox(directory)
    start = time.monotonic()
    if box.down(progress=_progress):
        click.echo(f"sandbox in {box.dir} is down ({time.monotonic() - start:.1f}s)", err=True)
    else:
        click.echo(f"no sandbox in {box.dir}: nothing to stop", err=True)


@sandbox.command()
@click.option(
    "--dir",
    "directories",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Where the sandbox keeps its state (default ./sandbox). Repeat it to see several "
    "sandboxes as one federation (one kubeconfig context and settings-file cluster each).",
)
@click.option("--restricted", is_flag=True, help="Use the token limited by up's --rbac manifest.")
def env(directories: tuple[str, ...], restricted: bool) -> None:
    """Print `export NAME=value` lines pointing kubectl and binderfix at the sandbox(es)."""
    if len(directories) > 1:
        from binderfix.sandbox.federation import federation_env

        exports, unsets = federation_env([_sandbox(d) for d in directories])
        click.echo(f"unset {' '.join(unsets)}")
        for name, value in exports.items():
            click.echo(f"export {name}={shlex.quote(value)}")
        return
    box = _sandbox(directories[0] if directories else "./sandbox")
    if restricted and not box.restricted_kubeconfig.exists():
        from binderfix.errors import BinderfixError

        raise BinderfixError(
            "this sandbox has no restricted token", hint="start it with --rbac FILE"
        )
    for name, value in box.env(restricted).items():
        click.echo(f"export {name}={shlex.quote(value)}")


@sandbox.command()
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(directory: str, as_json: bool) -> None:
    """Show nodes, addresses, socket-path state and pods."""
    from binderfix.sandbox.inspect import describe

    info = describe(_sandbox(directory))
    if as_json:
        click.echo(dump_json(info))
        return
    colour = use_colour()
    rows = []
    for node in info["nodes"]:
        state = node["socket_path"]
        shown = paint(state, "green" if state == "socket" else "red", colour)
        pod = node["builder"] or {}
        rows.append(
            [
                node["name"],
                node["ip"],
                shown,
                pod.get("name", "-"),
                pod.get("status", "-"),
                pod.get("restarts", "-"),
            ]
        )
    click.echo(
        render_table(
            ["NODE", "INTERNAL-IP", info["socket_path"], "BUILDER POD", "STATUS", "RESTARTS"], rows
        )
    )
    click.echo("")
    click.echo(
        render_table(
            ["POD", "STATUS", "IP"], [[p["name"], p["status"], p["ip"]] for p in info["pods"]]
        )
    )


@sandbox.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@DIR_OPTION
@click.argument("node")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def ssh(directory: str, node: str, argv: tuple[str, ...]) -> None:
    """Run a command on NODE over SSH: `binderfix sandbox ssh node-1 -- sh -c 'a && b'`."""
    args = list(argv[1:] if argv[:1] == ("--",) else argv)
    cmd = _sandbox(directory).ssh_command(node, args)
    sys.stdout.flush()
    code = subprocess.call(cmd, env={**os.environ})
    sys.exit(code)
