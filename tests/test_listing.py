"""Saved `kubectl get pod` listings: every column variant kubectl prints, and garbage."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfix.errors import BinderfixError
from binderfix.inventory.listing import parse_listing
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "listings"


def load(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    "name", ["sandbox-wide.txt", "sandbox-all-labels.txt", "sandbox-no-headers.txt", "sandbox.json"]
)
def test_real_kubectl_output_in_every_form_gives_the_same_pods(name: str) -> None:
    pods = parse_listing(load(name), namespace="prod")
    assert [(p.node, p.healthy) for p in pods] == [
        ("node-1", True),
        ("node-2", False),
        ("node-3", True),
    ]
    broken = pods[1]
    assert (
        broken.reason == "CrashLoopBackOff" and broken.restarts >= 1 and broken.namespace == "prod"
    )
    assert all(p.kind == "dind" and p.release == "prod" for p in pods)


def test_wide_listing_with_restart_ages_and_non_builders() -> None:
    pods = {p.name: p for p in parse_listing(load("wide.txt"), namespace="prod")}
    assert sorted(pods) == [
        "prod-dind-rp7z8",
        "prod-dind-t4k9q",
        "prod-dind-zz2bb",
    ]  # no hub, user, unscheduled
    crashing = pods["prod-dind-rp7z8"]
    assert (crashing.restarts, crashing.reason, crashing.ready, crashing.phase) == (
        2013,
        "CrashLoopBackOff",
        False,
        "Running",
    )
    assert crashing.node == "gke-prod-user-pool-5e6f7a8b-abcd" and crashing.pod_ip == "10.12.3.2"
    assert pods["prod-dind-t4k9q"].restarts == 3 and pods["prod-dind-t4k9q"].healthy
    creating = pods["prod-dind-zz2bb"]
    assert creating.phase == "Pending" and creating.pod_ip == "" and not creating.healthy


def test_all_namespaces_with_labels_finds_both_generations_and_pink() -> None:
    pods = {p.name: p for p in parse_listing(load("all-namespaces-labels.txt"))}
    assert sorted(pods) == ["prod-dind-abcde", "prod-pink-fghjk", "staging-dind-jxx6b"]
    assert (
        pods["staging-dind-jxx6b"].namespace == "staging"
        and pods["staging-dind-jxx6b"].restarts == 2013
    )
    assert pods["prod-pink-fghjk"].kind == "pink"
    assert pods["prod-pink-fghjk"].default_socket_path() == "/var/run/pink/podman.sock"


def test_listing_without_node_column_says_to_use_wide() -> None:
    with pytest.raises(BinderfixError, match="-o wide"):
        parse_listing(load("narrow.txt"))


def test_kubectl_notices_are_not_pods() -> None:
    assert parse_listing("No resources found in prod namespace.\n") == []


def test_json_single_pod_and_non_builders() -> None:
    doc = json.loads(load("sandbox.json"))
    single = next(i for i in doc["items"] if i["metadata"]["name"].startswith("prod-dind-"))
    assert [p.name for p in parse_listing(json.dumps(single))] == [single["metadata"]["name"]]
    hub = next(i for i in doc["items"] if i["metadata"]["name"].startswith("hub-"))
    assert parse_listing(json.dumps(hub)) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("\x00\x01binary", "binary"),
        ('{"items": [', "not valid JSON"),
        ('{"kind": "Status"}', "holds no pods"),
        ('{"items": [42]}', "item 0"),
        ("NAME   READY\nprod-dind-abcde   yes", "NODE column"),
    ],
)
def test_bad_listings_say_what_was_wrong(text: str, words: str) -> None:
    with pytest.raises(BinderfixError) as err:
        parse_listing(text)
    assert words in str(err.value) and "kubectl get pod" in str(err.value)


def _only_clear_errors(text: str) -> None:
    try:
        pods = parse_listing(text)
    except BinderfixError as exc:
        assert exc.message
    else:
        assert all(p.name and p.node for p in pods)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_random_text_is_a_list_or_a_clear_error(text: str) -> None:
    _only_clear_errors(text)


@settings(max_examples=200)
@given(st.binary())
def test_random_bytes_are_a_list_or_a_clear_error(data: bytes) -> None:
    _only_clear_errors(data.decode(errors="replace"))


@settings(max_examples=300)
@given(
    st.sampled_from(["sandbox-wide.txt", "wide.txt", "sandbox.json", "all-namespaces-labels.txt"]),
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=0, max_value=60),
    st.text(max_size=20),
)
def test_mutated_listings_are_a_list_or_a_clear_error(
    name: str, cut: int, drop: int, junk: str
) -> None:
    text = load(name)
    mutated = text[:cut] + junk + text[cut + drop :]
    _only_clear_errors(mutated)
