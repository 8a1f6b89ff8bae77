"""Read facts from every builder node at once through pyinfra, changing nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from binderfix.inventory.hosts import HostList


@dataclass
class NodeFacts:
    """What was read from each node, and which nodes could not be reached (with why)."""

    facts: dict[str, Any] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)


def read_fact(hosts: HostList, fact_cls: type, kwargs_for: Any) -> NodeFacts:
    """Connect to ``hosts`` in parallel and read ``fact_cls`` with per-host kwargs.

    ``kwargs_for(host_data) -> dict`` gives the fact's arguments (``path``, ``_sudo``...).
    """
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.facts import get_fact

    logging.getLogger("pyinfra").setLevel(logging.CRITICAL)  # our report says it all, once
    inventory = Inventory((hosts, {}))
    state = State(inventory, Config(CONNECT_TIMEOUT=10))
    result = NodeFacts()
    connect_all(state)
    for host in inventory:
        if host not in state.activated_hosts or host in state.failed_hosts:
            how = "through the Kubernetes API" if host.name.startswith("@kubenode/") else "over SSH"
            result.unreachable[host.name] = f"cannot connect {how}"
    greenlets = {}
    for host in inventory:
        if host.name in result.unreachable:
            continue
        kwargs = kwargs_for(host.data.dict())
        greenlets[host.name] = state.pool.spawn(
            get_fact, state, host, fact_cls, kwargs=kwargs, apply_failed_hosts=False
        )
    for name, greenlet in greenlets.items():
        try:
            result.facts[name] = greenlet.get()
        except (PyinfraError, OSError) as exc:
            result.unreachable[name] = f"reading the node failed: {exc}"
    for host in inventory:
        if host.connected:
            host.disconnect()
    return result
