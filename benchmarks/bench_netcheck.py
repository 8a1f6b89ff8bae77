"""Ten targets, three of which accept and never answer: netcheck against the runbook's recipe.

The runbook's recipe, with the same timeout on each request: a loop of `requests.get`, here
`urllib.request.urlopen(url, timeout=T)`, one target after another. Measured in the same
run, against servers this script starts on 127.0.0.1 (no other traffic).

    .venv/bin/python -m benchmarks.bench_netcheck [--timeout 2] [--rounds 3]

With three silent targets the recipe needs 3 timeouts; netcheck's floor is one timeout
plus its start-up, so its speed-up approaches 3x from below: 3 is the ceiling, not a target
that can be passed without cutting the timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _silent_server() -> socket.socket:
    """Accepts every connection and sleeps on it: never a byte back."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)  # kept open, never answered

    threading.Thread(target=loop, daemon=True).start()
    return server


def recipe(urls: list[str], timeout: float) -> float:
    """The runbook's loop, one request after another, each with ``timeout``."""
    start = time.perf_counter()
    for url in urls:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=timeout).read()
    return time.perf_counter() - start


def ours(urls: list[str], timeout: float) -> tuple[float, dict]:
    """``binderfix netcheck --local`` on the same targets, as a user runs it."""
    argv = [str(BIN / "binderfix"), "netcheck", "--local", "--no-defaults", "--json"]
    argv += ["--timeout", str(timeout)]
    for url in urls:
        argv += ["--target", url]
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    took = time.perf_counter() - start
    return took, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    silent = [_silent_server() for _ in range(3)]
    urls = [f"http://127.0.0.1:{http.server_address[1]}/{i}" for i in range(7)]
    urls += [f"http://127.0.0.1:{s.getsockname()[1]}/" for s in silent]

    recipe_times, our_times, verdicts = [], [], Counter()
    for _ in range(args.rounds):
        recipe_times.append(recipe(urls, args.timeout))
        took, doc = ours(urls, args.timeout)
        our_times.append(took)
        verdicts = Counter(r["verdict"] for r in doc["sources"]["local"])
    r, o = statistics.median(recipe_times), statistics.median(our_times)
    print(f"10 targets, 3 accept and never answer; timeout {args.timeout}s per request")
    print(f"median of {args.rounds} rounds each, both measured in this run")
    print(f"runbook recipe (sequential urlopen): {r:.2f}s")
    print(f"binderfix netcheck --local:          {o:.2f}s  (verdicts: {dict(verdicts)})")
    print(f"one timeout: {args.timeout:.2f}s; netcheck above it: {o - args.timeout:.2f}s")
    print(f"speed-up: {r / o:.2f}x (ceiling with 3 silent targets: 3x)")
    http.shutdown()
    for s in silent:
        s.close()


if __name__ == "__main__":
    main()
