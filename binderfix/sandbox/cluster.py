"""Bring a sandbox BinderHub cluster up, describe it, and take it down again.

The state file (``<dir>/state.json``) is written before each resource is created, so
that ``down`` can undo a crashed or interrupted ``up``: it stops what was started (by pid,
checked against the sandbox marker) and removes every namespace and interface named after
the sandbox's index.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from binderfix.errors import BinderfixError
from binderfix.sandbox import files, netns, preflight
from binderfix.sandbox.state import (
    BUILDER_SELECTOR,
    CONTROL_HOSTS,
    MAX_NODES,
    NODE_OCTET,
    NODE_SOCKET_PATH,
    SOCKET_PATH,
    WAIT_TIMEOUT,
    Host,
    State,
    load_state,
    save_state,
)

Progress = Callable[[str], None]


class Sandbox:
    """One sandbox cluster, living in a directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory).resolve()

    # -- files ------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def restricted_kubeconfig(self) -> Path:
        return self.dir / "kubeconfig-restricted"

    @property
    def ssh_key(self) -> Path:
        return self.dir / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "ssh" / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh" / "config"

    @property
    def marker(self) -> str:
        return str(self.dir)

    def load(self) -> State | None:
        return load_state(self.state_file)

    def save(self, state: State) -> None:
        save_state(self.state_file, state)

    def secret(self, name: str) -> str:
        """A secret of the sandbox (API token, proxy token), kept in a 0600 file."""
        return (self.dir / "secrets" / name).read_text().strip()

    def running(self) -> bool:
        state = self.load()
        return bool(
            state and state.apiserver_pid and netns.pid_alive(state.apiserver_pid, self.marker)
        )

    def restart_api(self, down: float = 2.0) -> None:
        """Restart the Kubernetes API, as a control-plane upgrade does: every watch drops,
        connections are refused for ``down`` seconds, then it answers again on the same
        port with a fresh watch cache (older resourceVersions are 410 Expired)."""
        state = self.load()
        if not (
            state and state.apiserver_pid and netns.pid_alive(state.apiserver_pid, self.marker)
        ):
            raise BinderfixError(f"the sandbox in {self.dir} is not running")
        (self.dir / "api-restart.json").write_text(json.dumps({"down": down}))
        os.kill(state.apiserver_pid, signal.SIGUSR1)

    # -- up ---------------------------------------------------------------------------------

    def up(
        self,
        nodes: int = 3,
        broken: int = 0,
        labels: str = "current",
        progress: Progress | None = None,
        rbac: str | None = None,
        missing_images: tuple[str, ...] = (),
        wait: bool = False,
        init_container: bool = False,
    ) -> State:
        """Start the cluster. Anything started is stopped again if ``up`` fails or is interrupted.

        Everything that can be checked is checked before anything is announced or made.
        ``missing_images``: image names no node can pull (for the image-pull failure path).
        ``rbac``: a manifest (like deploys/rbac.yaml) whose rules bind a second, restricted
        token, in ``kubeconfig-restricted``. ``wait``: return only once the builder pods have
        settled, Ready on healthy nodes and crash-looping on broken ones, as step 1 of the
        runbook expects to find them.
        """
        say = progress or (lambda _msg: None)
        manifest = self._check_up(nodes, broken, labels, rbac)
        say(f"starting a sandbox with {nodes} nodes ({broken} broken) in {self.dir}")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            state = State(
                dir=str(self.dir),
                index=0,
                labels=labels,
                started=time.time(),
                missing_images=list(missing_images),
                init_container=init_container,
            )
            self.save(state)  # first, so that down can always find what was made
            with _ctrl_c_deferred():  # the bridge made is recorded, or none is made
                state.index = _claim_index()
                self.save(state)
            with _step(say, "keys and config"):
                files.write_keys(self.dir)
                if manifest is not None:
                    (self.dir / "rbac.yaml").write_text(manifest)
            with _step(
                say, f"network: bridge {state.bridge}, {nodes} nodes, {len(CONTROL_HOSTS)} pods"
            ):
                self._make_network(state, nodes, broken)
            with _step(say, "node sshd and control-plane pods"):
                self._start_hosts(state)
                _wait_all(
                    [(h.ip, 22) for h in state.nodes]
                    + [
                        (h.ip, 80 if h.role != "hub" else 8081)
                        for h in state.hosts
                        if h.role != "node"
                    ],
                    timeout=30,
                )
            with _step(say, f"break {broken} node(s): a directory at {SOCKET_PATH}"):
                for h in state.nodes:
                    if h.broken:
                        node_exec(h.pid, ["mkdir", "-p", NODE_SOCKET_PATH])
            with _step(say, "kubernetes API and the builder DaemonSet"):
                self._start_apiserver(state)
            if wait:
                with _step(
                    say, f"builder pods settled ({nodes - broken} Ready, {broken} crash-looping)"
                ):
                    self._wait_builders(state, timeout=WAIT_TIMEOUT)
            return state
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):  # Ctrl-C: the command says it in one line
                say("up failed: stopping what was started")
            with _ctrl_c_deferred():  # a second Ctrl-C must not leave half a sandbox behind
                self.down()
            if isinstance(exc, OSError):
                raise BinderfixError(f"sandbox up failed: {exc}") from None
            raise

    def _check_up(self, nodes: int, broken: int, labels: str, rbac: str | None) -> str | None:
        """Refuse bad arguments, a busy directory and a machine that cannot run a sandbox;
        the RBAC manifest's text when there is one."""
        if not 1 <= nodes <= MAX_NODES:
            raise BinderfixError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
        if not 0 <= broken <= nodes:
            raise BinderfixError(
                f"--broken-nodes must be between 0 and --nodes ({nodes}), not {broken}"
            )
        if labels not in ("current", "legacy"):
            raise BinderfixError(
                f"unknown label generation {labels!r}", hint="use current or legacy"
            )
        manifest = None
        if rbac is not None:
            from binderfix.sandbox.rbac import rules_from_manifest

            try:
                manifest = Path(rbac).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not text"
                raise BinderfixError(f"cannot read --rbac {rbac}: {reason}") from None
            rules_from_manifest(manifest)  # refuse a bad manifest before anything starts
        preflight.preflight()
        preflight.check_dir(self.dir)
        if self.load() is not None:
            if self.running():
                raise BinderfixError(
                    f"a sandbox is already running in {self.dir}",
                    hint=f"use it, or stop it first: binderfix sandbox down --dir {self.dir}",
                )
            raise BinderfixError(
                f"{self.dir} holds the remains of a sandbox that did not stop cleanly",
                hint=f"clean it up first: binderfix sandbox down --dir {self.dir}",
            )
        return manifest

    def _wait_builders(self, state: State, timeout: float) -> None:
        """Until every healthy node's builder pod is Running and Ready and every broken
        node's is in CrashLoopBackOff, read through the API as kubectl would."""
        from binderfix.kube.builders import list_builder_pods
        from binderfix.kube.client import connect

        cluster = connect(kubeconfig=str(self.kubeconfig), namespace=state.namespace)
        selector = "component=dind" if state.labels == "legacy" else BUILDER_SELECTOR
        deadline = time.monotonic() + timeout
        while True:
            pods = list_builder_pods(cluster, [selector])
            waiting = builders_unsettled(state, {p.node: (p.healthy, p.reason) for p in pods})
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise BinderfixError(
                    f"the builder pods did not settle within {timeout:.0f}s: " + ", ".join(waiting),
                    hint=f"see {self.dir / 'logs' / 'apiserver.log'}",
                )
            time.sleep(0.1)

    def _make_network(self, state: State, nodes: int, broken: int) -> None:
        k = state.index
        broken_at = _spread(broken, nodes)
        for role, octet in CONTROL_HOSTS:
            state.hosts.append(
                Host(
                    name=role,
                    role=role,
                    ip=f"{state.subnet}.{octet}",
                    netns=f"bfx{k}-{role}",
                    veth=f"bfx{k}h{octet}",
                )
            )
        for i in range(nodes):
            octet = NODE_OCTET + i
            state.hosts.append(
                Host(
                    name=f"node-{i + 1}",
                    role="node",
                    ip=f"{state.subnet}.{octet}",
                    netns=f"bfx{k}-node-{i + 1}",
                    veth=f"bfx{k}h{octet}",
                    broken=i in broken_at,
                )
            )
        self.save(state)
        batch = [  # the bridge itself was made when the index was claimed
            f"addr add {state.subnet}.1/24 dev {state.bridge}",
            f"link set {state.bridge} up",
        ]
        for h in state.hosts:
            batch += [
                f"netns add {h.netns}",
                f"link add {h.veth} type veth peer name eth0 netns {h.netns}",
                f"link set {h.veth} master {state.bridge} up",
            ]
        netns.ip_batch(batch)
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda h: subprocess.run(
                        ["ip", "-n", h.netns, "-batch", "-"],
                        check=True,
                        capture_output=True,
                        text=True,
                        input=f"addr add {h.ip}/24 dev eth0\nlink set eth0 up\nlink set lo up\n"
                        f"route add default via {state.subnet}.1\n",
                    ),
                    state.hosts,
                )
            )
        (self.dir / "hosts").write_text(files.hosts_file(state))
        # The host's nameserver is out of the namespaces' reach: a name that is not in the
        # hosts file must fail at once (as NXDOMAIN from cluster DNS would), not time out.
        (self.dir / "resolv.conf").write_text(
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
        )

    def _start_hosts(self, state: State) -> None:
        py = sys.executable
        proxy_token = self.secret("configproxy-auth-token")
        for h in state.hosts:
            init = [
                "ip",
                "netns",
                "exec",
                h.netns,
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--",
                py,
                "-m",
                "binderfix.sandbox.nodeinit",
                "--sandbox",
                self.marker,
                "--hostname",
                h.name,
                "--hosts-file",
                str(self.dir / "hosts"),
                "--resolv-file",
                str(self.dir / "resolv.conf"),
                "--",
            ]
            if h.role == "node":
                cmd = [
                    *init,
                    "/usr/sbin/sshd",
                    "-D",
                    "-e",
                    "-f",
                    str(self.dir / "ssh" / "sshd_config"),
                    "-o",
                    f"ListenAddress={h.ip}",
                ]
                env = _clean_env()
            else:
                cmd = [
                    *init,
                    py,
                    "-m",
                    "binderfix.sandbox.services",
                    "--sandbox",
                    self.marker,
                    "--role",
                    h.role,
                    "--token-file",
                    str(self.dir / "secrets" / "proxy-expects"),
                    # The binder counts the traffic the ingress pods log (kubelet.py).
                    *(["--traffic-end", repr(state.started)] if h.role == "binder" else []),
                ]
                env = _clean_env()
                if h.role in ("hub", "proxy"):
                    env["CONFIGPROXY_AUTH_TOKEN"] = proxy_token
            log = open(self.dir / "logs" / f"{h.name}.log", "ab")  # noqa: SIM115 (the child keeps it)
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
            log.close()
            h.pid = proc.pid
            self.save(state)
        files.write_ssh_client_files(self.dir, state)

    def _start_apiserver(self, state: State) -> None:
        port_file = self.dir / "apiserver.json"
        port_file.unlink(missing_ok=True)
        log = open(self.dir / "logs" / "apiserver.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            [sys.executable, "-m", "binderfix.sandbox.apiserver", "--sandbox", self.marker],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_clean_env(),
        )
        log.close()
        state.apiserver_pid = proc.pid
        self.save(state)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.dir / "logs" / "apiserver.log").read_text()[-2000:]
                raise BinderfixError(f"the sandbox's Kubernetes API did not start:\n{tail}")
            time.sleep(0.05)
        state.apiserver_port = json.loads(port_file.read_text())["port"]
        self.save(state)
        files.write_kubeconfig(self.dir, state, self.kubeconfig, "admin", "api-token")
        if (self.dir / "rbac.yaml").exists():
            files.write_kubeconfig(
                self.dir, state, self.restricted_kubeconfig, "binderfix", "restricted-token"
            )

    # -- down -------------------------------------------------------------------------------

    def down(self, progress: Progress | None = None) -> bool:
        """Stop every process of the sandbox and remove its namespaces and interfaces.

        Its processes are those in its namespaces (sshd's per-connection children and what
        clients ran on the nodes included), those carrying its marker, and those writing to
        its logs (survivors of an earlier crash whose namespaces are gone).
        Idempotent: returns False when there was nothing to stop.
        """
        say = progress or (lambda _msg: None)
        state = self.load()
        names: list[str] = []
        recorded: list[int] = []
        if state is not None:
            names = netns.list_netns(f"bfx{state.index}-")
            recorded = [
                p
                for p in (state.apiserver_pid, *(h.pid for h in state.hosts))
                if p and netns.pid_alive(p, self.marker)
            ]
        namespaces = netns.namespaces_of(names, recorded)
        found = netns.sandbox_pids(self.marker, namespaces)
        if state is None and not found:
            return False
        with _step(say, "stop processes"):
            # A second look finds what was forked meanwhile (a connection accepted, a builder
            # restarted), while the namespaces still exist to be recognised by.
            for _round in range(3):
                if not found:
                    break
                netns.stop(found, lambda pid: netns.belongs(pid, self.marker, namespaces))
                found = netns.sandbox_pids(self.marker, namespaces)
        if state is not None:
            with _step(say, "remove namespaces and interfaces"):
                prefix = f"bfx{state.index}"
                # Deleting a namespace takes its veth pair with it; the bridge and strays are left.
                netns.ip_batch([f"netns del {n}" for n in names], force=True)
                links = [
                    n for n in netns.list_links(prefix) if n == prefix or n.startswith(prefix + "h")
                ]
                netns.ip_batch([f"link del {n}" for n in links], force=True)
        for name in (
            "state.json",
            "apiserver.json",
            "kubeconfig",
            "kubeconfig-restricted",
            "rbac.yaml",
        ):
            (self.dir / name).unlink(missing_ok=True)
        return True

    # -- using it ---------------------------------------------------------------------------

    def require(self) -> State:
        """The state of the running sandbox, or an error that says what is wrong with it."""
        state = self.load()
        if state is None:
            raise BinderfixError(
                f"no sandbox is running in {self.dir}",
                hint=f"start one: binderfix sandbox up --dir {self.dir}",
            )
        pid = state.apiserver_pid
        if pid and netns.pid_alive(pid, self.marker):
            return state
        down = f"binderfix sandbox down --dir {self.dir}"
        living = [h for h in state.hosts if h.pid and netns.pid_alive(h.pid, self.marker)]
        if not living:
            raise BinderfixError(
                f"no sandbox is running in {self.dir}, only the remains of one that did not "
                "stop cleanly",
                hint=f"clean them up: {down}",
            )
        what = f"pid {pid} dead" if pid else "it never started"
        raise BinderfixError(
            f"the API server of the sandbox in {self.dir} is not answering ({what}), while "
            f"{len(living)} of its {len(state.hosts)} nodes and pods still run",
            hint=f"its log: {self.dir / 'logs' / 'apiserver.log'}; start afresh: {down}, "
            f"then binderfix sandbox up --dir {self.dir}",
        )

    def env(self, restricted: bool = False) -> dict[str, str]:
        """What points kubectl, the kubernetes client and binderfix's inventory at the sandbox."""
        state = self.require()
        by_role = {h.role: h for h in state.hosts}
        return {
            "KUBECONFIG": str(self.restricted_kubeconfig if restricted else self.kubeconfig),
            "BINDERFIX_NAMESPACE": state.namespace,
            "BINDERFIX_SSH_USER": "root",
            "BINDERFIX_SSH_KEY": str(self.ssh_key),
            "BINDERFIX_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "BINDERFIX_SSH_CONFIG": str(self.ssh_config),
            "BINDERFIX_SSH_ADDRESS": "InternalIP",
            "BINDERFIX_INTERNET_URL": f"http://{by_role['internet'].ip}/",
        }

    def ssh_command(self, node: str, argv: list[str]) -> list[str]:
        """The ssh command line that runs ``argv`` on a node, its arguments kept intact."""
        host = self.require().host(node)
        if host.role != "node":
            raise BinderfixError(f"{node!r} is a pod, not a node")
        import shlex

        return [
            "ssh",
            "-i",
            str(self.ssh_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            f"root@{host.ip}",
            "--",
            shlex.join(argv) if argv else "true",
        ]

    def socket_state(self, host: Host) -> str:
        """What the node holds at the socket path, in the words of binderfix's own fact
        (``socket``, ``absent``, ``directory (empty)``, ...), read from the machine."""
        from binderfix.dind.facts import SocketPathState

        fact = SocketPathState()
        script = fact.command(SOCKET_PATH)
        proc = node_exec(host.pid, ["sh", "-c", script], check=False)
        if proc.returncode != 0 and not proc.stdout:
            return f"unknown ({proc.stderr.strip()})"
        state = fact.process(proc.stdout.splitlines())
        return "absent" if state is None else state.describe()

    def set_proxy_token(self, token: str | None) -> None:
        """Make the proxy API expect another token than the hub holds (None: the right one)."""
        secrets_dir = self.dir / "secrets"
        value = token if token is not None else self.secret("configproxy-auth-token")
        (secrets_dir / "proxy-expects").write_text(value)

    def stop_service(self, role: str) -> None:
        """Stop a control-plane pod's server (to see what netcheck says of a dead service)."""
        host = self.require().host(role)
        netns.stop_pids([host.pid], self.marker)


def node_exec(
    pid: int, argv: list[str], check: bool = True, **kwargs
) -> subprocess.CompletedProcess[str]:
    """Run a command in a node's (or pod's) namespaces, from the host, without SSH."""
    if not netns.isolated(pid):  # entering a recycled pid's namespaces would act on the host
        proc = subprocess.CompletedProcess(argv, 1, "", f"the node's process {pid} is gone")
    else:
        proc = subprocess.run(netns.enter(pid, argv), capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise BinderfixError(
            f"command on sandbox host failed: {' '.join(argv)}: {proc.stderr.strip()}"
        )
    return proc


def builders_unsettled(state: State, pods: dict[str, tuple[bool, str]]) -> list[str]:
    """The nodes whose builder pod is not yet as ``sandbox up --wait`` promises, each with
    what it is waiting for. ``pods``: node name -> (healthy, status reason)."""
    waiting = []
    for h in state.nodes:
        healthy, reason = pods.get(h.name, (False, "no pod"))
        if h.broken and reason != "CrashLoopBackOff":
            waiting.append(f"{h.name} (broken): {reason or 'not crash-looping yet'}")
        elif not h.broken and not healthy:
            waiting.append(f"{h.name}: {reason or 'not Ready yet'}")
    return waiting


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """SIGINT held pending for the duration (a Ctrl-C lands as KeyboardInterrupt after it)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _claim_index() -> int:
    """A sandbox index of its own: making the bridge ``bfx<k>`` is the claim, which two
    ``up``s at once cannot both win (reading which indexes are free, then making the
    bridge later, let two sandboxes share one and tear down each other's namespaces)."""
    used = netns.used_indexes()
    for k in range(1, 250):
        if k not in used and netns.make_bridge(f"bfx{k}"):
            return k
    raise BinderfixError(
        "no free sandbox index: 249 sandboxes exist on this machine",
        hint="take some down: binderfix sandbox down --dir DIR",
    )


def _spread(count: int, total: int) -> set[int]:
    """Which of ``total`` nodes get broken: ``count`` of them, spread evenly (node-2 of 3)."""
    return {int((j + 0.5) * total / count) for j in range(count)} if count else set()


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def _wait_all(addresses: list[tuple[str, int]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(addresses)
    while pending:
        still = []
        for addr in pending:
            try:
                with socket.create_connection(addr, timeout=0.5):
                    pass
            except OSError:
                still.append(addr)
        pending = still
        if pending and time.monotonic() > deadline:
            where = ", ".join(f"{h}:{p}" for h, p in pending)
            raise BinderfixError(
                f"sandbox hosts did not start listening within {timeout:.0f}s: {where}"
            )
        if pending:
            time.sleep(0.05)


@contextmanager
def _step(say: Progress, what: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    say(f"  {what}: done in {time.monotonic() - start:.2f}s")
