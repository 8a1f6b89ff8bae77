#!/usr/bin/env bash
# System packages the test suite needs beyond Python's: Debian's prometheus (with promtool),
# which tests/test_spikes_prometheus.py runs as a real server. Idempotent: installs only
# what is missing, so a second run (or a machine that has it) touches nothing.
set -euo pipefail
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: ${missing[*]} missing and not root to install it" >&2
    echo "  hint: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
