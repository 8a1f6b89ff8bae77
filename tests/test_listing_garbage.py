"""Anything that is not a pod listing is a BinderfixError saying what to do, never a traceback.

Named cases first (each error says what was wrong and how to save a listing), then
hypothesis: random text, random bytes, random JSON, and real listings cut, stripped of a
column, shuffled or spliced with junk. Only a BinderfixError or a list of sound
BuilderPods may come out.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfix.errors import BinderfixError
from binderfix.inventory.listing import PHASES, header_columns, parse_listing
from binderfix.kube.model import BUILDER_KINDS, BuilderPod
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "listings"
TEXT_FIXTURES = [
    "wide.txt",
    "wide-labels.txt",
    "wide-no-headers.txt",
    "wide-all-namespaces-labels.txt",
    "wide-all-namespaces-no-headers.txt",
    "wide-label-columns.txt",
    "warning-wide.txt",
    "narrow.txt",
    "sandbox-wide.txt",
]
# LISTING_EXAMPLES=5000 for a longer hunt; the suite stays fast with the default.
FAST = settings(
    max_examples=int(os.environ.get("LISTING_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load(name: str) -> str:
    return (DATA / name).read_text()


def error_of(text: str, namespace: str | None = None) -> BinderfixError:
    with pytest.raises(BinderfixError) as err:
        parse_listing(text, namespace)
    return err.value


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("\n  \n", "empty"),
        ("\x00\x01\x02binary\x00", "binary"),
        ("N\x00A\x00M\x00E\x00 \x00 \x00 \x00R\x00E\x00A\x00D\x00Y\x00", "UTF-16"),
        ("NAME\ufffd\ufffd READY", "not UTF-8"),
        ('{"items": [', "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ('{"kind": "PodList", "items": []}{"kind": "PodList"}', "not valid JSON"),
        ('{"kind": "Status", "message": "pods is forbidden"}', "pods is forbidden"),
        ('{"kind": "Deployment"}', "holds no pods"),
        ('{"items": [42]}', "item 0"),
        ('{"items": [{"metadata": {"name": ""}}]}', "has no name"),
        ('{"items": [{"metadata": {"name": "a", "labels": ["x"]}}]}', "labels"),
        ('{"items": [{"metadata": {"name": "a"}, "spec": {"nodeName": 7}}]}', "nodeName"),
        (
            '{"items": [{"metadata": {"name": "a"}, "status": {"containerStatuses": '
            '[{"restartCount": Infinity}]}}]}',
            "restartCount",
        ),
        (
            '{"items": [{"metadata": {"name": "a"}, "status": {"containerStatuses": '
            '[{"state": {"waiting": "CrashLoopBackOff"}}]}}]}',
            "container state",
        ),
        (
            '{"items": [{"metadata": {"name": "a"}, "status": {"conditions": {"x": 1}}}]}',
            "conditions",
        ),
        ("apiVersion: v1\nitems:\n- kind: Pod\n", "YAML"),
        ("NAME   READY\nprod-dind-abcde   yes\n", "something other than pods"),
        ("hello world\n", "line 1"),
        ("just some notes about the cluster, nothing else", "line 1"),
    ],
)
def test_bad_listings_say_what_was_wrong_and_how_to_save_one(text: str, words: str) -> None:
    err = error_of(text)
    assert words in str(err)
    assert err.hint and ("kubectl get pod" in err.hint or "Out-File" in err.hint)


def test_a_listing_without_wide_asks_for_wide() -> None:
    for name in ("narrow.txt", "narrow-all-namespaces-no-headers.txt"):
        err = error_of(load(name))
        assert "-o wide" in str(err) and err.hint and "NODE column" in err.hint


def test_a_table_of_nodes_is_not_one_of_pods() -> None:
    nodes = (
        "NAME                     STATUS   ROLES    AGE   VERSION   INTERNAL-IP\n"
        "gke-prod-user-pool-abcd  Ready    <none>   8d    v1.31.1   10.128.0.4\n"
    )
    assert "something other than pods" in str(error_of(nodes))


def test_kubectl_failures_saved_in_the_file_are_quoted() -> None:
    err = error_of(load("forbidden.txt"))
    assert "Error from server (Forbidden)" in str(err) and "line 1" in str(err)
    refused = (
        "The connection to the server localhost:8080 was refused - did you specify the right "
        "host or port?\n"
    )
    assert "was refused" in str(error_of(refused))


def test_a_last_row_without_its_newline_is_refused_when_its_labels_may_be_cut() -> None:
    text = load("wide-labels.txt")
    err = error_of(text[: text.rindex("release=prod") + len("release=pr")])
    assert "has no line end" in str(err) and "LABELS" in str(err)
    assert "line end" in str(error_of(load("wide-label-columns.txt").rstrip("\n")))


def test_only_warnings_is_no_listing() -> None:
    assert "only kubectl's warnings" in str(error_of(load("warning-wide.txt").splitlines()[0]))


def test_a_header_without_rows_is_a_cut_listing() -> None:
    assert "cut short" in str(error_of(load("wide.txt").splitlines()[0] + "\n"))


def test_a_cut_row_names_its_line() -> None:
    lines = load("wide.txt").splitlines()
    lines[8] = lines[8][:100]
    err = error_of("\n".join(lines))
    assert "line 9" in str(err)


def test_a_shifted_row_with_a_missing_cell_names_its_line() -> None:
    lines = load("wide.txt").splitlines()
    lines[3] = lines[3].replace("   12d   ", "   ", 1)
    assert "line 4 does not line up with the header on line 1" in str(error_of("\n".join(lines)))


@pytest.mark.parametrize(
    ("cell", "bad"),
    [
        ("0/1", "zero/one"),
        ("2013 (4m12s ago)", "2013 (4m12s from now)"),
        ("2013 (4m12s ago)", "9" * 5000),
        ("CrashLoopBackOff", "Crash Loop"),
        ("10.12.3.2", "ten.twelve"),
    ],
)
def test_cells_that_kubectl_would_not_print_are_errors(cell: str, bad: str) -> None:
    lines = load("wide.txt").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("prod-dind-rp7z8"))
    lines[row] = lines[row].replace(cell, bad, 1)
    err = error_of("\n".join(lines))
    assert f"line {row + 1}" in str(err)


def test_labels_that_are_not_key_value_are_errors() -> None:
    text = load("wide-labels.txt").replace("app=binder,component=image-builder", "app,binder")
    assert "LABELS" in str(error_of(text))


def test_errors_are_one_line_message_and_a_hint() -> None:
    err = error_of("x" * 10_000)
    assert len(err.message) < 400 and "\n" not in err.message


# -- properties -----------------------------------------------------------------------------


def check(text: str, namespace: str | None = None) -> list[BuilderPod] | None:
    """Parse ``text``: a clear BinderfixError, or builder pods that hold together."""
    try:
        pods = parse_listing(text, namespace)
    except BinderfixError as exc:
        assert exc.message and exc.hint and "\n" not in exc.message
        return None
    for pod in pods:
        assert isinstance(pod, BuilderPod)
        assert pod.name and pod.node and pod.node != "<none>" and pod.namespace
        assert isinstance(pod.restarts, int) and pod.restarts >= 0
        assert pod.phase in PHASES and pod.kind in BUILDER_KINDS
        assert all(isinstance(v, str) for v in (pod.reason, pod.pod_ip, pod.release))
        assert isinstance(pod.ready, bool)
        pod.as_dict(), pod.default_socket_path()
    assert len({(p.namespace, p.name) for p in pods}) == len(pods)
    return pods


@FAST
@given(st.text())
def test_random_text(text: str) -> None:
    check(text)


@FAST
@given(st.binary())
def test_random_bytes(data: bytes) -> None:
    check(data.decode(errors="replace"))


# Text made of the pieces of real listings, to get past the first checks.
PIECES = sorted(
    {word for name in TEXT_FIXTURES for word in load(name).split()}
    | {"   ", "  ", " ", "\n", "\t", "<none>", "NOMINATED NODE", "READINESS GATES"}
)


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=80))
def test_text_made_of_listing_pieces(pieces: list[str]) -> None:
    check(" ".join(pieces))


@FAST
@given(st.sampled_from(TEXT_FIXTURES), st.data())
def test_cut_listings(name: str, data: st.DataObject) -> None:
    text = load(name)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    pods = check(text[:cut])
    if pods is not None:  # a listing cut at a row's end is a shorter listing, never a wrong one
        whole = {(p.namespace, p.name): p for p in parse_listing(text)}
        assert all(whole.get((p.namespace, p.name)) in (p, None) for p in pods)


def drop_column(text: str, index: int) -> str:
    """``text`` without the ``index``-th column of its header, cut out of every line."""
    lines = text.splitlines()
    columns = header_columns(lines[0], 1)
    start = columns[index][1]
    end = columns[index + 1][1] if index + 1 < len(columns) else None
    return "\n".join(line[:start] + (line[end:] if end is not None else "") for line in lines)


HEADED = [name for name in TEXT_FIXTURES if "no-headers" not in name and "warning" not in name]


@FAST
@given(st.sampled_from(HEADED), st.data())
def test_listings_without_a_column(name: str, data: st.DataObject) -> None:
    text = load(name)
    count = len(header_columns(text.splitlines()[0], 1)) if name != "narrow.txt" else 5
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    if name == "narrow.txt":
        check(text)
        return
    pods = check(drop_column(text, index))
    column = header_columns(text.splitlines()[0], 1)[index][0]
    if column in ("NAME", "READY", "STATUS", "RESTARTS", "NODE"):
        assert pods is None  # a listing without what makes it a pod listing is refused


@FAST
@given(
    st.sampled_from(TEXT_FIXTURES),
    st.data(),
)
def test_listings_with_lines_dropped_shuffled_or_spliced(name: str, data: st.DataObject) -> None:
    lines = load(name).splitlines()
    how = data.draw(st.sampled_from(["drop", "shuffle", "splice", "columns"]))
    if how == "drop":
        keep = data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        lines = [line for line, k in zip(lines, keep, strict=True) if k]
    elif how == "shuffle":
        lines = data.draw(st.permutations(lines))
    elif how == "splice":
        at = data.draw(st.integers(min_value=0, max_value=len(lines)))
        lines.insert(at, data.draw(st.text(max_size=200)))
    else:
        i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        cells = lines[i].split("   ")
        lines[i] = "   ".join(data.draw(st.permutations(cells)))
    check("\n".join(lines), data.draw(st.sampled_from([None, "prod"])))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(JSON_VALUES)
def test_random_json(value: Any) -> None:
    check(json.dumps(value))


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _paths(value, (*prefix, i))
    return found


POD_JSON = json.loads(load("pod.json"))
POD_PATHS = _paths(POD_JSON)[1:]


@FAST
@given(st.sampled_from(POD_PATHS), JSON_VALUES, st.booleans())
def test_json_pods_with_a_field_replaced(path: tuple[Any, ...], value: Any, listed: bool) -> None:
    doc = json.loads(json.dumps(POD_JSON))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    check(json.dumps({"kind": "List", "items": [doc]} if listed else doc))


@FAST
@given(st.sampled_from(["pods.json", "sandbox.json"]), st.data())
def test_cut_json(name: str, data: st.DataObject) -> None:
    text = load(name)
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 2))
    check(text[:cut])
