"""netcheck's results for people (a matrix) and machines (JSON, JUnit); redaction.

A matrix maps each source ("local", "pod/hub-...") to its judged results in target order
(see :func:`binderfix.netcheck.verdicts.judge`). Everything printed or written goes through
:func:`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from binderfix.netcheck import probe
from binderfix.report import TestCase, TestSuite, paint, render_table

REDACTED = probe.REDACTED
Matrix = Mapping[str, Sequence[Mapping[str, Any]]]

_AUTH_HEADER = re.compile(
    r"((?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?)(?![ \t])(?!\[redacted\])"
    r"[^\r\n,;'\"}]+",
    re.I,
)


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (text, or lists and dicts of it) with every secret replaced, and the value
    of any ``Authorization:`` header in text replaced, by ``[redacted]``."""
    value = probe.redact(value, list(secrets))
    if isinstance(value, str):
        return _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, value)
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def cell(r: Mapping[str, Any], colour: bool) -> str:
    """One matrix cell: green when the target is as expected, red with the reason if not."""
    if r.get("expect") == "blocked":
        if r["passed"]:
            return paint(f"blocked ({r['verdict']})", "green", colour)
        return paint(f"NOT BLOCKED: {r.get('detail', '')}", "red", colour)
    if r["verdict"] == "ok":
        latency = f" {r['latency_ms']}ms" if r.get("latency_ms") is not None else ""
        text = f"ok {r.get('status') or ''}{latency}".replace("  ", " ").strip()
        if r.get("summary"):
            text += f" ({r['summary']})"
        return paint(text, "green", colour)
    return paint(f"{r['verdict'].upper()}: {r.get('detail', '')}", "red", colour)


def matrix_text(matrix: Matrix, colour: bool) -> str:
    """One row per target, one column per source, a count of what passed, and a hint for
    each verdict that has one (said once, however many cells show it)."""
    sources = list(matrix)
    if not sources:
        return "no source could be probed from"
    ids = [r["id"] for r in matrix[sources[0]]]
    rows = [[tid, *[cell(matrix[s][i], colour) for s in sources]] for i, tid in enumerate(ids)]
    passed = sum(bool(r["passed"]) for rs in matrix.values() for r in rs)
    total = sum(len(rs) for rs in matrix.values())
    summary = f"{passed}/{total} as expected"
    summary = paint(summary, "green" if passed == total else "red", colour)
    hints = dict.fromkeys(
        f"hint: {r['verdict']}: {r['hint']}" for rs in matrix.values() for r in rs if r.get("hint")
    )
    return "\n".join([render_table(["TARGET", *sources], rows), "", summary, *hints])


def json_document(
    matrix: Matrix,
    how: Mapping[str, str],
    errors: Sequence[Mapping[str, str]],
    seconds: float,
    timeout: float,
    debug: bool,
) -> dict[str, Any]:
    """What ``--json`` prints. ``steps`` (what each probe did) only with ``--debug``."""
    keep = (lambda k: True) if debug else (lambda k: k != "steps")
    return {
        "sources": {
            s: [{k: v for k, v in r.items() if keep(k)} for r in rs] for s, rs in matrix.items()
        },
        "how": dict(how),
        "errors": list(errors),
        "passed": not errors and all(r["passed"] for rs in matrix.values() for r in rs),
        "seconds": round(seconds, 2),
        "timeout": timeout,
    }


def junit_suites(matrix: Matrix, debug: bool = False) -> list[TestSuite]:
    """A suite per source, a case per target; a failure for each target not as expected."""
    suites = []
    for source, results in matrix.items():
        cases = []
        for r in results:
            output = r.get("detail", "")
            if debug and r.get("steps"):
                output += "\n" + "\n".join(r["steps"])
            case = TestCase(
                name=r["id"],
                classname=f"binderfix.netcheck.{source}",
                time=(r.get("latency_ms") or 0) / 1000,
                output=output,
            )
            if not r["passed"]:
                case.failure = f"{r['verdict']}: {r.get('detail', '')}"
            cases.append(case)
        suites.append(TestSuite(name=f"netcheck from {source}", cases=cases))
    return suites


def debug_lines(source: str, how: str, ran: Sequence[str], results: Sequence[Mapping]) -> list[str]:
    """What ``--debug`` prints for one source: how it probed, then each probe's steps."""
    lines = [f"{source}: probed with {how}"] + [f"{source}: {line}" for line in ran]
    for r in results:
        for step in r.get("steps") or []:
            lines.append(f"{source}: {r['id']}: {step}")
        lines.append(f"{source}: {r['id']}: => {r['verdict']} ({r.get('detail', '')})")
    return lines
