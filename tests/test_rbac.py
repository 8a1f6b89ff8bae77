"""Every Kubernetes API call binderfix makes is allowed by deploys/rbac.yaml.

The sandbox's API writes an audit line per request (verb, group, resource, subresource);
the test runs each binderfix command against it and checks every line against the
manifest's rules the way RBAC would. Discovery (/api, /apis, /version) is open to every
authenticated user in Kubernetes (system:discovery), so it needs no rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import PYINFRA, REPO, RunningSandbox, run

MANIFEST = REPO / "deploys" / "rbac.yaml"


def rules() -> list[dict]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]


def allowed(entry: dict, granted: list[dict]) -> bool:
    resource = entry["resource"] + (f"/{entry['subresource']}" if entry["subresource"] else "")
    return any(
        entry["group"] in r["apiGroups"]
        and resource in r["resources"]
        and entry["verb"] in r["verbs"]
        for r in granted
    )


def test_the_rule_matcher_rejects_what_the_manifest_does_not_grant() -> None:
    granted = rules()
    assert allowed({"verb": "delete", "group": "", "resource": "pods", "subresource": ""}, granted)
    assert not allowed(
        {"verb": "delete", "group": "", "resource": "nodes", "subresource": ""}, granted
    )
    assert not allowed(
        {"verb": "create", "group": "", "resource": "pods", "subresource": "eviction"}, granted
    )
    assert not allowed(
        {"verb": "list", "group": "", "resource": "secrets", "subresource": ""}, granted
    )


@pytest.mark.sandbox
def test_every_call_binderfix_makes_is_covered(sandbox: RunningSandbox, tmp_path: Path) -> None:
    sandbox.wait_builders()
    audit = sandbox.dir / "logs" / "api-audit.jsonl"
    audit.write_text("")  # only what binderfix does from here on
    commands = [
        ["binderfix", "check", "--json"],
        [PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y"],
        ["binderfix", "verify", "--idempotence"],
        ["binderfix", "netcheck", "--all-services"],
        ["binderfix", "netcheck", "--probe-pod"],
        ["binderfix", "spikes", "--since", "3h", "--json"],
    ]
    for argv in commands:
        exe = argv[0] if argv[0] != "binderfix" else str(Path(PYINFRA).parent / "binderfix")
        out = run(exe, *argv[1:], env=sandbox.env, cwd=REPO)
        assert "Traceback" not in out.stderr, out.stderr
    entries = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    resource_calls = [e for e in entries if "resource" in e]
    assert {e["resource"] for e in resource_calls} >= {"pods", "nodes"}
    assert any(e["subresource"] == "log" for e in resource_calls)
    assert any(e["subresource"] == "exec" for e in resource_calls)
    uncovered = sorted(
        {json.dumps(e, sort_keys=True) for e in resource_calls if not allowed(e, rules())}
    )
    assert uncovered == [], "calls not covered by deploys/rbac.yaml:\n" + "\n".join(uncovered)
