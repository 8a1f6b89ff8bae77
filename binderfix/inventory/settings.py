"""The settings of ``inventories/kubectl.py`` and ``binderfix check``: environment variables.

A pyinfra inventory file takes no arguments, so everything comes from the environment.
Each variable is listed in the README; ``binderfix sandbox env`` sets them for the sandbox.
"""

from __future__ import annotations

import math
import os
import re
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
    "BINDERFIX_SSH_PORT": "SSH port, 1-65535 (default 22)",
    "BINDERFIX_SSH_KNOWN_HOSTS": "known_hosts file; host keys are checked strictly when it is set",
    "BINDERFIX_SSH_CONFIG": "an ssh_config file to read (as `gcloud compute config-ssh` writes)",
    "BINDERFIX_SUDO": "1 to run node commands with sudo (default: 1 unless the SSH user is root)",
    "BINDERFIX_SOCKET_PATH": "override the socket path on the node (default: from the builder kind)",
    "BINDERFIX_FORCE": "1 to remove a non-empty directory at the socket path (default: refuse)",
    "BINDERFIX_WAIT_TIMEOUT": "seconds to wait for the replacement builder pod, 1-3600 (default 120)",
    "BINDERFIX_NODE_IMAGE": "kubenode: the helper pod's image, with sh and chroot "
    f"(default {DEFAULT_IMAGE})",
    "BINDERFIX_NODE_NAMESPACE": "kubenode: the helper pods' namespace; it must allow privileged "
    "pods (default: BINDERFIX_NAMESPACE's, where the privileged builder pods run)",
    "BINDERFIX_NODE_START_TIMEOUT": "kubenode: seconds to wait for a helper pod to run, 1-3600 "
    f"(default {DEFAULT_START_TIMEOUT:.0f})",
    "BINDERFIX_INTERNET_URL": "netcheck: where 'the internet' is (default the runbook's "
    "http://google.com/)",
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


# Bounds for the numeric settings: a port is 16 bits (paramiko would wrap 99999 to 34463
# silently), and a wait longer than an hour is a typo, not a plan (1e9 s is 31 years).
PORT_RANGE = (1, 65535)
WAIT_RANGE = (1.0, 3600.0)

_FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_FLAG_WORDS |= {"0": False, "false": False, "no": False, "off": False}


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    raise BinderfixError(
        f"{name}={value!r} is not a yes/no value (1, 0, true, false, yes, no, on, off)",
        hint=f"set {name}=1 or {name}=0",
    )


def _number(
    env: Mapping[str, str], name: str, kind: type[int] | type[float], bounds: tuple[float, float]
) -> float | int | None:
    """``env[name]`` as a number within ``bounds`` (inclusive), or None when unset."""
    value = env.get(name)
    if not value:
        return None
    low, high = bounds
    what = "a whole number" if kind is int else "a number of seconds"
    span = f"{low:g}-{high:g}"
    try:
        number = kind(value.strip())
    except ValueError:
        raise BinderfixError(
            f"{name}={value!r} is not {what} ({span})", hint=f"e.g. {name}={_EXAMPLES[name]}"
        ) from None
    # NaN compares false with everything, so it is refused here along with inf.
    if not (math.isfinite(number) and low <= number <= high):
        raise BinderfixError(
            f"{name}={value!r} is out of range: it must be {span}",
            hint=f"e.g. {name}={_EXAMPLES[name]}",
        )
    return number


_EXAMPLES = {"BINDERFIX_SSH_PORT": "22", "BINDERFIX_WAIT_TIMEOUT": "120"}

# Kubernetes' own grammar (k8s.io/apimachinery labels.Parse and validation.IsQualifiedName):
# checked here so that a typo is one line naming the setting, not the API's bare 400.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"({_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"({_NAME})?")
_TOKEN = re.compile(r"\s*(?:(==|!=|=|!|,|\(|\)|<|>)|([^\s!=,()<>]+))\s*")
SELECTOR_SYNTAX = "key=value, key!=value, key in (a,b), key notin (a,b), key or !key, joined by ','"


