"""``binderfix verify``: after a fix, the testinfra suite on every node and a second run of
the deploy that must change nothing, for people at a terminal and for CI (JUnit).

Exit codes: 0 verified, 1 verification failed, 2 could not run. Nothing prompts; output
order is deterministic; secrets never printed. ``binderfix check`` is in
:mod:`binderfix.verify.check`.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import click

from binderfix.errors import BinderfixError
from binderfix.federation import cluster_options
from binderfix.report import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    TestCase,
    TestSuite,
    check_writable,
    junit_xml,
    write_not_run,
    write_text,
)

if TYPE_CHECKING:
    from binderfix.inventory.settings import Settings


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
@cluster_options()
def verify(
    idempotence: bool, junit_file: str | None, contexts: tuple[str, ...], all_contexts: bool
) -> None:
    """After a fix: every socket path is a socket or absent and every builder pod Ready.

    Runs the package's pytest-testinfra suite (binderfix.verify.test_builders) against the
    builder nodes of the inventory. Exit 0 all passed, 1 something failed, 2 could not run.
    """
    from binderfix.federation import cluster_env, fan_out, federated_members, one_cluster
    from binderfix.inventory.hosts import builder_groups

    check_writable(junit_file, "--junit")  # before the suite runs, not after
    members = federated_members(contexts, all_contexts)
    if members is not None:
        sys.exit(fan_out("verify", members, False, junit_file))
    checks = [f"binderfix.verify.{name}" for name in VERIFY_CHECKS]
    if idempotence:
        checks.append("binderfix.verify.idempotence")
    try:
        member = one_cluster(contexts)
        settings = member.settings
        env = cluster_env(member) if contexts else None  # what its subprocesses must see
        builders, _ = builder_groups(settings)
    except BinderfixError as exc:
        write_not_run(junit_file, "binderfix verify", checks, exc)
        raise
    cases = _run_testinfra(builders, settings, env)
    if idempotence:
        cases += _idempotence([node for node, _data in builders], env)
    if junit_file:
        write_text(junit_file, junit_xml([TestSuite("binderfix verify", cases)]), "--junit")
    sys.exit(_cases_exit_code(cases))


# The tests of binderfix.verify.test_builders, by the name their JUnit cases carry.
VERIFY_CHECKS = ("socket_path_is_a_socket_or_absent", "builder_pod_is_ready")


def _cases_exit_code(cases: list[TestCase]) -> int:
    if any(c.error is not None for c in cases):
        return EXIT_ERROR
    return EXIT_FOUND if any(c.failure is not None for c in cases) else EXIT_OK


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
    """testinfra's ``--hosts`` and the options its backend needs, for the inventory's route:
    ``ssh://NODE`` with an ssh_config, or ``kubenode://NODE`` (see binderfix.verify.kubenode)."""
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
    builders: list[tuple[str, dict]], settings: Settings, env: dict[str, str] | None
) -> list[TestCase]:
    """Run the testinfra suite (its output goes to the console as it runs) and return its
    results as test cases: one per node and check, an unreachable node an ``error``."""
    suite = importlib.util.find_spec("binderfix.verify.test_builders")
    assert suite is not None and suite.origin is not None
    with tempfile.TemporaryDirectory(prefix="binderfix-verify-") as tmp:
        results = Path(tmp) / "results.xml"
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
            "-o",
            "junit_family=xunit1",
            *_testinfra_hosts(builders, settings, tmp),
            f"--junitxml={results}",
        ]
        proc = subprocess.run(argv, cwd=tmp, stdin=subprocess.DEVNULL, env=env)
        cases = _testinfra_cases(results) if results.exists() else []
    if proc.returncode in (0, 1) and cases:
        return cases
    why = f"the testinfra suite could not run (pytest exit {proc.returncode})"
    click.echo(f"binderfix verify: {why}", err=True)
    return [
        TestCase(name=data["node"], classname=f"binderfix.verify.{check}", error=why)
        for check in VERIFY_CHECKS
        for _name, data in builders
    ]


def _testinfra_cases(results: Path) -> list[TestCase]:
    """pytest's JUnit (``test_x[ssh://node-1]`` in ``test_builders``) as ours: the case
    named after the node, the class after the check, as ``binderfix check`` writes them."""
    cases = []
    for tc in ET.parse(results).getroot().iter("testcase"):
        test, _, param = tc.get("name", "").partition("[")
        node = param.rstrip("]").partition("://")[2].partition("?")[0] or "?"
        case = TestCase(
            name=node,
            classname=f"binderfix.verify.{test.removeprefix('test_')}",
            time=float(tc.get("time") or 0),
        )
        for tag in ("failure", "error"):
            el = tc.find(tag)
            if el is not None:  # pytest's message is the assertion's; its text the traceback
                message = (el.get("message") or tag).strip()
                setattr(case, tag, f"{message}\n\n{(el.text or '').strip()}".strip())
        if tc.find("skipped") is not None:
            case.error = "skipped: " + (tc.find("skipped").get("message") or "")
        cases.append(case)
    return cases


def _idempotence(nodes: list[str], env: dict[str, str] | None) -> list[TestCase]:
    """molecule's idempotence step: a dry run of the deploy must want to change nothing.

    One test case per node: a failure names the operations that would still change it; an
    error says the dry run could not tell (pyinfra failed, or could not reach the node).
    """
    from binderfix.inventory.kubectl import PYINFRA_ARGS

    # This installation's pyinfra, whether or not its script is on PATH.
    argv = [sys.executable, "-m", "pyinfra", *PYINFRA_ARGS, "--dry", "--json"]
    classname = "binderfix.verify.idempotence"
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    # pyinfra's plan lists only the nodes it reached; one it could not reach is named on
    # its stderr lines (its "[node] ..." prefix), and the run exits non-zero.
    failed_lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]

    def said_about(node: str) -> str:
        return " / ".join(line for line in failed_lines if f"[{node}]" in line)[-1000:]

    try:
        plan = json.loads(proc.stdout)["plan"]
    except (ValueError, KeyError, TypeError):
        last = failed_lines[-1] if failed_lines else "no output"
        why = f"the dry run did not complete (pyinfra exit {proc.returncode}: {last})"
        click.echo(f"binderfix verify: {why}\n  command: {shlex.join(argv)}", err=True)
        return [
            TestCase(name=node, classname=classname, error=f"{why}\n{said_about(node)}".strip())
            for node in nodes
        ]
    changes: dict[str, list[str]] = {}
    for op in plan:
        for host in op["hosts_with_change"]:
            changes.setdefault(host, []).append(op["name"])
    cases = []
    for node in nodes:
        case = TestCase(name=node, classname=classname)
        if node in changes:
            case.failure = "; ".join(f"{name!r} would still change" for name in changes[node])
            for name in changes[node]:
                click.echo(f"idempotence: FAILED: {node}: {name!r} would still change")
        elif proc.returncode and said_about(node):
            case.error = f"the dry run failed here: {said_about(node)}"
            click.echo(f"idempotence: ERROR: {node}: {case.error}")
        cases.append(case)
    if proc.returncode and not any(c.failure or c.error for c in cases):
        why = f"the dry run exited {proc.returncode}: {proc.stderr.strip()[-1000:]}"
        click.echo(f"idempotence: ERROR: {why}", err=True)
        cases.append(TestCase(name="dry run", classname=classname, error=why))
    if not any(c.failure or c.error for c in cases):
        click.echo("idempotence: a second run would change nothing")
    return cases
