"""Prometheus metrics (prometheus_client) and ``/healthz``, served on one small HTTP port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

RESULTS = ("success", "failure", "refused")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.remediations = Counter(
            "binderfix_remediations",
            "Remediations of a builder node's socket path, by result (refused: a guard or "
            "the hourly budget stopped it)",
            ["result"],
            registry=self.registry,
        )
        for result in RESULTS:  # each result shows as 0 before it first happens
            self.remediations.labels(result)
        self.leader = Gauge(
            "binderfix_leader", "1 while this watcher holds the Lease", registry=self.registry
        )
        self.watch_restarts = Counter(
            "binderfix_watch_restarts",
            "Times the pod watch was started again (stream ended, 410 Expired, API down)",
            registry=self.registry,
        )
        self.last_remediation = Gauge(
            "binderfix_last_remediation_timestamp_seconds",
            "Unix time of the last remediation this watcher finished (0: none yet)",
            registry=self.registry,
        )

    def serve(
        self, address: str, port: int, healthy: Callable[[], tuple[bool, str]]
    ) -> ThreadingHTTPServer:
        """Serve ``/metrics`` and ``/healthz`` in a daemon thread; ``port`` 0 picks one."""
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, why = healthy()
                    self._send(200 if ok else 503, why.encode() + b"\n", "text/plain")
                else:
                    self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes are not news
                pass

        server = ThreadingHTTPServer((address, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server
