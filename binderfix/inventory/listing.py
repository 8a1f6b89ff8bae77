"""Builder pods from a saved listing: the text of ``kubectl get pod -o wide`` or ``-o json``.

For operators who saved what they saw (``kubectl get pod -o wide > pods.txt``), or whose CI
job cannot reach the API from where pyinfra runs. Pure code: text in, BuilderPods out, and
anything that is not a listing is a BinderfixError saying what was wrong and what to do,
never another exception.

What is read:

- JSON: ``kubectl get pod -o json`` (a ``List``/``PodList`` with ``items``, or one ``Pod``).
  Builder pods are those :func:`~binderfix.kube.model.is_builder` accepts by label.
- Text: ``kubectl get pod -o wide``, with or without ``-A`` (a NAMESPACE first column),
  ``--show-labels`` (a LABELS last column), ``--show-kind`` (``pod/`` names), extra ``-L``
  columns, and ``--no-headers``; the pods of ``kubectl get all -o wide`` (the tables of
  other kinds after them are skipped); kubectl's ``Warning: ...``, ``No resources found ...`` and
  klog lines are skipped. Rows are cut at the header's column offsets, as kubectl's
  tabwriter aligns them (two headers hold a space: ``NOMINATED NODE``, ``READINESS GATES``);
  a row that does not line up is split on runs of two or more spaces instead (kubectl puts
  at least three between cells and never two inside one).

Heuristics, where a listing says less than the API:

- Which pods are builders, in text without ``--show-labels``: the names a builder
  DaemonSet gives its pods, ``<release>-dind-<5>``, ``<release>-pink-<5>`` and
  ``[<prefix>-]docker-api-<5>`` (``<5>``: five lowercase letters or digits). A pod of
  another workload named that way would be taken for a builder; save with
  ``--show-labels`` (or ``-o json``) to go by labels instead.
- The pod phase, from STATUS: see :func:`phase_of_status`.
- The release: the ``release`` label, else ``app.kubernetes.io/instance`` (binderhub-service),
  else the name before ``-dind-``/``-pink-``/``-docker-api-``. For docker-api pods that
  name is the chart's full name, which is the release only when the release name contains
  ``binderhub-service``: keep the labels in the listing for those.

Builder pods with no node yet (unscheduled, NODE ``<none>``) are left out: there is no host
to fix. The result is sorted by node; a pod listed twice (two listings in one file, or
``--watch`` output) counts once, as last listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from binderfix.errors import BinderfixError
from binderfix.kube.model import (
    BUILDER_NAME,
    BuilderPod,
    builder_kind,
    from_pod_object,
    is_builder,
    release_of,
)

__all__ = [
    "SAVE_HINT",
    "WIDE_COLUMNS",
    "header_columns",
    "parse_labels",
    "parse_listing",
    "phase_of_status",
]

SAVE_HINT = (
    "save the listing with `kubectl get pod -o wide > pods.txt` "
    "(add -A for every namespace, or use -o json)"
)
WIDE_HINT = "save it with `kubectl get pod -o wide > pods.txt`: the NODE column is needed"

# `kubectl get pod -o wide`, the column order assumed for a listing saved with --no-headers.
WIDE_COLUMNS: tuple[str, ...] = (
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "AGE",
    "IP",
    "NODE",
    "NOMINATED NODE",
    "READINESS GATES",
)
# `kubectl get pod` without -o wide: no node.
NARROW_COLUMNS: tuple[str, ...] = WIDE_COLUMNS[:5]
# Columns every pod table has; a table without them lists something else.
REQUIRED_COLUMNS: tuple[str, ...] = ("NAME", "READY", "STATUS", "RESTARTS")
TWO_WORD_HEADERS: tuple[str, ...] = ("NOMINATED NODE", "READINESS GATES")

# The phases a pod can have, which STATUS shows as they are.
PHASES = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
# Waiting reasons of a container that has not started yet: the pod is Pending until it has.
NOT_STARTED = frozenset(
    {
        "ContainerCreating",
        "PodInitializing",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)

_POD_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NODE_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9._]{0,251}[A-Za-z0-9])?")
_IP = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_READY = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")
_RESTARTS = re.compile(r"([0-9]{1,9})(?: \([0-9a-z]{1,16} ago\))?")
_STATUS = re.compile(r"[A-Za-z][A-Za-z0-9:/._-]{0,62}")
_AGE = re.compile(r"[0-9a-z]{1,16}|<unknown>|<invalid>")
_GATES = re.compile(r"[0-9]{1,4}/[0-9]{1,4}")
# Cells checked when the listing has the column, besides NAME, READY, RESTARTS (<none> is fine).
_CELLS: dict[str, re.Pattern[str]] = {
    "AGE": _AGE,
    "IP": _IP,
    "NOMINATED NODE": _NODE_NAME,
    "READINESS GATES": _GATES,
}
_NOT_EMPTY = re.compile(r".+")
_CELL_GAP = re.compile(r" {2,}|\t+")
# kubectl's own lines in a listing saved with 2>&1: notices, and klog's `W1124 12:00:00.1 ...`.
_NO_RESOURCES = re.compile(r"No resources found")
_NOTICE = re.compile(r"(Warning: |Flag --\S+ has been deprecated|[IWEF]\d{4} \d\d:\d\d:\d\d)")
_KUBECTL_ERROR = re.compile(
    r"(error: |Error from server|Unable to connect to the server|"
    r"The connection to the server .* was refused)"
)
_YAML = re.compile(r"(---\s*$|apiVersion:|kind:|items:|metadata:)")


def parse_listing(text: str, namespace: str | None = None) -> list[BuilderPod]:
    """The builder pods in a saved listing, JSON or text, sorted by node.

    ``namespace`` is the namespace of a text listing without a NAMESPACE column (the one it
    was saved from); without it, ``default``, as kubectl's. A NAMESPACE column, or JSON's
    ``metadata.namespace``, wins. Raises BinderfixError for anything that is not a listing.
    """
    body = _readable(text)
    is_json = body.lstrip()[0] in "{["
    pods = _from_json(body, namespace) if is_json else _from_text(body, namespace)
    latest = {(pod.namespace, pod.name): pod for pod in pods}
    return sorted(latest.values(), key=lambda p: (p.node, p.namespace, p.name))


def _readable(text: str) -> str:
    """The listing without its byte-order mark, if it is text at all and not empty."""
    if not isinstance(text, str):
        raise BinderfixError(f"the listing is a {type(text).__name__}, not text", hint=SAVE_HINT)
    body = text.removeprefix("\ufeff")
    if not body.strip():
        raise BinderfixError(
            "the listing is empty (kubectl prints `No resources found` on stderr, so an "
            "empty file is either no pods or a command that failed)",
            hint=SAVE_HINT,
        )
    head = body[:4096]
    if head.count("\x00") > len(head) // 4:
        raise BinderfixError(
            "the listing looks like UTF-16 text (PowerShell's `>` writes UTF-16)",
            hint="save it as UTF-8: kubectl get pod -o wide | Out-File -Encoding utf8 pods.txt",
        )
    if "\x00" in body or "\ufffd" in body:
        raise BinderfixError(
            "the listing is binary or not UTF-8 text, not kubectl's output", hint=SAVE_HINT
        )
    return body


# -- JSON -----------------------------------------------------------------------------------


def _from_json(text: str, namespace: str | None) -> list[BuilderPod]:
    """Builder pods of a ``kubectl get pod -o json`` document."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BinderfixError(f"the listing is not valid JSON ({exc})", hint=SAVE_HINT) from None
    pods = []
    for index, item in enumerate(_json_items(doc)):
        pod = _json_pod(item, index)
        if pod is None or not is_builder(pod.labels) or not pod.node:
            continue
        if namespace and not (item["metadata"].get("namespace")):
            pod = replace(pod, namespace=namespace)
        pods.append(pod)
    return pods


