"""The verification suite: run after a fix, against the same nodes, with pytest-testinfra.

    binderfix verify                      # builds --hosts and an ssh config from the inventory
    pytest --pyargs binderfix.verify.test_builders --hosts=ssh://node-1,ssh://node-2
    pytest -p binderfix.verify.kubenode --pyargs binderfix.verify.test_builders \
        --hosts=kubenode://node-1,kubenode://node-2   # no SSH: see binderfix.verify.kubenode

Each node's builder socket path is a socket or absent, and its builder pod is Ready. The
builder pods are read once per session from the API, with the inventory's settings.
"""

from __future__ import annotations

from typing import Any

import pytest

from binderfix.inventory.hosts import builder_groups
from binderfix.inventory.settings import from_env


@pytest.fixture(scope="session")
def builders() -> dict[str, dict[str, Any]]:
    """Node -> the inventory's host data for it (one builder per node, the unhealthy one)."""
    hosts, _unhealthy = builder_groups(from_env())
    return {data["node"]: data for _name, data in hosts}


@pytest.fixture
def builder(host, builders: dict[str, dict[str, Any]]) -> dict[str, Any]:  # noqa: ANN001 (testinfra's host)
    node = host.backend.get_hostname()
    if node not in builders:
        pytest.fail(f"no builder pod runs on {node}")
    return builders[node]


@pytest.fixture
def node(host, builder: dict[str, Any]):  # noqa: ANN001, ANN201 (testinfra's host)
    """The node's shell, reached once in set-up: a node that cannot be reached is then an
    error of the test ("could not check"), not a failure ("found a problem")."""
    try:
        host.run("true")
    except RuntimeError as exc:  # testinfra's ssh backend: ssh itself failed (exit 255)
        result = exc.args[0] if exc.args else exc
        why = (getattr(result, "stderr", "") or str(result)).strip().splitlines()
        pytest.fail(f"cannot reach {builder['node']} over SSH: {why[-1] if why else 'ssh failed'}")
    return host


def test_socket_path_is_a_socket_or_absent(node, builder: dict[str, Any]) -> None:  # noqa: ANN001
    path = node.file(builder["socket_path"])
    assert not path.exists or path.is_socket, (
        f"{path.path} is a directory or a file, not a socket" if path.exists else ""
    )


def test_builder_pod_is_ready(builder: dict[str, Any]) -> None:
    assert builder["healthy"], (
        f"builder pod {builder['pod_name']} is {builder['status']}, ready={builder['ready']}"
    )
