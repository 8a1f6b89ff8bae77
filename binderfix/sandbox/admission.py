"""Pod Security admission in the sandbox, as the API server's PodSecurity plugin does it. Pure.

A namespace's ``pod-security.kubernetes.io/enforce`` label picks the level its pods must
meet; the sandbox's admission configuration defaults to ``baseline`` (as hardened and most
managed clusters do), so a namespace must be labelled ``privileged`` for a pod that shares
the host's namespaces, is privileged or mounts a hostPath. Only the baseline checks a node
helper pod meets are modelled: host namespaces, privileged containers, hostPath volumes.
The refusal is the API server's own: ``403 Forbidden``, with the same message text.
"""

from __future__ import annotations

from typing import Any

ENFORCE = "pod-security.kubernetes.io/enforce"
DEFAULT_LEVEL = "baseline"


def baseline_violations(pod: dict[str, Any]) -> list[str]:
    """What in this pod the baseline level forbids, worded as PodSecurity words it."""
    spec = pod.get("spec") or {}
    found = []
    shared = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if shared:
        found.append(f"host namespaces ({', '.join(shared)})")
    host_paths = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if host_paths:
        noun = "volume" if len(host_paths) == 1 else "volumes"
        found.append(f"hostPath volumes ({noun} {', '.join(f'{n!r}' for n in host_paths)})")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    privileged = [
        c["name"] for c in containers if (c.get("securityContext") or {}).get("privileged")
    ]
    if privileged:
        which = ", ".join(f'"{n}"' for n in privileged)
        noun = "container" if len(privileged) == 1 else "containers"
        found.append(f"privileged ({noun} {which} must not set securityContext.privileged=true)")
    return [f.replace("'", '"') for f in found]


def refusal(pod: dict[str, Any], namespace_labels: dict[str, str]) -> str | None:
    """The API server's message refusing ``pod`` in a namespace with these labels, or None."""
    level = namespace_labels.get(ENFORCE, DEFAULT_LEVEL)
    if level == "privileged":
        return None
    violations = baseline_violations(pod)
    if not violations:
        return None
    name = (pod.get("metadata") or {}).get("name", "")
    return f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": ' + ", ".join(
        violations
    )
