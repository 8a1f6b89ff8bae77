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


def allows(rules: list[dict[str, Any]], attrs: dict[str, str]) -> bool:
    """Would these rules allow a request with these attributes (verb, group, resource, subresource)?

    Requests that name no resource (discovery: /api, /apis, /version) are allowed, as
    Kubernetes' system:discovery role allows them to every authenticated user.
    """
    if "resource" not in attrs:
        return True
    resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    return any(
        attrs["group"] in (r.get("apiGroups") or [])
        and (resource in (r.get("resources") or []) or "*" in (r.get("resources") or []))
        and (attrs["verb"] in (r.get("verbs") or []) or "*" in (r.get("verbs") or []))
        for r in rules
    )
