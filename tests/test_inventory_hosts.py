"""The inventory's pure parts: settings from the environment, pods to pyinfra hosts."""

from __future__ import annotations

import json

import pytest

from binderfix.errors import BinderfixError
from binderfix.inventory.hosts import build_groups, host_data
from binderfix.inventory.settings import DEFAULT_SELECTORS, from_env
from binderfix.kube.model import BuilderPod, from_pod_object
from tests.conftest import REPO


def pod(node: str, name: str, healthy: bool = True, **kw) -> BuilderPod:
    return BuilderPod(
        name=name,
        namespace="prod",
        node=node,
        phase="Running",
        ready=healthy,
        restarts=0 if healthy else 12,
        reason="" if healthy else "CrashLoopBackOff",
        **kw,
    )


def test_defaults_find_both_label_generations() -> None:
    settings = from_env({})
    assert settings.selectors == DEFAULT_SELECTORS
    assert "app=binder,component=image-builder" in settings.selectors
    assert "component=dind" in settings.selectors
    assert settings.ssh_address == "name" and settings.use_sudo


def test_selector_override_and_ssh_settings() -> None:
    settings = from_env(
        {
            "BINDERFIX_SELECTOR": "app=mybuilder; tier=build",
            "BINDERFIX_SSH_USER": "root",
            "BINDERFIX_SSH_PORT": "2222",
            "BINDERFIX_SSH_ADDRESS": "InternalIP",
        }
    )
    assert settings.selectors == ("app=mybuilder", "tier=build")
    assert not settings.use_sudo  # root needs no sudo
    pods = [pod("node-1", "prod-dind-aaaaa")]
    builders, _ = build_groups(pods, settings, {"node-1": {"InternalIP": "10.0.0.5"}})
    ((name, data),) = builders
    assert name == "node-1" and data["ssh_hostname"] == "10.0.0.5" and data["ssh_port"] == 2222
    assert data["ssh_user"] == "root" and data["socket_path"] == "/var/run/dind/docker.sock"


def test_one_host_per_node_named_after_it_and_unhealthy_group() -> None:
    pods = [
        pod("node-1", "prod-dind-aaaaa"),
        pod("node-2", "prod-dind-bbbbb", healthy=False),
        pod("node-3", "prod-dind-ccccc"),
    ]
    builders, unhealthy = build_groups(pods, from_env({}), {})
    assert [name for name, _ in builders] == ["node-1", "node-2", "node-3"]
    assert unhealthy == ["node-2"]
    data = dict(builders)["node-2"]
    assert data["pod_name"] == "prod-dind-bbbbb" and data["status"] == "CrashLoopBackOff"
    assert data["restarts"] == 12 and data["healthy"] is False
    assert "ssh_hostname" not in data  # connect by node name: the user's SSH config decides


def test_an_unhealthy_pod_wins_when_a_node_runs_two_builders() -> None:
    pods = [
        pod("node-1", "prod-dind-aaaaa"),
        pod("node-1", "prod-pink-bbbbb", healthy=False, kind="pink"),
    ]
    builders, unhealthy = build_groups(pods, from_env({}), {})
    assert dict(builders)["node-1"]["pod_name"] == "prod-pink-bbbbb"
    assert dict(builders)["node-1"]["socket_path"] == "/var/run/pink/podman.sock"
    assert unhealthy == ["node-1"]


def test_missing_address_is_a_clear_error() -> None:
    with pytest.raises(BinderfixError, match="no ExternalIP"):
        build_groups(
            [pod("node-1", "prod-dind-aaaaa")],
            from_env({"BINDERFIX_SSH_ADDRESS": "ExternalIP"}),
            {"node-1": {"InternalIP": "10.0.0.5"}},
        )


def test_pod_object_from_the_api() -> None:
    obj = {
        "metadata": {
            "name": "prod-dind-rp7z8",
            "namespace": "prod",
            "labels": {"app": "binder", "component": "image-builder", "release": "prod"},
        },
        "spec": {"nodeName": "gke-prod-user-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.12.0.5",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "restartCount": 2013,
                    "ready": False,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        },
    }
    p = from_pod_object(obj)
    assert (p.node, p.restarts, p.reason, p.ready, p.healthy, p.kind) == (
        "gke-prod-user-1",
        2013,
        "CrashLoopBackOff",
        False,
        False,
        "dind",
    )
    assert p.release == "prod" and p.default_socket_path() == "/var/run/dind/docker.sock"


def test_host_data_holds_every_documented_key_and_no_undocumented_one() -> None:
    from binderfix.dind.hostdata import HOST_DATA

    pod = from_pod_object(json.loads((REPO / "tests/data/listings/pod.json").read_text()))
    data = host_data(pod, from_env({}), {})
    assert set(HOST_DATA) <= set(data)
    assert {k for k in data if k not in HOST_DATA} <= {"ssh_user", "ssh_key", "ssh_port"}


def test_the_charts_init_container_and_its_failures_are_read_from_the_pod() -> None:
    pod = json.loads((REPO / "tests/data/listings/pod.json").read_text())
    assert not from_pod_object(pod).init_cleans_socket  # the older chart: no init container
    pod["spec"]["initContainers"] = [
        {
            "name": "filesystem",
            "image": "busybox",
            "command": [
                "sh",
                "-c",
                "if [ -d /var/run/dind/docker.sock ]; then rmdir /var/run/dind/docker.sock; fi",
            ],
        }
    ]
    pod["status"]["phase"] = "Pending"
    pod["status"]["initContainerStatuses"] = [
        {
            "name": "filesystem",
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        }
    ]
    builder = from_pod_object(pod)
    assert builder.init_cleans_socket
    assert builder.status == "Init:CrashLoopBackOff" and not builder.healthy
    data = host_data(builder, from_env({}), {})
    assert data["init_cleans_socket"] is True
