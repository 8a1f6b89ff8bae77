"""The checks ``binderfix check`` runs. Each is a class with a name and ``run()``.

A check returns findings, one per thing it looked at (a node, a target...). Adding a check
means adding a class here and to ``CHECKS``; the command, the JSON and the JUnit report
take it from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from binderfix.inventory.settings import Settings

OK, PROBLEM, ERROR = "ok", "problem", "error"


@dataclass
class Finding:
    check: str
    subject: str  # e.g. the node name
    verdict: str  # OK, PROBLEM or ERROR
    summary: str  # one line for the table
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Check(Protocol):
    name: str
    description: str

    def run(self, settings: Settings) -> list[Finding]: ...


def describe_path(state: Any) -> str:
    """`socket`, `absent`, `directory (2 entries: a, b)`: a path state in a few words."""
    if state is None:
        return "absent"
    kind = state.kind
    if kind == "directory":
        entries = list(getattr(state, "entries", []) or [])
        count = getattr(state, "entry_count", None) or len(entries)
        if not count:
            return "directory (empty)"
        shown = ", ".join(entries[:3]) + (", ..." if count > 3 else "")
        return f"directory ({count} entries: {shown})"
    return kind


class DindSocketCheck:
    """Is any builder node in the runbook's broken state? Socket path and pod, per node."""

    name = "dind"
    description = "builder socket path is absent or a socket, and the builder pod is Ready"

    def run(self, settings: Settings) -> list[Finding]:
        from binderfix.dind.facts import SocketPathState
        from binderfix.inventory.hosts import builder_groups
        from binderfix.verify.nodes import read_fact

        builders, _unhealthy = builder_groups(settings)
        facts = read_fact(
            builders,
            SocketPathState,
            lambda data: {"path": data["socket_path"], "_sudo": data["binderfix_sudo"]},
        )
        findings = []
        for node, data in builders:
            pod = f"{data['pod_name']} ({data['status']}, {data['restarts']} restarts)"
            details = {
                "node": node,
                "pod": data["pod_name"],
                "pod_status": data["status"],
                "ready": data["ready"],
                "restarts": data["restarts"],
                "socket_path": data["socket_path"],
            }
            if node in facts.unreachable:
                details["error"] = facts.unreachable[node]
                findings.append(
                    Finding(
                        self.name, node, ERROR, f"unreachable: {facts.unreachable[node]}", details
                    )
                )
                continue
            state = facts.facts.get(node)
            path = describe_path(state)
            details["path_state"] = path
            bad_path = state is not None and state.kind not in ("socket", "absent")
            if bad_path or not data["healthy"]:
                why = []
                if bad_path:
                    why.append(f"{data['socket_path']} is a {path}")
                if not data["healthy"]:
                    why.append(f"builder pod {pod}")
                findings.append(Finding(self.name, node, PROBLEM, "; ".join(why), details))
            else:
                findings.append(Finding(self.name, node, OK, f"{path}; builder pod {pod}", details))
        return findings


CHECKS: dict[str, type] = {DindSocketCheck.name: DindSocketCheck}
