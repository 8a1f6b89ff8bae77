"""The settings of ``inventories/kubectl.py`` and ``binderfix check``: environment variables.

A pyinfra inventory file takes no arguments, so everything comes from the environment.
Each variable is listed in the README; ``binderfix sandbox env`` sets them for the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from binderfix.errors import BinderfixError
from binderfix.kube.client import (
    API_TIMEOUT_VARIABLE,
    DEFAULT_API_TIMEOUT,
    LOG_READ_FACTOR,
    api_timeout,
)
from binderfix.kube.model import DEFAULT_SELECTORS
from binderfix.kube.nodepod import DEFAULT_IMAGE, DEFAULT_START_TIMEOUT

# How pyinfra reaches a node: the node name (your SSH config decides, as with the runbook's
# `gcloud compute ssh <node>`), an address read from the Node object, or the GKE instance
# alias `NAME.ZONE.PROJECT` read from its providerID (as `gcloud compute config-ssh` writes).
ADDRESS_MODES = ("name", "InternalIP", "ExternalIP", "gce")
# ... over SSH, or through the Kubernetes API with the @kubenode connector (no SSH at all).
ROUTES = ("ssh", "kubenode")

VARIABLES: dict[str, str] = {
    "KUBECONFIG": "kubeconfig file(s), as for kubectl (default ~/.kube/config)",
    "BINDERFIX_CONTEXT": "kubeconfig context (default: the current context)",
    "BINDERFIX_NAMESPACE": "namespace of the BinderHub release (default: the context's, else default)",
    "BINDERFIX_SELECTOR": "label selector(s) for builder pods, ';'-separated (default: both "
    "generations: app=binder,component=image-builder; component=dind; docker-api)",
    "BINDERFIX_LISTING": "read pods from a saved `kubectl get pod -o wide` or `-o json` file "
    "instead of the API ('-' for standard input)",
    "BINDERFIX_CONNECT": "how to reach nodes: ssh (default) or kubenode (through the Kubernetes "
    "API: a privileged helper pod per node, no SSH)",
    "BINDERFIX_SSH_ADDRESS": "name (default), InternalIP, ExternalIP, or gce (NAME.ZONE.PROJECT "
    "from the Node's providerID, as `gcloud compute config-ssh` names hosts)",
    "BINDERFIX_SSH_USER": "SSH user (default: your SSH config's)",
    "BINDERFIX_SSH_KEY": "SSH private key file",
    "BINDERFIX_SSH_PORT": "SSH port (default 22)",
    "BINDERFIX_SSH_KNOWN_HOSTS": "known_hosts file; host keys are checked strictly when it is set",
    "BINDERFIX_SSH_CONFIG": "an ssh_config file to read (as `gcloud compute config-ssh` writes)",
    "BINDERFIX_SUDO": "1 to run node commands with sudo (default: 1 unless the SSH user is root)",
    "BINDERFIX_SOCKET_PATH": "override the socket path on the node (default: from the builder kind)",
    "BINDERFIX_FORCE": "1 to remove a non-empty directory at the socket path (default: refuse)",
    "BINDERFIX_WAIT_TIMEOUT": "seconds to wait for the replacement builder pod (default 120)",
    "BINDERFIX_NODE_IMAGE": "kubenode: the helper pod's image, with sh and chroot "
    f"(default {DEFAULT_IMAGE})",
    "BINDERFIX_NODE_NAMESPACE": "kubenode: the helper pods' namespace; it must allow privileged "
    "pods (default: BINDERFIX_NAMESPACE's, where the privileged builder pods run)",
    "BINDERFIX_NODE_START_TIMEOUT": "kubenode: seconds to wait for a helper pod to run "
    f"(default {DEFAULT_START_TIMEOUT:.0f})",
    API_TIMEOUT_VARIABLE: "seconds an API request may take to connect and to answer (default "
    f"{DEFAULT_API_TIMEOUT:.0f}; log streams may pause {LOG_READ_FACTOR}x as long)",
}


def settings_table() -> str:
    """The README's settings table, generated from :data:`VARIABLES` (a test keeps them equal)."""
    rows = ["| variable | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {meaning} |" for name, meaning in VARIABLES.items()]
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Settings:
    context: str | None = None
    namespace: str | None = None
    selectors: tuple[str, ...] = DEFAULT_SELECTORS
    listing: str | None = None
    ssh_address: str = "name"
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_port: int | None = None
    ssh_known_hosts: str | None = None
    ssh_config: str | None = None
    sudo: bool | None = None
    socket_path: str | None = None
    force: bool = False
    wait_timeout: float = 120.0
    connect: str = "ssh"
    node_image: str = DEFAULT_IMAGE
    node_namespace: str | None = None
    node_start_timeout: float = DEFAULT_START_TIMEOUT

    @property
    def use_sudo(self) -> bool:
        if self.connect == "kubenode":
            return False  # the helper pod is root on the node already
        return self.sudo if self.sudo is not None else self.ssh_user not in ("root",)


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise BinderfixError(
        f"{name}={value!r} is not a yes/no value", hint=f"set {name}=1 or {name}=0"
    )


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> float | int | None:
    value = env.get(name)
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise BinderfixError(f"{name}={value!r} is not a number", hint=f"e.g. {name}=22") from None
    if number <= 0:
        raise BinderfixError(f"{name} must be positive, not {value}")
    return number


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check the settings; a bad value is a BinderfixError that names the variable."""
    env = os.environ if env is None else env
    address = env.get("BINDERFIX_SSH_ADDRESS") or "name"
    if address not in ADDRESS_MODES:
        raise BinderfixError(
            f"BINDERFIX_SSH_ADDRESS={address!r} is not one of {', '.join(ADDRESS_MODES)}",
            hint="use name to connect by node name, InternalIP/ExternalIP, or gce",
        )
    route = env.get("BINDERFIX_CONNECT") or "ssh"
    if route not in ROUTES:
        raise BinderfixError(
            f"BINDERFIX_CONNECT={route!r} is not one of {', '.join(ROUTES)}",
            hint="ssh to log in to nodes, kubenode to reach them through the Kubernetes API",
        )
    raw_selectors = env.get("BINDERFIX_SELECTOR")
    selectors = (
        tuple(s.strip() for s in raw_selectors.split(";") if s.strip()) if raw_selectors else None
    )
    api_timeout(env)  # a bad BINDERFIX_API_TIMEOUT is refused before anything is read
    socket_path = env.get("BINDERFIX_SOCKET_PATH") or None
    if socket_path is not None:
        from binderfix.dind.paths import check_path

        check_path(socket_path)  # refuse a bad override before any host is touched
    return Settings(
        context=env.get("BINDERFIX_CONTEXT") or None,
        namespace=env.get("BINDERFIX_NAMESPACE") or None,
        selectors=selectors or DEFAULT_SELECTORS,
        listing=env.get("BINDERFIX_LISTING") or None,
        ssh_address=address,
        ssh_user=env.get("BINDERFIX_SSH_USER") or None,
        ssh_key=env.get("BINDERFIX_SSH_KEY") or None,
        ssh_port=_number(env, "BINDERFIX_SSH_PORT", int),  # type: ignore[arg-type]
        ssh_known_hosts=env.get("BINDERFIX_SSH_KNOWN_HOSTS") or None,
        ssh_config=env.get("BINDERFIX_SSH_CONFIG") or None,
        sudo=_flag(env, "BINDERFIX_SUDO"),
        socket_path=socket_path,
        force=bool(_flag(env, "BINDERFIX_FORCE")),
        wait_timeout=float(_number(env, "BINDERFIX_WAIT_TIMEOUT", float) or 120.0),
        connect=route,
        node_image=env.get("BINDERFIX_NODE_IMAGE") or DEFAULT_IMAGE,
        node_namespace=env.get("BINDERFIX_NODE_NAMESPACE") or None,
        node_start_timeout=float(
            _number(env, "BINDERFIX_NODE_START_TIMEOUT", float) or DEFAULT_START_TIMEOUT
        ),
    )
