"""Where the probes run from: inside a pod (exec), a short-lived probe pod, or this machine."""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.netcheck.targets import Target

PROBE_LABEL = "binderfix.io/netcheck-probe"


def probe_script() -> str:
    return resources.files("binderfix.netcheck").joinpath("probe.py").read_text()


def fallback_script() -> str:
    return resources.files("binderfix.netcheck").joinpath("fallback.sh").read_text()


@dataclass
class SourceResult:
    source: str  # "pod/hub-...", "probe-pod for hub-...", "local"
    results: list[dict[str, Any]] = field(default_factory=list)
    how: str = ""  # python3, curl/wget fallback, local


def run_local(
    targets: list[Target], timeout: float, environ: dict[str, str] | None = None
) -> SourceResult:
    from binderfix.netcheck import probe

    return SourceResult(
        "local", probe.probe_all([t.for_probe(timeout) for t in targets], environ), "local"
    )


def _command(targets: list[Target], timeout: float) -> list[str]:
    """One exec: python3 if the pod has it, else the shell fallback."""
    payload = json.dumps([t.for_probe(timeout) for t in targets])
    fallback_args = " ".join(shlex.quote(t.fallback_arg(timeout)) for t in targets)
    script = (
        'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$1" "$2"; fi\n'
        f"shift 2; set -- {fallback_args}\n{fallback_script()}"
    )
    return ["sh", "-c", script, "netcheck", probe_script(), payload]


def _parse_output(text: str, source: str) -> list[dict[str, Any]]:
    text = text.strip()
    try:
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    except ValueError:
        raise BinderfixError(
            f"the probe in {source} printed something that is not its report: {text[:200]!r}"
        ) from None


def pick_pod(cluster: Any, pod: str | None, selector: str) -> dict[str, Any]:
    """The source pod: by name, or the first Running pod matching the selector."""
    from binderfix.kube.client import api_errors

    if pod:
        from kubernetes.client.exceptions import ApiException

        try:
            raw = cluster.core.read_namespaced_pod(pod, cluster.namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                raise BinderfixError(
                    f"no pod {pod!r} in namespace {cluster.namespace!r}",
                    hint="kubectl get pods; or pick the source with --selector",
                ) from None
            with api_errors(f"reading pod {pod}"):
                raise
        found = json.loads(raw.data)
    else:
        with api_errors(f"listing pods with {selector!r}"):
            raw = cluster.core.list_namespaced_pod(
                cluster.namespace, label_selector=selector, _preload_content=False
            )
        items = json.loads(raw.data).get("items") or []
        running = [p for p in items if (p.get("status") or {}).get("phase") == "Running"]
        if not running:
            raise BinderfixError(
                f"no running pod matches {selector!r} in namespace {cluster.namespace!r}",
                hint="name the source with --pod, or another --selector",
            )
        found = sorted(running, key=lambda p: p["metadata"]["name"])[0]
    phase = (found.get("status") or {}).get("phase")
    if phase != "Running":
        raise BinderfixError(
            f"pod {found['metadata']['name']} is {phase}, not Running: cannot exec into it",
            hint="pick a running pod with --pod or --selector",
        )
    return found


def run_in_pod(
    cluster: Any, pod: dict[str, Any], targets: list[Target], timeout: float
) -> SourceResult:
    """Exec the probe in ``pod`` through the Kubernetes exec API (websocket)."""
    from kubernetes.stream import stream

    name = pod["metadata"]["name"]
    try:
        resp = stream(
            cluster.core.connect_get_namespaced_pod_exec,
            name,
            cluster.namespace,
            command=_command(targets, timeout),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=2 * timeout + 30)
        out, err = resp.read_stdout(), resp.read_stderr()
        resp.close()
    except Exception as exc:  # ApiException, or the websocket client's own (handshake, closed)
        status = getattr(exc, "status", None) or (403 if "403" in str(exc) else None)
        if status == 403:
            raise BinderfixError(
                f"exec into {name} is forbidden (403)",
                hint="the account needs `create` on pods/exec: see deploys/rbac.yaml",
            ) from None
        raise BinderfixError(f"exec into {name} failed: {status or type(exc).__name__}") from None
    if not out.strip():
        raise BinderfixError(
            f"the probe in {name} printed nothing" + (f": {err.strip()[:300]}" if err else "")
        )
    how = "python3" if out.strip().startswith("[") else "shell fallback"
    return SourceResult(f"pod/{name}", _parse_output(out, name), how)


def run_probe_pod(
    cluster: Any, pod: dict[str, Any], targets: list[Target], timeout: float
) -> SourceResult:
    """A short-lived pod with ``pod``'s labels (so network policies treat it the same) runs the
    probe and prints its report; it is deleted whatever happens."""
    from binderfix.kube.client import api_errors

    name = f"binderfix-netcheck-{int(time.time() * 1000) % 10**8}"
    labels = {**(pod["metadata"].get("labels") or {}), PROBE_LABEL: "true"}
    container = (pod.get("spec") or {}).get("containers", [{}])[0]
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"binderfix.io/stands-for": pod["metadata"]["name"]},
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeName": (pod.get("spec") or {}).get("nodeName"),
            "containers": [
                {
                    "name": "probe",
                    "image": container.get("image", "python:3-slim"),
                    "env": container.get("env", []),
                    "command": _command(targets, timeout),
                }
            ],
        },
    }
    with api_errors("creating the probe pod"):
        cluster.core.create_namespaced_pod(cluster.namespace, manifest)
    try:
        deadline = time.monotonic() + 2 * timeout + 60
        while True:
            with api_errors(f"reading probe pod {name}"):
                phase = (
                    json.loads(
                        cluster.core.read_namespaced_pod(
                            name, cluster.namespace, _preload_content=False
                        ).data
                    )
                    .get("status", {})
                    .get("phase")
                )
            if phase in ("Succeeded", "Failed"):
                break
            if time.monotonic() > deadline:
                raise BinderfixError(f"probe pod {name} did not finish (phase {phase})")
            time.sleep(0.2)
        with api_errors(f"reading probe pod {name}'s log"):
            log = cluster.core.read_namespaced_pod_log(name, cluster.namespace)
    finally:
        from kubernetes.client.exceptions import ApiException

        with contextlib.suppress(ApiException):  # gone already is what we want
            cluster.core.delete_namespaced_pod(name, cluster.namespace)
    return SourceResult(
        f"probe-pod for {pod['metadata']['name']}", _parse_output(log, name), "probe pod"
    )
