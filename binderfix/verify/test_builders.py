"""The verification suite: run after a fix, against the same nodes, with pytest-testinfra.

    binderfix verify                      # builds --hosts and an ssh config from the inventory
    pytest --pyargs binderfix.verify.test_builders --hosts=ssh://node-1,ssh://node-2

Each node's builder socket path is a socket or absent, and its builder pod is Ready. The
builder pods are read once per session from the API, with the inventory's settings.
"""

from __future__ import annotations

import pytest

from binderfix.inventory.hosts import read_builder_pods
from binderfix.inventory.model import BuilderPod
from binderfix.inventory.settings import from_env


@pytest.fixture(scope="session")
def builders() -> dict[str, BuilderPod]:
    pods, _addresses = read_builder_pods(from_env())
    by_node: dict[str, BuilderPod] = {}
    for pod in pods:
        if pod.node not in by_node or not pod.healthy:
            by_node[pod.node] = pod
    return by_node


@pytest.fixture
def builder(host, builders: dict[str, BuilderPod]) -> BuilderPod:  # noqa: ANN001 (testinfra's host)
    node = host.backend.get_hostname()
    if node not in builders:
        pytest.fail(f"no builder pod runs on {node}")
    return builders[node]


def test_socket_path_is_a_socket_or_absent(host, builder: BuilderPod) -> None:  # noqa: ANN001
    settings = from_env()
    path = host.file(settings.socket_path or builder.default_socket_path())
    assert not path.exists or path.is_socket, (
        f"{path.path} is a directory or a file, not a socket" if path.exists else ""
    )


def test_builder_pod_is_ready(builder: BuilderPod) -> None:
    assert builder.healthy, f"builder pod {builder.name} is {builder.status}, ready={builder.ready}"
