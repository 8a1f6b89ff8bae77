"""``binderfix check`` and ``binderfix verify``: for people at a terminal and for CI.

Exit codes: 0 nothing to fix, 1 something to fix (or verification failed), 2 could not run.
Nothing prompts; output order is deterministic; secrets never printed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import click

from binderfix.report import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    TestCase,
    TestSuite,
    dump_json,
    junit_xml,
    paint,
    render_table,
    use_colour,
    write_text,
)
from binderfix.verify.checks import CHECKS, ERROR, OK, PROBLEM, Finding

if TYPE_CHECKING:
    from binderfix.inventory.settings import Settings


@click.command()
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(sorted(CHECKS)),
    help="Run only these checks (default: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False),
    help="Write findings as JUnit XML to FILE.",
)
def check(only: tuple[str, ...], as_json: bool, junit_file: str | None) -> None:
    """Is any builder node in the broken state? Read-only; for CI schedules.

    Reads the same settings as inventories/kubectl.py (environment variables). Exit 0 when
    nothing needs fixing, 1 when something does, 2 when the check could not run (the API or
    a node unreachable: named in the output).
    """
    from binderfix.inventory.settings import from_env

    settings = from_env()
    findings: list[Finding] = []
    for name in sorted(only or CHECKS):
        findings += CHECKS[name]().run(settings)
    findings.sort(key=lambda f: (f.check, f.subject))
    if junit_file:
        write_text(junit_file, junit_xml([_suite(findings)]))
    if as_json:
        click.echo(
            dump_json(
                {"findings": [f.as_dict() for f in findings], "exit_code": _exit_code(findings)}
            )
        )
    else:
        colour = use_colour()
        colours = {OK: "green", PROBLEM: "red", ERROR: "yellow"}
        rows = [
            [f.subject, paint(f.verdict.upper(), colours[f.verdict], colour), f.summary]
            for f in findings
        ]
        click.echo(render_table(["NODE", "VERDICT", "DETAILS"], rows))
        problems = sum(f.verdict == PROBLEM for f in findings)
        errors = sum(f.verdict == ERROR for f in findings)
        click.echo(f"\n{len(findings)} checked: {problems} to fix, {errors} could not be checked")
    sys.exit(_exit_code(findings))


def _exit_code(findings: list[Finding]) -> int:
    if any(f.verdict == ERROR for f in findings):
        return EXIT_ERROR
    return EXIT_FOUND if any(f.verdict == PROBLEM for f in findings) else EXIT_OK


def _suite(findings: list[Finding]) -> TestSuite:
    cases = []
    for f in findings:
        case = TestCase(name=f.subject, classname=f"binderfix.check.{f.check}", output=f.summary)
        if f.verdict == PROBLEM:
            case.failure = f.summary
        elif f.verdict == ERROR:
            case.error = f.summary
        cases.append(case)
    return TestSuite(name="binderfix check", cases=cases)


@click.command()
@click.option(
    "--idempotence",
    is_flag=True,
    help="Also run the deploy in dry mode and fail if anything would still change.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False),
    help="Write the verification results as JUnit XML to FILE.",
)
def verify(idempotence: bool, junit_file: str | None) -> None:
    """After a fix: every socket path is a socket or absent and every builder pod Ready.

    Runs the package's pytest-testinfra suite (binderfix.verify.test_builders) against the
    builder nodes of the inventory. Exit 0 all passed, 1 something failed, 2 could not run.
    """
    from binderfix.inventory.hosts import builder_groups
    from binderfix.inventory.settings import from_env

    settings = from_env()
    builders, _ = builder_groups(settings)
    code = _run_testinfra(builders, settings, junit_file)
    if idempotence:
        code = max(code, _idempotence())
    sys.exit(code)


def _ssh_config(builders: list[tuple[str, dict]]) -> str:
    """One ssh_config for testinfra's ssh backend, from the inventory's host data."""
    lines = []
    included = {data["ssh_config_file"] for _node, data in builders if data.get("ssh_config_file")}
    lines += [f"Include {path}" for path in sorted(included)]
    for node, data in builders:
        lines += [
            f"Host {node}",
            f"  HostName {data.get('ssh_hostname', node)}",
            "  BatchMode yes",
            "  ConnectTimeout 10",
        ]
        if data.get("ssh_user"):
            lines.append(f"  User {data['ssh_user']}")
        if data.get("ssh_port"):
            lines.append(f"  Port {data['ssh_port']}")
        if data.get("ssh_key"):
            lines.append(f"  IdentityFile {data['ssh_key']}")
        if data.get("ssh_known_hosts_file"):
            lines += [
                f"  UserKnownHostsFile {data['ssh_known_hosts_file']}",
                "  StrictHostKeyChecking yes",
            ]
    return "\n".join(lines) + "\n"


def _testinfra_hosts(builders: list[tuple[str, dict]], settings: Settings, tmp: str) -> list[str]:
    """testinfra's ``--hosts`` and the options its backend needs, for the inventory's route."""
    if settings.connect == "kubenode":
        query = {"namespace": settings.node_namespace or settings.namespace}
        if settings.context:
            query["context"] = settings.context
        tail = urllib.parse.urlencode({k: v for k, v in query.items() if v})
        hosts = ",".join(f"kubenode://{data['node']}?{tail}" for _name, data in builders)
        return ["-p", "binderfix.verify.kubenode", f"--hosts={hosts}"]
    config = Path(tmp) / "ssh_config"
    config.write_text(_ssh_config(builders))
    hosts = ",".join(f"ssh://{node}" for node, _ in builders)
    return [
        f"--hosts={hosts}",
        f"--ssh-config={config}",
        *(["--sudo"] if settings.use_sudo else []),
    ]


def _run_testinfra(
    builders: list[tuple[str, dict]], settings: Settings, junit_file: str | None
) -> int:
    suite = importlib.util.find_spec("binderfix.verify.test_builders")
    assert suite is not None and suite.origin is not None
    with tempfile.TemporaryDirectory(prefix="binderfix-verify-") as tmp:
        argv = [
            sys.executable,
            "-m",
            "pytest",
            suite.origin,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:kmock",
            "-q",
            "--rootdir",
            tmp,
            "-o",
            "addopts=",
            "-o",
            "pythonpath=",
            *_testinfra_hosts(builders, settings, tmp),
        ]
        if junit_file:
            argv.append(f"--junitxml={os.path.abspath(junit_file)}")
        proc = subprocess.run(argv, cwd=tmp)
    if proc.returncode in (0, 1):
        return proc.returncode
    click.echo(
        f"binderfix verify: the testinfra suite could not run (pytest exit {proc.returncode})",
        err=True,
    )
    return EXIT_ERROR


def _idempotence() -> int:
    """molecule's idempotence step: a dry run of the deploy must want to change nothing."""
    inventory = importlib.util.find_spec("binderfix.inventory.kubectl")
    assert inventory is not None and inventory.origin is not None
    argv = [
        str(Path(sys.executable).parent / "pyinfra"),
        inventory.origin,
        "binderfix.dind.deploy.remediate_dind",
        "--dry",
        "--json",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    try:
        plan = json.loads(proc.stdout)["plan"]
    except (ValueError, KeyError, TypeError):
        click.echo(
            f"binderfix verify: the dry run did not complete (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-2000:]}\n  command: {shlex.join(argv)}",
            err=True,
        )
        return EXIT_ERROR
    changes = [(op["name"], host) for op in plan for host in op["hosts_with_change"]]
    if not changes:
        click.echo("idempotence: a second run would change nothing")
        return EXIT_OK
    for name, host in changes:
        click.echo(f"idempotence: FAILED: {host}: {name!r} would still change")
    return EXIT_FOUND