def _json_items(doc: Any) -> list[Any]:
    """The objects of a List, or the one Pod."""
    if isinstance(doc, dict) and doc.get("kind") == "Pod":
        return [doc]
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return doc["items"]
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        raise BinderfixError(
            f"the JSON listing is kubectl's error, not pods: {doc.get('message')!s:.300}",
            hint=SAVE_HINT,
        )
    raise BinderfixError(
        "the JSON listing holds no pods (no `items`, and it is not a Pod)", hint=SAVE_HINT
    )


def _json_pod(item: Any, index: int) -> BuilderPod | None:
    """A BuilderPod from item ``index``, or None for another kind of object."""
    if isinstance(item, dict) and item.get("kind", "Pod") != "Pod":
        return None  # `kubectl get all -o json` lists Services, DaemonSets... too
    problem = _json_pod_problem(item)
    if problem:
        raise BinderfixError(f"item {index} of the JSON listing {problem}", hint=SAVE_HINT)
    try:
        return from_pod_object(item)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise BinderfixError(
            f"item {index} of the JSON listing is not a pod as kubectl prints it ({exc})",
            hint=SAVE_HINT,
        ) from None


def _json_pod_problem(item: Any) -> str:
    """What makes ``item`` unreadable as a Pod, or "" if nothing does."""
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
        return "is not a pod (no metadata)"
    meta = item["metadata"]
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        return "has no name"
    where = f"({meta['name']!r:.80})"
    if not isinstance(meta.get("labels") or {}, dict):
        return f"{where} has labels that are not a mapping"
    for part in ("spec", "status"):
        if not isinstance(item.get(part) or {}, dict):
            return f"{where} has a {part} that is not a mapping"
    status = item.get("status") or {}
    fields = {
        "spec.nodeName": (item.get("spec") or {}).get("nodeName"),
        "metadata.namespace": meta.get("namespace"),
        "status.phase": status.get("phase"),
        "status.podIP": status.get("podIP"),
        "status.reason": status.get("reason"),
    }
    for field, value in fields.items():
        if value is not None and not isinstance(value, str):
            return f"{where} has a {field} of {value!r:.40}, not a string"
    names = {
        "metadata.name": (meta["name"], _POD_NAME),
        "metadata.namespace": (fields["metadata.namespace"], _NAMESPACE),
        "spec.nodeName": (fields["spec.nodeName"], _NODE_NAME),
    }
    for field, (value, pattern) in names.items():
        if value and not pattern.fullmatch(value):
            return f"{where} has a {field} of {value!r:.80}, which the API would not serve"
    if fields["status.phase"] and fields["status.phase"] not in PHASES:
        return f"{where} has a status.phase of {fields['status.phase']!r:.40}, not a pod phase"
    for key in ("containerStatuses", "conditions"):
        entries = status.get(key) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return f"{where} has status.{key} that is not a list of mappings"
    for cs in status.get("containerStatuses") or []:
        count = cs.get("restartCount") or 0
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return f"{where} has a restartCount of {count!r}, not a count"
        state = cs.get("state") or {}
        if not isinstance(state, dict) or not all(
            isinstance(v or {}, dict) and isinstance((v or {}).get("reason") or "", str)
            for v in state.values()
        ):
            return f"{where} has a container state that is not as the API serves it"
    return ""


