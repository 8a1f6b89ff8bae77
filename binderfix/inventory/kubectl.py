"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra inventories/kubectl.py deploys/dind.py --dry

This module *is* an inventory file (it reads the cluster when imported); the repository's
``inventories/kubectl.py`` re-exports it, and ``binderfix verify`` hands its path to pyinfra.
Hosts are named after their nodes. Groups: ``builders`` (all) and ``unhealthy`` (builder pod
not Running and Ready), for ``--limit unhealthy``. Settings: environment variables, see
:mod:`binderfix.inventory.settings`.
"""

from binderfix.inventory.hosts import inventory_groups

builders, unhealthy = inventory_groups()
