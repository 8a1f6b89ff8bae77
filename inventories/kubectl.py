"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra inventories/kubectl.py deploys/dind.py --dry

Hosts are named after their nodes. Groups: ``builders`` (all) and ``unhealthy`` (builder
pod not Running and Ready), for ``--limit unhealthy``. Settings come from environment
variables (an inventory takes no arguments): see the README or ``binderfix.inventory.settings``.
"""

from binderfix.inventory.hosts import inventory_groups

builders, unhealthy = inventory_groups()
