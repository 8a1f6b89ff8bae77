"""The node work: read a node's socket path, and run the deploy on one node, through
pyinfra's API, exactly as ``pyinfra inventories/kubectl.py deploys/dind.py`` does there.

pyinfra keeps its current state in a module-global context, so one batch runs at a time
(the watcher calls these from its main thread only); the nodes of a batch run in parallel
as pyinfra's greenlets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from binderfix.dind.state import PathState
from binderfix.inventory.hosts import HostList


@dataclass(frozen=True)
class Examined:
    state: PathState | None
    error: str = ""


def examine(hosts: HostList) -> dict[str, Examined]:
    """What is at each node's socket path (the deploy's fact), or why it could not be read."""
    from binderfix.dind.facts import SocketPathState
    from binderfix.verify.nodes import read_fact

    facts = read_fact(
        hosts,
        SocketPathState,
        lambda data: {"path": data["socket_path"], "_sudo": data["binderfix_sudo"]},
    )
    return {
        name: Examined(facts.facts.get(name), facts.unreachable.get(name, ""))
        for name, _data in hosts
    }


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split())[:300])


def fix(hosts: HostList) -> dict[str, str]:
    """Run the deploy (:func:`binderfix.dind.deploy.remediate_dind`) on these nodes:
    host name -> "" when it succeeded, else what went wrong."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    from binderfix.dind.deploy import remediate_dind

    pyinfra_log = logging.getLogger("pyinfra")
    pyinfra_log.setLevel(logging.WARNING)
    collect = _Collect()
    pyinfra_log.addHandler(collect)
    inventory = Inventory((hosts, {}))
    state = State(inventory, Config(CONNECT_TIMEOUT=10))
    outcome: dict[str, str] = {}
    try:
        connect_all(state)
        for host in inventory:
            if host not in state.activated_hosts or host in state.failed_hosts:
                outcome[host.name] = "cannot connect to the node"
        add_deploy(state, remediate_dind)
        run_ops(state)
        for host in inventory:
            if host.name not in outcome and host in state.failed_hosts:
                said = "; ".join(collect.lines[-3:]) or "an operation failed"
                outcome[host.name] = f"the deploy failed: {said}"
    except PyinfraError as exc:
        for name, _data in hosts:
            outcome.setdefault(name, f"the deploy could not run: {exc}")
    finally:
        disconnect_all(state)  # the kubenode route removes its helper pods here
        pyinfra_log.removeHandler(collect)
    return {name: outcome.get(name, "") for name, _data in hosts}
