"""Builder pods from a saved listing: the text of ``kubectl get pod -o wide`` or ``-o json``.

For operators who saved what they saw (``kubectl get pod -o wide > pods.txt``), or whose
CI job cannot reach the API from where pyinfra runs. Pure code: text in, BuilderPods out,
and anything that is not a listing is a BinderfixError saying what to do, never a traceback.

Text listings are split by the header's column offsets, as kubectl aligns them (the
headers ``NOMINATED NODE`` and ``READINESS GATES`` hold a space). Without labels in the
listing, builder pods are known by their DaemonSet pod names: ``<release>-dind-<5>``,
``<release>-pink-<5>``, or a name holding ``docker-api``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.inventory.model import BuilderPod, builder_kind, from_pod_object, is_builder

SAVE_HINT = "save the listing with: kubectl get pod -o wide > pods.txt (or -o json)"

# kubectl's column order for `get pod -o wide`, used when a listing has --no-headers.
WIDE_COLUMNS = [
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "AGE",
    "IP",
    "NODE",
    "NOMINATED NODE",
    "READINESS GATES",
]
_TWO_WORD = ("NOMINATED NODE", "READINESS GATES")
_DAEMONSET_POD = re.compile(r"^(?P<release>.+?)-(?P<kind>dind|pink)-[a-z0-9]{5}$")
_RESTARTS = re.compile(r"^(\d+)(?: \(.+ ago\))?$")
_READY = re.compile(r"^(\d+)/(\d+)$")
_NOISE = re.compile(r"^(Warning: |No resources found|error: |E\d{4} )")


def parse_listing(text: str, namespace: str | None = None) -> list[BuilderPod]:
    """The builder pods in a saved listing, JSON or text, sorted by node."""
    if not isinstance(text, str):
        raise BinderfixError("the listing is not text", hint=SAVE_HINT)
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise BinderfixError("the listing is empty", hint=SAVE_HINT)
    if "\x00" in stripped[:4096]:
        raise BinderfixError("the listing is binary, not kubectl's output", hint=SAVE_HINT)
    pods = _from_json(stripped) if stripped[0] in "{[" else _from_text(stripped, namespace)
    return sorted(pods, key=lambda p: (p.node, p.name))


# -- JSON -----------------------------------------------------------------------------------


def _from_json(text: str) -> list[BuilderPod]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BinderfixError(f"the listing is not valid JSON ({exc})", hint=SAVE_HINT) from None
    if isinstance(doc, dict) and doc.get("kind") == "Pod":
        items: Any = [doc]
    elif isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    elif isinstance(doc, list):
        items = doc
    else:
        raise BinderfixError(
            "the JSON listing holds no pods (no `items`, not a Pod)", hint=SAVE_HINT
        )
    pods = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            raise BinderfixError(f"item {index} of the JSON listing is not a pod", hint=SAVE_HINT)
        if not all(isinstance(item.get(k, {}), dict) for k in ("spec", "status")):
            raise BinderfixError(f"item {index} of the JSON listing is malformed", hint=SAVE_HINT)
        try:
            pod = from_pod_object(item)
        except (TypeError, ValueError, AttributeError) as exc:
            raise BinderfixError(
                f"item {index} of the JSON listing is malformed ({exc})", hint=SAVE_HINT
            ) from None
        if is_builder(pod.labels) and pod.node:
            pods.append(pod)
    return pods


# -- text -----------------------------------------------------------------------------------


def _columns(header: str) -> list[tuple[str, int]]:
    """(name, start offset) per column; two-word headers kept whole."""
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    words = [m.group() for m in re.finditer(r"\S+", header)]
    columns: list[tuple[str, int]] = []
    i = 0
    while i < len(words):
        pair = f"{words[i]} {words[i + 1]}" if i + 1 < len(words) else ""
        if pair in _TWO_WORD:
            columns.append((pair, starts[i]))
            i += 2
        else:
            columns.append((words[i], starts[i]))
            i += 1
    return columns


def _cells(line: str, columns: list[tuple[str, int]]) -> dict[str, str]:
    cells = {}
    for index, (name, start) in enumerate(columns):
        end = columns[index + 1][1] if index + 1 < len(columns) else None
        cells[name] = line[start:end].strip()
    return cells


def _from_text(text: str, namespace: str | None) -> list[BuilderPod]:
    lines = [line.rstrip("\r") for line in text.splitlines()]
    lines = [line for line in lines if line.strip() and not _NOISE.match(line)]
    if not lines:
        return []
    first = lines[0].split()
    if first[:1] == ["NAME"] or first[:2] == ["NAMESPACE", "NAME"]:
        columns = _columns(lines[0])
        body = enumerate(lines[1:], start=2)
    else:  # --no-headers: kubectl's order; rows are split on runs of spaces instead
        columns = []
        body = enumerate(lines, start=1)
    names = [name for name, _ in columns]
    if columns and "NODE" not in names:
        raise BinderfixError(
            "the listing has no NODE column: it was saved without -o wide",
            hint="save it with: kubectl get pod -o wide > pods.txt",
        )
    pods = []
    for number, line in body:
        cells = _cells(line, columns) if columns else _no_header_cells(line, number)
        pod = _row(cells, number, namespace)
        if pod is not None:
            pods.append(pod)
    return pods


def _no_header_cells(line: str, number: int) -> dict[str, str]:
    parts = re.split(r"\s{2,}|\t", line.strip())
    # `5 (2m ago)` is one cell with single spaces; with -A the namespace comes first.
    if len(parts) == len(WIDE_COLUMNS) + 1:
        return dict(zip(["NAMESPACE", *WIDE_COLUMNS], parts, strict=True))
    if len(parts) >= len(WIDE_COLUMNS):
        return dict(zip(WIDE_COLUMNS + ["LABELS"], parts, strict=False))
    raise BinderfixError(
        f"line {number} of the listing has {len(parts)} columns, not those of "
        "`kubectl get pod -o wide`",
        hint=SAVE_HINT,
    )


def _labels(cell: str) -> dict[str, str]:
    if not cell or cell == "<none>":
        return {}
    return dict(part.split("=", 1) for part in cell.split(",") if "=" in part)


def _row(cells: dict[str, str], number: int, namespace: str | None) -> BuilderPod | None:
    name = cells.get("NAME", "")
    if not name or " " in name:
        raise BinderfixError(f"line {number} of the listing has no pod name", hint=SAVE_HINT)
    labels = _labels(cells.get("LABELS", ""))
    match = _DAEMONSET_POD.match(name)
    if labels:
        if not is_builder(labels):
            return None
    elif not (match or "docker-api" in name):
        return None
    ready = _READY.match(cells.get("READY", ""))
    restarts = _RESTARTS.match(cells.get("RESTARTS", ""))
    if not ready or not restarts:
        raise BinderfixError(
            f"line {number} of the listing does not read as a pod row "
            f"(READY {cells.get('READY')!r}, RESTARTS {cells.get('RESTARTS')!r})",
            hint=SAVE_HINT,
        )
    node = cells.get("NODE", "")
    if node in ("", "<none>"):
        return None  # not scheduled: no node to fix
    status = cells.get("STATUS", "")
    return BuilderPod(
        name=name,
        namespace=cells.get("NAMESPACE") or namespace or "default",
        node=node,
        phase=_phase(status),
        ready=int(ready.group(1)) == int(ready.group(2)) > 0,
        restarts=int(restarts.group(1)),
        reason="" if status in ("Running", "Pending", "Succeeded", "Failed") else status,
        kind=builder_kind(labels, name),
        labels=labels,
        pod_ip="" if cells.get("IP") in (None, "<none>") else cells["IP"],
        release=labels.get("release") or (match.group("release") if match else ""),
    )


def _phase(status: str) -> str:
    """The pod phase behind a STATUS cell: a crash-looping pod's phase stays Running."""
    if status in ("Running", "Pending", "Succeeded", "Failed", "Unknown"):
        return status
    if status in ("ContainerCreating", "PodInitializing") or status.startswith("Init:"):
        return "Pending"
    if status == "Completed":
        return "Succeeded"
    if status in ("Error", "Evicted"):
        return "Failed"
    return "Running"
