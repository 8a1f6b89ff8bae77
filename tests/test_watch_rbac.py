"""deploys/watch.yaml is what the watcher runs with in a cluster: its Role and ClusterRole
are enough (and the watcher runs with no more), the node route is the Kubernetes API, and
the credentials are the pod's own ServiceAccount files, as in the Deployment."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from binderfix.sandbox.rbac import allows, rules_from_manifest
from tests.conftest import BINDERFIX, REPO, run, start_sandbox
from tests.helpers import break_node, free_port, reasons, wait_for

MANIFEST = REPO / "deploys" / "watch.yaml"


def test_the_manifest_runs_two_replicas_on_the_api_route_with_narrow_rules() -> None:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["BINDERFIX_CONNECT"] == "kubenode"
    assert pod["serviceAccountName"] == "binderfix-watch"
    assert "automountServiceAccountToken" not in pod  # in-cluster credentials
    rules = rules_from_manifest(MANIFEST.read_text())
    grant = {"group": "", "subresource": "", "namespace": "prod"}
    lease = {**grant, "group": "coordination.k8s.io", "resource": "leases"}
    assert allows(rules, {**lease, "verb": "update"})
    assert allows(rules, {**grant, "verb": "watch", "resource": "pods"})
    assert allows(rules, {**grant, "verb": "create", "resource": "events"})
    assert not allows(rules, {**lease, "verb": "delete"})
    assert not allows(rules, {**grant, "verb": "delete", "resource": "events"})
    assert not allows(rules, {**grant, "verb": "list", "resource": "secrets"})
    assert not any("*" in r.get("verbs", []) + r.get("resources", []) for r in rules)


@pytest.mark.sandbox
def test_with_only_the_manifests_rules_and_in_cluster_credentials_it_fixes_a_node(
    tmp_path: Path,
) -> None:
    box = start_sandbox(tmp_path / "sandbox", nodes=2, broken=0, rbac=MANIFEST)
    try:
        # The files Kubernetes mounts into the pod, and the variables it sets: no kubeconfig.
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(box.box.secret("restricted-token"))
        (account / "namespace").write_text("prod")
        (account / "ca.crt").write_bytes((box.dir / "secrets" / "ca.crt").read_bytes())
        state = box.box.load()
        env = {
            k: v
            for k, v in box.env.items()
            if k not in ("KUBECONFIG", "BINDERFIX_NAMESPACE") and not k.startswith("BINDERFIX_SSH")
        }
        env.update(
            HOME=str(tmp_path),  # no ~/.kube/config
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=str(state.apiserver_port),
            BINDERFIX_CONNECT="kubenode",
            POD_NAME="binderfix-watch-7d9f-abcde",
        )
        port = free_port()
        log = tmp_path / "watch.log"
        with log.open("w") as err:
            # A private mount namespace puts the files where a pod has them, for this
            # process alone (/var/run is /run on Debian).
            mount = (
                "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io && "
                f'cp -r {account} /run/secrets/kubernetes.io/serviceaccount && exec "$@"'
            )
            proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "-"]
                + [BINDERFIX, "watch", "--grace", "1", "--metrics-port", str(port)],
                env=env,
                stderr=err,
                stdout=subprocess.DEVNULL,
            )
            try:
                wait_for(lambda: '"event": "leader"' in log.read_text(), 20, "leadership")
                pod = break_node(box, "node-1")
                wait_for(lambda: reasons(box, pod), 40, "a decision on the pod")
                assert reasons(box, pod) == ["BinderfixRemediated"], log.read_text()
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=15) == 0
        audit = [
            json.loads(line)
            for line in (box.dir / "logs" / "api-audit.jsonl").read_text().splitlines()
        ]
        mine = [a for a in audit if a["user"] == "restricted"]
        assert mine and all(a["allowed"] for a in mine), [a for a in mine if not a["allowed"]]
        assert {a["resource"] for a in mine if "resource" in a} >= {"pods", "leases", "events"}
        # the helper pod is gone with the watcher
        time.sleep(0.5)
        helpers = box.kubectl("get", "pods", "-A", "-o", "name").stdout
        assert "binderfix-node" not in helpers and "node-debugger" not in helpers
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
