"""A guard for the pyinfra command line that runs binderfix's deploys.

pyinfra takes an inventory argument it cannot resolve (a module path with a typo, say
``binderfix.inventory.kubectl.grups``) as an empty inventory: it warns once, runs on no
host and exits 0, which a CI job reads as "all fixed". binderfix's deploy modules call
:func:`refuse_unknown_inventory` when imported; pyinfra imports a deploy named in module
form before it reads the inventory, so the mistake stops there, with one clear line.
"""

from __future__ import annotations

import importlib
import os
import sys

# The inventory that runs binderfix's deploys without a checkout (see inventory/kubectl.py;
# named here as a string, since this ground-level module imports nothing above it).
INVENTORY = "binderfix.inventory.kubectl.groups"


def inventory_problem(inventory: str) -> str | None:
    """Why a pyinfra inventory argument in binderfix's namespace names nothing, or None.

    Files, host lists, connectors (``@local``) and other names are pyinfra's business and
    pass: only a module path under ``binderfix.`` is binderfix's to check.
    """
    if os.path.exists(inventory) or "," in inventory or "@" in inventory:
        return None
    path = inventory.replace(":", ".")
    if not path.startswith("binderfix."):
        return None
    module, _, attribute = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attribute, None)
    except ImportError as exc:
        return f"there is no module {exc.name or module}"
    if found is None:
        return f"module {module} has no {attribute!r}"
    if not callable(found):
        return f"{path} is not an inventory function"
    return None


def refuse_unknown_inventory() -> None:
    """Under pyinfra's command line, exit 2 with one line if its inventory names nothing."""
    import click

    ctx = click.get_current_context(silent=True)
    command = getattr(getattr(ctx, "command", None), "callback", None)
    if ctx is None or not getattr(command, "__module__", "").startswith("pyinfra_cli"):
        return  # imported by a program, a test or a deploy file: nothing to check
    inventory = ctx.params.get("inventory")
    problem = inventory_problem(inventory) if isinstance(inventory, str) else None
    if problem:
        print(f"binderfix: error: pyinfra inventory {inventory}: {problem}", file=sys.stderr)
        print(f"  hint: the inventory of builder nodes is {INVENTORY}", file=sys.stderr)
        raise SystemExit(2)