_OPERATORS = frozenset({"==", "!=", "=", "!", ",", "(", ")", "<", ">"})


def _tokens(selector: str) -> list[str]:
    tokens, pos = [], 0
    while m := _TOKEN.match(selector, pos):
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    return tokens


def _key_problem(key: str | None) -> str | None:
    if key is None or key in _OPERATORS:
        return "a label key is missing" + (f" before {key!r}" if key else " at the end")
    prefix, _, name = key.rpartition("/")
    if not _KEY.fullmatch(key) or len(prefix) > 253 or len(name) > 63:
        return (
            f"{key!r} is not a label key (a name of up to 63 of A-Z a-z 0-9 - _ . after an "
            "optional DNS prefix and '/')"
        )
    return None


def _value_problem(value: str) -> str | None:
    if value in _OPERATORS or not _VALUE.fullmatch(value):
        return f"{value!r} is not a label value (up to 63 of A-Z a-z 0-9 - _ .)"
    return None


def selector_problem(selector: str) -> str | None:
    """Why the API would refuse this label selector, or None when it is well formed. Pure."""
    tokens = _tokens(selector)
    if not tokens:
        return "it is empty"
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str | None:
        nonlocal pos
        pos += 1
        return tokens[pos - 1] if pos <= len(tokens) else None

    while True:
        key = take()
        if key == "!":
            if problem := _key_problem(take()):
                return problem
        elif problem := _key_problem(key):
            return problem
        elif (op := peek()) in ("=", "==", "!="):
            take()
            value = "" if peek() in (None, ",") else take()
            if problem := _value_problem(value or ""):
                return problem
        elif op in ("in", "notin"):
            take()
            if take() != "(":
                return f"'{op}' needs values in parentheses, e.g. {key} {op} (a,b)"
            values = []
            while (token := take()) != ")":
                if token is None:
                    return "a ')' is missing"
                if token != ",":
                    if problem := _value_problem(token):
                        return problem
                    values.append(token)
            if not values:
                return f"'{op}' needs at least one value"
        elif op in ("<", ">"):
            take()
            number = take()
            if number is None or not re.fullmatch(r"-?[0-9]+", number):
                return f"'{op}' needs a whole number"
        elif op not in (None, ","):
            return f"unexpected {op!r} after {key!r}"
        separator = take()
        if separator is None:
            return None
        if separator != ",":
            return f"unexpected {separator!r}: requirements are joined by ','"
        if peek() is None:
            return "it ends with ','"


def _selectors(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("BINDERFIX_SELECTOR")
    if not raw:
        return DEFAULT_SELECTORS
    selectors = tuple(s.strip() for s in raw.split(";") if s.strip())
    hint = "e.g. BINDERFIX_SELECTOR='app=binder,component=image-builder; component=dind'"
    if not selectors:
        raise BinderfixError(
            f"BINDERFIX_SELECTOR={raw!r} holds no label selector (';' separates selectors)",
            hint=hint + ", or unset it for the defaults",
        )
    for selector in selectors:
        if problem := selector_problem(selector):
            raise BinderfixError(
                f"BINDERFIX_SELECTOR: {selector!r} is not a label selector: {problem}",
                hint=f"{SELECTOR_SYNTAX}; several selectors separated by ';' ({hint})",
            )
    return selectors


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# What ssh and useradd accept as a login name; "user@host" and stray spaces are the usual typos.
_USER = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_.]{0,63}\$?")


def check_namespace(value: str, name: str = "BINDERFIX_NAMESPACE") -> str:
    """``value`` if it is a Kubernetes namespace name, else an error naming ``name``."""
    if not _NAMESPACE.fullmatch(value):
        raise BinderfixError(
            f"{name}={value!r} is not a namespace name (up to 63 of a-z 0-9 -, "
            "starting and ending with a letter or digit)",
            hint=f"kubectl get namespaces lists them; e.g. {name}=prod",
        )
    return value


def _namespace(env: Mapping[str, str], name: str = "BINDERFIX_NAMESPACE") -> str | None:
    value = env.get(name) or None
    return None if value is None else check_namespace(value)


