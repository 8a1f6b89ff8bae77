"""deploys/rbac.yaml is enough for everything binderfix does, and no more is assumed.

The sandbox's API enforces a manifest's rules for a restricted ServiceAccount token
(`sandbox up --rbac`), so these tests run binderfix with that token for real: any call
the manifest does not grant is a 403, and the audit log says which.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binderfix.sandbox.rbac import allows, rules_from_manifest
from tests.conftest import BINDERFIX, KUBECTL, PYINFRA, REPO, run, start_sandbox

MANIFEST = REPO / "deploys" / "rbac.yaml"


def test_the_rules_grant_what_binderfix_needs_and_nothing_broad() -> None:
    rules = rules_from_manifest(MANIFEST.read_text())
    grant = {"group": "", "subresource": "", "namespace": "prod"}
    assert allows(rules, {**grant, "verb": "delete", "resource": "pods"})
    assert allows(rules, {**grant, "verb": "create", "resource": "pods", "subresource": "exec"})
    assert not allows(rules, {**grant, "verb": "delete", "resource": "nodes"})
    assert not allows(rules, {**grant, "verb": "list", "resource": "secrets"})
    assert not allows(
        rules, {**grant, "verb": "create", "resource": "pods", "subresource": "eviction"}
    )
    assert not any("*" in r.get("verbs", []) + r.get("resources", []) for r in rules)


def test_discovery_is_allowed_as_a_real_clusters_default_roles_allow_it() -> None:
    rules = rules_from_manifest(MANIFEST.read_text())
    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/openapi/v2"):
        assert allows(rules, {"path": path, "verb": "get"}), path
    assert not allows(rules, {"path": "/metrics", "verb": "get"})
    assert not allows(rules, {"path": "/api", "verb": "post"})
    granted = [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    assert allows(granted, {"path": "/metrics", "verb": "get"})


@pytest.mark.sandbox
def test_everything_binderfix_does_works_with_only_the_manifests_rights(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sb", rbac=MANIFEST)
    try:
        box.wait_builders()
        expected: list[tuple] = [
            ([BINDERFIX, "check", "--json"], 1),  # node-2 is broken
            ([PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y"], 0),
            ([BINDERFIX, "verify", "--idempotence"], 0),
            ([BINDERFIX, "netcheck", "--all-services"], 0),
            ([BINDERFIX, "netcheck", "--probe-pod"], 0),
            ([BINDERFIX, "spikes", "--since", "3h", "--json"], 1),  # the planted spike
            (
                [KUBECTL, "--cache-dir", str(tmp_path / "kube-cache"), "get", "pod"],
                0,
            ),  # the runbook's first step, with discovery first
        ]
        # The same through the Kubernetes API, no SSH: helper pods, exec, nodes read.
        kubenode = {"BINDERFIX_CONNECT": "kubenode"}
        expected += [
            ([BINDERFIX, "check", "--json"], 0, kubenode),
            ([PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y"], 0, kubenode),
            ([BINDERFIX, "verify", "--idempotence"], 0, kubenode),
        ]
        for argv, code, *extra in expected:
            out = run(*argv, env={**box.env, **(extra[0] if extra else {})}, cwd=REPO)
            assert out.returncode == code, f"{argv}: {out.stdout[-1500:]}\n{out.stderr[-1500:]}"
            assert "Couldn't get resource list" not in out.stderr, out.stderr[-1500:]
        audit = [
            json.loads(line)
            for line in (box.dir / "logs" / "api-audit.jsonl").read_text().splitlines()
        ]
        mine = [e for e in audit if e.get("user") == "restricted"]
        assert {e["resource"] for e in mine if "resource" in e} >= {"pods", "nodes", "services"}
        assert [e for e in mine if not e["allowed"]] == []
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))


@pytest.mark.sandbox
def test_exec_forbidden_is_a_clear_exit_2(tmp_path: Path) -> None:
    no_exec = tmp_path / "no-exec.yaml"
    no_exec.write_text(
        MANIFEST.read_text().replace('resources: ["pods/exec"]', 'resources: ["pods/attach"]')
    )
    box = start_sandbox(tmp_path / "sb", rbac=no_exec)
    try:
        out = box.binderfix("netcheck")
        assert out.returncode == 2
        assert (
            "forbidden" in out.stderr
            and "binderfix rbac" in out.stderr
            and "Traceback" not in out.stderr
        )
        # Over the kubenode route, the node is named and so is the missing rule.
        out = run(PYINFRA, "@kubenode/node-1", "exec", "--", "true", env=box.env)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "Traceback" not in text
        assert "forbidden (403)" in text and "pods/exec" in text and "node-1" in text
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
