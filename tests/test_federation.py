"""The federation in one run: several clusters, each with its own settings, node names that
collide, and one cluster that stops answering while the others are checked and fixed."""

from __future__ import annotations

import json
import os
import signal
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from binderfix.errors import BinderfixError
from binderfix.inventory.clusters import choose, read_config
from tests.conftest import BINDERFIX, PYINFRA, REPO, RunningSandbox, run, start_sandbox

SOCKET = "/var/run/dind/docker.sock"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clusters.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[clusters.gke]\nnamespce = "prod"\n', "unknown key 'namespce'"),
        ("[clusters.gke]\nforce = 1\n", "force must be true or false"),
        ('[clusters.gke]\nssh_port = "22"\n', "ssh_port must be a number"),
        ("[clusters.gke]\nssh_port = 99999\n", "1-65535"),
        ("[clusters.gke\n", "not valid TOML"),
        ('[cluster.gke]\nnamespace = "prod"\n', "unknown table 'cluster'"),
    ],
)
def test_a_bad_settings_file_names_the_file_the_cluster_and_the_key(
    tmp_path: Path, text: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BinderfixError) as caught:
        choose(["gke"], env={"BINDERFIX_CONFIG": str(path)})
    assert words in caught.value.message and str(path) in caught.value.message
    if "namespce" in text:
        assert "namespace" in (caught.value.hint or "")  # did you mean


def test_each_cluster_has_its_own_settings_and_the_environment_overrides_the_file(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '[clusters.gke]\ncontext = "gke_ctx"\nnamespace = "prod"\nconnect = "kubenode"\n'
        '[clusters.ovh]\nnamespace = "ovh"\nssh_user = "root"\nforce = true\n',
    )
    members, federated = choose(
        [], env={"BINDERFIX_CONFIG": str(path), "BINDERFIX_CONTEXTS": "all"}
    )
    assert federated and [m.name for m in members] == ["gke", "ovh"]
    gke, ovh = (m.settings for m in members)
    assert (gke.context, gke.namespace, gke.connect) == ("gke_ctx", "prod", "kubenode")
    assert (ovh.context, ovh.namespace, ovh.ssh_user, ovh.force) == ("ovh", "ovh", "root", True)
    members, _ = choose(
        ["ovh"], env={"BINDERFIX_CONFIG": str(path), "BINDERFIX_NAMESPACE": "staging"}
    )
    assert members[0].settings.namespace == "staging"
    assert read_config(path)["gke"]["BINDERFIX_CONNECT"] == "kubenode"
    # No cluster chosen: the environment's one cluster, as before a settings file existed.
    members, federated = choose([], env={"BINDERFIX_NAMESPACE": "prod"})
    assert not federated and members[0].settings.namespace == "prod"


def test_a_context_that_does_not_exist_is_one_clear_error_for_every_command(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: real\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: not-for-output}}]\n"
        "contexts: [{name: real, context: {cluster: c, user: u}}]\n"
    )
    settings = write(tmp_path, '[clusters.other]\nnamespace = "prod"\n')  # names no "nope"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "BINDERFIX_CONFIG": str(settings)}
    for command in ("check", "verify", "netcheck", "spikes"):
        out = run(BINDERFIX, command, "--context", "nope", env=env, timeout=60)
        text = out.stdout + out.stderr
        # check found every cluster failing and then had none left for its other checks
        # (a ValueError traceback); verify worked on the current context instead.
        assert out.returncode == 2 and "Traceback" not in text, (command, text)
        assert "no context 'nope' in the kubeconfig" in text and "contexts: real" in text, text
        assert "not-for-output" not in text


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningSandbox]]:
    root = tmp_path_factory.mktemp("fed")
    boxes = {}
    try:
        boxes["east"] = start_sandbox(root / "east", nodes=2, broken=1)
        boxes["west"] = start_sandbox(root / "west", nodes=3, broken=1)
        yield boxes
    finally:
        for box in boxes.values():
            run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))


def federation_env(boxes: dict[str, RunningSandbox], **extra: str) -> dict[str, str]:
    printed = run(
        BINDERFIX, "sandbox", "env", *(a for b in boxes.values() for a in ("--dir", str(b.dir))),
        check=True,
    ).stdout  # fmt: skip
    env = dict(boxes["east"].env)
    for line in printed.splitlines():
        if line.startswith("unset "):
            for name in line.split()[1:]:
                env.pop(name, None)
        elif line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'")
    return {**env, **extra}


