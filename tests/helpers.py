"""What several test modules share: helpers, not tests. Import from here, never from another
test module."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import testinfra

from binderfix.spikes import synth
from binderfix.spikes.aggregate import Counts
from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run

# -- the Docker-in-Docker deploy on a sandbox ------------------------------------------------

SOCKET = "/var/run/dind/docker.sock"


def pyinfra(
    box: RunningSandbox, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pyinfra inventories/kubectl.py deploys/dind.py ARGS`, from the repository, as documented."""
    return run(
        PYINFRA,
        "inventories/kubectl.py",
        "deploys/dind.py",
        *args,
        env={**box.env, **(env or {})},
        cwd=REPO,
    )


def node(box: RunningSandbox, name: str) -> testinfra.host.Host:
    """A testinfra host for a sandbox node, over the same SSH a user would use."""
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(box.box.ssh_config))


def names(box: RunningSandbox) -> dict[str, str]:
    return {n: p.name for n, p in box.builder_pods().items()}


# -- spikes over generated logs -----------------------------------------------------------------

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def write_log(
    path: Path, fmt: str, seed: int = 0, burst: synth.Burst | None = synth.BURST, **kw
) -> Path:
    path.write_text(
        "\n".join(synth.generate(fmt, start=START, burst=burst, seed=seed, **kw)) + "\n"
    )
    return path


