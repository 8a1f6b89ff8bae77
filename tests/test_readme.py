"""The README is what a newcomer reads first: its settings table and commands stay true."""

from __future__ import annotations

import re

from binderfix.inventory.settings import VARIABLES
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_every_inventory_setting_is_documented() -> None:
    for name in VARIABLES:
        assert f"`{name}`" in README, f"{name} is read by the inventory but not in the README"


def test_the_settings_table_says_what_the_code_says() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", README, flags=re.M))
    for name, meaning in VARIABLES.items():
        assert rows.get(name) == meaning, f"the README's row for {name} differs from settings.py"


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2, "the README's two set-up commands"
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci
