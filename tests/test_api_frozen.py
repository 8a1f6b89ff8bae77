"""An API server that stops answering (SIGSTOP: a partition, an overloaded control plane)
ends every command within its timeout, with exit 2 and a one-line error naming the server.

Nothing here is mocked: the sandbox's real API process is stopped, and resumed after.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run

pytestmark = pytest.mark.sandbox

TIMEOUT = 2.0
COMMANDS = {
    "check": [BINDERFIX, "check"],
    "verify": [BINDERFIX, "verify"],
    "deploy inventory": [PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "--dry"],
    "spikes": [BINDERFIX, "spikes", "--since", "3h"],
    "netcheck": [BINDERFIX, "netcheck", "--timeout", "2"],
    "netcheck --all-services": [BINDERFIX, "netcheck", "--all-services", "--timeout", "2"],
    "check over kubenode": [BINDERFIX, "check"],
}


@pytest.fixture(scope="module")
def frozen(shared_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    shared_sandbox.wait_builders()
    pid = shared_sandbox.box.load().apiserver_pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield shared_sandbox
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_frozen_api_ends_the_command_in_time_with_one_clear_line(
    frozen: RunningSandbox, name: str
) -> None:
    env = {**frozen.env, "BINDERFIX_API_TIMEOUT": str(TIMEOUT)}
    if "kubenode" in name:
        env["BINDERFIX_CONNECT"] = "kubenode"
    started = time.monotonic()
    out = run(*COMMANDS[name], env=env, cwd=REPO, timeout=120)
    took = time.monotonic() - started
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "Traceback" not in text
    assert "did not answer in time" in text and "127.0.0.1" in text
    # A connect and a read timeout, one retry of the read, and the command's own start-up.
    assert took < 4 * TIMEOUT + 15, f"{name} took {took:.1f}s"
