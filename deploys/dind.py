"""pyinfra deploy: the runbook's Docker-in-Docker socket fix, declared per node.

    pyinfra inventories/kubectl.py deploys/dind.py --dry   # the diff: what would change
    pyinfra inventories/kubectl.py deploys/dind.py -y      # apply

1. The builder's socket path is absent or a socket (never a directory; a non-empty one
   is refused unless BINDERFIX_FORCE=1).
2. The node's builder pod is deleted if step 1 changed the node or the pod is unhealthy;
   the DaemonSet replaces it; the new pod must be Running and Ready and the path a socket.

A second run changes nothing and deletes no pod. See binderfix.dind.deploy.
"""

from binderfix.dind.deploy import remediate_dind

remediate_dind()
