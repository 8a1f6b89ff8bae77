"""The probe: connect to each target, with separate connect and read timeouts, all at once.

This file is also a script run inside pods: ``python3 -c <this file>`` reads a JSON list of
targets from its first argument or, without one, from the first line of standard input, and
prints one JSON document: ``{"probe": "python3", "python": "3.11.2", "results": [...]}``.
So it uses the standard library only, imports nothing from binderfix, and is written for
whatever python3 a pod has (3.5 and later: no f-strings, ``socket.timeout`` not
``TimeoutError``).

A target is ``{"id", "kind": "http"|"tcp", "url" (http) or "address" (tcp, host:port),
"headers": {name: value}, "connect_timeout", "read_timeout", "deadline", "role"}``.
``deadline`` bounds the whole probe of that target (look-up, connect, TLS, redirects, the
answer): a server that answers a byte a second is cut off there, not read for ever. A header value may
name a variable of the probe's own environment, ``${CONFIGPROXY_AUTH_TOKEN}``: the probe
fills it in where the secret lives, so it never leaves the pod, and every value filled in is
replaced by ``[redacted]`` in anything the probe prints. ``role: "proxy-api"`` makes a 401 or
403 ``token-rejected`` and summarises the JSON body as a number of routes.

I/O (:func:`observe`) only records what happened; :func:`classify` turns that into a verdict
without touching the network: ok, dns, refused, timeout (connect or read: ``stage`` says
which), tls, http-status, redirect-loop, no-token, token-rejected, error.

Redirects within the same scheme, host and port are followed (at most
:data:`MAX_REDIRECTS`), so that a loop (``/hub`` -> ``/hub/`` -> ``/hub``, or a page that
redirects to itself) is found; one to another host is an answer in itself: not followed,
since that host may be another network path.
"""
# This runs on whatever python3 a pod has: %-formatting, socket.timeout (not yet TimeoutError
# before 3.10), zip() without strict= (3.10).
# ruff: noqa: UP031, UP041, B905

import errno
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

try:
    from urllib.parse import urljoin, urlsplit
except ImportError:  # pragma: no cover - python 2 is not supported, but say so clearly
    sys.exit("binderfix netcheck needs python3")

REDACTED = "[redacted]"
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_BODY = 1 << 20
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


# -- pure: what a target asks for, what happened, what it means --------------------------------


def expand_headers(headers, environ):
    """Fill ``${NAME}`` in header values from ``environ``.

    Returns ``(headers, secrets, missing)``: the filled-in headers, every value that came
    from the environment (to redact), and the names that were not set (or empty).
    """
    filled, secrets, missing = {}, [], []
    for name, value in sorted((headers or {}).items()):
        for var in _ENV_REF.findall(value):
            found = environ.get(var, "")
            if found:
                secrets.append(found)
            elif var not in missing:
                missing.append(var)
        filled[name] = _ENV_REF.sub(lambda m: environ.get(m.group(1), ""), value)
        if name.lower() in SECRET_HEADERS and filled[name] != value and not missing:
            secrets.append(filled[name])
    return filled, secrets, missing


