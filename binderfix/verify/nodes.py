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
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.facts import get_fact

    logging.getLogger("pyinfra").setLevel(logging.CRITICAL)  # our report says it all, once
    inventory = Inventory((hosts, {}))
    state = State(inventory, Config(CONNECT_TIMEOUT=10))
    result = NodeFacts()
    # Each host is connected here rather than with pyinfra's connect_all, which raises "No
    # hosts remaining!" when none answers and drops the reason why each one failed: a
    # check must name every node it could not reach, and why, even when that is all of them.
    connecting = {host: state.pool.spawn(_connect, host) for host in inventory}
    for host, greenlet in connecting.items():
        why = greenlet.get()
        if why:
            result.unreachable[host.name] = why
        else:
            state.activate_host(host)
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
        except (PyinfraError, OSError) as exc:  # the connection dropped while reading
            result.unreachable[name] = f"reading the node failed: {exc}"
    for host in inventory:
        if host.connected:
            host.disconnect()
    return result


def _connect(host: Any) -> str | None:
    """Connect ``host``; None when connected, else why not, in one line (no secret in it)."""
    from pyinfra.api.exceptions import PyinfraError

    try:
        host.connect(show_errors=False, raise_exceptions=True)
    except (PyinfraError, OSError) as exc:  # "Could not connect (... refused)", a bad key...
        return str(exc) or f"cannot connect {_route(host)}"
    return None if host.connected else f"cannot connect {_route(host)}"


def _route(host: Any) -> str:
    return "through the Kubernetes API" if host.name.startswith("@kubenode/") else "over SSH"
