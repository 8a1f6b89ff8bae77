"""Real HTTP servers standing in for a BinderHub release's control plane.

One process per pod, each in its own network namespace:

- ``hub``: JupyterHub on 8081; ``/hub/api`` returns its version as JSON.
- ``proxy``: configurable-http-proxy; port 80 (``proxy-public``) forwards ``/hub/api`` to
  the hub, port 8001 (``proxy-api``) serves ``GET /api/routes`` to whoever sends
  ``Authorization: token <CONFIGPROXY_AUTH_TOKEN>`` and 403 to anyone else.
- ``binder``: the BinderHub web app on 80 (the Service maps 80; the pod also listens on 8585);
  ``/metrics`` serves BinderHub's build and launch counters for the traffic the ingress pods
  log (binderfix/sandbox/metrics.py), in Prometheus's text format.
- ``internet``: a stand-in for the runbook's ``http://google.com/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socketserver
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from binderfix.sandbox.metrics import Counters, exposition, traffic

HUB_VERSION = "5.2.1"


def _handler(
    role: str, port: int, token_file: str | None, counters: Counters | None = None
) -> type[BaseHTTPRequestHandler]:
    def expected_token() -> str:
        # The proxy's own copy of the token, re-read on each request, so that a test can make
        # the proxy and the hub disagree (a rotated secret) without restarting anything.
        if token_file and os.path.exists(token_file):
            with open(token_file) as fh:
                return fh.read().strip()
        return os.environ.get("CONFIGPROXY_AUTH_TOKEN", "")

    class Handler(BaseHTTPRequestHandler):
        server_version = f"sandbox-{role}"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, body, ctype = self.route()
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self) -> tuple[int, str, str]:
            path = self.path.split("?", 1)[0]
            if role == "hub" and path.rstrip("/") == "/hub/api":
                return 200, json.dumps({"version": HUB_VERSION}), "application/json"
            if role == "proxy" and port == 8001:
                token = expected_token()
                if not token or self.headers.get("Authorization", "") != f"token {token}":
                    return (
                        403,
                        json.dumps({"status": 403, "message": "Forbidden"}),
                        "application/json",
                    )
                if path.rstrip("/") == "/api/routes":
                    routes = {
                        "/": {"target": "http://hub:8081"},
                        "/user/demo": {"target": "http://10.0.0.9:8888"},
                    }
                    return 200, json.dumps(routes), "application/json"
                return 404, "not found", "text/plain"
            if role == "proxy" and path.startswith("/hub/"):
                with urllib.request.urlopen(f"http://hub:8081{path}", timeout=5) as resp:
                    return resp.status, resp.read().decode(), resp.headers.get_content_type()
            if role == "binder" and path.startswith("/build/") and counters is not None:
                try:  # BinderHub answers with an event stream; the build is counted
                    counters.count(path, 200, time.time())
                except (KeyError, ValueError):
                    return 404, "unknown provider or malformed spec", "text/plain"
                return 200, 'data: {"phase": "ready"}\n\n', "text/event-stream"
            if role == "binder" and path == "/metrics" and counters is not None:
                return 200, exposition(counters, time.time()), "text/plain; version=0.0.4"
            if role == "binder" and path in ("/", "/health"):
                return 200, "<html><title>Binder</title><body>binder</body></html>", "text/html"
            if role == "internet":
                return 200, "<html><title>the internet</title></html>", "text/html"
            return 404, "not found", "text/plain"

        def log_message(self, format: str, *args: object) -> None:
            print(f"{role}:{port} " + format % args, flush=True)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up its own FQDN; a pod has no use for it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]


PORTS = {"hub": (8081,), "proxy": (80, 8001), "binder": (80, 8585), "internet": (80,)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="binderfix.sandbox.services")
    parser.add_argument("--sandbox", required=True, help="the sandbox dir (marks our processes)")
    parser.add_argument("--role", choices=sorted(PORTS), required=True)
    parser.add_argument(
        "--token-file", help="proxy: the token it expects (default: its environment's)"
    )
    parser.add_argument(
        "--traffic-end",
        type=float,
        help="binder: when the ingress pods' logged traffic ends (epoch seconds)",
    )
    args = parser.parse_args(argv)
    counters = None
    if args.role == "binder" and args.traffic_end:
        counters = Counters(traffic(dt.datetime.fromtimestamp(args.traffic_end, dt.UTC)))
    servers = [
        _Server(("0.0.0.0", port), _handler(args.role, port, args.token_file, counters))
        for port in PORTS[args.role]
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.role} listening on {', '.join(str(p) for p in PORTS[args.role])}", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
