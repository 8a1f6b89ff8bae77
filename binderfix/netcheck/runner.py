"""Where the probes run from: inside a pod (exec), a short-lived probe pod, or this machine.

In a pod, netcheck first asks which tools it has (``command -v python3 curl wget bash``),
then runs either the Python probe (``python3 -c <probe.py>``, the targets as one JSON line
on stdin) or the shell fallback (``sh -c <fallback.sh> netcheck <target>...``), both through
the Kubernetes exec API (``kubernetes.stream.stream`` over
``connect_get_namespaced_pod_exec``: a websocket, channels v5 or v4).

Every failure to run is a :class:`BinderfixError` (exit 2) that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.netcheck import probe
from binderfix.netcheck.targets import Target
from binderfix.netcheck.verdicts import NO_TOOL, classify_shell

PROBE_LABEL = "binderfix.io/netcheck-probe"
STANDS_FOR = "binderfix.io/stands-for"
NEVER_READY = "binderfix.io/never-ready"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
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
API_TIMEOUT = (10, 30)  # connect, read: the Kubernetes API, not the probes
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


@dataclass
class ExecResult:
    """What an exec printed, and how it ended (from the exec protocol's status channel)."""

    stdout: str
    stderr: str
    code: int | None  # the exit code, None if unknown (still running at the deadline)
    message: str = ""  # the status channel's message on failure


def container_of(pod: Mapping[str, Any], wanted: str | None = None) -> str:
    """The container to exec into: ``wanted``, else the pod's default-container annotation
    (as kubectl), else its first container."""
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    name = wanted or (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
    if name and names and name not in names:
        raise BinderfixError(
            f"pod {pod['metadata']['name']} has no container {name!r}",
            hint=f"its containers: {', '.join(names)}",
        )
    return name or (names[0] if names else "")


def exec_error(exc: BaseException, pod: str) -> BinderfixError:
    """What the kubernetes client raised for an exec, as a message a person can act on.

    The websocket handshake's failure arrives as ``ApiException(status=0, reason="Handshake
    status 403 Forbidden ...")``: the status is read from there."""
    text = str(getattr(exc, "reason", None) or exc)
    status = getattr(exc, "status", 0) or 0
    found = re.search(r"Handshake status (\d{3})", text)
    if found:
        status = int(found.group(1))
    said = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    api_message = said.group(1) if said else ""
    if status == 403:
        return BinderfixError(
            f"exec into {pod} is forbidden (403)",
            hint="the account needs `create` on pods/exec: `binderfix rbac` prints what binderfix needs",
        )
    if status == 401:
        return BinderfixError(
            f"exec into {pod}: the Kubernetes API refused the credentials (401)",
            hint="refresh them (e.g. gcloud container clusters get-credentials)",
        )
    if status == 404:
        return BinderfixError(
            f"exec into {pod}: no such pod (404): it went away", hint="run netcheck again"
        )
    if status:
        return BinderfixError(
            f"exec into {pod} failed ({status}): {api_message or _tail(text, 200)}",
            hint="is the container running? kubectl describe pod " + pod,
        )
    return BinderfixError(
        f"exec into {pod}: cannot reach the Kubernetes API ({_tail(text, 200)})",
        hint="check that `kubectl get pods` works from here",
    )


def exec_in_pod(
    cluster: Any,
    pod: str,
    container: str,
    command: list[str],
    stdin: str | None = None,
    limit: float = 60,
) -> ExecResult:
    """Run ``command`` in ``pod`` through the exec API and wait up to ``limit`` seconds.

    A fresh API client per exec: ``stream()`` swaps its client's transport for a websocket
    while it runs, which must not catch another thread's REST call."""
    import websocket
    from kubernetes import client
    from kubernetes.stream import stream

    if websocket.getdefaulttimeout() is None:  # the websocket's connect must not hang
        websocket.setdefaulttimeout(API_TIMEOUT[1])
    api_client = client.ApiClient(cluster.core.api_client.configuration)
    try:
        resp = stream(
            client.CoreV1Api(api_client).connect_get_namespaced_pod_exec,
            pod,
            cluster.namespace,
            command=command,
            container=container or None,
            stderr=True,
            stdin=stdin is not None,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        if stdin is not None:
            resp.write_stdin(stdin)
            resp.close_channel(0)  # v5: end of input; v4 cannot say it: the probe reads a line
        resp.run_forever(timeout=limit)
        finished = not resp.is_open()
        out, err = resp.read_stdout(timeout=0) or "", resp.read_stderr(timeout=0) or ""
        status_text = resp.read_channel(3, timeout=0) if finished else ""
        resp.close()
    except BinderfixError:
        raise
    except Exception as exc:  # ApiException, or the websocket client's own errors
        raise exec_error(exc, pod) from None
    finally:
        with contextlib.suppress(Exception):
            api_client.close()
    code, message = _exec_status(status_text) if finished else (None, "")
    return ExecResult(out, err, code, message)


def _exec_status(text: str) -> tuple[int | None, str]:
    """The exit code and message from the exec protocol's status channel (a v1 Status)."""
    if not text.strip():
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return None, _tail(text, 200)
    if status.get("status") == "Success":
        return 0, ""
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    return (int(code) if str(code).isdigit() else None), str(status.get("message") or "")


def detect_tools(cluster: Any, pod: str, container: str) -> list[str] | None:
    """Which of python3, curl, wget and bash the container has; None if it has no sh."""
    done = exec_in_pod(cluster, pod, container, ["sh", "-c", DETECT], limit=API_TIMEOUT[1])
    if done.code in (126, 127) or (done.code != 0 and _NOT_FOUND.search(done.message)):
        return None
    found = [t for t in done.stdout.split() if t in TOOLS]
    return sorted(found, key=TOOLS.index)


def run_in_pod(
    cluster: Any,
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
    cluster: Any,
    name: str | None = None,
    selector: str = "component=hub",
    container: str | None = None,
) -> dict[str, Any]:
    """The source pod: by name, or the first (by name) running pod matching ``selector``.

    Raises :class:`BinderfixError` when there is no such pod, or it is not running."""
    from kubernetes.client.exceptions import ApiException

    from binderfix.kube.client import api_errors

    ns = cluster.namespace
    if name:
        with api_errors(f"reading pod {name}"):
            try:
                raw = cluster.core.read_namespaced_pod(
                    name, ns, _preload_content=False, _request_timeout=API_TIMEOUT
                )
            except ApiException as exc:
                if exc.status == 404:
                    raise BinderfixError(
                        f"no pod {name!r} in namespace {ns!r}",
                        hint="kubectl get pods; or pick the source with --selector",
                    ) from None
                raise
        found = json.loads(raw.data)
    else:
        with api_errors(f"listing pods with {selector!r}"):
            raw = cluster.core.list_namespaced_pod(
                ns, label_selector=selector, _preload_content=False, _request_timeout=API_TIMEOUT
            )
        items = sorted(json.loads(raw.data).get("items") or [], key=lambda p: p["metadata"]["name"])
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
    cluster: Any,
    pod: Mapping[str, Any],
    targets: Sequence[Target],
    timeout: float,
    container: str | None = None,
    image: str | None = None,
) -> SourceResult:
    """Probe from a short-lived pod standing for ``pod``; read its report from its log and
    delete it, whatever happens."""
    from kubernetes.client.exceptions import ApiException

    from binderfix.kube.client import api_errors

    name = f"binderfix-netcheck-{time.time_ns() % 10**10:010d}"
    stands_for = pod["metadata"]["name"]
    manifest = probe_pod_manifest(pod, targets, timeout, name, container, image)
    ns, result = cluster.namespace, SourceResult(f"probe-pod for {stands_for}")
    result.debug.append(
        f"create pod {name} (image {manifest['spec']['containers'][0]['image']}, "
        f"node {manifest['spec'].get('nodeName', 'any')}, labels of {stands_for})"
    )
    with api_errors("creating the probe pod"):
        cluster.core.create_namespaced_pod(ns, manifest, _request_timeout=API_TIMEOUT)
    try:
        deadline = time.monotonic() + 2 * timeout + 60
        while True:
            with api_errors(f"reading probe pod {name}"):
                raw = cluster.core.read_namespaced_pod(
                    name, ns, _preload_content=False, _request_timeout=API_TIMEOUT
                )
            status = json.loads(raw.data).get("status") or {}
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
        with api_errors(f"reading probe pod {name}'s log"):
            log = cluster.core.read_namespaced_pod_log(
                name, ns, container="probe", _request_timeout=API_TIMEOUT
            )
        result.debug.append(f"pod {name} {phase}; its log is the report")
    finally:
        try:
            cluster.core.delete_namespaced_pod(
                name, ns, grace_period_seconds=0, _request_timeout=API_TIMEOUT
            )
            result.debug.append(f"deleted pod {name}")
        except ApiException as exc:
            if exc.status != 404:
                result.warnings.append(
                    f"could not delete probe pod {name} ({exc.status}): kubectl delete pod {name}"
                )
        except Exception as exc:  # the API went away: say what is left behind
            result.warnings.append(
                f"could not delete probe pod {name} ({type(exc).__name__}): kubectl delete pod {name}"
            )
    result.results, result.how = parse_report(log, targets, timeout)
    result.how += " in a probe pod"
    return result
