"""The ``binderfix`` command: a thin layer over the library.

Every subcommand lives beside the capability it drives (``binderfix/<capability>/command.py``)
and is registered here. Errors meant for people (:class:`BinderfixError`) are printed without
a traceback and exit 2; see :mod:`binderfix.report` for the exit codes.
"""

from __future__ import annotations

import sys

# `check` reads every node through pyinfra, whose connections are gevent greenlets: they run
# side by side only over cooperative sockets, so patch first, before anything opens one (as
# pyinfra's own command does). Other commands keep plain threads and sockets.
if sys.argv[1:2] == ["check"]:
    from gevent import monkey

    monkey.patch_all()

import os  # noqa: E402
import signal  # noqa: E402

from binderfix import __version__
from binderfix.errors import BinderfixError


def _interrupted_while_starting(_signum: int, _frame: object) -> None:
    # Ctrl-C while the modules load: nothing has been done yet, so one line and out,
    # not a KeyboardInterrupt traceback from whichever import was running.
    os.write(2, b"binderfix: interrupted\n")
    os._exit(130)


_LOADING = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not ignored
if _LOADING:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import click  # noqa: E402 (after the handler: importing takes a tenth of a second)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BinderfixError as exc:
            click.echo(f"binderfix: error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("binderfix: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="binderfix")
def main() -> None:
    """Fix the well-known ways a BinderHub cluster breaks, the runbook's way, as code."""


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where to put the sandbox (default: a new temporary folder).",
)
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards.")
def demo(directory: str | None, keep: bool) -> None:
    """The runbook on a sandbox cluster: find, diff, fix, verify, probe, spot spikes (needs root)."""
    from binderfix.demo import run_demo

    sys.exit(run_demo(directory, keep))


@main.command()
@click.option(
    "-n",
    "--namespace",
    envvar="BINDERFIX_NAMESPACE",
    default="prod",
    show_default=True,
    help="The BinderHub release's namespace (default: $BINDERFIX_NAMESPACE, else prod).",
)
def rbac(namespace: str) -> None:
    """Print the least-privilege RBAC manifest binderfix needs, for kubectl apply -f -."""
    from importlib.resources import files

    from binderfix.inventory.settings import check_namespace

    check_namespace(namespace, "--namespace")
    manifest = (files("binderfix") / "rbac.yaml").read_text(encoding="utf-8")
    # Only the objects' namespace lines change; the comments say where to apply it.
    click.echo(manifest.replace("namespace: prod\n", f"namespace: {namespace}\n"), nl=False)


def _register() -> None:
    # Each command module holds only its click command and imports what it drives inside
    # it, so registering them all stays cheap: `binderfix --help` loads no kubernetes client,
    # pyinfra or kmock (a missing sandbox extra fails `binderfix sandbox` alone).
    from binderfix.netcheck.command import netcheck
    from binderfix.sandbox.command import sandbox
    from binderfix.spikes.command import spikes
    from binderfix.verify.check import check
    from binderfix.verify.command import verify
    from binderfix.watch.command import watch

    main.add_command(sandbox)
    main.add_command(demo)
    main.add_command(check)
    main.add_command(verify)
    main.add_command(spikes)
    main.add_command(netcheck)
    main.add_command(watch)


_register()
if _LOADING:  # loaded: Ctrl-C is a KeyboardInterrupt again, which commands clean up after
    signal.signal(signal.SIGINT, signal.default_int_handler)
