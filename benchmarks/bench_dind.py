"""Remediating a sandbox, half of it broken: what an operator waits for, every way at once.

Each measure runs on its own fresh sandbox (20 nodes, 10 broken, builders settled) and is
timed from its start until every builder pod is Running and Ready again:

- floor: the runbook by hand, scripted declaratively: in parallel, `ssh node 'test -d P &&
  rmdir P'` on every node, `kubectl delete pod` for the nodes that changed, then waiting;
- the deploy over SSH (`pyinfra inventories/kubectl.py deploys/dind.py -y`), the same with
  `--limit unhealthy`, and over the Kubernetes API (`BINDERFIX_CONNECT=kubenode`, no SSH);
- Ansible, when `ansible-playbook` is installed (`pip install ansible-core`): stat, file
  state=absent, `kubectl delete pod`, forks = nodes.

Then a no-change run on a healthy sandbox: parallel `ssh node test -d P` on every node
against the deploy, `binderfix check` and the deploy over kubenode.

Measures alternate in rounds (--runs, default 3: every measure once per round), and the
median of each is compared, so a burst of other load falls on every measure alike.

    sudo .venv/bin/python -m benchmarks.bench_dind [--nodes 20] [--runs 3] [--only deploy,kubenode]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SOCKET = "/var/run/dind/docker.sock"
SELECTOR = "app=binder,component=image-builder"
Env = dict[str, str]


def sandbox(directory: str, nodes: int, broken: int) -> Env:
    from binderfix.sandbox.cluster import Sandbox

    subprocess.run(
        [
            str(BIN / "binderfix"),
            "sandbox",
            "up",
            "--dir",
            directory,
            "--nodes",
            str(nodes),
            "--broken-nodes",
            str(broken),
            "--wait",  # the broken builders crash-loop, as they would when someone looks
        ],
        check=True,
        capture_output=True,
    )
    return {**os.environ, **Sandbox(directory).env(), "PATH": f"{BIN}:{os.environ['PATH']}"}


def builders(env: Env) -> list[tuple[str, str, bool]]:
    """(pod, node, ready) of every builder pod, through the API as kubectl would."""
    from binderfix.kube.builders import list_builder_pods
    from binderfix.kube.client import connect

    cluster = connect(kubeconfig=env["KUBECONFIG"], namespace=env["BINDERFIX_NAMESPACE"])
    return [(p.name, p.node, p.healthy) for p in list_builder_pods(cluster, (SELECTOR,))]


def wait_all_ready(env: Env, nodes: int, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pods = builders(env)
        if len(pods) == nodes and all(ready for _, _, ready in pods):
            return
        time.sleep(0.05)
    raise SystemExit("the builder pods did not all become Ready")


def floor(env: Env, directory: str, nodes: int) -> None:
    config = str(Path(directory) / "ssh" / "config")
    pods = {node: pod for pod, node, _ in builders(env)}

    def fix(node: str) -> None:
        done = subprocess.run(
            ["ssh", "-F", config, node, f"test -d {SOCKET} && rmdir {SOCKET}"],
            capture_output=True,
        )
        if done.returncode == 0:  # it was a directory, and now it is gone
            subprocess.run(
                ["kubectl", "delete", "pod", pods[node]], env=env, check=True, capture_output=True
            )

    with ThreadPoolExecutor(len(pods)) as pool:
        list(pool.map(fix, sorted(pods)))


def deploy(env: Env, *extra: str, **settings: str) -> None:
    subprocess.run(
        [str(BIN / "pyinfra"), "inventories/kubectl.py", "deploys/dind.py", "-y", *extra],
        env={**env, **settings},
        cwd=REPO,
        check=True,
        capture_output=True,
    )


PLAYBOOK = f"""- hosts: nodes
  gather_facts: false
  tasks:
    - stat: {{path: {SOCKET}}}
      register: sock
    - file: {{path: {SOCKET}, state: absent}}
      when: sock.stat.isdir is defined and sock.stat.isdir
      register: removed
    - command: kubectl delete pod {{{{ pod }}}}
      delegate_to: localhost
      when: removed is changed