def runbook(path: Path, word: str | None = None) -> int:
    """The runbook's count: `grep '/build' | grep WORD | wc -l`, by the real grep."""
    pipeline = 'grep "/build" "$1"' + (' | grep "$2"' if word else "") + " | wc -l"
    out = subprocess.run(
        ["sh", "-c", pipeline, "sh", str(path), word or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def spikes_json(*args: str, input: str | None = None) -> tuple[int, dict]:
    out = run(BINDERFIX, "spikes", *args, "--json", input=input)
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout) if out.stdout else {}


def counts_summary(c: Counts) -> tuple:
    return (
        c.lines,
        c.build_lines,
        c.build_requests,
        c.grep_lines,
        dict(c.skipped),
        dict(c.repos),
        dict(c.buckets),
        dict(c.statuses),
        dict(c.clients),
        dict(c.grep_repos),
        dict(c.grep_other),
    )


# -- a watcher's sandbox: breaking a node, waiting, its Events -------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def node_sh(box: RunningSandbox, node: str, script: str) -> None:
    from binderfix.sandbox.cluster import node_exec

    node_exec(box.box.load().host(node).pid, ["sh", "-c", script])


def path_state(box: RunningSandbox, node: str) -> str:
    return box.box.socket_state(box.box.load().host(node))


def replace_builder(box: RunningSandbox, node: str) -> str:
    old = box.builder_pods()[node].name
    box.kubectl("delete", "pod", "-n", "prod", old, "--wait=false")
    return old


def break_node(box: RunningSandbox, node: str, contents: str = "") -> str:
    """The kubelet's mistake (a directory at the socket path), then the builder pod replaced:
    the new one crash-loops. Returns the crash-looping pod's name."""
    script = "p=/var/run/dind/docker.sock; mkdir -p /var/run/dind; rm -f $p; mkdir $p"
    if contents:
        script += f"; touch $p/{contents}"
    node_sh(box, node, script)
    old = replace_builder(box, node)
    return wait_for(
        lambda: next(
            (
                p.name
                for n, p in box.builder_pods().items()
                if n == node and p.name != old and p.restarts >= 1
            ),
            None,
        ),
        20,
        f"the builder on {node} to crash-loop",
    )


def events(box: RunningSandbox, pod: str | None = None) -> list[dict]:
    from binderfix.kube.client import connect
    from binderfix.kube.events import list_events

    return list_events(connect(kubeconfig=str(box.box.kubeconfig), namespace="prod"), pod)


def reasons(box: RunningSandbox, pod: str) -> list[str]:
    return [e["reason"] for e in events(box, pod)]


# -- real servers on 127.0.0.1 for netcheck, one per verdict ---------------------------------

TOKEN = "s3cret-token-for-tests"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    REDIRECTS = {  # path -> Location
        "/loop": "/loop",  # to itself, relative
        "/loop-abs?x=1": "http://127.0.0.1:PORT/loop-abs?x=1",  # to itself, absolute
        "/ping": "/pong",  # a loop of two
        "/pong": "/ping",
        "/moved": "/",  # followed: the answer is the end's
        "/away": "http://nonexistent.invalid/",  # another host: an answer, not followed
        "/on": "/on/1",  # a chain that never ends
        **{f"/on/{n}": f"/on/{n + 1}" for n in range(1, 20)},
    }

    def do_GET(self) -> None:  # noqa: N802
        auth = self.headers.get("Authorization") or ""
        code, reason, body = 200, None, b'{"version": "5.2.1"}'
        if self.path.startswith("/fail"):
            code, body = 500, b"broken"
        elif self.path.startswith("/other"):
            body = b'{"version": "9.9.9"}'
        elif self.path.startswith("/api/routes"):
            ok = auth == f"token {TOKEN}"
            code = 200 if ok else 403
            body = json.dumps({"/": {}, "/user/x": {}}).encode() if ok else b"{}"
        elif self.path.startswith("/echo-fail"):  # a server that says the token back
            code, reason, body = 500, auth, auth.encode()
        elif self.path.startswith("/echo"):
            body = json.dumps({"version": auth}).encode()
        location = self.REDIRECTS.get(self.path)
        if location:
            code, body = 302, b""
        self.send_response(code, reason)
        if location:
            self.send_header("Location", location.replace("PORT", str(self.server.server_port)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve_tcp(handle: Any) -> tuple[socket.socket, int]:
    """A TCP server on 127.0.0.1 that runs ``handle(conn)`` for each connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return server, server.getsockname()[1]


def _sleep_forever(conn: socket.socket) -> None:  # accepts, reads nothing, answers nothing
    time.sleep(3600)


def _drip(conn: socket.socket) -> None:  # answers, and the answer never ends
    conn.recv(65536)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
    try:
        while True:
            conn.sendall(b"data: building\n\n")
            time.sleep(0.2)
    except OSError:
        conn.close()


SLOW_BYTES = 20  # a slow server stops by itself after this many seconds


def _byte_a_second(conn: socket.socket, answer: bytes) -> None:
    """Sends ``answer`` one byte a second, for at most SLOW_BYTES seconds: always progress,
    so no read timeout ever fires."""
    conn.recv(65536)
    try:
        for byte in answer[:SLOW_BYTES]:
            conn.sendall(bytes([byte]))
            time.sleep(1)
    except OSError:
        pass
    conn.close()


def _slow_head(conn: socket.socket) -> None:  # the status line itself, a byte a second
    _byte_a_second(conn, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")


def _slow_body(conn: socket.socket) -> None:  # the status at once, then a byte a second
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\n")
    _byte_a_second(conn, b"x" * 20)


def _banner(conn: socket.socket) -> None:  # answers, but not in HTTP
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    conn.close()


REDIRECT_PATHS = {
    "loop": "/loop",
    "loop-abs": "/loop-abs?x=1",
    "ping": "/ping",
    "moved": "/moved",
    "away": "/away",
    "on": "/on",
}


@contextmanager
def local_servers() -> Iterator[dict[str, str]]:
    """URLs of real servers on 127.0.0.1, one per verdict (and a closed port)."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    silent, silent_port = _serve_tcp(_sleep_forever)
    banner, banner_port = _serve_tcp(_banner)
    drip, drip_port = _serve_tcp(_drip)
    slow_head, slow_head_port = _serve_tcp(_slow_head)
    slow_body, slow_body_port = _serve_tcp(_slow_body)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    port = http.server_address[1]
    base = f"http://127.0.0.1:{port}"
    try:
        yield {
            "ok": f"{base}/",
            "other": f"{base}/other",
            "fail": f"{base}/fail",
            "routes": f"{base}/api/routes",
            "echo": f"{base}/echo",
            "echo-fail": f"{base}/echo-fail",
            "silent": f"http://127.0.0.1:{silent_port}/",
            "closed": f"http://127.0.0.1:{closed_port}/",
            "dns": "http://nonexistent.invalid/",
            "tls": f"https://127.0.0.1:{port}/",
            "not-http": f"http://127.0.0.1:{banner_port}/",
            "drip": f"http://127.0.0.1:{drip_port}/build/gh/x/y/HEAD",
            "slow-head": f"http://127.0.0.1:{slow_head_port}/",
            "slow-body": f"http://127.0.0.1:{slow_body_port}/",
            **{name: f"{base}{path}" for name, path in REDIRECT_PATHS.items()},
            "tcp": f"127.0.0.1:{port}",
            "tcp-closed": f"127.0.0.1:{closed_port}",
            "tcp-silent": f"127.0.0.1:{silent_port}",
        }
    finally:
        http.shutdown()
        silent.close()
        banner.close()
        drip.close()
        slow_head.close()
        slow_body.close()
