"""Saved `kubectl get pod` listings: every column variant real kubectl prints, read alike.

The fixtures are printed by the real kubectl (tests/data/listings/README.md). Malformed
listings and the property tests are in test_listing_garbage.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from binderfix.inventory.listing import (
    WIDE_COLUMNS,
    header_columns,
    parse_listing,
    phase_of_status,
)
from binderfix.kube.model import BuilderPod
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "listings"

PROD_TEXT = [
    "wide.txt",
    "wide-labels.txt",
    "wide-no-headers.txt",
    "wide-labels-no-headers.txt",
    "wide-label-columns.txt",
]
ALL_TEXT = [
    "wide-all-namespaces.txt",
    "wide-all-namespaces-labels.txt",
    "wide-all-namespaces-no-headers.txt",
    "wide-all-namespaces-labels-no-headers.txt",
]
# The scheduled builder pods in namespace prod of the fixture cluster (not prod-dind-x6qhv).
PROD_BUILDERS = [
    "prod-dind-c7fkd",
    "prod-dind-g5h2x",
    "prod-dind-m2vjc",
    "prod-dind-rp7z8",
    "prod-dind-t4k9q",
    "prod-dind-w8nrc",
    "prod-dind-zz2bb",
]
# Pods that an init container holds back: `-o json` as the model reads it has the main
# container's reason and no init restarts, kubectl's STATUS has `Init:...` and counts them.
INITIALIZING = {"prod-dind-w8nrc", "prod-dind-m2vjc"}


def load(name: str) -> str:
    return (DATA / name).read_text()


def by_name(pods: list[BuilderPod]) -> dict[str, BuilderPod]:
    return {p.name: p for p in pods}


def seen(pod: BuilderPod, labels: bool) -> tuple[Any, ...]:
    """What a listing says about a pod; labels only when it shows them."""
    fields = pod.as_dict()
    if pod.name in INITIALIZING:
        fields.pop("reason"), fields.pop("restarts"), fields.pop("status")
    if not labels:
        fields.pop("labels")
    return tuple(sorted(fields.items(), key=lambda kv: kv[0]))


def from_json(namespace: str | None = None) -> list[BuilderPod]:
    pods = parse_listing(load("pods.json"))
    return [p for p in pods if namespace in (None, p.namespace)]


@pytest.mark.parametrize("name", PROD_TEXT + ALL_TEXT)
def test_every_text_variant_says_what_the_json_says(name: str) -> None:
    text = parse_listing(load(name), namespace="prod")
    json_pods = from_json(None if "all-namespaces" in name else "prod")
    labels = "labels" in name
    assert [seen(p, labels) for p in text] == [seen(p, labels) for p in json_pods]


def test_json_listing_finds_every_scheduled_builder_and_nothing_else() -> None:
    pods = by_name(from_json())
    assert sorted(pods) == sorted(
        PROD_BUILDERS
        + ["staging-dind-jxx6b", "staging-dind-9k2lp", "ovh-pink-7xk2m", "ovh-pink-p4rzc"]
        + ["binderhub-service-docker-api-5ht8q"]
    )  # no hub, proxy, binder, user, build or hook pod; not the unscheduled prod-dind-x6qhv


def test_sorted_by_node() -> None:
    pods = parse_listing(load("wide-all-namespaces.txt"))
    assert [p.node for p in pods] == sorted(p.node for p in pods)


def test_the_runbook_case_crash_looping_with_restart_age() -> None:
    pod = by_name(parse_listing(load("wide.txt"), namespace="prod"))["prod-dind-rp7z8"]
    assert (pod.phase, pod.ready, pod.restarts, pod.reason, pod.healthy) == (
        "Running",
        False,
        2013,
        "CrashLoopBackOff",
        False,
    )
    assert (pod.node, pod.pod_ip, pod.namespace, pod.release, pod.kind) == (
        "gke-prod-user-pool-5e6f7a8b-abcd",
        "10.12.3.2",
        "prod",
        "prod",
        "dind",
    )
    assert pod.default_socket_path() == "/var/run/dind/docker.sock"


def test_every_builder_state_of_the_wide_listing() -> None:
    pods = by_name(parse_listing(load("wide.txt"), namespace="prod"))
    states = {name: (p.phase, p.ready, p.restarts, p.reason, p.healthy) for name, p in pods.items()}
    assert states == {
        "prod-dind-rp7z8": ("Running", False, 2013, "CrashLoopBackOff", False),
        "prod-dind-t4k9q": ("Running", True, 3, "", True),  # `3 (5d ago)`
        "prod-dind-zz2bb": ("Pending", False, 0, "ContainerCreating", False),
        "prod-dind-w8nrc": ("Pending", False, 7, "Init:CrashLoopBackOff", False),
        "prod-dind-m2vjc": ("Pending", False, 0, "Init:0/1", False),
        "prod-dind-c7fkd": ("Running", False, 5, "Error", False),  # between two crashes
        "prod-dind-g5h2x": ("Running", True, 0, "Terminating", True),
    }
    assert pods["prod-dind-zz2bb"].pod_ip == ""  # IP <none>


def test_pangeo_staging_example_old_labels() -> None:
    """pangeo-binder 47: `staging-dind-jxx6b 0/1 CrashLoopBackOff 2013`, labels component=dind."""
    assert "staging-dind-jxx6b    0/1     CrashLoopBackOff   2013    " in load("staging-wide.txt")
    for name in ("staging-wide.txt", "wide-show-kind.txt", "warning-wide.txt"):
        pods = by_name(parse_listing(load(name), namespace="staging"))
        assert sorted(pods) == ["staging-dind-9k2lp", "staging-dind-jxx6b"], name
        broken = pods["staging-dind-jxx6b"]
        assert (broken.restarts, broken.reason, broken.ready, broken.namespace) == (
            2013,
            "CrashLoopBackOff",
            False,
            "staging",
        )
        assert broken.release == "staging"
    labelled = by_name(parse_listing(load("wide-all-namespaces-labels.txt")))
    assert labelled["staging-dind-jxx6b"].labels["component"] == "dind"
    assert labelled["prod-dind-rp7z8"].labels["component"] == "image-builder"


@pytest.mark.parametrize("name", ["wide-all-namespaces.txt", "wide-all-namespaces-labels.txt"])
def test_pink_and_docker_api_builders(name: str) -> None:
    pods = by_name(parse_listing(load(name)))
    pink = pods["ovh-pink-p4rzc"]
    assert (pink.kind, pink.release, pink.namespace, pink.restarts) == ("pink", "ovh", "ovh", 48)
    assert pink.default_socket_path() == "/var/run/pink/podman.sock"
    api = pods["binderhub-service-docker-api-5ht8q"]
    assert (api.kind, api.release, api.namespace, api.healthy) == (
        "docker-api",
        "binderhub-service",
        "showcase",
        True,
    )
    assert api.default_socket_path() == (
        "/var/run/showcase-binderhub-service/docker-api/docker-api.sock"
    )


def test_namespace_comes_from_the_column_then_the_argument_then_default() -> None:
    assert {p.namespace for p in parse_listing(load("wide.txt"))} == {"default"}
    assert {p.namespace for p in parse_listing(load("wide.txt"), namespace="prod")} == {"prod"}
    everywhere = parse_listing(load("wide-all-namespaces.txt"), namespace="elsewhere")
    assert {p.namespace for p in everywhere} == {"prod", "staging", "ovh", "showcase"}


def test_header_columns_keep_two_word_headers_at_their_offsets() -> None:
    header = load("wide.txt").splitlines()[0]
    columns = header_columns(header, 1)
    assert [name for name, _ in columns] == list(WIDE_COLUMNS)
    assert all(header[start:].startswith(name) for name, start in columns)
    labelled = header_columns(load("wide-label-columns.txt").splitlines()[0], 1)
    assert [name for name, _ in labelled][-2:] == ["RELEASE", "NAME 2"]


def test_a_nominated_node_is_not_taken_for_the_node() -> None:
    """The Pending user pod has NODE <none> and a NOMINATED NODE: the columns stay apart."""
    row = next(line for line in load("wide.txt").splitlines() if "jupyter-wei" in line)
    assert "<none>                             gke-prod-user-pool-5e6f7a8b-efgh" in row
    renamed = load("wide.txt").replace("jupyter-wei-2dclimate-2dq9x7b2kd", "prod-dind-q9x7b")
    assert "prod-dind-q9x7b" not in by_name(parse_listing(renamed))  # not scheduled yet


def test_kubectl_notices_are_skipped() -> None:
    text = load("warning-wide.txt")
    assert text.startswith("Warning: ")
    assert len(parse_listing(text)) == 2
    assert parse_listing(load("empty-namespace.txt")) == []
    klog = 'E1124 12:00:00.123456   4242 memcache.go:265] "Unhandled Error" err="couldn\'t get"\n'
    assert len(parse_listing(klog + load("wide.txt"))) == len(PROD_BUILDERS)


def test_a_row_with_other_spacing_is_split_on_runs_of_spaces() -> None:
    """A hand-edited row that no longer lines up with the header still reads the same."""
    text = load("wide.txt")
    row = next(line for line in text.splitlines() if line.startswith("prod-dind-rp7z8"))
    squeezed = "  ".join(cell.strip() for cell in row.split("   ") if cell.strip())
    assert squeezed.startswith("prod-dind-rp7z8  0/1  CrashLoopBackOff  2013 (4m12s ago)  8d")
    edited = by_name(parse_listing(text.replace(row, squeezed), "prod"))
    assert edited == by_name(parse_listing(text, "prod"))


def test_two_listings_in_one_file_and_a_pod_listed_twice() -> None:
    """Each header holds until the next; rows listed twice (as `--watch` prints) count once."""
    text = load("wide.txt") + "\n" + load("staging-wide.txt") + load("wide-no-headers.txt")
    pods = parse_listing(text, namespace="prod")
    names = [p.name for p in pods]
    assert sorted(names) == sorted(PROD_BUILDERS + ["staging-dind-9k2lp", "staging-dind-jxx6b"])


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: "\ufeff" + text.replace("\n", "   \r\n"),  # BOM, CRLF, trailing spaces
        lambda text: text.replace("\n", "\r"),  # old Mac line ends
        lambda text: "\n\n" + text.replace("\n", "\n\n"),  # blank lines
        lambda text: text.rstrip("\n"),  # no newline at the end: READINESS GATES is whole
        lambda text: "\n".join(  # cells joined by tabs
            "\t".join(cell.strip() for cell in line.split("   ") if cell.strip())
            for line in text.splitlines()
        ),
    ],
)
def test_line_ends_blank_lines_and_tabs(edit: Any) -> None:
    text = load("wide.txt")
    assert parse_listing(edit(text), "prod") == parse_listing(text, "prod")


def test_the_pods_of_kubectl_get_all() -> None:
    """`kubectl get all -o wide`: pods come first, as `pod/...`; other tables are skipped."""
    services = (
        "NAME                   TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)    AGE   SELECTOR\n"
        "service/hub            ClusterIP   10.16.5.10    <none>        8081/TCP   40d   "
        "app=jupyterhub,component=hub,release=staging\n"
    )
    text = load("wide-show-kind.txt") + "\n" + services
    assert [p.name for p in parse_listing(text, "staging")] == [
        "staging-dind-jxx6b",
        "staging-dind-9k2lp",
    ]


def test_labels_decide_over_names_when_the_listing_has_them() -> None:
    text = load("wide-labels.txt")
    row = next(line for line in text.splitlines() if line.startswith("prod-dind-rp7z8"))
    labels = row.split()[-1]
    not_a_builder = text.replace(row, row.replace(labels, "app=binder,component=web"))
    assert "prod-dind-rp7z8" not in by_name(parse_listing(not_a_builder))
    no_labels = text.replace(row, row.replace(labels, "<none>"))
    assert "prod-dind-rp7z8" not in by_name(parse_listing(no_labels))
    assert "prod-dind-rp7z8" in by_name(parse_listing(text))


def test_json_single_pod_a_non_builder_and_other_kinds() -> None:
    single = parse_listing(load("pod.json"))
    assert [p.name for p in single] == ["prod-dind-rp7z8"]
    assert single == [by_name(from_json())["prod-dind-rp7z8"]]
    doc = json.loads(load("pods.json"))
    hub = next(i for i in doc["items"] if i["metadata"]["name"].startswith("hub-"))
    assert parse_listing(json.dumps(hub)) == []
    daemonset = {"kind": "DaemonSet", "metadata": {"name": "prod-dind", "labels": {}}}
    doc["items"].append(daemonset)
    assert len(parse_listing(json.dumps(doc))) == len(from_json())


def _api_pod(**meta: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": "bhs-binderhub-service-docker-api-q7tqk", **meta},
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                {"restartCount": 1, "state": {"terminated": {"reason": "OOMKilled"}}},
            ],
        },
    }


def test_json_release_from_the_instance_label_and_first_container_reason() -> None:
    labels = {"app.kubernetes.io/component": "docker-api", "app.kubernetes.io/instance": "bhs"}
    (pod,) = parse_listing(json.dumps(_api_pod(namespace="hub", labels=labels)))
    assert (pod.release, pod.kind, pod.restarts, pod.reason) == (
        "bhs",
        "docker-api",
        3,
        "CrashLoopBackOff",  # the first container's, as kubectl's STATUS
    )
    assert pod.default_socket_path() == "/var/run/hub-bhs/docker-api/docker-api.sock"
    (unnamespaced,) = parse_listing(json.dumps(_api_pod(labels=labels)), namespace="hub")
    assert unnamespaced.namespace == "hub"


@pytest.mark.parametrize(
    ("status", "restarts", "phase"),
    [
        ("Running", 0, "Running"),
        ("CrashLoopBackOff", 2013, "Running"),
        ("Terminating", 0, "Running"),
        ("Pending", 0, "Pending"),
        ("ContainerCreating", 0, "Pending"),
        ("Init:0/1", 0, "Pending"),
        ("Init:CrashLoopBackOff", 7, "Pending"),
        ("ImagePullBackOff", 0, "Pending"),
        ("ImagePullBackOff", 2, "Running"),
        ("Completed", 0, "Succeeded"),
        ("Error", 0, "Failed"),
        ("Error", 5, "Running"),
        ("Evicted", 0, "Failed"),
        ("Unknown", 0, "Unknown"),
    ],
)
def test_phase_of_status(status: str, restarts: int, phase: str) -> None:
    assert phase_of_status(status, restarts) == phase


@pytest.mark.parametrize("name", ["sandbox-wide.txt", "sandbox-all-labels.txt", "sandbox.json"])
def test_sandbox_listings_agree(name: str) -> None:
    pods = parse_listing(load(name), namespace="prod")
    assert [(p.node, p.healthy, p.reason) for p in pods] == [
        ("node-1", True, ""),
        ("node-2", False, "CrashLoopBackOff"),
        ("node-3", True, ""),
    ]
    assert parse_listing(load("sandbox-no-headers.txt"), "prod") == parse_listing(
        load("sandbox-wide.txt"), "prod"
    )


@pytest.mark.skipif(not (Path(sys.executable).parent / "kubectl").exists(), reason="no kubectl")
def test_the_fixtures_are_what_the_real_kubectl_prints(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("kubectl_print", DATA / "kubectl_print.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in module.print_fixtures(tmp_path):
        assert (tmp_path / name).read_text() == load(name), name
