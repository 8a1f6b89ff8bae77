"""Output shared by every command: tables for people, JSON and JUnit for machines.

Exit codes are the same across binderfix's commands:

- 0: nothing to report (healthy, no spike, nothing to fix)
- 1: the check ran and found a problem
- 2: the check could not run (bad input, API or node unreachable)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from xml.etree import ElementTree as ET

from binderfix.errors import BinderfixError

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_ERROR = 2


def use_colour(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str, enabled: bool) -> str:
    codes = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
    return f"\x1b[{codes[colour]}m{text}\x1b[0m" if enabled else text


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain, aligned text table, like ``kubectl get`` prints."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(_strip_ansi(row[i])) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c + " " * (w - len(_strip_ansi(c))) for c, w in zip(row, widths, strict=True)]
        lines.append("   ".join(padded).rstrip())
    return "\n".join(lines)


def _strip_ansi(text: str) -> str:
    out, skipping = [], False
    for ch in text:
        if ch == "\x1b":
            skipping = True
        elif skipping and ch == "m":
            skipping = False
        elif not skipping:
            out.append(ch)
    return "".join(out)


def dump_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, so two runs over the same state diff cleanly."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


@dataclass
class TestCase:
    """One JUnit test case: a node checked, a target probed, a spike window."""

    name: str
    classname: str
    failure: str | None = None
    error: str | None = None
    time: float = 0.0
    output: str = ""


@dataclass
class TestSuite:
    name: str
    cases: list[TestCase] = field(default_factory=list)


def junit_xml(suites: Sequence[TestSuite]) -> str:
    """JUnit XML as CI systems (GitHub, GitLab, Jenkins) read it."""
    root = ET.Element("testsuites")
    for suite in suites:
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite.name,
            tests=str(len(suite.cases)),
            failures=str(sum(1 for c in suite.cases if c.failure is not None)),
            errors=str(sum(1 for c in suite.cases if c.error is not None)),
            time=f"{sum(c.time for c in suite.cases):.3f}",
        )
        for case in suite.cases:
            tc = ET.SubElement(
                el, "testcase", name=case.name, classname=case.classname, time=f"{case.time:.3f}"
            )
            if case.failure is not None:
                ET.SubElement(
                    tc, "failure", message=case.failure.splitlines()[0][:200]
                ).text = case.failure
            if case.error is not None:
                ET.SubElement(
                    tc, "error", message=case.error.splitlines()[0][:200]
                ).text = case.error
            if case.output:
                ET.SubElement(tc, "system-out").text = case.output
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _unwritable(path: str, option: str | None, why: str) -> BinderfixError:
    given = f"{option} {path}" if option else path
    return BinderfixError(
        f"cannot write {given}: {why}",
        hint=f"give {option or 'it'} a file in a folder you can write to",
    )


def check_writable(path: str | None, option: str | None = None) -> None:
    """Refuse, before a long run, a report file that could not be written at its end.

    Creates nothing: the path must be a writable file or not exist yet, and the nearest
    folder that exists on the way to it must be one this process can write in.
    """
    if not path or path == "-":
        return
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise _unwritable(path, option, "it is a folder")
    probe = target if os.path.exists(target) else os.path.dirname(target)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if probe != target and not os.path.isdir(probe):
        raise _unwritable(path, option, f"{probe} is a file, not a folder")
    mode = os.W_OK if probe == target else os.W_OK | os.X_OK
    if not os.access(probe, mode):
        raise _unwritable(path, option, f"no permission to write in {probe}")


def write_text(path: str, text: str, option: str | None = None) -> None:
    """Write a report file, creating its folder; '-' means standard output.

    A place that cannot be written is a BinderfixError naming it (and the ``option`` that
    gave it, e.g. ``--junit``): one line for the user, exit 2, never a traceback.
    """
    if path == "-":
        sys.stdout.write(text)
        return
    check_writable(path, option)
    try:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise _unwritable(path, option, exc.strerror or str(exc)) from None


def write_not_run(
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
        print(f"binderfix: error: {unwritable.message}", file=sys.stderr)
