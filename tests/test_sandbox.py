"""The sandbox cluster itself: real kubectl against its API, real SSH to isolated nodes,
builder pods that behave like the DaemonSet's, and `down` that leaves nothing behind."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from binderfix.sandbox import netns
from tests.conftest import BINDERFIX, KUBECTL, RunningSandbox, run, start_sandbox

pytestmark = pytest.mark.sandbox


def _table(text: str) -> list[dict[str, str]]:
    """Split kubectl's table by its header's column offsets (headers may hold spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    # "NOMINATED NODE" and "READINESS GATES" are two words with one space: merge them back.
    starts = [s for s in starts if s == 0 or header[s - 2] == " "]
    names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None], strict=False)]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, starts[1:] + [None], strict=False)}
        for line in lines[1:]
    ]


def test_kubectl_get_pod_wide_shows_builders_on_their_nodes(shared_sandbox: RunningSandbox) -> None:
    shared_sandbox.wait_builders()
    rows = _table(shared_sandbox.kubectl("get", "pod", "-o", "wide").stdout)
    builders = {r["NODE"]: r for r in rows if r["NAME"].startswith("prod-dind-")}
    assert sorted(builders) == ["node-1", "node-2", "node-3"]
    assert all(len(r["NAME"]) == len("prod-dind-") + 5 for r in builders.values())
    assert builders["node-2"]["STATUS"] == "CrashLoopBackOff"
    assert builders["node-2"]["READY"] == "0/1"
    assert builders["node-1"]["STATUS"] == "Running" and builders["node-1"]["READY"] == "1/1"
    assert {"hub", "proxy", "binder"} <= {r["NAME"].split("-")[0] for r in rows}
    assert "NOMINATED NODE" in rows[0] and "READINESS GATES" in rows[0]


def test_crashloop_restart_count_grows(shared_sandbox: RunningSandbox) -> None:
    first = shared_sandbox.builder_pods()["node-2"].restarts
    deadline = time.monotonic() + 15  # the back-off grows to 4 s between restarts
    while time.monotonic() < deadline and shared_sandbox.builder_pods()["node-2"].restarts <= first:
        time.sleep(0.2)
    pod = shared_sandbox.builder_pods()["node-2"]
    assert pod.reason == "CrashLoopBackOff" and not pod.ready
    assert pod.restarts > first


def test_label_selectors_are_served(shared_sandbox: RunningSandbox) -> None:
    names = shared_sandbox.kubectl(
        "get", "pod", "-l", "app=binder,component=image-builder", "-o", "name"
    )
    assert len(names.stdout.split()) == 3
    legacy = shared_sandbox.kubectl("get", "pod", "-l", "component=dind", "-o", "name").stdout
    assert legacy.strip() == ""
    on_node = shared_sandbox.kubectl(
        "get", "pod", "--field-selector", "spec.nodeName=node-3", "-o", "json"
    )
    assert {p["spec"]["nodeName"] for p in json.loads(on_node.stdout)["items"]} == {"node-3"}


def test_kubectl_get_nodes_wide_shows_internal_ips(shared_sandbox: RunningSandbox) -> None:
    rows = _table(shared_sandbox.kubectl("get", "nodes", "-o", "wide").stdout)
    state = shared_sandbox.box.load()
    assert {r["NAME"]: r["INTERNAL-IP"] for r in rows} == {h.name: h.ip for h in state.nodes}
    assert all(r["STATUS"] == "Ready" for r in rows)


