"""``binderfix check`` and ``binderfix verify``: for people at a terminal and for CI.

Exit codes: 0 nothing to fix, 1 something to fix (or verification failed), 2 could not run.
Nothing prompts; output order is deterministic; secrets never printed.
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
    dump_json,
    junit_xml,
    paint,
    render_table,
    use_colour,
    write_text,
)
from binderfix.verify.checks import CHECKS, ERROR, OK, PROBLEM, Finding

if TYPE_CHECKING:
    from binderfix.inventory.clusters import Member
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
@cluster_options()
def check(
    only: tuple[str, ...],
    as_json: bool,
    junit_file: str | None,
    contexts: tuple[str, ...],
    all_contexts: bool,
) -> None:
    """Is any builder node in the broken state? Read-only; for CI schedules.

    Reads the same settings as inventories/kubectl.py (environment variables, and the
    settings file across clusters). Exit 0 when nothing needs fixing, 1 when something
    does, 2 when the check could not run (the API or a node unreachable: named in the
    output; across clusters, 2 if any cluster could not be checked, the others in full).
    """
    from binderfix.inventory.clusters import choose

    check_writable(junit_file, "--junit")  # before the nodes are read, not after
    names = sorted(only or CHECKS)
    findings: list[Finding] = []
    try:
        members, federated = choose(contexts, all_contexts)
        if federated:
            sys.exit(_check_federation(members, names, as_json, junit_file))
        for name in names:
            findings += CHECKS[name]().run(members[0].settings)
    except BinderfixError as exc:
        _write_not_run(junit_file, "binderfix check", [f"binderfix.check.{n}" for n in names], exc)
        raise
    findings.sort(key=lambda f: (f.check, f.subject))
    if junit_file:
        write_text(junit_file, junit_xml([_suite(findings)]), "--junit")
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


def _check_federation(
    members: list[Member], names: list[str], as_json: bool, junit_file: str | None
) -> int:
    """``check`` across clusters: every cluster's pods at once, every node's facts in one
    go, then a report grouped by cluster. A cluster that cannot be read is an error of its
    own; the others are reported in full."""
    from binderfix.inventory.clusters import for_each
    from binderfix.inventory.hosts import builder_groups
    from binderfix.verify.checks import DindSocketCheck

    outcomes = for_each(members, lambda m: builder_groups(m.settings, m.name)[0])
    by_cluster: dict[str, list[Finding]] = {m.name: [] for m in members}
    failed = {o.member.name: o.error for o in outcomes if o.error is not None}
    if "dind" in names:
        every = [host for o in outcomes for host in (o.value or [])]
        for f in DindSocketCheck().findings(every) if every else []:
            by_cluster[f.details["cluster"]].append(f)
    others = [n for n in names if n != "dind"]
    if others:
        extra = for_each(
            [m for m in members if m.name not in failed],
            lambda m: [f for n in others for f in CHECKS[n]().run(m.settings)],
        )
        for o in extra:
            if o.error is not None:
                failed[o.member.name] = o.error
            else:
                by_cluster[o.member.name] += o.value or []
    for name in by_cluster:
        by_cluster[name].sort(key=lambda f: (f.check, f.subject))
    code = max([EXIT_ERROR if failed else EXIT_OK] + [_exit_code(fs) for fs in by_cluster.values()])
    if junit_file:
        suites = []
        for m in members:
            if m.name in failed:
                exc = failed[m.name]
                why = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
                cases = [
                    TestCase(name="could not run", classname=f"binderfix.check.{n}", error=why)
                    for n in names
                ]
            else:
                cases = _suite(by_cluster[m.name]).cases
            suites.append(TestSuite(name=f"binderfix check ({m.name})", cases=cases))
        write_text(junit_file, junit_xml(suites), "--junit")
    if as_json:
        clusters = {}
        for m in members:
            exc = failed.get(m.name)
            fs = by_cluster[m.name]
            clusters[m.name] = {
                "context": m.settings.context,
                "findings": [f.as_dict() for f in fs],
                "error": None if exc is None else {"message": exc.message, "hint": exc.hint},
                "exit_code": EXIT_ERROR if exc is not None else _exit_code(fs),
            }
        click.echo(dump_json({"clusters": clusters, "exit_code": code}))
        return code
    colour = use_colour()
    colours = {OK: "green", PROBLEM: "red", ERROR: "yellow"}
    for m in members:
        fs = by_cluster[m.name]
        if m.name in failed:
            exc = failed[m.name]
            click.echo(paint(f"== {m.name}: could not be checked: {exc.message}", "yellow", colour))
            if exc.hint:
                click.echo(f"   hint: {exc.hint}")
            continue
        problems = sum(f.verdict == PROBLEM for f in fs)
        errors = sum(f.verdict == ERROR for f in fs)
        click.echo(
            f"== {m.name}: {len(fs)} checked: {problems} to fix, {errors} could not be checked"
        )
        rows = [
            [f.subject, paint(f.verdict.upper(), colours[f.verdict], colour), f.summary] for f in fs
        ]
        click.echo(render_table(["NODE", "VERDICT", "DETAILS"], rows) + "\n")
    return code


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
@cluster_options()
def verify(
    idempotence: bool, junit_file: str | None, contexts: tuple[str, ...], all_contexts: bool
) -> None:
    """After a fix: every socket path is a socket or absent and every builder pod Ready.

    Runs the package's pytest-testinfra suite (binderfix.verify.test_builders) against the
    builder nodes of the inventory. Exit 0 all passed, 1 something failed, 2 could not run.
    """
    from binderfix.federation import fan_out, federated_members
    from binderfix.inventory.hosts import builder_groups
    from binderfix.inventory.settings import from_env

    check_writable(junit_file, "--junit")  # before the suite runs, not after
    members = federated_members(contexts, all_contexts)
    if members is not None:
        sys.exit(fan_out("verify", members, False, junit_file))
    checks = [f"binderfix.verify.{name}" for name in VERIFY_CHECKS]
    if idempotence:
        checks.append("binderfix.verify.idempotence")
    try:
        settings = from_env()
        builders, _ = builder_groups(settings)
    except BinderfixError as exc:
        _write_not_run(junit_file, "binderfix verify", checks, exc)
        raise
    cases = _run_testinfra(builders, settings)
    if idempotence:
        cases += _idempotence([node for node, _data in builders])
    if junit_file:
        write_text(junit_file, junit_xml([TestSuite("binderfix verify", cases)]), "--junit")
    sys.exit(_cases_exit_code(cases))


# The tests of binderfix.verify.test_builders, by the name their JUnit cases carry.
VERIFY_CHECKS = ("socket_path_is_a_socket_or_absent", "builder_pod_is_ready")


def _cases_exit_code(cases: list[TestCase]) -> int:
    if any(c.error is not None for c in cases):
        return EXIT_ERROR
    return EXIT_FOUND if any(c.failure is not None for c in cases) else EXIT_OK


def _write_not_run(
    junit_file: str | None, suite: str, classnames: list[str], exc: BinderfixError
) -> None:
    """The command could not run: CI's report says so too, one <error> per check, rather
    than finding no file (or an old one) and showing nothing."""
    if not junit_file:
        return
    why = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    cases = [TestCase(name="could not run", classname=c, error=why) for c in classnames]
    try:
        write_text(junit_file, junit_xml([TestSuite(suite, cases)]), "--junit")
    except BinderfixError as unwritable:  # the first error is the one to act on; say both
        click.echo(f"binderfix: error: {unwritable.message}", err=True)


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


def _run_testinfra(builders: list[tuple[str, dict]], settings: Settings) -> list[TestCase]:
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
        proc = subprocess.run(argv, cwd=tmp, stdin=subprocess.DEVNULL)
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


def _idempotence(nodes: list[str]) -> list[TestCase]:
    """molecule's idempotence step: a dry run of the deploy must want to change nothing.

    One test case per node: a failure names the operations that would still change it; an
    error says the dry run could not tell (pyinfra failed, or could not reach the node).
    """
    from binderfix.inventory.kubectl import PYINFRA_ARGS

    # This installation's pyinfra, whether or not its script is on PATH.
    argv = [sys.executable, "-m", "pyinfra", *PYINFRA_ARGS, "--dry", "--json"]
    classname = "binderfix.verify.idempotence"
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
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
