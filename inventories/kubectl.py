"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra inventories/kubectl.py deploys/dind.py --dry

Hosts are named after their nodes; groups ``builders`` and ``unhealthy``. Settings come from
environment variables (an inventory takes no arguments): see the README.
"""

from binderfix.inventory.kubectl import builders, unhealthy  # noqa: F401 (pyinfra reads them)