@pytest.mark.sandbox
def test_check_and_one_deploy_across_two_clusters_whose_node_names_collide(
    federation: dict[str, RunningSandbox], tmp_path: Path
) -> None:
    for box in federation.values():
        box.wait_builders()
    env = federation_env(federation, BINDERFIX_CONTEXTS="all")
    junit = tmp_path / "check.xml"
    out = run(BINDERFIX, "check", "--json", "--junit", str(junit), env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    clusters = json.loads(out.stdout)["clusters"]
    assert set(clusters) == {"east", "west"}
    broken = {
        c: [f["subject"] for f in v["findings"] if f["verdict"] == "problem"]
        for c, v in clusters.items()
    }
    assert broken == {"east": ["east/node-2"], "west": ["west/node-2"]}  # both have a node-2
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert sorted(s.get("name") for s in suites) == [
        "binderfix check (east)",
        "binderfix check (west)",
    ]

    deployed = run(PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y", env=env, cwd=REPO)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    for box in federation.values():
        assert box.box.socket_state(box.box.load().host("node-2")) == "socket"
    again = run(BINDERFIX, "check", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "== east: 2 checked: 0 to fix" in again.stdout
    assert "== west: 3 checked: 0 to fix" in again.stdout
    # --limit picks one cluster by its group.
    limited = run(
        PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "--dry", "--limit", "west",
        env=env, cwd=REPO,
    )  # fmt: skip
    text = limited.stdout + limited.stderr
    assert limited.returncode == 0 and "west/node-1" in text and "east/node-1" not in text


@pytest.mark.sandbox
def test_one_cluster_stopped_the_other_is_checked_and_fixed_in_full(
    federation: dict[str, RunningSandbox],
) -> None:
    east, west = federation["east"], federation["west"]
    east.ssh("node-1", "sh", "-c", f"rm -f {SOCKET} && mkdir {SOCKET}")
    env = federation_env(federation, BINDERFIX_CONTEXTS="all", BINDERFIX_API_TIMEOUT="2")
    pid = west.box.load().apiserver_pid
    os.kill(pid, signal.SIGSTOP)
    try:
        out = run(BINDERFIX, "check", "--json", env=env, timeout=60)
        assert out.returncode == 2, out.stdout + out.stderr
        clusters = json.loads(out.stdout)["clusters"]
        assert "did not answer in time" in clusters["west"]["error"]["message"]
        east_found = {f["subject"]: f["verdict"] for f in clusters["east"]["findings"]}
        assert east_found == {"east/node-1": "problem", "east/node-2": "ok"}

        deployed = run(
            PYINFRA, "inventories/kubectl.py", "deploys/dind.py", "-y", env=env, cwd=REPO,
            timeout=120,
        )  # fmt: skip
        text = deployed.stdout + deployed.stderr
        assert deployed.returncode != 0 and "Traceback" not in text
        assert "cluster west" in text and "@binderfix-cluster/west" in text
        assert east.box.socket_state(east.box.load().host("node-1")) == "socket"
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.sandbox
def test_verify_netcheck_and_spikes_across_the_federation(
    federation: dict[str, RunningSandbox], tmp_path: Path
) -> None:
    for box in federation.values():
        box.wait_builders()
    env = federation_env(federation, BINDERFIX_CONTEXTS="all")
    junit = tmp_path / "verify.xml"
    verified = run(BINDERFIX, "verify", "--junit", str(junit), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "== east: nothing to report" in verified.stdout
    names = sorted(s.get("name") for s in ET.parse(junit).getroot().findall("testsuite"))
    assert names == ["binderfix verify (east)", "binderfix verify (west)"]

    probed = run(BINDERFIX, "netcheck", "--timeout", "3", "--json", env=env)
    assert probed.returncode == 0, probed.stdout + probed.stderr
    assert set(json.loads(probed.stdout)["clusters"]) == {"east", "west"}

    spikes = run(BINDERFIX, "spikes", "--since", "3h", "--json", env=env)
    assert spikes.returncode == 1, spikes.stderr  # each cluster's ingress carries a spike
    whole = json.loads(spikes.stdout)["federation"]
    per = whole["clusters"]
    assert whole["build_requests"] == sum(c["build_requests"] for c in per.values()) > 0
    assert abs(sum(c["share"] for c in per.values()) - 1) < 0.01


@pytest.mark.sandbox
def test_one_context_is_the_cluster_a_command_works_on(
    federation: dict[str, RunningSandbox], tmp_path: Path
) -> None:
    # One --context is a run on that cluster alone, with its settings-file section (its SSH
    # keys here), not on the current context (east): verify used to ignore it.
    for box in federation.values():
        box.wait_builders()
    env = federation_env(federation)
    for name, nodes in (("west", 3), ("east", 2)):
        junit = tmp_path / f"{name}.xml"
        out = run(BINDERFIX, "verify", "--context", name, "--junit", str(junit), env=env)
        assert out.returncode in (0, 1), out.stdout + out.stderr  # node-2 may still be broken
        cases = list(ET.parse(junit).getroot().iter("testcase"))
        names = [c.get("name") or "" for c in cases]
        assert sum("node-3" in n for n in names) == (nodes == 3) * 2, names
        # Every node was checked against its own cluster: none "could not be checked".
        assert [c for c in cases if c.find("error") is not None] == [], out.stdout
