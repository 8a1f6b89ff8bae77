"""Where the probes run from: inside a pod (exec), a short-lived probe pod, or this machine.

In a pod, netcheck first asks which tools it has (``command -v python3 curl wget bash``),
then runs either the Python probe (``python3 -c <probe.py>``, the targets as one JSON line
on stdin) or the shell fallback (``sh -c <fallback.sh> netcheck <target>...``), both through
the Kubernetes exec API (``kubernetes.stream.stream`` over
``connect_get_namespaced_pod_exec``: a websocket, channels v5 or v4).

Every failure to run is a :class:`BinderfixError` (exit 2) that says what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.exec import container_of, exec_in_pod
from binderfix.netcheck import probe
from binderfix.netcheck.targets import Target
from binderfix.netcheck.verdicts import NO_TOOL, classify_shell

TOOLS = ("python3", "curl", "wget", "bash")
DETECT = 'for t in python3 curl wget bash; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; :'
_NOT_FOUND = re.compile(r"not found|no such file|executable file", re.I)


def probe_script() -> str:
    """The Python probe, as the text ``python3 -c`` runs."""
    return resources.files("binderfix.netcheck").joinpath("probe.py").read_text()


def fallback_script() -> str:
    """The shell fallback, as the text ``sh -c`` runs."""
    return resources.files("binderfix.netcheck").joinpath("fallback.sh").read_text()


@dataclass
class SourceResult:
    """What one source reported: its results in target order, and how it probed."""

    source: str  # "local", "pod/hub-...", "probe-pod for hub-..."
    results: list[dict[str, Any]] = field(default_factory=list)
    how: str = ""  # "local", "python3 3.11.2", "shell fallback (curl)"
    debug: list[str] = field(default_factory=list)  # what was run, for --debug
    warnings: list[str] = field(default_factory=list)  # printed whatever the flags


def run_local(
    targets: Sequence[Target], timeout: float, environ: Mapping[str, str] | None = None
) -> SourceResult:
    """Probe from this machine, in this process (the same code as in a pod)."""
    document = probe.run_probes([t.for_probe(timeout) for t in targets], environ)
    return SourceResult(
        "local", document["results"], f"local, python {document['python']}", ["in-process"]
    )


def parse_report(text: str, targets: Sequence[Target], timeout: float) -> tuple[list, str]:
    """The probe's report: the Python probe's JSON document, or the fallback's JSON lines.

    Returns ``(results, how)``; raises :class:`BinderfixError` if there is no report."""
    wanted = {t.id: t.for_probe(timeout) for t in targets}
    results, tools = [], set()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return data["results"], f"python3 {data.get('python', '')}".strip()
        if isinstance(data, dict) and data.get("id") in wanted and "tool" in data:
            results.append(classify_shell(wanted[data["id"]], data))
            tools.add(str(data["tool"]))
    if not results:
        raise BinderfixError(
            "the probe printed no report" + (f": {_tail(text)}" if text.strip() else ""),
            hint="rerun with --debug to see what ran",
        )
    if all(r["detail"] == NO_TOOL for r in results):
        raise BinderfixError(
            f"nothing to probe with: {NO_TOOL}",
            hint="probe from a pod that has one (--pod, -l), or use --probe-pod --image python:3-alpine",
        )
    return results, f"shell fallback ({', '.join(sorted(tools - {'skipped'})) or 'none'})"


def _tail(text: str, size: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else "..." + text[-size:]


# -- exec ---------------------------------------------------------------------------------------


def detect_tools(cluster: Cluster, pod: str, container: str) -> list[str] | None:
    """Which of python3, curl, wget and bash the container has; None if it has no sh."""
    done = exec_in_pod(cluster, pod, container, ["sh", "-c", DETECT], limit=3 * cluster.timeout)
    if done.code in (126, 127) or (done.code != 0 and _NOT_FOUND.search(done.message)):
        return None
    found = [t for t in done.stdout.split() if t in TOOLS]
    return sorted(found, key=TOOLS.index)


def run_in_pod(
    cluster: Cluster,
    pod: Mapping[str, Any],
    targets: Sequence[Target],
    timeout: float,
    container: str | None = None,
) -> SourceResult:
    """Probe from inside ``pod`` through the Kubernetes exec API.

    ``command -v`` first: python3 if the pod has it (targets as JSON on stdin), else the
    shell fallback (curl, wget, bash). A pod without sh gets python3 directly."""
    name = pod["metadata"]["name"]
    container = container_of(pod, container)
    limit = 2 * timeout + 30
    tools = detect_tools(cluster, name, container)
    debug = [
        f"exec into {name} ({container}): sh -c 'command -v python3 curl wget bash': "
        + ("no sh" if tools is None else (" ".join(tools) or "none of them"))
    ]
    if tools is None or "python3" in tools:
        payload = json.dumps([t.for_probe(timeout) for t in targets])
        debug.append(
            f"exec python3 -c <probe.py, {len(probe_script())} bytes>, "
            f"{len(targets)} targets as JSON on stdin"
        )
        done = exec_in_pod(
            cluster, name, container, ["python3", "-c", probe_script()], payload + "\n", limit
        )
        if tools is None and not done.stdout.strip() and _NOT_FOUND.search(done.message):
            raise BinderfixError(
                f"nothing to probe with in {name}: it has neither sh nor python3",
                hint="use --probe-pod --image python:3-alpine (it carries the pod's labels)",
            )
    else:
        args = [t.shell_arg(timeout) for t in targets]
        debug.append(
            f"exec sh -c <fallback.sh, {len(fallback_script())} bytes> with {len(args)} targets: "
            + ", ".join(t.endpoint for t in targets)
        )
        done = exec_in_pod(
            cluster,
            name,
            container,
            ["sh", "-c", fallback_script(), "netcheck", *args],
            None,
            limit,
        )
    if done.code is None and not done.stdout.strip():
        raise BinderfixError(
            f"the probe in {name} did not finish within {limit:.0f}s",
            hint="is the API server or the node overloaded? try again, or --probe-pod",
        )
    if not done.stdout.strip():
        said = _tail(done.stderr or done.message or f"exit {done.code}")
        raise BinderfixError(f"the probe in {name} printed nothing: {said}")
    results, how = parse_report(done.stdout, targets, timeout)
    return SourceResult(f"pod/{name}", results, how, debug)
