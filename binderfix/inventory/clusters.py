"""Which clusters a command works on, each with its own settings: the federation in one run.

One cluster (the default) is today's: the environment's settings and the kubeconfig's
current context (or ``BINDERFIX_CONTEXT``). Several are chosen with ``BINDERFIX_CONTEXTS``
(comma-separated, or ``all``) or a command's ``--context NAME``/``--all-contexts``; each then
takes its settings from its section of the settings file (``BINDERFIX_CONFIG``, default
``~/.config/binderfix/clusters.toml``), with environment variables overriding the file::

    [clusters.gke]                  # a name of your own; the kubeconfig context by default
    context = "gke_binderhub_us-central1_prod"
    namespace = "prod"
    connect = "kubenode"

    [clusters.ovh]
    namespace = "ovh"
    ssh_user = "root"
    ssh_key = "~/.ssh/ovh_root"
    ssh_config = "~/.ssh/ovh_config"

A key is a setting's variable without ``BINDERFIX_``, in lower case (see the README's
settings table); a misspelt key or a wrong type is an error naming the file, the cluster and
the key. :func:`for_each` runs a function on every chosen cluster at once and keeps each
cluster's result, or why it failed, apart.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from binderfix.errors import BinderfixError
from binderfix.inventory.settings import VARIABLES, Settings, from_env

CONFIG_VARIABLE = "BINDERFIX_CONFIG"
CONTEXTS_VARIABLE = "BINDERFIX_CONTEXTS"
# What a cluster's section may hold: every setting but those that choose clusters.
_NOT_PER_CLUSTER = {"KUBECONFIG", "BINDERFIX_CONTEXT"}
FILE_KEYS: dict[str, str] = {
    name.removeprefix("BINDERFIX_").lower(): name
    for name in VARIABLES
    if name.startswith("BINDERFIX_") and name not in _NOT_PER_CLUSTER
}
_FLAGS = {"sudo", "force"}
_NUMBERS = {"ssh_port", "wait_timeout", "node_start_timeout", "api_timeout"}

T = TypeVar("T")


def default_config(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "binderfix" / "clusters.toml"


@dataclass(frozen=True)
class Member:
    """One cluster of the run: its name (as output and host names show it) and settings."""

    name: str
    settings: Settings


def read_config(path: Path) -> dict[str, dict[str, str]]:
    """The settings file's clusters, each as the environment variables it stands for."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise BinderfixError(
            f"cannot read the settings file {path}: {exc.strerror}",
            hint=f"set {CONFIG_VARIABLE} to a readable file, or unset it",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise BinderfixError(
            f"{path} is not valid TOML: {exc}", hint="fix the line it names"
        ) from None
    unknown = set(data) - {"clusters"}
    if unknown:
        raise BinderfixError(
            f"{path}: unknown table {sorted(unknown)[0]!r}",
            hint="clusters go in [clusters.NAME] tables",
        )
    clusters = data.get("clusters") or {}
    if not isinstance(clusters, dict):
        raise BinderfixError(f"{path}: clusters must be tables", hint="[clusters.NAME]")
    return {name: _section(path, name, section) for name, section in clusters.items()}


def _section(path: Path, cluster: str, section: object) -> dict[str, str]:
    where = f"{path}: cluster {cluster!r}"
    if not isinstance(section, dict):
        raise BinderfixError(f"{where} is not a table", hint=f"[clusters.{cluster}] then keys")
    env = {"BINDERFIX_CONTEXT": cluster}
    for key, value in section.items():
        if key == "context":
            name = "BINDERFIX_CONTEXT"
        elif key in FILE_KEYS:
            name = FILE_KEYS[key]
        else:
            near = difflib.get_close_matches(key, [*FILE_KEYS, "context"], n=1)
            raise BinderfixError(
                f"{where}: unknown key {key!r}",
                hint=f"did you mean {near[0]!r}?" if near else "see the README's settings table",
            )
        env[name] = _as_text(where, key, value)
    return env


def _as_text(where: str, key: str, value: object) -> str:
    """A file value as the environment variable would hold it, checking its TOML type."""
    if key in _FLAGS:
        if not isinstance(value, bool):
            raise BinderfixError(f"{where}: {key} must be true or false, not {value!r}")
        return "1" if value else "0"
    if key in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BinderfixError(f"{where}: {key} must be a number, not {value!r}")
        return str(value)
    if key == "selector" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if not isinstance(value, str):
        raise BinderfixError(f"{where}: {key} must be a string, not {value!r}")
    return os.path.expanduser(value) if key.endswith(("_key", "_config", "_hosts")) else value


def kubeconfig_contexts() -> list[str]:
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, _current = config.list_kube_config_contexts()
    except (ConfigException, OSError) as exc:
        raise BinderfixError(
            f"cannot read the kubeconfig's contexts: {exc}", hint="set KUBECONFIG"
        ) from None
    return [c["name"] for c in contexts]


def choose(
    contexts: Sequence[str] = (),
    all_contexts: bool = False,
    env: Mapping[str, str] | None = None,
) -> tuple[list[Member], bool]:
    """The clusters to work on, and whether this is a federation run (names prefixed)."""
    env = dict(os.environ if env is None else env)
    wanted = list(contexts)
    if all_contexts:
        wanted = ["all"]
    elif not wanted and env.get(CONTEXTS_VARIABLE):
        wanted = [c.strip() for c in env[CONTEXTS_VARIABLE].split(",") if c.strip()]
    if not wanted:
        settings = from_env(env)
        return [Member(settings.context or "default", settings)], False
    path = Path(env.get(CONFIG_VARIABLE) or default_config(env))
    explicit = bool(env.get(CONFIG_VARIABLE))
    sections = read_config(path) if (explicit or path.exists()) else {}
    if wanted == ["all"]:
        wanted = list(sections) or kubeconfig_contexts()
        if not wanted:
            raise BinderfixError(
                "no cluster to work on: the settings file and the kubeconfig name none",
                hint=f"add [clusters.NAME] tables to {path}, or contexts to the kubeconfig",
            )
    overrides = {
        k: v for k, v in env.items() if k.startswith("BINDERFIX_") and k != "BINDERFIX_CONTEXT"
    }
    members = []
    for name in dict.fromkeys(wanted):
        merged = {**env, **sections.get(name, {"BINDERFIX_CONTEXT": name}), **overrides}
        try:
            members.append(Member(name, from_env(merged)))
        except BinderfixError as exc:
            where = f"{path}: cluster {name!r}" if name in sections else f"cluster {name!r}"
            raise BinderfixError(f"{where}: {exc.message}", hint=exc.hint) from None
    return members, True


@dataclass
class Outcome(Generic[T]):
    """One cluster's result, or why it has none."""

    member: Member
    value: T | None = None
    error: BinderfixError | None = None


def for_each(members: Sequence[Member], work: Callable[[Member], T]) -> list[Outcome[T]]:
    """Run ``work`` on every cluster at once; a cluster that fails does not stop the others."""

    def one(member: Member) -> Outcome[T]:
        try:
            return Outcome(member, value=work(member))
        except BinderfixError as exc:
            return Outcome(member, error=exc)

    if len(members) <= 1:  # none left (every cluster failed before), or no threads needed
        return [one(member) for member in members]
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return list(pool.map(one, members))
