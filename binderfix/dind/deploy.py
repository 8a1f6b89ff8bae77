"""The Docker-in-Docker remediation as a pyinfra deploy, for ``deploys/dind.py`` and your own.

.. code:: python

    from binderfix.dind.deploy import remediate_dind

    remediate_dind()  # with hosts from inventories/kubectl.py
"""

from __future__ import annotations

from typing import cast

from pyinfra import host
from pyinfra.api import deploy

from binderfix.dind.hostdata import BuilderHostData
from binderfix.dind.operations import planned_refusal, socket_path
from binderfix.invocation import refuse_unknown_inventory
from binderfix.kube.operations import builder_pod

refuse_unknown_inventory()  # a mistyped inventory module would run on no host, exit 0


@deploy("Docker-in-Docker socket")
def remediate_dind() -> None:
    """Per node: the socket path is absent or a socket; then the builder pod is replaced if
    that changed the node or the pod is unhealthy, and the new pod's socket is checked. A
    node whose socket path is refused keeps its pod: applying stops at the refusal there.

    Reads the host data that ``inventories/kubectl.py`` provides (``socket_path``,
    ``pod_name``, ``healthy``, ...).
    """
    data = cast(BuilderHostData, host.data.dict())
    fixed = socket_path(
        name=f"{data['socket_path']} is absent or a socket",
        path=data["socket_path"],
        force=data["force"],
        init_cleans=data["init_cleans_socket"],
        _sudo=data["binderfix_sudo"],
    )
    builder_pod(
        name="builder pod replaced if the node changed or the pod is unhealthy",
        pod=data["pod_name"],
        node=data["node"],
        namespace=data["namespace"],
        status=data["status"],
        restarts=data["restarts"],
        healthy=data["healthy"],
        node_changed=fixed,
        node_refused=bool(planned_refusal(data["socket_path"])),
        socket_path=data["socket_path"],
        selectors=tuple(data["selectors"]),
        context=data["kube_context"],
        timeout=data["wait_timeout"],
    )
