"""netcheck's probe pod: a short-lived pod that probes as its source pod would, then goes.

It carries the source's labels (network policies select on them) and runs on its node, with
its image and environment; it is owned by the source, never Ready, and deleted whatever
happens (the sandbox's kubelet, like a real one, ends its process when it is deleted)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.client import Cluster
from binderfix.kube.exec import container_of
from binderfix.kube.model import CANNOT_START
from binderfix.kube.pods import create_pod, delete_pod, pod_log, read_pod
from binderfix.netcheck.runner import SourceResult, fallback_script, parse_report, probe_script
from binderfix.netcheck.targets import Target

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
                if reason in CANNOT_START:
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
