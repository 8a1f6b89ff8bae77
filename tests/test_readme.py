"""The README is what a newcomer reads first: its settings table and commands stay true."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from binderfix.inventory.settings import VARIABLES, settings_table
from tests.conftest import BIN, BINDERFIX, REPO, run

README = (REPO / "README.md").read_text()


def test_every_inventory_setting_is_documented() -> None:
    for name in VARIABLES:
        assert f"`{name}`" in README, f"{name} is read by the inventory but not in the README"


def test_the_readme_settings_table_is_the_one_the_code_documents() -> None:
    assert settings_table() in README, (
        "regenerate the README's settings table: "
        "python -c 'from binderfix.inventory.settings import settings_table as t; print(t())'"
    )


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2, "the README's two set-up commands"
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci


# -- the examples run, so they cannot rot ------------------------------------------------

SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
YAML_RUN_LINES = re.findall(r"^\s+(?:- )?run: (\.venv/bin/.*)$", README, flags=re.M)

# Run against a sandbox by test_the_sandbox_and_deploy_examples_run, in this order.
RUN = ("binderfix sandbox up", "pyinfra binderfix.inventory.kubectl.groups")
# Every other shell block, by its first line, and why it is not run here as written.
NOT_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[sandbox]'": "installs into the "
    "checkout; test_wheel.py runs the demo from an installed wheel",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[sandbox,test]'": "the test "
    "suite itself, which CI runs (test_ci_runs_the_readme_test_command)",
    "binderfix spikes ": "reads files and namespaces a sandbox lacks; its command lines are "
    "parsed below, and tests/test_spikes_cli.py runs each option",
    "binderfix netcheck ": "names pods a sandbox lacks; its command lines are parsed below, "
    "and tests/test_netcheck.py runs each option",
    "  kubectl describe pod -n prod prod-dind-rp7z8": "kubectl reading the watcher's Events; "
    "tests/test_watch.py reads the same Events through the API",
    "kubectl apply -n prod -f deploys/watch.yaml": "needs a cluster that pulls images; "
    "tests/test_watch_rbac.py runs the watcher with exactly this manifest's rights",
    "binderfix watch --dry-run": "runs until stopped: tests/test_watch.py runs two watchers "
    "on a sandbox with these options",
    "BINDERFIX_CONNECT=kubenode pyinfra ": "tests/test_kubenode.py runs each of these against a "
    "sandbox whose nodes refuse every SSH login",
    'eval "$(binderfix sandbox env --dir ./east --dir ./west)"': "needs two sandboxes: "
    "tests/test_federation.py runs the same on two whose node names collide",
}


def _first_line(block: str) -> str:
    return block.splitlines()[0]


def _command_lines() -> list[list[str]]:
    """Every binderfix or pyinfra command line of the README, split as a shell would."""
    lines = [line for block in SH_BLOCKS for line in block.splitlines()] + YAML_RUN_LINES
    commands = []
    for line in lines:
        for part in line.split(" | "):  # `kubectl logs ... | binderfix spikes -`
            words = shlex.split(part, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]  # `BINDERFIX_CONTEXTS=all binderfix check`: the environment's
            if words and words[0].removeprefix(".venv/bin/") in ("binderfix", "pyinfra"):
                words[0] = words[0].removeprefix(".venv/bin/")
                if ">" in words:  # `... > reports-check.json`: the shell's, not the command's
                    words = words[: words.index(">")]
                commands.append(words)
    return commands


# Parses each command line with the real CLI (binderfix's or pyinfra's), down the
# subcommands, running nothing. In a subprocess: importing pyinfra_cli monkey-patches the
# whole process with gevent, which would break the tests that run after this one.
PARSER = """
import json, sys
import click
from binderfix.cli import main
from pyinfra_cli.cli import cli as pyinfra_cli

def parse(command, args, parent=None):
    with command.make_context(command.name or "binderfix", list(args), parent=parent) as ctx:
        if isinstance(command, click.Group):
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            _name, sub, sub_args = command.resolve_command(ctx, rest)
            parse(sub, sub_args, ctx)