# -- text -----------------------------------------------------------------------------------


def _from_text(text: str, namespace: str | None) -> list[BuilderPod]:
    """Builder pods of a ``kubectl get pod -o wide`` table, header or not."""
    columns: list[tuple[str, int]] | None = None
    header_at = 0
    last_row: tuple[int, str] = (0, "")  # line number, last column
    kubectl_said: list[tuple[int, str]] = []  # its errors and its `No resources found`
    skipping = False  # in another kind's table, after the pods (`kubectl get all -o wide`)
    pods = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if not line.strip() or _NOTICE.match(line):
            continue
        if is_header(line):
            skipping = bool(last_row[0]) and not set(REQUIRED_COLUMNS) <= set(line.split())
        if skipping:
            continue
        if _KUBECTL_ERROR.match(line) or _NO_RESOURCES.match(line):
            kubectl_said.append((number, line))
            continue
        if columns is None and not last_row[0] and _YAML.match(line):
            raise BinderfixError(
                f"line {number}: the listing is YAML (kubectl get pod -o yaml)", hint=SAVE_HINT
            )
        if is_header(line):
            columns, header_at = header_columns(line, number), number
            continue
        if columns is None:
            cells = no_header_cells(line, number)
        else:
            cells = header_cells(line, columns, number, header_at)
        last_row = (number, list(cells)[-1])
        pod = row_to_pod(cells, number, namespace)
        if pod is not None:
            pods.append(pod)
    if last_row[0]:
        _check_not_cut(lines, *last_row)
    else:
        _check_no_rows(header_at, kubectl_said)
    return pods