def _user(env: Mapping[str, str]) -> str | None:
    value = env.get("BINDERFIX_SSH_USER") or None
    if value is not None and not _USER.fullmatch(value):
        raise BinderfixError(
            f"BINDERFIX_SSH_USER={value!r} is not a login name (letters, digits, - _ ., no "
            "spaces or '@')",
            hint="give the user alone (e.g. BINDERFIX_SSH_USER=binderfix); the host comes "
            "from the inventory",
        )
    return value


def _file(env: Mapping[str, str], name: str, hint: str) -> str | None:
    """A file setting: it must name a readable file, checked now rather than mid-connection."""
    value = env.get(name) or None
    if value is None:
        return None
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "does not exist"
        raise BinderfixError(f"{name}={value} {why}: a file is needed", hint=hint)
    if not os.access(path, os.R_OK):
        raise BinderfixError(f"{name}={value} cannot be read (permissions)", hint=hint)
    return value


def _ssh_key(env: Mapping[str, str]) -> str | None:
    hint = "set BINDERFIX_SSH_KEY to your private key file (e.g. ~/.ssh/id_ed25519), or unset it"
    value = _file(env, "BINDERFIX_SSH_KEY", hint)
    if value is None:
        return None
    # Only the first line is read, and never printed: it tells a private key (OpenSSH or PEM)
    # from the .pub beside it, the usual mistake, which paramiko reports mid-connection.
    with open(os.path.expanduser(value), "rb") as fh:
        first = fh.readline(200)
    if b"PRIVATE KEY-----" not in first:
        raise BinderfixError(
            f"BINDERFIX_SSH_KEY={value} is not a private key file (no 'BEGIN ... PRIVATE KEY' "
            "line; is it the .pub?)",
            hint=hint,
        )
    return value


def _socket_path(env: Mapping[str, str]) -> str | None:
    value = env.get("BINDERFIX_SOCKET_PATH") or None
    if value is None:
        return None
    from binderfix.dind.paths import check_path

    try:
        check_path(value)  # refuse a bad override before any host is touched
    except BinderfixError as exc:
        raise BinderfixError(f"BINDERFIX_SOCKET_PATH: {exc.message}", hint=exc.hint) from None
    return value


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
    api_timeout(env)  # a bad BINDERFIX_API_TIMEOUT is refused before anything is read
    listing = env.get("BINDERFIX_LISTING") or None
    if listing != "-":
        hint = "save one with: kubectl get pod -o wide > pods.txt (or '-' for standard input)"
        listing = _file(env, "BINDERFIX_LISTING", hint)
    return Settings(
        context=env.get("BINDERFIX_CONTEXT") or None,
        namespace=_namespace(env),
        selectors=_selectors(env),
        listing=listing,
        ssh_address=address,
        ssh_user=_user(env),
        ssh_key=_ssh_key(env),
        ssh_port=_number(env, "BINDERFIX_SSH_PORT", int, PORT_RANGE),  # type: ignore[arg-type]
        ssh_known_hosts=_file(
            env,
            "BINDERFIX_SSH_KNOWN_HOSTS",
            "set it to a known_hosts file (ssh-keyscan NODE >> FILE makes one), or unset it",
        ),
        ssh_config=_file(
            env,
            "BINDERFIX_SSH_CONFIG",
            "set it to an ssh_config file (gcloud compute config-ssh writes one), or unset it",
        ),
        sudo=_flag(env, "BINDERFIX_SUDO"),
        socket_path=_socket_path(env),
        force=bool(_flag(env, "BINDERFIX_FORCE")),
        wait_timeout=float(_number(env, "BINDERFIX_WAIT_TIMEOUT", float, WAIT_RANGE) or 120.0),
        connect=route,
        node_image=env.get("BINDERFIX_NODE_IMAGE") or DEFAULT_IMAGE,
        node_namespace=_namespace(env, "BINDERFIX_NODE_NAMESPACE"),
        node_start_timeout=float(
            _number(env, "BINDERFIX_NODE_START_TIMEOUT", float, WAIT_RANGE) or DEFAULT_START_TIMEOUT
        ),
    )