"""


def ansible(env: Env, directory: str, nodes: int) -> None:
    config = Path(directory) / "ssh" / "config"
    work = Path(directory) / "ansible"
    work.mkdir(exist_ok=True)
    (work / "play.yml").write_text(PLAYBOOK)
    (work / "hosts").write_text(
        "[nodes]\n" + "".join(f"{node} pod={pod}\n" for pod, node, _ in builders(env))
    )
    subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(work / "hosts"),
            "-f",
            str(nodes),
            str(work / "play.yml"),
        ],
        env={
            **env,
            "ANSIBLE_SSH_ARGS": f"-F {config} -o ControlMaster=auto -o ControlPersist=60s",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        },
        check=True,
        capture_output=True,
    )


def parallel_test(env: Env, directory: str, nodes: int) -> None:
    config = str(Path(directory) / "ssh" / "config")
    names = sorted({node for _, node, _ in builders(env)})
    with ThreadPoolExecutor(len(names)) as pool:
        list(
            pool.map(
                lambda n: subprocess.run(["ssh", "-F", config, n, "test", "-d", SOCKET]), names
            )
        )


def check(env: Env, **settings: str) -> None:
    subprocess.run([str(BIN / "binderfix"), "check"], env={**env, **settings}, capture_output=True)


def measure(
    name: str, nodes: int, broken: int, run: Callable[[Env, str, int], None], wait: bool
) -> float:
    """Time ``run`` on a fresh sandbox, until every builder is Ready when ``wait``."""
    with tempfile.TemporaryDirectory() as tmp:
        d = str(Path(tmp) / "sb")
        try:  # `down` also when up or the measure fails: nothing is left running
            env = sandbox(d, nodes, broken)
            start = time.perf_counter()
            run(env, d, nodes)
            if wait:
                wait_all_ready(env, nodes)
            took = time.perf_counter() - start
        finally:
            subprocess.run(
                [str(BIN / "binderfix"), "sandbox", "down", "--dir", d], capture_output=True
            )
    return took


def rounds(
    runs: int, measures: dict[str, Callable[[Env, str, int], None]], nodes: int, broken: int
) -> dict[str, float]:
    """The median of ``runs`` alternating rounds of every measure, each printed."""
    times: dict[str, list[float]] = {k: [] for k in measures}
    for _ in range(runs):
        for name, run in measures.items():
            times[name].append(measure(name, nodes, broken, run, wait=broken > 0))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, took in medians.items():
        spread = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:<20} {took:6.2f}s median  ({spread})", flush=True)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="rounds; each measure's median counts")
    parser.add_argument("--only", help="comma-separated measures to run (default: all)")
    args = parser.parse_args()
    n, broken = args.nodes, args.nodes // 2
    fixes: dict[str, Callable[[Env, str, int], None]] = {
        "floor": floor,
        "deploy": lambda env, d, k: deploy(env),
        "limited": lambda env, d, k: deploy(env, "--limit", "unhealthy"),
        "kubenode": lambda env, d, k: deploy(env, BINDERFIX_CONNECT="kubenode"),
    }
    if (BIN / "ansible-playbook").exists() or shutil.which("ansible-playbook"):
        fixes["ansible"] = ansible
    quiet: dict[str, Callable[[Env, str, int], None]] = {
        "ssh-test": parallel_test,
        "deploy-nochange": lambda env, d, k: deploy(env),
        "check": lambda env, d, k: check(env),
        "kubenode-nochange": lambda env, d, k: deploy(env, BINDERFIX_CONNECT="kubenode"),
    }
    only = set(args.only.split(",")) if args.only else None
    print(f"load before: {os.getloadavg()[0]:.2f}")
    print(f"{n} nodes, {broken} broken: until every builder is Running and Ready")
    fixed = rounds(args.runs, {k: f for k, f in fixes.items() if not only or k in only}, n, broken)
    print(f"{n} healthy nodes, nothing to change")
    calm = rounds(args.runs, {k: f for k, f in quiet.items() if not only or k in only}, n, 0)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if "floor" in fixed:
        for k in ("deploy", "limited", "kubenode", "ansible"):
            if k in fixed:
                print(f"{k}: {fixed[k] / fixed['floor']:.2f}x the floor")
    if "ansible" in fixed and "deploy" in fixed:
        print(f"the deploy is {fixed['ansible'] / fixed['deploy']:.1f}x faster than Ansible")
    if "kubenode" in fixed and "deploy" in fixed:
        print(f"kubenode: {fixed['kubenode'] / fixed['deploy']:.2f}x the deploy over SSH")
    if "ssh-test" in calm:
        for k in ("deploy-nochange", "check", "kubenode-nochange"):
            if k in calm:
                print(f"{k}: {calm[k] / calm['ssh-test']:.2f}x parallel ssh test")


if __name__ == "__main__":
    main()
