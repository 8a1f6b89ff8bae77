"""RBAC for the sandbox's API: a ServiceAccount token limited to a manifest's rules. Pure code.

``binderfix sandbox up --rbac deploys/rbac.yaml`` gives the sandbox a second kubeconfig
whose token may do only what the manifest's Roles and ClusterRoles grant, so running
binderfix with it proves (or disproves) that the manifest is enough.
"""

from __future__ import annotations

from typing import Any

import yaml

from binderfix.errors import BinderfixError


def rules_from_manifest(text: str) -> list[dict[str, Any]]:
    """The rules of every Role and ClusterRole in a (multi-document) YAML manifest."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise BinderfixError(f"the RBAC manifest is not valid YAML: {exc}") from None
    rules = [
        r
        for d in docs
        if isinstance(d, dict) and d.get("kind") in ("Role", "ClusterRole")
        for r in d.get("rules") or []
    ]
    if not rules:
        raise BinderfixError(
            "the RBAC manifest holds no Role or ClusterRole rules",
            hint="give a manifest like deploys/rbac.yaml",
        )
    return rules


# What every authenticated user may read on a real cluster, whatever its own roles say: the
# default ClusterRoles system:discovery and system:public-info-viewer, bound to
# system:authenticated. Without them kubectl cannot even learn that "pod" is a resource.
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "nonResourceURLs": [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
        ],
        "verbs": ["get"],
    }
]


def allows(rules: list[dict[str, Any]], attrs: dict[str, str]) -> bool:
    """Would these rules allow a request with these attributes (verb, group, resource, subresource)?

    A request that names no resource (``path``: /api, /apis/apps/v1, /version, /metrics) is
    matched against the rules' ``nonResourceURLs`` and :data:`DEFAULT_RULES`, as Kubernetes does.
    """
    if "resource" not in attrs:
        return any(
            _verb_ok(r, attrs["verb"]) and _path_ok(r.get("nonResourceURLs") or [], attrs["path"])
            for r in [*DEFAULT_RULES, *rules]
        )
    resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    return any(
        attrs["group"] in (r.get("apiGroups") or [])
        and (resource in (r.get("resources") or []) or "*" in (r.get("resources") or []))
        and _verb_ok(r, attrs["verb"])
        for r in rules
    )


def _verb_ok(rule: dict[str, Any], verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return verb in verbs or "*" in verbs


def _path_ok(patterns: list[str], path: str) -> bool:
    """RBAC's nonResourceURLs: an exact path, or a prefix ending in ``*``."""
    return any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in patterns)