def test_kubectl_logs_by_selector_reads_ingress_access_logs(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.kubectl("logs", "-l", "component=controller", "--tail=-1").stdout
    build_lines = [line for line in out.splitlines() if "/build/" in line]
    assert len(build_lines) > 100
    assert all('"GET /build/' in line for line in build_lines)


def test_ssh_runs_commands_with_arguments_intact_and_returns_status(
    shared_sandbox: RunningSandbox,
) -> None:
    out = shared_sandbox.ssh("node-1", "printf", "%s|", "a b", "c", "$HOME")
    assert out.returncode == 0 and out.stdout == "a b|c|$HOME|"
    assert shared_sandbox.ssh("node-1", "sh", "-c", "true && exit 7").returncode == 7
    assert shared_sandbox.ssh("node-3", "hostname").stdout.strip() == "node-3"


def test_ssh_commands_start_with_a_nodes_shell_not_this_machines(
    shared_sandbox: RunningSandbox,
) -> None:
    # sshd runs each command through bash, which sources ~/.bashrc: a node has Debian's
    # default there, not this machine's (which here runs pyenv: 0.1 s a command, and errors).
    if not (Path(pwd.getpwuid(0).pw_dir) / ".bashrc").is_file():
        pytest.skip("root on this machine has no ~/.bashrc for a node to hide")
    out = shared_sandbox.ssh("node-1", "sh", "-c", "cat ~/.bashrc")
    skel = Path("/etc/skel/.bashrc")
    assert out.stdout == (skel.read_text() if skel.is_file() else "")
    assert shared_sandbox.ssh("node-1", "true").stderr == ""


def test_ssh_to_unknown_node_lists_the_nodes(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.ssh("node-9", "true")
    assert out.returncode == 2
    assert "node-1, node-2, node-3" in out.stderr and "Traceback" not in out.stderr


def test_nodes_are_isolated_from_each_other_and_the_host(shared_sandbox: RunningSandbox) -> None:
    marker = "/var/run/binderfix-isolation-test"
    assert shared_sandbox.ssh("node-1", "touch", marker).returncode == 0
    assert shared_sandbox.ssh("node-1", "test", "-e", marker).returncode == 0
    assert shared_sandbox.ssh("node-3", "test", "-e", marker).returncode == 1
    assert not os.path.exists(marker)
    # The broken node's directory lives only in that node's /var/run.
    assert shared_sandbox.ssh("node-2", "test", "-d", "/var/run/dind/docker.sock").returncode == 0
    assert (
        not os.path.exists("/var/run/dind/docker.sock") or os.path.isdir("/var/run/dind") is False
    )


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def test_api_server_keeps_no_record_of_answered_requests(shared_sandbox: RunningSandbox) -> None:
    # A real API server's cost per request stays flat for weeks; kmock keeps every request
    # for a test's assertions and matched each new one against them all, so a long-lived
    # sandbox (a watcher's soak, a benchmark) slowed and grew with every request.
    from binderfix.kube.client import connect

    env = shared_sandbox.env
    cluster = connect(kubeconfig=env["KUBECONFIG"], namespace=env["BINDERFIX_NAMESPACE"])
    pid = shared_sandbox.box.load().apiserver_pid
    pods = "/api/v1/namespaces/prod/pods"
    for _ in range(300):  # warm: caches, pools, allocator arenas
        cluster.api.get_json(pods, timeout=10)
    before = _rss_kib(pid)
    for _ in range(3000):
        cluster.api.get_json(pods, timeout=10)
    assert _rss_kib(pid) - before < 4096, "the API server grew by more than 4 MiB"


def test_a_created_pod_gets_what_the_api_server_sets(shared_sandbox: RunningSandbox) -> None:
    # A real API server sets the namespace, a uid and the creation time on what a client
    # creates, and a new pod is Pending. Without them, `kubectl delete pod -A -l ...` of a
    # pod binderfix made failed: "an empty namespace may not be set when a resource name
    # is provided".
    import uuid

    from kubernetes.client.exceptions import ApiException

    from binderfix.kube.client import connect

    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "made-by-a-client", "labels": {"made": "by-a-client"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        "status": {"phase": "Running"},  # the server keeps none of a client's status
    }
    box = shared_sandbox
    # --validate=false: the sandbox serves no OpenAPI document for kubectl to validate with.
    box.kubectl("create", "--validate=false", "-n", "prod", "-f", "-", input=json.dumps(manifest))
    made = json.loads(
        box.kubectl("get", "pod", "-n", "prod", "made-by-a-client", "-o", "json").stdout
    )
    assert made["metadata"]["namespace"] == "prod"
    assert uuid.UUID(made["metadata"]["uid"]) and made["metadata"]["creationTimestamp"]
    assert made["status"]["phase"] == "Pending"
    gone = box.kubectl("delete", "pod", "-A", "-l", "made=by-a-client", check=False)
    assert gone.returncode == 0 and 'pod "made-by-a-client" deleted' in gone.stdout, gone.stderr

    env = box.env
    cluster = connect(kubeconfig=env["KUBECONFIG"], namespace="prod")
    elsewhere = {**manifest, "metadata": {**manifest["metadata"], "namespace": "default"}}
    with pytest.raises(ApiException) as refused:
        cluster.api.send_json("POST", "/api/v1/namespaces/prod/pods", elsewhere)
    assert refused.value.status == 400
    assert "does not match the namespace sent on the request" in str(refused.value.body)


def test_up_refuses_a_directory_whose_sandbox_runs(shared_sandbox: RunningSandbox) -> None:
    out = run(BINDERFIX, "sandbox", "up", "--dir", str(shared_sandbox.dir))
    assert out.returncode == 2
    assert "already running" in out.stderr and "Traceback" not in out.stderr


def test_status_json_reports_socket_states(shared_sandbox: RunningSandbox) -> None:
    out = shared_sandbox.binderfix(
        "sandbox", "status", "--dir", str(shared_sandbox.dir), "--json", check=True
    )
    info = json.loads(out.stdout)
    states = {n["name"]: n["socket_path"] for n in info["nodes"]}
    assert states == {"node-1": "socket", "node-2": "directory (empty)", "node-3": "socket"}


def test_deleted_builder_pod_is_recreated_on_the_same_node(sandbox: RunningSandbox) -> None:
    pods = sandbox.wait_builders()
    old = pods["node-1"].name
    sandbox.kubectl("delete", "pod", old)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = sandbox.builder_pods().get("node-1")
        if new and new.name != old and new.healthy:
            break
        time.sleep(0.2)
    assert new is not None and new.name != old and new.healthy and new.node == "node-1"
    assert sandbox.ssh("node-1", "test", "-S", "/var/run/dind/docker.sock").returncode == 0
    # The stand-in daemon answers Docker's ping on the new socket.
    ping = sandbox.ssh(
        "node-1",
        "python3",
        "-c",
        "import socket;s=socket.socket(socket.AF_UNIX);"
        "s.connect('/var/run/dind/docker.sock');s.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n');"
        "print(b''.join(iter(lambda: s.recv(4096), b'')).decode().split()[-1])",
    )
    assert ping.stdout.strip() == "OK"


def test_deleting_a_pod_ends_the_exec_sessions_in_it(sandbox: RunningSandbox) -> None:
    # As a container runtime does: a pod's containers stop, and `kubectl exec` into them
    # ends at once with the killed process's status, not when its command would have.
    sandbox.wait_builders()
    pod = sandbox.builder_pods()["node-1"].name
    session = subprocess.Popen(
        [KUBECTL, "exec", pod, "--", "sleep", "60"],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)  # the session is running
    assert session.poll() is None
    sandbox.kubectl("delete", "pod", pod, "--wait=false")
    _, err = session.communicate(timeout=15)
    assert session.returncode == 137, err
    assert "exit code 137" in err


def test_up_wait_returns_once_the_builders_have_settled(tmp_path: Path) -> None:
    """The runbook's step 1 right after `up --wait`: the broken node's builder crash-loops,
    the others are Running and Ready, with no waiting of the caller's own."""
    directory = tmp_path / "sb"
    up = run(BINDERFIX, "sandbox", "up", "--dir", str(directory), "--broken-nodes", "1", "--wait")
    try:
        assert up.returncode == 0, up.stderr
        assert "builder pods settled (2 Ready, 1 crash-looping)" in up.stderr
        rows = _table(RunningSandbox(directory).kubectl("get", "pod", "-o", "wide").stdout)
        builders = {r["NODE"]: (r["STATUS"], r["READY"]) for r in rows if "-dind-" in r["NAME"]}
        assert builders == {
            "node-1": ("Running", "1/1"),
            "node-2": ("CrashLoopBackOff", "0/1"),
            "node-3": ("Running", "1/1"),
        }
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(directory))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--nodes", "0"], "--nodes must be between 1 and 240, not 0"),
        (["--nodes", "3", "--broken-nodes", "4"], "--broken-nodes must be between 0 and --nodes"),
        (["--dir", "{file}/sb"], "cannot be made: {file} is not a directory"),
    ],
    ids=["no-nodes", "more-broken-than-nodes", "dir-under-a-file"],
)
def test_up_checks_its_arguments_before_announcing_anything(
    tmp_path: Path, args: list[str], error: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    args = [a.format(file=a_file) for a in args]
    if "--dir" not in args:
        args += ["--dir", str(tmp_path / "sb")]
    out = run(BINDERFIX, "sandbox", "up", *args)
    assert out.returncode == 2
    first = out.stderr.splitlines()[0]
    assert first.startswith("binderfix: error: ") and error.format(file=a_file) in first
    assert "starting" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "sb").exists()


