"""pyinfra inventory: the nodes that run BinderHub builder pods, read from the cluster.

    pyinfra inventories/kubectl.py deploys/dind.py --dry

Hosts are named after their nodes (``CLUSTER/NODE`` across clusters); groups ``builders``,
``unhealthy`` and one per cluster. Settings come from
environment variables (an inventory takes no arguments): see the README. Without a
checkout, the same inventory is ``binderfix.inventory.kubectl.groups``.
"""

from binderfix.inventory.kubectl import groups

# pyinfra reads the module's lists as groups: builders, unhealthy, and one per cluster when
# BINDERFIX_CONTEXTS names several (their names are the clusters', hence globals()).
globals().update(groups())
