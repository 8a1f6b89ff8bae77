"""Several sandboxes seen as one federation: a merged kubeconfig and a settings file.

``binderfix sandbox env --dir A --dir B`` writes, in A, a kubeconfig with one context per
sandbox (named after its folder) and a binderfix settings file with one cluster each (its
namespace, and the SSH keys, known hosts and config that only that sandbox's nodes accept),
then prints what points kubectl and binderfix at them, as a real federation's operator
would set things up. Every sandbox has its own ``node-1``: names collide, as they do.
"""

from __future__ import annotations

import json

import yaml

from binderfix.errors import BinderfixError
from binderfix.sandbox.cluster import Sandbox

# The one-cluster settings `sandbox env` exports that must not override every cluster's own.
SINGLE_CLUSTER = (
    "BINDERFIX_NAMESPACE",
    "BINDERFIX_SSH_USER",
    "BINDERFIX_SSH_KEY",
    "BINDERFIX_SSH_KNOWN_HOSTS",
    "BINDERFIX_SSH_CONFIG",
    "BINDERFIX_SSH_ADDRESS",
    "BINDERFIX_CONTEXT",
    "BINDERFIX_INTERNET_URL",
)


def context_names(boxes: list[Sandbox]) -> list[str]:
    """A context name per sandbox: its folder's name, made unique."""
    names: list[str] = []
    for box in boxes:
        name, n = box.dir.name, 2
        while name in names:
            name, n = f"{box.dir.name}-{n}", n + 1
        names.append(name)
    return names


def federation_env(boxes: list[Sandbox]) -> tuple[dict[str, str], list[str]]:
    """Write the merged kubeconfig and the settings file; return (exports, unsets)."""
    if len({b.dir for b in boxes}) != len(boxes):
        raise BinderfixError("the same sandbox is named twice", hint="give each --dir once")
    names = context_names(boxes)
    merged: dict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    toml = ["# Written by `binderfix sandbox env`: one cluster per sandbox.\n"]
    for name, box in zip(names, boxes, strict=True):
        state = box.require()
        config = yaml.safe_load(box.kubeconfig.read_text())
        cluster, user = config["clusters"][0], config["users"][0]
        merged["clusters"].append({"name": name, "cluster": cluster["cluster"]})
        merged["users"].append({"name": name, "user": user["user"]})
        merged["contexts"].append(
            {"name": name, "context": {"cluster": name, "user": name, "namespace": state.namespace}}
        )
        env = box.env()
        toml.append(
            f"\n[clusters.{json.dumps(name)}]\n"
            f"namespace = {json.dumps(state.namespace)}\n"
            f"ssh_user = {json.dumps(env['BINDERFIX_SSH_USER'])}\n"
            f"ssh_key = {json.dumps(env['BINDERFIX_SSH_KEY'])}\n"
            f"ssh_known_hosts = {json.dumps(env['BINDERFIX_SSH_KNOWN_HOSTS'])}\n"
            f"ssh_config = {json.dumps(env['BINDERFIX_SSH_CONFIG'])}\n"
            f"ssh_address = {json.dumps(env['BINDERFIX_SSH_ADDRESS'])}\n"
            f"internet_url = {json.dumps(env['BINDERFIX_INTERNET_URL'])}\n"
        )
    merged["current-context"] = names[0]
    out = boxes[0].dir / "federation"
    out.mkdir(exist_ok=True)
    kubeconfig, settings = out / "kubeconfig", out / "clusters.toml"
    kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))
    kubeconfig.chmod(0o600)  # it holds every sandbox's token
    settings.write_text("".join(toml))
    exports = {"KUBECONFIG": str(kubeconfig), "BINDERFIX_CONFIG": str(settings)}
    return exports, list(SINGLE_CLUSTER)