def test_legacy_labels_option(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "legacy", nodes=1, broken=0, labels="legacy")
    try:
        names = box.kubectl("get", "pod", "-l", "component=dind", "-o", "name").stdout.split()
        assert len(names) == 1 and names[0].startswith("pod/prod-dind-")
    finally:
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))


def _processes_mentioning(directory: Path) -> list[str]:
    """Every process whose command line (or rewritten title, as sshd's) names the directory."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(directory.resolve()) in cmdline and "pytest" not in cmdline.split(" ")[0]:
                found.append(cmdline)
    return found


def _sandbox_namespaces(index: int) -> set[tuple[int, int]]:
    """The identities of a sandbox's network namespaces, read while they exist."""
    found = set()
    for name in netns.list_netns(f"bfx{index}-"):
        st = os.stat(f"/run/netns/{name}")
        found.add((st.st_dev, st.st_ino))
    return found


def _processes_inside(directory: Path, namespaces: set[tuple[int, int]]) -> list[str]:
    """Every live process in one of these (now deleted) network namespaces, or with a file
    under the directory open: read from /proc, not from what the sandbox recorded."""
    named_now = {
        (st.st_dev, st.st_ino) for st in (os.stat(f"/run/netns/{n}") for n in netns.list_netns(""))
    }
    inside = str(directory.resolve()) + "/"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            files = [
                os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")
            ]
        except OSError:  # gone, or a zombie (no namespaces, no files: nothing held)
            continue
        # A namespace id can be reused by a namespace made since; one that has a name is not ours.
        ns = (st.st_dev, st.st_ino)
        if (ns in namespaces and ns not in named_now) or any(f.startswith(inside) for f in files):
            found.append(f"{entry}: {title}")
    return found


