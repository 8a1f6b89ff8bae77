"""A command across the clusters of a federation: the same command once per cluster, at once.

``binderfix netcheck``, ``spikes`` and ``verify`` each work on one cluster. With several
clusters chosen (``--context A --context B``, ``--all-contexts``, ``BINDERFIX_CONTEXTS``),
:func:`fan_out` runs the command once per cluster, concurrently, each with its own settings
(its settings-file section as environment variables, its kubeconfig context), and gathers
what they printed: text grouped by cluster under a one-line summary each; JSON that keeps
each cluster apart under ``clusters``; JUnit with every cluster's test suites, renamed after
their cluster. Exit 2 if any cluster could not be checked, else 1 if any found something,
else 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from binderfix.inventory.clusters import CONFIG_VARIABLE, CONTEXTS_VARIABLE, Member, for_each
from binderfix.report import EXIT_ERROR, EXIT_FOUND, EXIT_OK, write_text

# How each command's own output says what it found, for the one-line summary.
SUMMARY = {EXIT_OK: "nothing to report", EXIT_FOUND: "found something", EXIT_ERROR: "could not run"}


def cluster_options(envvar: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """``--context NAME`` (repeatable) and ``--all-contexts``, for every command.

    ``envvar``: where a command that also takes one kubeconfig context (netcheck, spikes)
    reads it from, as a per-cluster run of :func:`fan_out` hands it over."""

    def decorate(command: Callable[..., Any]) -> Any:
        command = click.option(
            "--all-contexts",
            is_flag=True,
            help="Every cluster of the settings file (else every kubeconfig context).",
        )(command)
        return click.option(
            "--context",
            "contexts",
            multiple=True,
            metavar="NAME",
            envvar=envvar,
            help="A cluster to work on: a kubeconfig context or a settings-file cluster. "
            "Repeat it to work on several at once (default: BINDERFIX_CONTEXTS, else the "
            "current context).",
        )(command)

    return decorate


def federated_members(contexts: Sequence[str], all_contexts: bool) -> list[Member] | None:
    """The clusters of a federation run, or None for a run on one cluster (one ``--context``
    or none, and no ``BINDERFIX_CONTEXTS``), which the command then does itself."""
    from binderfix.inventory.clusters import choose

    if len(contexts) <= 1 and not all_contexts and not os.environ.get(CONTEXTS_VARIABLE):
        return None
    members, federated = choose(contexts, all_contexts)
    return members if federated else None


def one_cluster(contexts: Sequence[str]) -> Member:
    """The cluster of a run on one cluster: its ``--context`` (a kubeconfig context, or a
    settings-file cluster with that cluster's settings), else the environment's."""
    from binderfix.inventory.clusters import choose

    (member, *_), _ = choose(contexts[:1])
    return member


def one_context(contexts: Sequence[str]) -> str | None:
    """The kubeconfig context of one ``--context`` (a settings-file cluster names its own),
    for the commands that need no other setting (netcheck, spikes); None: the current one."""
    return one_cluster(contexts).settings.context if contexts else None


def own_args(argv: Sequence[str]) -> list[str]:
    """A command's arguments without those that choose clusters or name the JUnit file."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--context", "--junit"):
            skip = True
            continue
        if arg == "--all-contexts" or arg.startswith(("--context=", "--junit=")):
            continue
        out.append(arg)
    return out


def fan_out(
    command: str,
    members: Sequence[Member],
    as_json: bool,
    junit_file: str | None,
    across: Callable[[dict[str, Any]], tuple[dict[str, Any], str]] | None = None,
) -> int:
    """Run ``binderfix COMMAND`` (with this process's own arguments) on every cluster.

    ``across``: for a command whose clusters add up (spikes: the federation's total and
    each cluster's share), turns the clusters' JSON reports into a federation-wide part of
    the JSON and a text summary; the clusters then report in JSON to this process."""
    args = own_args(sys.argv[2:])
    if across is not None and "--json" not in args:
        args.append("--json")
    with tempfile.TemporaryDirectory(prefix="binderfix-federation-") as tmp:

        def one(member: Member) -> subprocess.CompletedProcess[str]:
            junit = [] if not junit_file else ["--junit", str(Path(tmp) / f"{member.name}.xml")]
            argv = [sys.executable, "-m", "binderfix", command, *args, *junit]
            return subprocess.run(
                argv,
                env=cluster_env(member),
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )

        outcomes = for_each(members, one)
        if junit_file:
            write_text(junit_file, merged_junit(tmp, members), "--junit")
    results = {o.member.name: o.value for o in outcomes if o.value is not None}
    code = max(
        (r.returncode if r.returncode in (0, 1, 2) else EXIT_ERROR) for r in results.values()
    )
    clusters: dict[str, Any] = {}
    for name, r in results.items():
        try:
            report = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            report = None
        clusters[name] = {"exit_code": r.returncode, "report": report, "stderr": r.stderr}
    whole, summary = across(clusters) if across is not None else ({}, "")
    if as_json:
        document = {"clusters": clusters, **({"federation": whole} if across else {})}
        print(json.dumps({**document, "exit_code": code}, indent=2))
        return code
    if across is not None:
        for name, r in results.items():
            said = r.stderr.strip()
            print(f"== {name}: {SUMMARY.get(r.returncode, 'could not run')} (exit {r.returncode})")
            if said:
                print(said, file=sys.stderr)
        print(summary)
        return code
    for name, r in results.items():
        print(f"== {name}: {SUMMARY.get(r.returncode, 'could not run')} (exit {r.returncode})")
        if r.stdout.strip():
            print(r.stdout.rstrip())
        if r.stderr.strip():
            print(r.stderr.rstrip(), file=sys.stderr)
        print()
    return code


def cluster_env(member: Member) -> dict[str, str]:
    """The environment a per-cluster run sees: this one, its cluster's settings-file section,
    and no cluster choice (it is one cluster now)."""
    from binderfix.inventory.clusters import default_config, read_config

    env = {k: v for k, v in os.environ.items() if k != CONTEXTS_VARIABLE}
    path = Path(env.get(CONFIG_VARIABLE) or default_config(env))  # where choose() read it
    if path.exists():
        section = read_config(path).get(member.name, {})
        env = {**section, **env}  # the environment still overrides the file
    env["BINDERFIX_CONTEXT"] = member.settings.context or member.name
    return env


def merged_junit(folder: str, members: Sequence[Member]) -> str:
    """Every cluster's JUnit suites in one file, each suite named after its cluster."""
    root = ET.Element("testsuites")
    for member in members:
        path = Path(folder) / f"{member.name}.xml"
        if not path.exists():
            suite = ET.SubElement(root, "testsuite", name=f"({member.name})", tests="1", errors="1")
            case = ET.SubElement(suite, "testcase", name="could not run", classname=member.name)
            ET.SubElement(case, "error", message="no report was written")
            continue
        found = ET.parse(path).getroot()
        for suite in [found] if found.tag == "testsuite" else found.findall("testsuite"):
            suite.set("name", f"{suite.get('name', '')} ({member.name})")
            root.append(suite)
    return ET.tostring(root, encoding="unicode")