for words in json.load(sys.stdin):
    try:
        parse(main if words[0] == "binderfix" else pyinfra_cli, words[1:])
    except click.exceptions.Exit:
        pass
    except click.UsageError as exc:
        print(" ".join(words) + ": " + exc.format_message())
"""


def _unparsed(commands: list[list[str]]) -> list[str]:
    """The command lines the real CLIs refuse, each with why."""
    out = run(sys.executable, "-c", PARSER, input=json.dumps(commands), cwd=REPO, check=True)
    return out.stdout.splitlines()


def test_every_shell_block_is_run_or_says_why_not() -> None:
    for block in SH_BLOCKS:
        first = _first_line(block)
        if first.startswith(RUN):
            continue
        assert any(first.startswith(key) for key in NOT_RUN), f"nobody runs README's {first}"


def test_every_command_line_in_the_readme_parses() -> None:
    from binderfix.invocation import inventory_problem

    # eval "$(binderfix sandbox env ...)" is run by the sandbox test below.
    commands = [c for c in _command_lines() if "$(" not in " ".join(c)]
    assert sum(c[0] == "pyinfra" for c in commands) >= 5 and len(commands) >= 20
    assert _unparsed(commands) == []  # the README's options are the CLIs' options
    assert _unparsed([["binderfix", "check", "--jnuit", "x"]]) != []  # and a typo is seen
    for words in commands:
        if words[0] == "pyinfra":
            inventory, deploy = words[1], words[2]  # as every README line puts them
            if inventory.startswith("@"):  # a connector's host (@kubenode/NODE) and an op
                continue
            assert (REPO / inventory).exists() or inventory_problem(inventory) is None, words
            assert (REPO / deploy).exists() or importlib.util.find_spec(
                deploy.rpartition(".")[0]
            ), words


@pytest.mark.sandbox
def test_the_sandbox_and_deploy_examples_run(tmp_path: Path) -> None:
    """The sandbox block, then the deploy blocks and the Python snippet as a deploy, as
    typed, in one shell in a fresh folder (deploys/ and inventories/ linked in, as in a
    clone). The snippet asks for sudo: the sandbox's nodes have it, as real ones do."""
    (tmp_path / "deploys").symlink_to(REPO / "deploys")
    (tmp_path / "inventories").symlink_to(REPO / "inventories")
    (snippet,) = PYTHON_BLOCKS
    (tmp_path / "readme_snippet.py").write_text(snippet)
    blocks = [b for b in SH_BLOCKS if _first_line(b).startswith(RUN)]
    assert len(blocks) == 3, "the sandbox block, the deploy block, its module forms"
    sandbox_block, deploy_block, module_block = sorted(blocks, key=lambda b: "ssh" not in b)
    script = "\n".join(
        [
            "set -ex",
            "trap 'binderfix sandbox down --dir ./sandbox >/dev/null 2>&1' EXIT",
            sandbox_block,
            deploy_block,
            module_block,
            "pyinfra binderfix.inventory.kubectl.groups readme_snippet.py --dry",
        ]
    )
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    try:
        out = run("bash", "-c", script, env=env, cwd=tmp_path, timeout=900, input="")
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(tmp_path / "sandbox"))
    said = out.stdout + out.stderr
    assert out.returncode == 0, said[-6000:]
    assert "[node-2] Will change /var/run/dind/docker.sock" in said  # the first dry run
    assert "Ready: readme_snippet.py" in said
    for bad in ("sudo: command not found", "EOFError", "Traceback", "No hosts remaining"):
        assert bad not in said


def test_the_host_data_is_typed_documented_and_listed_in_the_readme() -> None:
    from typing import get_type_hints

    from binderfix.dind.hostdata import HOST_DATA, BuilderHostData

    keys = list(get_type_hints(BuilderHostData))
    assert keys == list(HOST_DATA), "every key of BuilderHostData is described in HOST_DATA"
    listed = README[README.index("Host data (") :]
    listed = listed[: listed.index("route's own keys")]
    assert re.findall(r"`(\w+)`", listed)[1:] == keys  # after `BuilderHostData` itself