def _check_no_rows(header_at: int, kubectl_said: list[tuple[int, str]]) -> None:
    """A listing without rows is fine only if kubectl said `No resources found`."""
    for number, line in kubectl_said:
        if _KUBECTL_ERROR.match(line):
            raise BinderfixError(
                f"line {number}: the listing is kubectl's error, not pods: {line:.300}",
                hint="fix what kubectl says, then " + SAVE_HINT,
            )
    if header_at:
        raise BinderfixError(
            f"the listing has a header (line {header_at}) but no pods: it looks cut short",
            hint=SAVE_HINT,
        )
    if not kubectl_said:
        raise BinderfixError(
            "the listing holds only kubectl's warnings, no table of pods", hint=SAVE_HINT
        )


def _check_not_cut(lines: list[str], number: int, last_column: str) -> None:
    """Refuse a last row that may be cut in its last cell.

    kubectl ends its output with a newline. A last row without one may be cut short; the
    other cells are checked, but LABELS (and ``-L`` label columns) could be cut anywhere
    and still read, so such a row is refused rather than read with half its labels.
    """
    if number < len(lines) or last_column == "READINESS GATES":
        return
    raise BinderfixError(
        f"line {number}, the last, has no line end, so its {last_column} may be cut short",
        hint=SAVE_HINT + "; if you edited the file, end it with a newline",
    )


def is_header(line: str) -> bool:
    """Is ``line`` the header of a kubectl table (``NAME ...``, or ``NAMESPACE NAME ...``)?"""
    words = line.split(None, 2)
    return words[:1] == ["NAME"] or words[:2] == ["NAMESPACE", "NAME"]


def header_columns(line: str, number: int) -> list[tuple[str, int]]:
    """(name, start offset) of each column of a header; two-word headers kept whole.

    A name seen before is numbered (``NAME 2``): ``-L name`` adds a second NAME column.
    Raises BinderfixError if the header is not that of a pod table, or has no NODE column
    (a listing saved without ``-o wide``).
    """
    words = [(m.group(), m.start()) for m in re.finditer(r"\S+", line)]
    columns: list[tuple[str, int]] = []
    seen: list[str] = []
    i = 0
    while i < len(words):
        pair = " ".join(w for w, _ in words[i : i + 2])
        width = 2 if pair in TWO_WORD_HEADERS else 1
        name = pair if width == 2 else words[i][0]
        seen.append(name)
        count = seen.count(name)
        columns.append((f"{name} {count}" if count > 1 else name, words[i][1]))
        i += width
    names = [name for name, _ in columns]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise BinderfixError(
            f"line {number}: a table of something other than pods (columns "
            f"{' '.join(names)!s:.200}; no {', '.join(missing)})",
            hint=SAVE_HINT,
        )
    if "NODE" not in names:
        raise BinderfixError(
            f"line {number}: the listing has no NODE column: it was saved without -o wide",
            hint=WIDE_HINT,
        )
    return columns