def _leftovers(directory: Path, index: int, namespaces: set | None = None) -> dict[str, list]:
    return {
        "processes": _processes_mentioning(directory)
        + _processes_inside(directory, namespaces or set()),
        "netns": netns.list_netns(f"bfx{index}-"),
        "links": [
            n
            for n in netns.list_links(f"bfx{index}")
            if n == f"bfx{index}" or n.startswith(f"bfx{index}h")
        ],
    }


def test_down_stops_everything_and_is_idempotent(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sb", nodes=2, broken=1)
    index = box.box.load().index
    namespaces = _sandbox_namespaces(index)
    assert all(_leftovers(box.dir, index).values())
    first = run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
    assert first.returncode == 0
    assert _leftovers(box.dir, index, namespaces) == {"processes": [], "netns": [], "links": []}
    again = run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
    assert again.returncode == 0 and "nothing to stop" in again.stderr


def test_down_cleans_up_after_a_crashed_up(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sb", nodes=2, broken=0)
    state = box.box.load()
    os.kill(state.apiserver_pid, signal.SIGKILL)  # the API (and with it the kubelet) dies hard
    time.sleep(0.2)
    status = run(BINDERFIX, "sandbox", "status", "--dir", str(box.dir))
    assert status.returncode == 2 and "Traceback" not in status.stderr
    assert (
        f"API server of the sandbox in {box.dir} is not answering (pid {state.apiserver_pid} dead)"
        in status.stderr
    )
    assert "no sandbox is running" not in status.stderr
    refused = run(BINDERFIX, "sandbox", "up", "--dir", str(box.dir))
    assert refused.returncode == 2 and "sandbox down" in refused.stderr
    assert run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir)).returncode == 0
    assert _leftovers(box.dir, state.index) == {"processes": [], "netns": [], "links": []}


