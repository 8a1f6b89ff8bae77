"""Ten targets, three of which accept and never answer: netcheck against the runbook's recipe.

The runbook's recipe, with the same timeout on each request: a loop of `requests.get`, here
`urllib.request.urlopen(url, timeout=T)`, one target after another. Measured in the same
run, against servers this script starts on 127.0.0.1.

    .venv/bin/python -m benchmarks.bench_netcheck [--timeout 2]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    silent = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        silent.append(s)
    urls = [f"http://127.0.0.1:{http.server_address[1]}/{i}" for i in range(7)]
    urls += [f"http://127.0.0.1:{s.getsockname()[1]}/" for s in silent]

    start = time.perf_counter()
    for url in urls:  # the runbook's recipe
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=args.timeout).read()
    recipe = time.perf_counter() - start

    argv = [
        str(BIN / "binderfix"),
        "netcheck",
        "--local",
        "--no-defaults",
        "--timeout",
        str(args.timeout),
    ]
    for url in urls:
        argv += ["--target", url]
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    ours = time.perf_counter() - start
    print(f"10 targets, 3 never answer, timeout {args.timeout}s per request")
    print(f"runbook recipe (sequential): {recipe:.2f}s")
    print(
        f"binderfix netcheck --local:  {ours:.2f}s (exit {out.returncode}; "
        f"{out.stdout.strip().splitlines()[-1]})"
    )
    print(f"speed-up: {recipe / ours:.1f}x (target: at least 3x; about one timeout in all)")
    http.shutdown()


if __name__ == "__main__":
    main()
