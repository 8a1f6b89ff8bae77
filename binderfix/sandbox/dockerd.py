"""A stand-in for the docker daemon inside a dind builder pod.

It does what matters for the runbook's bug and nothing more: like dockerd, it removes a
stale socket *file* and binds a fresh unix socket at the path, and it fails when the path
is a directory (what the kubelet leaves behind when it mounted the path before dind
created its socket). It answers Docker's ``GET /_ping`` and ``GET /version`` on the socket,
so "the builder works" can be checked the way a build pod would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socketserver
import stat
import sys
from http.server import BaseHTTPRequestHandler


class _DockerAPI(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.endswith("/_ping"):
            body, ctype = b"OK", "text/plain"
        elif self.path.endswith("/version"):
            body = json.dumps({"Version": "sandbox", "ApiVersion": "1.43"}).encode()
            ctype = "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:  # a unix socket has no client address
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        print("api: " + format % args, flush=True)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="binderfix.sandbox.dockerd")
    parser.add_argument("--sandbox", required=True, help="the sandbox dir (marks our processes)")
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    path = args.socket

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        # dockerd's own words for this case.
        print(
            f"failed to load listeners: can't create unix socket {path}: is a directory",
            file=sys.stderr,
            flush=True,
        )
        return 1
    if mode is not None:
        os.unlink(path)  # a stale socket or file from the previous container: dockerd does this
    server = _Server(path, _DockerAPI)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"API listen on {path}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
