"""The kube step fails its own node with one line, never a traceback, and the others go on."""

from __future__ import annotations

import pytest

from tests.conftest import PYINFRA, REPO, RunningSandbox, run

pytestmark = pytest.mark.sandbox


def test_a_replacement_that_never_gets_ready_fails_that_node_in_one_line(
    sandbox: RunningSandbox,
) -> None:
    sandbox.wait_builders()
    # The deploy is pointed at another (absent) path, so node-2's real socket path stays a
    # directory: its builder pod is deleted and its replacement crash-loops, never Ready.
    out = run(
        PYINFRA,
        "inventories/kubectl.py",
        "deploys/dind.py",
        "-y",
        env={
            **sandbox.env,
            "BINDERFIX_SOCKET_PATH": "/var/run/dind/elsewhere.sock",
            "BINDERFIX_WAIT_TIMEOUT": "1",
        },
        cwd=REPO,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Traceback" not in text and "Unexpected error" not in text
    assert "[node-2]" in text and "did not become Ready within 1s" in text
    assert "BINDERFIX_WAIT_TIMEOUT" in text  # the hint comes along


def test_the_api_killed_while_the_deploy_deletes_a_pod_is_one_line_naming_the_node(
    sandbox: RunningSandbox,
) -> None:
    import os
    import signal
    import subprocess

    sandbox.wait_builders()
    proc = subprocess.Popen(
        [PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y"],
        env={**sandbox.env, "BINDERFIX_API_TIMEOUT": "2"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # kill the API once the kube step starts, not after a delay
        seen.append(line)
        if "Starting operation" in line and "builder pod" in line:
            os.kill(sandbox.box.load().apiserver_pid, signal.SIGKILL)
            break
    rest, _ = proc.communicate(timeout=120)
    text = "".join(seen) + rest
    assert proc.returncode != 0
    assert "Traceback" not in text and "Unexpected error" not in text
    assert "[node-2]" in text and "Kubernetes API" in text


def test_the_replacement_is_watched_not_polled(sandbox: RunningSandbox) -> None:
    # kubectl wait's way: list once, then one watch of the node's pods. Polling would ask the
    # API server ten times a second per broken node for as long as the replacement starts.
    import json

    sandbox.wait_builders()
    audit = sandbox.box.dir / "logs" / "api-audit.jsonl"
    before = len(audit.read_text().splitlines())
    out = run(PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y", env=sandbox.env, cwd=REPO)
    assert out.returncode == 0, out.stdout[-2000:]
    entries = [json.loads(line) for line in audit.read_text().splitlines()[before:]]
    pods = [e for e in entries if e.get("resource") == "pods" and not e.get("subresource")]
    verbs = [e["verb"] for e in pods]
    assert verbs.count("delete") == 1, verbs  # node-2, the one broken node
    after = verbs[verbs.index("delete") + 1 :]
    # One listing of the node's builder pods, then (unless the replacement was Ready at
    # once) one watch: nothing asked again while the replacement starts.
    assert after.count("list") == 1 and after.count("watch") <= 1, verbs
