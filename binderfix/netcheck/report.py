"""netcheck's verdicts as a matrix for people, JSON and JUnit for machines; the exit status."""

from __future__ import annotations

from typing import Any

from binderfix.netcheck.runner import SourceResult
from binderfix.netcheck.targets import Target
from binderfix.report import EXIT_FOUND, EXIT_OK, TestCase, TestSuite, paint, render_table

REDACTED = "[redacted]"


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def judge(source: SourceResult, targets: list[Target]) -> list[dict[str, Any]]:
    """Results in target order, with ``same_as`` checked: the proxy must answer as the hub."""
    by_id = {r["id"]: r for r in source.results}
    judged = []
    for t in targets:
        r = dict(
            by_id.get(t.id)
            or {"id": t.id, "verdict": "error", "detail": "no result", "status": None}
        )
        other = by_id.get(t.same_as) if t.same_as else None
        if (
            r["verdict"] == "ok"
            and other
            and other.get("verdict") == "ok"
            and r.get("body_sha256") != other.get("body_sha256")
        ):
            r.update(verdict="mismatch", detail=f"answer differs from {t.same_as}'s")
        r.pop("body_sha256", None)
        judged.append(r)
    return judged


def exit_code(matrix: dict[str, list[dict[str, Any]]]) -> int:
    return (
        EXIT_OK if all(r["verdict"] == "ok" for rs in matrix.values() for r in rs) else EXIT_FOUND
    )


def _cell(r: dict[str, Any], colour: bool) -> str:
    if r["verdict"] == "ok":
        latency = f" {r['latency_ms']}ms" if r.get("latency_ms") is not None else ""
        text = f"ok {r.get('status') or ''}{latency}".strip()
        if r.get("summary"):
            text += f" ({r['summary']})"
        return paint(text, "green", colour)
    return paint(f"{r['verdict'].upper()}: {r.get('detail', '')}", "red", colour)


def matrix_text(matrix: dict[str, list[dict[str, Any]]], colour: bool) -> str:
    """One row per target, one column per source: reads well for one source or a few."""
    sources = list(matrix)
    ids = [r["id"] for r in next(iter(matrix.values()))] if matrix else []
    rows = [[tid, *[_cell(matrix[s][i], colour) for s in sources]] for i, tid in enumerate(ids)]
    bad = sum(r["verdict"] != "ok" for rs in matrix.values() for r in rs)
    total = sum(len(rs) for rs in matrix.values())
    return render_table(["TARGET", *sources], rows) + f"\n\n{total - bad}/{total} reachable"


def junit(matrix: dict[str, list[dict[str, Any]]]) -> list[TestSuite]:
    suites = []
    for source, results in matrix.items():
        cases = []
        for r in results:
            case = TestCase(
                name=r["id"],
                classname=f"binderfix.netcheck.{source}",
                time=(r.get("latency_ms") or 0) / 1000,
                output=r.get("detail", ""),
            )
            if r["verdict"] != "ok":
                case.failure = f"{r['verdict']}: {r.get('detail', '')}"
            cases.append(case)
        suites.append(TestSuite(name=f"netcheck from {source}", cases=cases))
    return suites