def header_cells(
    line: str, columns: list[tuple[str, int]], number: int, header_at: int
) -> dict[str, str]:
    """The cells of a row, cut at the header's offsets (or at runs of spaces, if it is shifted)."""
    raw = {
        name: line[start : columns[i + 1][1] if i + 1 < len(columns) else len(line)]
        for i, (name, start) in enumerate(columns)
    }
    if _lines_up(line, columns, raw):
        return {name: cell.strip() for name, cell in raw.items()}
    parts = _CELL_GAP.split(line.strip())
    if len(parts) == len(columns):
        return dict(zip((name for name, _ in columns), parts, strict=True))
    raise BinderfixError(
        f"line {number} does not line up with the header on line {header_at} "
        f"({len(parts)} cells for {len(columns)} columns): was the listing cut or edited?",
        hint=SAVE_HINT,
    )


def _lines_up(line: str, columns: list[tuple[str, int]], raw: dict[str, str]) -> bool:
    """Does every cell start at its column, as kubectl's tabwriter puts it?"""
    for name, start in columns:
        cell = raw[name]
        if start >= len(line) or not cell.strip():
            continue
        if (start > 0 and line[start - 1] != " ") or cell[0] == " " or "  " in cell.strip():
            return False
    return True


def no_header_cells(line: str, number: int) -> dict[str, str]:
    """The cells of a row of a ``--no-headers`` listing.

    Such a listing has no header to say what its columns are: they are assumed to be
    kubectl's ``-o wide`` order (:data:`WIDE_COLUMNS`), after a NAMESPACE column when the
    READY cell (``1/1``) comes third rather than second (``-A``), with one more column for
    ``--show-labels``. Cells are split on runs of two or more spaces.
    """
    parts = _CELL_GAP.split(line.strip())
    if len(parts) > 1 and _READY.fullmatch(parts[1]):
        lead: tuple[str, ...] = ()
    elif len(parts) > 2 and _READY.fullmatch(parts[2]):
        lead = ("NAMESPACE",)
    else:
        raise BinderfixError(
            f"line {number} is not a row of `kubectl get pod` (no READY cell like 1/1 "
            f"after the name): {line.strip():.120}",
            hint=SAVE_HINT,
        )
    count = len(parts) - len(lead)
    if count in (len(NARROW_COLUMNS), len(NARROW_COLUMNS) + 1):
        raise BinderfixError(
            f"line {number} has the columns of `kubectl get pod` without -o wide: no node",
            hint=WIDE_HINT,
        )
    if count not in (len(WIDE_COLUMNS), len(WIDE_COLUMNS) + 1):
        raise BinderfixError(
            f"line {number} has {count} cells after the namespace, not the "
            f"{len(WIDE_COLUMNS)} of `kubectl get pod -o wide --no-headers` "
            f"({len(WIDE_COLUMNS) + 1} with --show-labels)",
            hint=SAVE_HINT,
        )
    names = (*lead, *WIDE_COLUMNS, "LABELS")
    return dict(zip(names, parts, strict=False))


def row_to_pod(cells: dict[str, str], number: int, namespace: str | None) -> BuilderPod | None:
    """The BuilderPod of a table row, or None if the row is not a scheduled builder pod.

    Every row is checked, builder or not, so that a table of something else is an error.
    """
    name = _check(cells, "NAME", _POD_NAME, number, strip="pod/")
    ready = _READY.fullmatch(cells.get("READY", ""))
    restarts = _RESTARTS.fullmatch(cells.get("RESTARTS", ""))
    if not ready or not restarts:
        raise BinderfixError(
            f"line {number} does not read as a pod row (READY {cells.get('READY')!r:.40}, "
            f"RESTARTS {cells.get('RESTARTS')!r:.40}; kubectl prints them like 1/1 and "
            "5 (2m ago))",
            hint=SAVE_HINT,
        )
    status = _check(cells, "STATUS", _STATUS, number)
    node = _check(cells, "NODE", _NODE_NAME, number)
    checked = {
        column: _check(cells, column, pattern, number)
        for column, pattern in _CELLS.items()
        if column in cells
    }
    ip = checked.get("IP", "<none>")
    row_namespace = _check(cells, "NAMESPACE", _NAMESPACE, number) if "NAMESPACE" in cells else ""
    labels = None
    if "LABELS" in cells:
        _check(cells, "LABELS", _NOT_EMPTY, number)
        labels = parse_labels(cells["LABELS"], number)
    match = BUILDER_NAME.fullmatch(name)
    if not (is_builder(labels) if labels is not None else match) or node == "<none>":
        return None
    count = int(restarts.group(1))
    kind = builder_kind(labels, name) if labels else _name_kind(match)
    return BuilderPod(
        name=name,
        namespace=row_namespace or namespace or "default",
        node=node,
        phase=phase_of_status(status, count),
        ready=int(ready.group(1)) == int(ready.group(2)) > 0,
        restarts=count,
        reason="" if status in PHASES else status,
        kind=kind,
        labels=labels or {},
        pod_ip="" if ip == "<none>" else ip,
        release=release_of(labels or {}, name),
    )


def _check(
    cells: dict[str, str], column: str, pattern: re.Pattern[str], number: int, strip: str = ""
) -> str:
    """The cell under ``column``, if it reads as kubectl prints it (or ``<none>``)."""
    cell = cells.get(column, "")
    value = cell.removeprefix(strip) if strip else cell
    if value == "<none>" and column not in ("NAME", "STATUS", "NAMESPACE"):
        return value
    if not pattern.fullmatch(value):
        raise BinderfixError(
            f"line {number}: {cell!r:.80} under {column} is not what kubectl prints there",
            hint=SAVE_HINT,
        )
    return value


def parse_labels(cell: str, number: int = 0) -> dict[str, str]:
    """The labels of a LABELS cell (``app=binder,component=dind``; ``<none>``: none)."""
    if cell in ("", "<none>"):
        return {}
    labels = {}
    for part in cell.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise BinderfixError(
                f"line {number}: {part!r:.80} in LABELS is not key=value", hint=SAVE_HINT
            )
        labels[key] = value
    return labels


def _name_kind(match: re.Match[str] | None) -> str:
    """The builder kind a DaemonSet pod name says (dind, pink or docker-api)."""
    if match is None:
        return "dind"
    return match.group("kind") or "docker-api"


def phase_of_status(status: str, restarts: int = 0) -> str:
    """The pod phase behind a STATUS cell of ``kubectl get pod``.

    - a phase (``Running``, ``Pending``, ...) is itself;
    - ``Init:...`` (init containers not done), ``ContainerCreating``, ``PodInitializing``
      and the other reasons of a container that never started (image pulls, config
      errors) are ``Pending``; once the pod has restarted, it has started, so ``Running``;
    - ``Completed`` is ``Succeeded``;
    - ``Evicted`` is ``Failed``, and so is ``Error`` unless the pod has restarts: a
      container restarted after an error belongs to a pod that stays ``Running`` (the
      ``Error`` a DaemonSet pod shows between two crashes);
    - anything else (``CrashLoopBackOff``, ``Terminating``, ``OOMKilled``, ``NotReady``,
      ...) is ``Running``: the phase of a pod whose containers crash and restart stays
      Running, and the STATUS is kept as the reason.
    """
    if status in PHASES:
        return status
    if status.startswith("Init:") or (status in NOT_STARTED and restarts == 0):
        return "Pending"
    if status == "Completed":
        return "Succeeded"
    if status == "Evicted" or (status == "Error" and restarts == 0):
        return "Failed"
    if status == "NodeLost":
        return "Unknown"
    return "Running"
