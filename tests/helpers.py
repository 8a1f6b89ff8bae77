"""What several test modules share: helpers, not tests. Import from here, never from another
test module."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

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
