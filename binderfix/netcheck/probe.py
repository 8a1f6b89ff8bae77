"""The probe: connect to each target, with separate connect and read timeouts, in parallel.

This file is run as a script inside pods (``python3 -c <this file> '<targets JSON>'``), so
it uses the standard library only and imports nothing from binderfix. A target asking for
``auth: configproxy`` gets ``Authorization: token $CONFIGPROXY_AUTH_TOKEN`` from the
probe's own environment: the token is read where it lives and never leaves the pod.

Verdicts: ok, dns, refused, timeout (connect or read, said in ``detail``), tls,
http-status, token-rejected, error.
"""
# ruff: noqa: UP031 (%-formatting on purpose: this runs on whatever python3 a pod has)

import hashlib
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit


def _summary(body, kind):
    try:
        data = json.loads(body)
    except ValueError:
        return "%d bytes" % len(body)
    if kind == "routes" and isinstance(data, dict):
        return "%d routes" % len(data)
    if isinstance(data, dict) and "version" in data:
        return "version %s" % data["version"]
    return "%d bytes of JSON" % len(body)


def probe(target, environ=None):
    """Probe one target; returns a result dict (never raises)."""
    environ = os.environ if environ is None else environ
    result = {
        "id": target["id"],
        "verdict": "error",
        "detail": "",
        "status": None,
        "latency_ms": None,
    }
    started = time.monotonic()
    url = target.get("url") or ""
    if url:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    else:
        scheme, (host, _, port_text) = "tcp", target["address"].rpartition(":")
        port, path = int(port_text), ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        result.update(
            verdict="dns", detail="%s does not resolve (%s)" % (host, exc.strerror or exc)
        )
        return result
    address = infos[0][4]
    try:
        sock = socket.create_connection(address[:2], timeout=target["connect_timeout"])
    except TimeoutError:
        result.update(
            verdict="timeout", detail="connect timed out after %ss" % target["connect_timeout"]
        )
        return result
    except ConnectionRefusedError:
        result.update(verdict="refused", detail="connection refused by %s:%s" % address[:2])
        return result
    except OSError as exc:
        result.update(verdict="error", detail="connect failed: %s" % (exc.strerror or exc))
        return result
    connected = time.monotonic()
    if scheme == "tcp":
        sock.close()
        result.update(
            verdict="ok", latency_ms=round((connected - started) * 1000, 1), detail="connected"
        )
        return result
    sock.settimeout(target["read_timeout"])
    try:
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        conn = http.client.HTTPConnection(host, port, timeout=target["read_timeout"])
        conn.sock = sock
        headers = {"User-Agent": "binderfix-netcheck", "Host": parts.netloc}
        if target.get("auth") == "configproxy":
            token = environ.get("CONFIGPROXY_AUTH_TOKEN", "")
            if not token:
                result.update(
                    verdict="token-rejected",
                    detail="no CONFIGPROXY_AUTH_TOKEN in the source's environment",
                )
                return result
            headers["Authorization"] = "token " + token
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read(1 << 20)
    except ssl.SSLError as exc:
        result.update(verdict="tls", detail="TLS error: %s" % (exc.reason or exc))
        return result
    except TimeoutError:
        result.update(
            verdict="timeout", detail="connected, but no answer within %ss" % target["read_timeout"]
        )
        return result
    except (OSError, http.client.HTTPException) as exc:
        result.update(verdict="error", detail="request failed: %s" % (type(exc).__name__))
        return result
    finally:
        sock.close()
    result["status"] = response.status
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    result["body_sha256"] = hashlib.sha256(body).hexdigest()
    result["summary"] = _summary(body, target.get("body", ""))
    if target.get("auth") == "configproxy" and response.status in (401, 403):
        result.update(
            verdict="token-rejected",
            detail="the proxy API refused the token (%d)" % response.status,
        )
    elif response.status >= 400:
        result.update(
            verdict="http-status", detail="HTTP %d %s" % (response.status, response.reason)
        )
    else:
        result.update(verdict="ok", detail="HTTP %d" % response.status)
    return result


def probe_all(targets, environ=None):
    """All targets at once, one thread each: the whole run takes about one timeout."""
    results = [None] * len(targets)

    def run(i):
        try:
            results[i] = probe(targets[i], environ)
        except Exception as exc:  # a probe must report, never take the others down
            results[i] = {
                "id": targets[i]["id"],
                "verdict": "error",
                "detail": type(exc).__name__,
                "status": None,
                "latency_ms": None,
            }

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(targets))]
    for t in threads:
        t.start()
    limit = max([t["connect_timeout"] + t["read_timeout"] for t in targets] or [0]) + 2
    deadline = time.monotonic() + limit
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [
        r
        or {
            "id": targets[i]["id"],
            "verdict": "timeout",
            "detail": "probe did not finish",
            "status": None,
            "latency_ms": None,
        }
        for i, r in enumerate(results)
    ]


if __name__ == "__main__":
    print(json.dumps(probe_all(json.loads(sys.argv[1]))))