@pytest.mark.parametrize("before", ["nothing", "a crash", "an older down"])
def test_down_ends_ssh_sessions_a_client_holds_open(tmp_path: Path, before: str) -> None:
    """Ansible and many SSH configs keep connections open (ControlPersist): the node's
    per-connection sshd (`sshd: root@notty`, no marker in its title) must not outlive it,
    nor survive for good a crash or a `down` that missed it."""
    box = start_sandbox(tmp_path / "sb", nodes=1, broken=0)
    state = box.box.load()
    namespaces = _sandbox_namespaces(state.index)
    ssh = [
        "ssh",
        "-F",
        str(box.box.ssh_config),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={tmp_path}/cm-%h",
        "-o",
        "ControlPersist=60",
    ]
    try:
        assert run(*ssh, "node-1", "true").returncode == 0
        node = str(state.host("node-1").pid)
        sessions = [p for p in _processes_inside(box.dir, namespaces) if p.split(":")[0] != node]
        assert any("sshd: root@notty" in p for p in sessions), sessions
        if before != "nothing":  # everything the state file knows dies hard
            for pid in (state.apiserver_pid, *(h.pid for h in state.hosts)):
                os.kill(pid, signal.SIGKILL)
        if before == "an older down":  # which removed the namespaces, links and state file
            links = [*(h.veth for h in state.hosts), state.bridge]
            netns.ip_batch(
                [f"netns del {h.netns}" for h in state.hosts] + [f"link del {n}" for n in links],
                force=True,  # a namespace's veth goes with it, unless a process holds it
            )
            (box.dir / "state.json").unlink()
        down = run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))
        assert down.returncode == 0 and "is down" in down.stderr
        assert _leftovers(box.dir, state.index, namespaces) == {
            "processes": [],
            "netns": [],
            "links": [],
        }
    finally:
        run(*ssh, "-O", "exit", "node-1")
        run(BINDERFIX, "sandbox", "down", "--dir", str(box.dir))  # a failed test leaves nothing


UP_STEPS = [
    "starting a sandbox",  # arguments checked, nothing made yet
    "keys and config: done",  # making the network
    "network: bridge",  # starting sshd and the pods
    "node sshd and control-plane pods: done",  # breaking a node, starting the API
    "kubernetes API and the builder DaemonSet: done",  # --wait: the builders settling
]


@pytest.mark.parametrize("step", UP_STEPS)
def test_interrupted_up_stops_what_it_started(tmp_path: Path, step: str) -> None:
    """Ctrl-C once `up` says it has reached a step (not after a guessed delay, which a
    loaded machine turns into a signal before Python listens for it, or after up ended)."""
    directory = tmp_path / "sb"
    proc = subprocess.Popen(
        [BINDERFIX, "sandbox", "up", "--dir", str(directory), "--nodes", "3"]
        + ["--broken-nodes", "1", "--wait"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    while not any(step in line for line in seen):
        line = proc.stderr.readline()
        assert line, f"up ended before {step!r}: {seen}"
        seen.append(line)
    saved = directory / "state.json"
    state = json.loads(saved.read_text()) if saved.exists() else None
    namespaces = _sandbox_namespaces(state["index"]) if state else set()
    proc.send_signal(signal.SIGINT)
    err = "".join(seen) + proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    said = [line for line in err.splitlines() if not line.startswith(("  ", "starting "))]
    assert said == ["binderfix: interrupted: sandbox up stopped what it had started"], err
    assert not (directory / "state.json").exists()
    if state:
        assert _leftovers(directory, state["index"], namespaces) == {
            "processes": [],
            "netns": [],
            "links": [],
        }
    assert _processes_mentioning(directory) == []


def test_not_root_gets_a_clear_error(tmp_path: Path) -> None:
    out = run(
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        BINDERFIX,
        "sandbox",
        "up",
        "--dir",
        str(tmp_path / "sb"),
    )
    assert out.returncode == 2
    assert "needs root" in out.stderr and "Traceback" not in out.stderr
