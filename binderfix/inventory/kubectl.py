"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra binderfix.inventory.kubectl.groups binderfix.dind.deploy.remediate_dind --dry

``groups`` is an inventory in pyinfra's function form (a function returning group name ->
hosts), so an installed binderfix needs no file of its own; the repository's
``inventories/kubectl.py`` is the same inventory as a file. Hosts are named after their
nodes. Groups: ``builders`` (all) and ``unhealthy`` (builder pod not Running and Ready),
for ``--limit unhealthy``. Settings: environment variables, see
:mod:`binderfix.inventory.settings`. Importing this module reads nothing.
"""

from __future__ import annotations

from binderfix.inventory.hosts import HostList, inventory_groups
from binderfix.invocation import INVENTORY

# What to hand pyinfra to run the Docker-in-Docker fix from an installed package: the
# inventory and the deploy in their module forms (`binderfix verify --idempotence` and
# `binderfix demo` run exactly these).
PYINFRA_ARGS = (INVENTORY, "binderfix.dind.deploy.remediate_dind")


def groups() -> dict[str, HostList | list[str]]:
    """The builder nodes as pyinfra's inventory function form wants them: ``builders``,
    ``unhealthy`` and, across clusters (``BINDERFIX_CONTEXTS``), one group per cluster. Exits
    2 with one clear line (no traceback) when the settings or the cluster say no."""
    return inventory_groups()
