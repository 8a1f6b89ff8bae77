"""The checks ``binderfix check`` runs. Each is a class with a name and ``run()``.

A check returns findings, one per thing it looked at (a node, a target...). Adding a check
means adding a class here and to ``CHECKS``; the command, the JSON and the JUnit report
take it from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from binderfix.dind.state import PathState
from binderfix.inventory.hosts import HostList
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


def describe_path(state: PathState | None) -> str:
    """`socket`, `absent`, `directory holding 2 entries: a, b`: the fact's own words."""
    if state is None:
        return "absent"
    if state.kind == "directory" and state.entry_count:
        return f"{state.describe()}: {state.listing()}"
    return state.describe()


class DindSocketCheck:
    """Is any builder node in the runbook's broken state? Socket path and pod, per node."""

    name = "dind"
    description = "builder socket path is absent or a socket, and the builder pod is Ready"

    def run(self, settings: Settings) -> list[Finding]:
        from binderfix.inventory.hosts import builder_groups

        builders, _unhealthy = builder_groups(settings)
        return self.findings(builders)

    def findings(self, builders: HostList) -> list[Finding]:
        """Read every node of ``builders`` at once (of one cluster, or of several: a
        federation's nodes are read in one go) and judge each."""
        from binderfix.dind.facts import SocketPathState
        from binderfix.verify.nodes import read_fact

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
                "cluster": data.get("cluster", ""),
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


class HelperPodsCheck:
    """Is a kubenode helper pod left on a node by a run that was killed (SIGKILL, a crash)?

    A helper pod is privileged on its node: one nobody uses should not linger until its
    deadline. Pods of a run in progress (this machine's live processes, or another
    machine's) are listed as ok; the next kubenode run on the node removes a leftover."""

    name = "helpers"
    description = "no privileged kubenode helper pod is left behind by a killed run"

    def run(self, settings: Settings) -> list[Finding]:
        from binderfix.kube.client import connect
        from binderfix.kube.nodepod import (
            HOLDER_ANNOTATION,
            NODE_ANNOTATION,
            is_abandoned,
            leftover_helpers,
        )

        if settings.listing:
            return []  # a saved listing: no API to ask
        cluster = connect(context=settings.context, namespace=settings.namespace)
        findings = []
        for pod in leftover_helpers(cluster, settings.node_namespace):
            meta = pod["metadata"]
            notes = meta.get("annotations") or {}
            node, held = notes.get(NODE_ANNOTATION, "?"), notes.get(HOLDER_ANNOTATION, "?")
            details = {"pod": meta["name"], "namespace": meta.get("namespace"), "holder": held}
            subject = f"{node} (helper pod)"
            if is_abandoned(pod):
                summary = (
                    f"{meta['name']} left by a killed run ({held}): the next kubenode run on "
                    f"{node} removes it, or kubectl delete pod {meta['name']} -n "
                    f"{meta.get('namespace')}"
                )
                findings.append(Finding(self.name, subject, PROBLEM, summary, details))
            else:
                summary = f"{meta['name']} in use by a run in progress ({held})"
                findings.append(Finding(self.name, subject, OK, summary, details))
        return findings


CHECKS: dict[str, type] = {c.name: c for c in (DindSocketCheck, HelperPodsCheck)}
