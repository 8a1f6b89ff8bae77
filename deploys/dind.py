"""pyinfra deploy: the runbook's Docker-in-Docker socket fix, declared per node.

    pyinfra inventories/kubectl.py deploys/dind.py --dry   # the diff: what would change
    pyinfra inventories/kubectl.py deploys/dind.py -y      # apply

1. The builder's socket path is absent or a socket (never a directory; a non-empty one
   is refused unless BINDERFIX_FORCE=1).
2. The node's builder pod is deleted if step 1 changed the node or the pod is unhealthy;
   the DaemonSet replaces it; we wait until the new pod is Running and Ready and check
   that the path now holds a socket.

A second run changes nothing and deletes no pod.
"""

from pyinfra import host

from binderfix.dind.operations import socket_path
from binderfix.kube.operations import builder_pod

data = host.data

fixed = socket_path(
    name=f"{data.socket_path} is absent or a socket",
    path=data.socket_path,
    force=data.force,
    _sudo=data.binderfix_sudo,
)

builder_pod(
    name="builder pod replaced if the node changed or the pod is unhealthy",
    pod=data.pod_name,
    node=data.node,
    namespace=data.namespace,
    status=data.status,
    restarts=data.restarts,
    healthy=data.healthy,
    node_changed=fixed.will_change,
    socket_path=data.socket_path,
    selectors=tuple(data.selectors),
    context=data.kube_context,
    timeout=data.wait_timeout,
)
