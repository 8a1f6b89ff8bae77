"""What a sandbox is: its names and addresses, its hosts, and the state file that records them.

``up`` writes the state file before it creates each resource, so that ``down`` can undo a
crashed or interrupted ``up``; the API server and the kubelet read it to know the nodes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from binderfix.errors import BinderfixError

NAMESPACE = "prod"
RELEASE = "prod"
SOCKET_PATH = "/var/run/dind/docker.sock"
# On the node, /var/run is Debian's symlink to /run, which the node has to itself.
NODE_SOCKET_PATH = "/run/dind/docker.sock"

# Where a GKE node would live: Nodes carry `gce://PROJECT/ZONE/NAME` as providerID, and the SSH
# config answers to `NAME.ZONE.PROJECT` too, the alias `gcloud compute config-ssh` writes.
GCE_PROJECT = "binderfix-sandbox"
GCE_ZONE = "sandbox-a"

# Control-plane pods: (role, host octet). Nodes take octets from NODE_OCTET on.
CONTROL_HOSTS = (("hub", 2), ("proxy", 3), ("binder", 4), ("internet", 5))
NODE_OCTET = 10
MAX_NODES = 240
WAIT_TIMEOUT = 60.0  # seconds `up --wait` gives the builder pods to settle
BUILDER_SELECTOR = "app=binder,component=image-builder"

# Services of the release: name -> (backing role, ports). Default names, no prefix.
SERVICES = {
    "binder": ("binder", (80,)),
    "hub": ("hub", (8081,)),
    "proxy-public": ("proxy", (80,)),
    "proxy-api": ("proxy", (8001,)),
}


@dataclass
class Host:
    """A network namespace on the sandbox bridge: a node, or a control-plane pod."""

    name: str
    role: str  # "node", or one of CONTROL_HOSTS' roles
    ip: str
    netns: str
    veth: str
    pid: int = 0
    broken: bool = False


@dataclass
class State:
    dir: str
    index: int
    namespace: str = NAMESPACE
    release: str = RELEASE
    labels: str = "current"  # or "legacy": component=dind, as before late 2022
    socket_path: str = SOCKET_PATH
    hosts: list[Host] = field(default_factory=list)
    apiserver_pid: int = 0
    apiserver_port: int = 0
    started: float = 0.0
    missing_images: list[str] = field(default_factory=list)  # images no node can pull
    init_container: bool = False  # today's chart: an init container rmdirs the socket path

    @property
    def subnet(self) -> str:
        return f"10.250.{self.index}"

    @property
    def bridge(self) -> str:
        return f"bfx{self.index}"

    @property
    def nodes(self) -> list[Host]:
        return [h for h in self.hosts if h.role == "node"]

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name or (h.role == name and h.role != "node"):
                return h
        names = ", ".join(h.name for h in self.nodes)
        raise BinderfixError(
            f"no node named {name!r} in this sandbox", hint=f"the nodes are: {names}"
        )


def load_state(path: Path) -> State | None:
    """The state ``up`` wrote, or None when there is none (never made, or taken down)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BinderfixError(
            f"cannot read {path}: {exc}",
            hint="remove the directory by hand if it is not a sandbox",
        ) from None
    hosts = [Host(**h) for h in raw.pop("hosts", [])]
    return State(hosts=hosts, **raw)


def save_state(path: Path, state: State) -> None:
    """Written whole or not at all: a crash mid-write never leaves ``down`` a torn file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)