def redact(value, secrets):
    """``value`` (a string, or lists and dicts of them) with every secret replaced by
    ``[redacted]``, longest first, in keys and values alike."""
    secrets = sorted(set(s for s in secrets if s), key=len, reverse=True)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return dict((redact(k, secrets), redact(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value


def show_headers(headers):
    """Headers as a debug line shows them: secret-bearing values are never shown."""
    return ", ".join(
        "%s: %s" % (k, REDACTED if k.lower() in SECRET_HEADERS else v)
        for k, v in sorted(headers.items())
    )


def summarise(body, role=""):
    """A short, printable description of an answer: never the answer itself."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return "%d bytes" % len(body)
    if role == "proxy-api" and isinstance(data, dict):
        return "%d routes" % len(data)
    if isinstance(data, dict) and isinstance(data.get("version"), str):
        version = "".join(c for c in data["version"][:40] if c.isalnum() or c in ".-+_")
        return "version %s" % version
    return "%d bytes of JSON" % len(body)


def limit_of(target):
    """Seconds the whole probe of ``target`` may take (its ``deadline``)."""
    return target.get("deadline") or target["connect_timeout"] + target["read_timeout"]


def normal_url(url):
    """What makes two absolute URLs the same place: scheme, host, port, path and query."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port, parts.path or "/", parts.query


def loop_of(url, location, earlier=()):
    """Why following ``location`` (from an answer to ``url``) goes round in a loop, or "".

    ``earlier`` are the URLs redirected from before ``url``."""
    there = normal_url(urljoin(url, location))
    if there == normal_url(url):
        return "%s redirects to itself" % url
    for n, seen in enumerate(earlier):
        if there == normal_url(seen):
            return "%s redirects back to %s (%d redirects)" % (url, seen, len(earlier) - n)
    return ""


def classify(target, obs):
    """The verdict for one probe from what :func:`observe` recorded. Pure: no I/O.

    Returns ``(verdict, detail)``.
    """
    stage, error, message = obs.get("stage"), obs.get("error"), obs.get("message") or ""
    ct, rt, limit = target.get("connect_timeout"), target.get("read_timeout"), limit_of(target)
    proxy_api = target.get("role") == "proxy-api"
    if error == "missing-env":
        names = ", ".join(obs.get("missing") or [])
        if proxy_api:
            return "no-token", "no %s in the source's environment: no token to send" % names
        return "error", "%s is not set in the source's environment" % names
    if stage == "dns" and error in ("unresolved", "unfinished", "timeout", "deadline"):
        if error == "unresolved":
            return "dns", "%s does not resolve (%s)" % (obs.get("host"), message)
        return "dns", "looking up %s did not finish within %ss" % (obs.get("host"), limit)
    if error == "refused":
        return "refused", "connection refused by %s" % obs.get("peer")
    if error in ("timeout", "unfinished"):
        if stage == "connect":
            return "timeout", "connect timed out after %ss" % ct
        if stage == "tls":
            return "timeout", "TLS handshake did not finish within %ss" % rt
        return "timeout", "connected, but no answer within %ss (read timeout)" % rt
    if error == "deadline":  # each step was quick enough; all of them together were not
        if stage == "connect":
            return "timeout", "connect timed out after %ss" % limit
        if stage in ("tls", "send"):
            return "timeout", "connected, but the %s did not finish within %ss" % (
                "TLS handshake" if stage == "tls" else "request",
                limit,
            )
        return "timeout", "connected, but the answer did not finish within %ss (too slow)" % limit
    if error == "redirect-loop":
        return "redirect-loop", message
    if error == "tls":
        return "tls", "TLS error: %s" % message
    if error:
        return "error", "%s failed: %s" % (stage, message or error)
    status = obs.get("status")
    if status is None:  # a TCP connect
        return "ok", "connected"
    if proxy_api and status in (401, 403):
        return "token-rejected", "the proxy API refused the token (%d)" % status
    hops = obs.get("redirects") or 0
    after = " after %d redirect%s" % (hops, "" if hops == 1 else "s") if hops else ""
    if status >= 400:
        return "http-status", ("HTTP %d %s" % (status, obs.get("reason") or "")).strip() + after
    return "ok", "HTTP %d%s" % (status, after)


def result_of(target, obs):
    """The result a probe reports: the verdict and what the matrix and JSON show."""
    verdict, detail = classify(target, obs)
    result = {
        "id": target["id"],
        "verdict": verdict,
        "detail": detail,
        "stage": obs.get("stage"),
        "status": obs.get("status"),
        "latency_ms": obs.get("latency_ms"),
        "steps": list(obs.get("steps") or []),
    }
    for key in ("summary", "body_sha256"):
        if obs.get(key):
            result[key] = obs[key]
    return result


# -- I/O ----------------------------------------------------------------------------------------


def _ms(since):
    return round((time.monotonic() - since) * 1000, 1)


def _oserror_kind(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    return "other"


def _message(exc):
    return str(getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__)


def _endpoint(target):
    """(scheme, host, port, path, host header) of a target; raises ValueError if malformed."""
    if target.get("kind", "http") == "tcp":
        host, _, port = target["address"].rpartition(":")
        return "tcp", host.strip("[]"), int(port), "", ""
    parts = urlsplit(target["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL: %s" % target["url"])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return parts.scheme, parts.hostname, port, path, parts.netloc.rpartition("@")[2]


class _Cutter:
    """Shuts a probe's connection down at its deadline. A read timeout bounds one wait only:
    a server that answers a byte a second would go on for ever without this.

    It fires a moment after the deadline, so that a server silent until then meets the read
    timeout first (and is reported as silent, not slow). It shuts down a duplicate of the
    socket's file descriptor, so that it still works once the socket is wrapped in TLS, and
    never after :meth:`close` (the number may be reused)."""

    GRACE = 0.25

    def __init__(self, sock, ends):
        self.fd, self.fired, self.closed = sock.fileno(), False, False
        self.sock, self.lock = sock, threading.Lock()
        self.timer = threading.Timer(max(0.0, ends - time.monotonic()) + self.GRACE, self._cut)
        self.timer.daemon = True
        self.timer.start()

    def _cut(self):
        with self.lock:
            if self.closed or self.sock.fileno() != self.fd:  # closed, or handed to TLS
                return
            self.fired = True
            try:
                dup = socket.fromfd(self.fd, socket.AF_INET, socket.SOCK_STREAM)
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                finally:
                    dup.close()
            except OSError:
                pass

    def close(self):
        with self.lock:
            self.closed = True
            self.timer.cancel()
            self.sock.close()


def _read_body(response, cutter, steps):
    """Up to 1 MiB of the body, until the deadline: an answer that never ends (an event
    stream) or stalls after its status still counts by its status. Returns ``(body, whole)``."""
    body = b""
    read = getattr(response, "read1", response.read)  # read1: what has come, without waiting
    try:
        while len(body) < _MAX_BODY:
            chunk = read(65536)
            if not chunk:
                break
            body += chunk
    except (OSError, ValueError, http.client.HTTPException) as exc:
        if not cutter.fired:
            steps.append("body: %s after %d bytes: stopped reading" % (_message(exc), len(body)))
    if cutter.fired:
        steps.append("body still streaming at the deadline: stopped after %d bytes" % len(body))
    return body, not cutter.fired


def _connect(host, port, connect_timeout, obs, steps, started, ends):
    """A connected socket to ``host:port``, or None with the error in ``obs``."""
    obs["stage"] = "dns"
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        obs.update(error="unresolved", message=_message(exc))
        steps.append("resolve %s: failed (%s) after %sms" % (host, obs["message"], _ms(started)))
        return None
    steps.append(
        "resolve %s: %s (%sms)"
        % (host, ", ".join(sorted(set(i[4][0] for i in infos))), _ms(started))
    )
    if time.monotonic() >= ends:
        obs.update(error="deadline", message="the look-up took the whole deadline")
        return None
    obs["stage"] = "connect"
    deadline = min(time.monotonic() + connect_timeout, ends)
    last = None
    for family, socktype, proto, _, address in infos:
        obs["peer"] = "%s:%s" % (address[0], address[1])
        begun = time.monotonic()
        candidate = socket.socket(family, socktype, proto)
        candidate.settimeout(max(0.05, deadline - begun))
        try:
            candidate.connect(address)
        except OSError as exc:
            candidate.close()
            last = exc
            steps.append("connect %s: %s after %sms" % (obs["peer"], _message(exc), _ms(begun)))
            if time.monotonic() >= deadline:
                break
            continue
        steps.append("connect %s: connected (%sms)" % (obs["peer"], _ms(begun)))
        return candidate
    obs.update(error=_oserror_kind(last) if last else "other", message=_message(last))
    return None


def _get(url, headers, target, obs, started, ends):
    """GET ``url`` once, recording into ``obs``. Returns the answer's Location, or None."""
    steps, read_timeout = obs["steps"], target["read_timeout"]
    scheme, host, port, path, host_header = _endpoint({"url": url})
    obs["host"] = host
    sock = _connect(host, port, target["connect_timeout"], obs, steps, started, ends)
    if sock is None:
        return None
    cutter = _Cutter(sock, ends)
    try:
        sock.settimeout(max(0.05, min(read_timeout, ends - time.monotonic())))
        if scheme == "https":
            obs["stage"] = "tls"
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            cutter.sock = sock
            steps.append("TLS: %s, certificate verified" % sock.version())
        obs["stage"] = "send"
        conn = http.client.HTTPConnection(host, port, timeout=read_timeout)
        conn.sock = sock
        sent = dict(headers)
        sent.setdefault("User-Agent", "binderfix-netcheck")
        sent["Host"] = host_header
        conn.request("GET", path, headers=sent)
        steps.append("send GET %s with %s" % (path, show_headers(sent)))
        obs["stage"] = "read"
        response = conn.getresponse()
        obs.update(status=response.status, reason=response.reason, latency_ms=_ms(started))
        location = response.getheader("Location")
        body, whole = _read_body(response, cutter, steps)
    except Exception as exc:
        _failed(exc, cutter.fired, obs, steps, read_timeout)
        return None
    finally:
        cutter.close()
    obs["stage"] = "done"
    obs["summary"] = summarise(body, target.get("role", ""))
    if whole:  # a body cut short cannot be compared with another
        obs["body_sha256"] = hashlib.sha256(body).hexdigest()
    steps.append(
        "answer HTTP %d %s, %d bytes, first byte after %sms"
        % (response.status, response.reason, len(body), obs["latency_ms"])
    )
    return location


def _failed(exc, cut, obs, steps, read_timeout):
    """Record why an HTTP exchange failed; a connection cut at the deadline says so first."""
    if cut:
        obs.update(error="deadline", message="cut off at the deadline")
        steps.append("%s: not finished at the deadline: cut off" % obs["stage"])
    elif isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        obs.update(error="tls", message=_message(exc))
        steps.append("%s: %s" % (obs["stage"], obs["message"]))
    elif isinstance(exc, socket.timeout):
        obs.update(error="timeout", message="timed out")
        steps.append("%s: no answer within %ss" % (obs["stage"], read_timeout))
    elif isinstance(exc, http.client.BadStatusLine):
        closed = isinstance(exc, getattr(http.client, "RemoteDisconnected", ()))
        text = "closed without answering" if closed else "the answer is not HTTP"
        obs.update(error="closed" if closed else "not-http", message=text)
        steps.append("%s: %s" % (obs["stage"], text))
    elif isinstance(exc, (OSError, http.client.HTTPException)):
        obs.update(error=_oserror_kind(exc), message=_message(exc))
        steps.append("%s: %s" % (obs["stage"], obs["message"]))
    else:
        raise exc


def observe(target, environ, obs):
    """Probe one target, recording into ``obs`` as it goes (so a probe cut off by the overall
    deadline still says how far it got). ``obs["secrets"]`` lists what must be redacted."""
    started = time.monotonic()
    ends = started + limit_of(target)
    steps = obs.setdefault("steps", [])
    obs["stage"] = "parse"
    try:
        scheme, host, port, _, _ = _endpoint(target)
    except (ValueError, KeyError) as exc:
        obs.update(error="malformed", message=str(exc))
        return obs
    obs["host"] = host
    headers, secrets, missing = expand_headers(target.get("headers"), environ)
    obs["secrets"] = secrets
    if missing:
        obs.update(error="missing-env", missing=missing)
        steps.append("not sent: %s not set in this environment" % ", ".join(missing))
        return obs
    if scheme == "tcp":
        sock = _connect(host, port, target["connect_timeout"], obs, steps, started, ends)
        if sock is not None:
            sock.close()
            obs.update(stage="done", latency_ms=_ms(started))
        return obs

    url, earlier = target["url"], []
    while True:
        location = _get(url, headers, target, obs, started, ends)
        if obs.get("error") or obs.get("status") not in REDIRECTS or not location:
            return obs
        loop = loop_of(url, location, earlier)
        if loop:
            obs.update(error="redirect-loop", message=loop)
            steps.append("redirect to %s: a loop" % location)
            return obs
        there = urljoin(url, location)
        if normal_url(there)[:3] != normal_url(url)[:3]:
            steps.append("redirect to %s: another host, not followed" % there)
            return obs
        if len(earlier) >= MAX_REDIRECTS:
            obs.update(
                error="redirect-loop",
                message="%s still redirects after %d redirects" % (target["url"], len(earlier)),
            )
            return obs
        steps.append("redirect to %s: followed" % there)
        earlier.append(url)
        url = there
        obs["redirects"] = len(earlier)
        for key in ("status", "reason", "summary", "body_sha256"):
            obs.pop(key, None)


def probe_all(targets, environ=None):
    """All targets at once, one thread each: the whole run takes about one timeout.

    Each probe ends by its own deadline; one still running half a second after the latest
    (a name look-up cannot be interrupted) is reported by how far it got. Returns
    ``(results, secrets)``.
    """
    environ = os.environ if environ is None else environ
    observations = [{"steps": []} for _ in targets]

    def run(i):
        try:
            observe(targets[i], environ, observations[i])
        except Exception as exc:  # a probe must report, never take the others down
            observations[i].update(error="other", message=type(exc).__name__)
        observations[i]["finished"] = True

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.daemon = True
        t.start()
    limit = max([limit_of(t) for t in targets] or [0]) + 0.5
    deadline = time.monotonic() + limit
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    results, secrets = [], []
    for target, obs in zip(targets, observations):
        obs = dict(obs)  # a snapshot: an unfinished probe's thread may still write
        if not obs.get("finished"):
            obs.update(error="unfinished", message="still running at the deadline")
        secrets.extend(obs.get("secrets") or [])
        results.append(result_of(target, obs))
    return results, secrets


def run_probes(targets, environ=None):
    """The document the script prints, with every secret the probe used redacted."""
    results, secrets = probe_all(targets, environ)
    document = {
        "probe": "python3",
        "python": "%d.%d.%d" % sys.version_info[:3],
        "results": results,
    }
    return redact(document, secrets)


def main(argv=None, stdin=None):
    """Targets from ``argv[1]`` or the first line of stdin; prints the results as JSON."""
    argv = sys.argv if argv is None else argv
    text = argv[1] if len(argv) > 1 else (stdin or sys.stdin).readline()
    sys.stdout.write(json.dumps(run_probes(json.loads(text))) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
