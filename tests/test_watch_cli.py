"""`binderfix watch` refuses bad input with one clear line, before it starts watching."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import BINDERFIX, run

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: prod}}]
current-context: x
"""


def test_a_busy_metrics_port_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run(BINDERFIX, "watch", "--metrics-port", str(port), env={"KUBECONFIG": str(config)})
    assert out.returncode == 2
    assert f"binderfix: error: cannot serve metrics on 127.0.0.1:{port}" in out.stderr
    assert "hint: choose another --metrics-port" in out.stderr
    assert "Traceback" not in out.stderr


def test_nonsense_options_are_refused_before_anything_runs() -> None:
    for args in (["--max-parallel", "0"], ["--grace", "-1"], ["--max-per-hour", "x"]):
        out = run(BINDERFIX, "watch", *args)
        assert out.returncode == 2 and "Invalid value" in out.stderr, args
