"""The README is what a newcomer reads first: its settings table and commands stay true."""

from __future__ import annotations

import re

from binderfix.inventory.settings import VARIABLES, settings_table
from tests.conftest import REPO

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
