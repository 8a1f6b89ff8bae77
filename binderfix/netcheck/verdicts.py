"""What the probes' reports mean. Pure functions: no network, no Kubernetes, no printing.

- :func:`classify_shell`: the shell fallback reports facts (tool, exit code, message); this
  turns them into the same verdicts the Python probe gives, in the same words.
- :func:`judge`: results in target order, the proxy's answer compared with the hub's, and
  whether each met what was expected of it (reachable, or blocked by a network policy).
- :func:`exit_status`: 0, 1 or 2, as every binderfix command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from binderfix.netcheck import probe
from binderfix.netcheck.targets import TOKEN_ENV, Target
from binderfix.report import EXIT_ERROR, EXIT_FOUND, EXIT_OK

# What to do about a verdict whose cause is not on the network path.
HINTS = {
    "no-token": f"probe from a pod that holds {TOKEN_ENV} (the hub's, the proxy's), "
    "or for --local export it first",
}

NO_TOOL = "no python3, curl, wget or bash in the pod"

_STATUS = re.compile(r"HTTP/\d(?:\.\d)?\s+(\d{3})\b")
_DNS = re.compile(
    r"resolve|Name or service not known|bad address|name resolution|nodename nor servname"
    r"|Name does not resolve|No address associated",
    re.I,
)
_TIMEOUT = re.compile(r"timed out|too slow|time-out|timeout", re.I)
_UNREACHABLE = re.compile(r"No route to host|Network is unreachable|Host is unreachable", re.I)
_TLS = re.compile(r"SSL|TLS|certificate", re.I)
_CURL_TLS = {35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91}
_KILLED = {124, 137, 143}  # cut off at the deadline (timeout(1), kill -9, kill)
_TOO_MANY = re.compile(r"too many redirect", re.I)  # busybox wget, which follows them


def _host_of(target: Mapping[str, Any]) -> str:
    if target.get("kind") == "tcp":
        return str(target.get("address", "")).rpartition(":")[0]
    return re.sub(r"^\w+://([^/:]*).*$", r"\1", str(target.get("url", "")))


def shell_observation(target: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the fallback's facts say happened, in the Python probe's terms (``observe``)."""
    tool, code = raw.get("tool"), int(raw.get("code") or 0)
    message = str(raw.get("message") or "").strip()
    status = raw.get("status")
    if not isinstance(status, int):
        found = _STATUS.search(message)
        status = int(found.group(1)) if found else None
    connected = raw.get("connected")
    if connected is None:  # wget does not say: infer it from what it printed
        connected = status is not None or "connected." in message
    seconds = raw.get("seconds")
    obs: dict[str, Any] = {
        "host": _host_of(target),
        "peer": target.get("address") or _host_of(target),
        "steps": [f"{tool}: exit {code}" + (f": {message}" if message else "")],
        "latency_ms": round(float(seconds) * 1000, 1) if isinstance(seconds, int | float) else None,
    }
    if tool == "skipped":
        return {**obs, "error": "missing-env", "missing": [raw.get("missing")], "stage": "parse"}
    if target.get("kind") == "tcp" and (connected or status is not None):
        return {**obs, "stage": "done", "status": None}
    location = str(raw.get("location") or "")
    if status in probe.REDIRECTS and location and target.get("url"):
        loop = probe.loop_of(target["url"], location)
        if loop:
            return {
                **obs,
                "stage": "done",
                "status": status,
                "error": "redirect-loop",
                "message": loop,
            }
    if status is not None:
        return {**obs, "stage": "done", "status": status, "reason": ""}
    if _TOO_MANY.search(message):
        return {**obs, "stage": "done", "error": "redirect-loop", "message": "too many redirects"}
    if (tool == "curl" and code == 6) or (tool != "curl" and _DNS.search(message)):
        return {**obs, "stage": "dns", "error": "unresolved", "message": "lookup failed"}
    stage = "read" if connected else "connect"
    if (tool in ("curl", "bash") and code == 28) or code in _KILLED:
        return {**obs, "stage": stage, "error": "timeout"}
    if _TIMEOUT.search(message):
        return {**obs, "stage": stage, "error": "timeout"}
    curl_refused = tool == "curl" and code == 7 and not _UNREACHABLE.search(message)
    if curl_refused or "refused" in message.lower():
        return {**obs, "stage": "connect", "error": "refused"}
    if (tool == "curl" and code in _CURL_TLS) or _TLS.search(message):
        return {**obs, "stage": "tls", "error": "tls", "message": message[:120] or f"{tool} TLS"}
    return {**obs, "stage": stage, "error": "other", "message": message[:160] or f"exit {code}"}


def classify_shell(target: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """A result like the Python probe's from one line of the shell fallback's report.

    ``target`` is the target as :meth:`Target.for_probe` gives it. The detail says which
    tool probed: the fallback's verdicts are coarser (no body to compare, curl's timeouts).
    """
    if raw.get("tool") == "none":
        return {
            "id": target["id"],
            "verdict": "error",
            "detail": NO_TOOL,
            "stage": None,
            "status": None,
            "latency_ms": None,
            "steps": [NO_TOOL],
        }
    result = probe.result_of(dict(target), shell_observation(target, raw))
    if raw.get("tool") != "skipped":
        result["detail"] = f"{result['detail'].strip()} [{raw.get('tool')}]"
    return result


def blocked(result: Mapping[str, Any]) -> bool:
    """Did the probe fail to make a connection at all (what a network policy does)?"""
    return result["verdict"] != "ok" and result.get("stage") in ("dns", "connect", None)


def judge(targets: Sequence[Target], results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One judged result per target, in target order.

    A target with ``same_as`` that answered differently from the other one is a
    ``mismatch`` (the runbook: proxy-public's /hub/api must equal the hub's). ``passed``
    says whether the result is what was expected: reachable, or blocked.
    """
    by_id = {r["id"]: r for r in results}
    judged = []
    for t in targets:
        r = dict(
            by_id.get(t.id)
            or {"id": t.id, "verdict": "error", "detail": "no result", "status": None}
        )
        other = by_id.get(t.same_as) if t.same_as else None
        if r["verdict"] == "ok" and other and other.get("verdict") == "ok":
            if "body_sha256" not in r or "body_sha256" not in other:
                r["detail"] += f"; not compared with {t.same_as} (shell fallback)"
            elif r["body_sha256"] != other["body_sha256"]:
                r.update(verdict="mismatch", detail=f"the answer differs from {t.same_as}'s")
            else:
                r["detail"] += f", same answer as {t.same_as}"
        r.pop("body_sha256", None)
        r["target"], r["expect"] = t.endpoint, t.expect
        if r["verdict"] in HINTS:
            r["hint"] = HINTS[r["verdict"]]
        if t.expect == "blocked":
            r["passed"] = blocked(r)
            r["detail"] = (
                f"blocked as expected: {r['detail']}"
                if r["passed"]
                else f"expected to be blocked, but {r['detail']}"
            )
        else:
            r["passed"] = r["verdict"] == "ok"
        judged.append(r)
    return judged


def exit_status(matrix: Mapping[str, Sequence[Mapping[str, Any]]], errors: Sequence[Any]) -> int:
    """2 if some source could not be probed from, else 1 if any target failed, else 0."""
    if errors:
        return EXIT_ERROR
    return EXIT_OK if all(r["passed"] for rs in matrix.values() for r in rs) else EXIT_FOUND
