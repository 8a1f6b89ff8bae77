"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra inventories/kubectl.py deploys/dind.py --dry

Hosts are named after their nodes; groups ``builders`` and ``unhealthy``. Settings come from
environment variables (an inventory takes no arguments): see the README. Without a
checkout, the same inventory is ``binderfix.inventory.kubectl.groups``.
"""

from binderfix.inventory.kubectl import groups

_groups = groups()  # pyinfra reads the module's lists; a leading _ keeps this one out
builders, unhealthy = _groups["builders"], _groups["unhealthy"]
