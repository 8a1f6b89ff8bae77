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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.exec import container_of, exec_in_pod
from binderfix.kube.pods import create_pod, delete_pod, list_pods, pod_log, read_pod
from binderfix.netcheck import probe
from binderfix.netcheck.targets import Target
from binderfix.netcheck.verdicts import NO_TOOL, classify_shell

PROBE_LABEL = "binderfix.io/netcheck-probe"
STANDS_FOR = "binderfix.io/stands-for"
NEVER_READY = "binderfix.io/never-ready"
# Labels a controller stamps on its own pods: a probe pod must not look like one of them.
CONTROLLER_LABELS = (
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
)
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


# -- choosing the source pod --------------------------------------------------------------------


def pick_pod(
    cluster: Cluster,
    name: str | None = None,
    selector: str = "component=hub",
    container: str | None = None,
) -> dict[str, Any]:
    """The source pod: by name, or the first (by name) running pod matching ``selector``.

    Never one of netcheck's own probe pods: they carry the source's labels, so a selector
    matches them, and one left behind (its deletion failed) must not stand in for the hub.
    Raises :class:`BinderfixError` when there is no such pod, or it is not running."""
    ns = cluster.namespace
    if name:
        found = read_pod(cluster, name)
        if found is None:
            raise BinderfixError(
                f"no pod {name!r} in namespace {ns!r}",
                hint="kubectl get pods; or pick the source with --selector",
            )
        if _is_probe_pod(found):
            raise BinderfixError(
                f"pod {name} is a netcheck probe pod, not a source",
                hint=f"name the pod it stands for; kubectl delete pod {name}",
            )
    else:
        items = [p for p in list_pods(cluster, selector) if not _is_probe_pod(p)]
        if not items:
            raise BinderfixError(
                f"no pod matches {selector!r} in namespace {ns!r}",
                hint="name the source with --pod, or another --selector (and -n)",
            )
        running = [p for p in items if not _not_running(p, container)]
        if not running:
            raise BinderfixError(
                f"no running pod matches {selector!r} in namespace {ns!r}: "
                + "; ".join(
                    f"{p['metadata']['name']} {_not_running(p, container)}" for p in items[:5]
                ),
                hint="name the source with --pod, or another --selector",
            )
        found = running[0]
    container_of(found, container)  # no such container: say so, with the ones it has
    why = _not_running(found, container)
    if why:
        raise BinderfixError(
            f"pod {found['metadata']['name']} {why}: cannot exec into it",
            hint="pick a running pod with --pod or --selector",
        )
    return found


def _is_probe_pod(pod: Mapping[str, Any]) -> bool:
    return PROBE_LABEL in ((pod.get("metadata") or {}).get("labels") or {})


def _not_running(pod: Mapping[str, Any], container: str | None) -> str:
    """Why netcheck cannot exec into ``pod`` ("" if it can)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if pod["metadata"].get("deletionTimestamp"):
        return "is being deleted"
    if phase != "Running":
        return f"is {phase}, not Running"
    try:
        name = container_of(pod, container)
    except BinderfixError as exc:
        return exc.message.replace(f"pod {pod['metadata']['name']} ", "")
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == name and "running" not in (cs.get("state") or {}):
            state = cs.get("state") or {}
            reason = next((v.get("reason") for v in state.values() if v.get("reason")), "")
            return f"has container {name} not running" + (f" ({reason})" if reason else "")
    return ""


# -- the probe pod ------------------------------------------------------------------------------


def probe_pod_manifest(
    pod: Mapping[str, Any],
    targets: Sequence[Target],
    timeout: float,
    name: str,
    container: str | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """A pod that probes as ``pod`` would: its labels (network policies select on them), its
    node, its container's image and environment (the proxy token with it).

    It stays out of harm's way: owned by ``pod`` (no controller adopts it; it is garbage
    collected with ``pod`` if netcheck cannot delete it), never Ready (no Service sends it
    traffic), no service account token, a deadline, small resources."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    source = next(
        (c for c in spec.get("containers") or [] if c["name"] == container_of(pod, container)),
        {},
    )
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in CONTROLLER_LABELS}
    payload = json.dumps([t.for_probe(timeout) for t in targets])
    script = (
        'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$1" "$2"; fi\nshift 2\n'
        + fallback_script()
    )
    probe_container: dict[str, Any] = {
        "name": "probe",
        "image": image or source.get("image") or "python:3-alpine",
        "command": [
            "sh",
            "-c",
            script,
            "netcheck",
            probe_script(),
            payload,
            *[t.shell_arg(timeout) for t in targets],
        ],
        "env": source.get("env") or [],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
    }
    for key in ("envFrom", "securityContext"):
        if source.get(key):
            probe_container[key] = source[key]
    manifest_meta: dict[str, Any] = {
        "name": name,
        "labels": {**labels, PROBE_LABEL: "true"},
        "annotations": {STANDS_FOR: meta["name"]},
    }
    if meta.get("uid"):
        manifest_meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
            }
        ]
    manifest_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "activeDeadlineSeconds": int(2 * timeout + 60),
        "readinessGates": [{"conditionType": NEVER_READY}],
        "containers": [probe_container],
    }
    for key in ("nodeName", "securityContext", "tolerations", "imagePullSecrets"):
        if spec.get(key):
            manifest_spec[key] = spec[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": manifest_meta, "spec": manifest_spec}


_STUCK = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def run_probe_pod(
    cluster: Cluster,
    pod: Mapping[str, Any],
    targets: Sequence[Target],
    timeout: float,
    container: str | None = None,
    image: str | None = None,
) -> SourceResult:
    """Probe from a short-lived pod standing for ``pod``; read its report from its log and
    delete it, whatever happens."""
    name = f"binderfix-netcheck-{time.time_ns() % 10**10:010d}"
    stands_for = pod["metadata"]["name"]
    manifest = probe_pod_manifest(pod, targets, timeout, name, container, image)
    ns, result = cluster.namespace, SourceResult(f"probe-pod for {stands_for}")
    result.debug.append(
        f"create pod {name} (image {manifest['spec']['containers'][0]['image']}, "
        f"node {manifest['spec'].get('nodeName', 'any')}, labels of {stands_for})"
    )
    create_pod(cluster, manifest)
    try:
        deadline = time.monotonic() + 2 * timeout + 60
        while True:
            status = (read_pod(cluster, name) or {}).get("status") or {}
            phase = status.get("phase")
            if phase in ("Succeeded", "Failed"):
                break
            for cs in status.get("containerStatuses") or []:
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                if reason in _STUCK:
                    raise BinderfixError(
                        f"probe pod {name} cannot start: {reason}",
                        hint="give an image it can pull with --image (it needs sh, and python3 or curl)",
                    )
            if time.monotonic() > deadline:
                raise BinderfixError(
                    f"probe pod {name} did not finish in time (phase {phase})",
                    hint=f"kubectl describe pod {name} (netcheck deletes it now)",
                )
            time.sleep(0.2)
        log = pod_log(cluster, name, container="probe")
        result.debug.append(f"pod {name} {phase}; its log is the report")
    finally:
        try:
            delete_pod(cluster, name, grace_period_seconds=0)
            result.debug.append(f"deleted pod {name}")
        except BinderfixError as exc:  # the API went away: say what is left behind
            result.warnings.append(
                f"could not delete probe pod {name} ({exc.message}): kubectl delete pod {name} -n {ns}"
            )
    result.results, result.how = parse_report(log, targets, timeout)
    result.how += " in a probe pod"
    return result
