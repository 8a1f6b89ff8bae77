"""``binderfix check``: every node's socket path and every builder pod, read side by side and
judged, for people at a terminal (a table) and for CI (JSON, JUnit).

Exit codes: 0 nothing to fix, 1 something to fix, 2 could not run. Nothing prompts; output
order is deterministic; secrets never printed. ``binderfix verify`` (after a fix: testinfra
and a second, no-change run) is in :mod:`binderfix.verify.command`.
"""

from __future__ import annotations

import sys
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
    write_not_run,
    write_text,
)
from binderfix.verify.checks import CHECKS, ERROR, OK, PROBLEM, Finding

if TYPE_CHECKING:
    from binderfix.inventory.clusters import Member


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
        write_not_run(junit_file, "binderfix check", [f"binderfix.check.{n}" for n in names], exc)
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
