"""The kubelet and the controllers of the sandbox: pods that behave like the real ones.

- Builder pods (the DaemonSet): one per node, running :mod:`.dockerd` in the node's
  namespaces. Where the socket path is a directory the daemon fails, and the pod goes
  into ``CrashLoopBackOff`` with a growing restart count and a (short) back-off. A
  deleted builder pod is replaced on the same node under a new name, and becomes Running
  and Ready once its socket binds.
- hub, proxy and binder pods (Deployments): their servers run in their own namespaces
  (started by ``sandbox up``); exec runs commands there.
- ingress controller pods: no process, but logs: access-log lines with ``/build`` requests
  and a planted spike, as :mod:`binderfix.spikes.synth` makes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import secrets
import shutil
import signal
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from binderfix.sandbox import netns, objects
from binderfix.sandbox.cluster import Sandbox
from binderfix.sandbox.objects import PodStore, now_iso
from binderfix.sandbox.state import Host, State

BACKOFF_START = 0.5  # seconds; the real kubelet starts at 10 s and caps at 5 min
BACKOFF_CAP = 4.0
LogLines = list[tuple[dt.datetime, str]]
_IMAGE_ID = "sandbox://sha256:" + "0" * 64


# The BinderHub chart's builder init container since 2024 (binderhub PR 1828), as the
# sandbox runs it: rmdir the socket path if it is a directory, on the node.
INIT_CONTAINER: dict[str, Any] = {
    "name": "filesystem",
    "image": "docker.io/library/busybox:1.36",
    "command": [
        "sh",
        "-c",
        'p=/var/run/dind/docker.sock; if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p"; fi',
    ],
}


def pod_suffix(n: int = 5) -> str:
    """The random suffix the DaemonSet and ReplicaSet controllers give pod names."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' own: no vowels, no look-alikes
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class _Builder:
    node: Host
    pod_name: str
    run_init: bool = False  # a new pod of a chart with the init container: it runs first
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    proc: asyncio.subprocess.Process | None = None


@dataclass
class Kubelet:
    api: PodStore
    state: State
    sandbox: Sandbox
    builders: dict[str, _Builder] = field(default_factory=dict)  # node name -> builder
    pod_logs: dict[str, LogLines] = field(default_factory=dict)  # pod name -> lines
    pod_hosts: dict[str, Host] = field(default_factory=dict)  # pod name -> where exec runs
    # Pods a client created (netcheck's probe pods) -> their process once started: no
    # controller owns them, so deleting one ends it for good.
    created: dict[str, asyncio.subprocess.Process | None] = field(default_factory=dict)
    # pods clients pinned to a node (a node helper): pod name -> its container's process,
    # which exec enters (namespaces and root)
    node_pods: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    node_pod_ns: dict[str, str] = field(default_factory=dict)  # pod name -> its namespace
    # pod name -> the processes exec'd into it that still run: the pod's deletion kills them
    exec_sessions: dict[str, set[asyncio.subprocess.Process]] = field(default_factory=dict)
    # The builder DaemonSet's uid: its pods' ownerReferences name it, as a controller's do.
    daemonset_uid: str = field(default_factory=objects.uid)

    # -- builder pods -----------------------------------------------------------------------

    def builder_labels(self) -> dict[str, str]:
        name = f"{self.state.release}-dind"
        if self.state.labels == "legacy":  # charts before late 2022
            return {
                "app": "binder",
                "component": "dind",
                "name": name,
                "release": self.state.release,
            }
        return {
            "app": "binder",
            "component": "image-builder",
            "name": name,
            "release": self.state.release,
        }

    def start_builders(self) -> None:
        # These pods stand for ones that ran before the bug: their init containers (if the
        # chart has them) completed before a directory appeared at the socket path.
        for node in self.state.nodes:
            self._start_builder(node, created_now=False)

    def _start_builder(self, node: Host, created_now: bool = True) -> None:
        name = f"{self.state.release}-dind-{pod_suffix()}"
        builder = _Builder(node=node, pod_name=name, run_init=created_now)
        self.builders[node.name] = builder
        self.pod_hosts[name] = node
        self.pod_logs[name] = []
        ns = self.state.namespace
        labels = {
            **self.builder_labels(),
            "controller-revision-hash": "6d4b5c7f9",
            "pod-template-generation": "1",
        }
        owner = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "controller": True,
            "name": f"{self.state.release}-dind",
            "uid": self.daemonset_uid,
        }
        spec = {
            "nodeName": node.name,
            **({"initContainers": [INIT_CONTAINER]} if self.state.init_container else {}),
            "containers": [
                {
                    "name": "dind",
                    "image": "docker.io/library/docker:27-dind",
                    "args": ["dockerd", f"--host=unix://{self.state.socket_path}"],
                    "volumeMounts": [{"name": "run-dind", "mountPath": "/var/run/dind"}],
                }
            ],
            "volumes": [
                {
                    "name": "run-dind",
                    "hostPath": {"path": "/var/run/dind", "type": "DirectoryOrCreate"},
                }
            ],
        }
        status = {
            "phase": "Pending",
            "hostIP": node.ip,
            "podIP": node.ip,
            "startTime": now_iso(),
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                self._container(False, 0, {"waiting": {"reason": "ContainerCreating"}})
            ],
        }
        self.api.add_pod(
            ns,
            objects.pod(
                name,
                ns,
                labels,
                spec,
                status,
                generateName=f"{self.state.release}-dind-",
                ownerReferences=[owner],
            ),
        )
        if self.state.init_container and not created_now:  # it ran, back when the pod began
            self._set_init(builder, 0, {"terminated": {"exitCode": 0, "reason": "Completed"}})
        builder.task = asyncio.get_running_loop().create_task(self._run_builder(builder))
        builder.task.add_done_callback(_report_crash)

    def _container(
        self, ready: bool, restarts: int, state: dict[str, Any], last: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "name": "dind",
            "image": "docker.io/library/docker:27-dind",
            "imageID": _IMAGE_ID,
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
            "lastState": last or {},
        }

    def _set_status(
        self,
        builder: _Builder,
        phase: str,
        ready: bool,
        state: dict[str, Any],
        last: dict[str, Any] | None = None,
    ) -> None:
        self.api.patch_pod(
            self.state.namespace,
            builder.pod_name,
            {
                "status": {
                    "phase": phase,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [self._container(ready, builder.restarts, state, last)],
                }
            },
        )

    async def _run_init(self, builder: _Builder) -> None:
        """The chart's ``filesystem`` init container: ``rmdir`` on the socket path, in the
        node, until it succeeds (a non-empty directory: Init:Error, Init:CrashLoopBackOff)."""
        restarts = 0
        while True:
            proc = await asyncio.create_subprocess_exec(
                *netns.enter(builder.node.pid, INIT_CONTAINER["command"]),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
            out, _ = await proc.communicate()
            self.pod_logs[builder.pod_name].append((dt.datetime.now(dt.UTC), out.decode()))
            done = {"exitCode": proc.returncode, "finishedAt": now_iso()}
            if proc.returncode == 0:
                self._set_init(builder, restarts, {"terminated": {**done, "reason": "Completed"}})
                return
            last = {"terminated": {**done, "reason": "Error"}}
            self._set_init(builder, restarts, last)  # Init:Error, then the back-off
            restarts += 1
            backoff = min(BACKOFF_START * 2 ** (restarts - 1), BACKOFF_CAP)
            await asyncio.sleep(min(backoff, 0.3))
            waiting = {"waiting": {"reason": "CrashLoopBackOff"}}
            self._set_init(builder, restarts, waiting, last)
            await asyncio.sleep(backoff)

    def _set_init(
        self,
        builder: _Builder,
        restarts: int,
        state: dict[str, Any],
        last: dict[str, Any] | None = None,
    ) -> None:
        status = {
            "name": INIT_CONTAINER["name"],
            "image": INIT_CONTAINER["image"],
            "ready": "terminated" in state and state["terminated"]["exitCode"] == 0,
            "restartCount": restarts,
            "state": state,
            "lastState": last or {},
        }
        self.api.patch_pod(
            self.state.namespace, builder.pod_name, {"status": {"initContainerStatuses": [status]}}
        )

    async def _run_builder(self, builder: _Builder) -> None:
        log = self.pod_logs[builder.pod_name]
        last: dict[str, Any] | None = None
        if self.state.init_container and builder.run_init:
            await self._run_init(builder)
        await asyncio.sleep(0.1)  # ContainerCreating, briefly
        while True:
            builder.proc = await asyncio.create_subprocess_exec(
                *netns.enter(
                    builder.node.pid,
                    [
                        sys.executable,
                        "-m",
                        "binderfix.sandbox.dockerd",
                        "--sandbox",
                        self.sandbox.marker,
                        "--socket",
                        self.state.socket_path,
                    ],
                ),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
            started_at = now_iso()
            reader = asyncio.create_task(self._collect(builder.proc, log))
            listening = await self._wait_listening(log, builder.proc)
            if listening:
                self._set_status(
                    builder, "Running", True, {"running": {"startedAt": started_at}}, last
                )
            code = await builder.proc.wait()
            await reader
            builder.restarts += 1
            last = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Error",
                    "startedAt": started_at,
                    "finishedAt": now_iso(),
                }
            }
            backoff = min(BACKOFF_START * 2 ** (builder.restarts - 1), BACKOFF_CAP)
            self._set_status(
                builder,
                "Running",
                False,
                {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {backoff:.1f}s restarting failed container=dind pod={builder.pod_name}",
                    }
                },
                last,
            )
            await asyncio.sleep(backoff)

    @staticmethod
    async def _collect(proc: asyncio.subprocess.Process, log: LogLines) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            log.append((dt.datetime.now(dt.UTC), raw.decode(errors="replace").rstrip("\n")))

    @staticmethod
    async def _wait_listening(log: LogLines, proc: asyncio.subprocess.Process) -> bool:
        seen = len(log)
        for _ in range(200):  # up to 10 s
            if any("API listen on" in line for _ts, line in log[seen - 1 if seen else 0 :]):
                return True
            if proc.returncode is not None:
                return False
            await asyncio.sleep(0.05)
        return False

    def exec_session(self, pod_name: str) -> set[asyncio.subprocess.Process]:
        """The processes exec'd into a pod (the API server adds and removes them)."""
        return self.exec_sessions.setdefault(pod_name, set())

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        """The DaemonSet and ReplicaSet controllers: a deleted pod gets a replacement.
        A pod a client created has no controller: its process is killed, and that is all.
        Either way its containers stop, and every ``kubectl exec`` session in them ends
        (exit status 137), as a container runtime ends them."""
        name = pod["metadata"]["name"]
        for proc in self.exec_sessions.pop(name, set()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc = self.node_pods.pop(name, None)
        self.node_pod_ns.pop(name, None)
        if proc is not None and proc.returncode is None:
            proc.kill()  # grace period 0: what the helper pods ask for
            self.pod_logs.pop(name, None)
            self.pod_hosts.pop(name, None)
            return
        host = self.pod_hosts.pop(name, None)
        self.pod_logs.pop(name, None)
        if name in self.created:
            proc = self.created.pop(name)
            if proc is not None and proc.returncode is None:
                proc.kill()
            return
        if host is None:
            return
        builder = self.builders.get(host.name)
        if builder is not None and builder.pod_name == name:
            asyncio.get_running_loop().create_task(self._replace_builder(builder))
        elif host.role != "node":
            labels = pod["metadata"].get("labels", {})
            self._add_control_pod(host, labels, pod["spec"]["containers"][0].get("env", []))

    async def _replace_builder(self, builder: _Builder) -> None:
        if builder.task is not None:
            builder.task.cancel()
        if builder.proc is not None and builder.proc.returncode is None:
            builder.proc.terminate()
            await builder.proc.wait()
        await asyncio.sleep(0.1)  # the controller notices, the scheduler places the new pod
        self._start_builder(builder.node)

    # -- control-plane and ingress pods -----------------------------------------------------

    def start_control_pods(self) -> None:
        env_token = [
            {
                "name": "CONFIGPROXY_AUTH_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "hub", "key": "hub.config.ConfigProxy.auth_token"}
                },
            }
        ]
        release = self.state.release
        for host in self.state.hosts:
            if host.role == "hub":
                self._add_control_pod(
                    host, {"app": "jupyterhub", "component": "hub", "release": release}, env_token
                )
            elif host.role == "proxy":
                self._add_control_pod(
                    host, {"app": "jupyterhub", "component": "proxy", "release": release}, env_token
                )
            elif host.role == "binder":
                self._add_control_pod(
                    host, {"app": "binder", "component": "binder", "release": release}, []
                )
        for _ in range(2):
            self._add_ingress_pod()

    def _add_control_pod(
        self, host: Host, labels: dict[str, str], env: list[dict[str, Any]]
    ) -> None:
        name = f"{host.role}-{_hash(host.role)}-{pod_suffix()}"
        self.pod_hosts[name] = host
        self.pod_logs[name] = []
        container = {"name": host.role, "image": f"sandbox/{host.role}", "env": env}
        self._add_running_pod(name, labels, self.state.nodes[0], container, pod_ip=host.ip)

    def _add_ingress_pod(self) -> None:
        ns = self.state.namespace
        name = f"{self.state.release}-ingress-nginx-controller-{_hash('ingress')}-{pod_suffix()}"
        index = sum(1 for n in self.pod_logs if "-ingress-nginx-controller-" in n)
        self.pod_logs[name] = _ingress_log(index, self.state.started)
        node = self.state.nodes[index % len(self.state.nodes)]
        # The old stable/nginx-ingress chart's labels: what the runbook selects.
        labels = {"app": "nginx-ingress", "component": "controller", "release": ns}
        # Like the real controller image, it has a shell, curl and wget, and no python3.
        container = {
            "name": "nginx-ingress-controller",
            "image": "registry.k8s.io/ingress-nginx/controller",
            "env": [{"name": "PATH", "value": str(self._no_python_bin())}],
        }
        self.pod_hosts[name] = node  # hostNetwork, as the controller often runs
        self._add_running_pod(name, labels, node, container, pod_ip=node.ip)

    def _no_python_bin(self) -> Path:
        """A bin directory with sh, curl and wget only: a PATH on which python3 is not found."""
        folder = self.sandbox.dir / "bin-no-python"
        folder.mkdir(exist_ok=True)
        for tool in ("sh", "curl", "wget"):
            found = shutil.which(tool)
            link = folder / tool
            if found and not link.exists():
                link.symlink_to(found)
        return folder

    def _add_running_pod(
        self, name: str, labels: dict[str, str], node: Host, container: dict[str, Any], pod_ip: str
    ) -> None:
        """A pod of a Deployment, Running and Ready from the start (its server runs already)."""
        spec = {"nodeName": node.name, "containers": [container]}
        status = {
            "phase": "Running",
            "podIP": pod_ip,
            "hostIP": node.ip,
            "startTime": now_iso(),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": _IMAGE_ID,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now_iso()}},
                }
            ],
        }
        self.api.add_pod(
            self.state.namespace, objects.pod(name, self.state.namespace, labels, spec, status)
        )

    # -- pods that clients create ------------------------------------------------------------

    def pod_created(self, pod: dict[str, Any], namespace: str | None = None) -> None:
        """Run a pod a client created, where the pod it stands for runs (netcheck's probe pod).

        The sandbox has no scheduler or images: a created pod runs its command in the
        namespaces of the pod named by its ``binderfix.io/stands-for`` annotation, with its
        own environment, and its output becomes its log. Other created pods stay Pending.
        """
        meta = pod.get("metadata") or {}
        stands_for = (meta.get("annotations") or {}).get("binderfix.io/stands-for")
        host = self.pod_hosts.get(stands_for or "")
        if host is None:
            node = next(
                (n for n in self.state.nodes if n.name == (pod.get("spec") or {}).get("nodeName")),
                None,
            )
            if node is not None:
                self.node_pod_ns[meta["name"]] = namespace or self.state.namespace
                asyncio.get_running_loop().create_task(
                    self._run_on_node(meta["name"], pod, node)
                ).add_done_callback(_report_crash)
            return
        self.pod_hosts[meta["name"]] = host
        self.pod_logs[meta["name"]] = []
        self.created[meta["name"]] = None
        asyncio.get_running_loop().create_task(
            self._run_created(meta["name"], pod, host)
        ).add_done_callback(_report_crash)

    async def _run_created(self, name: str, pod: dict[str, Any], host: Host) -> None:
        target = self.exec_target({"metadata": {"name": name}, "spec": pod["spec"]})
        assert target is not None
        pid, env = target
        command = pod["spec"]["containers"][0].get("command") or ["true"]
        proc = await asyncio.create_subprocess_exec(
            *netns.enter(pid, command, env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        if name not in self.created:  # deleted while it started
            proc.kill()
        else:
            self.created[name] = proc
        self._set_pod_phase(name, "Running")
        await self._collect(proc, self.pod_logs.get(name, []))
        code = await proc.wait()
        self._set_pod_phase(name, "Succeeded" if code == 0 else "Failed")

    async def _run_on_node(self, name: str, pod: dict[str, Any], node: Host) -> None:
        """A pod pinned to a node with ``nodeName`` (``kubectl debug node`` style): its image
        is "pulled" (or not: images marked missing fail as a real pull does), then its
        command runs in the node's namespaces, with the node's ``/`` at each hostPath-``/``
        volume's mount path (see :mod:`.podroot`)."""
        container = pod["spec"]["containers"][0]
        image = str(container.get("image") or "")
        self._set_container(name, container, {"waiting": {"reason": "ContainerCreating"}})
        await asyncio.sleep(0.05)  # the image pull
        if image in self.state.missing_images:
            ref = image if "/" in image else f"docker.io/library/{image}"
            self._set_container(
                name,
                container,
                {
                    "waiting": {
                        "reason": "ErrImagePull",
                        "message": f'failed to pull and unpack image "{ref}": failed to '
                        f'resolve reference "{ref}": {ref}: not found',
                    }
                },
            )
            await asyncio.sleep(0.2)
            self._set_container(
                name,
                container,
                {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                },
            )
            return
        mounts = [
            m
            for m in container.get("volumeMounts") or []
            for v in pod["spec"].get("volumes") or []
            if v.get("name") == m.get("name") and (v.get("hostPath") or {}).get("path") == "/"
        ]
        roots = [m["mountPath"] for m in mounts]
        # HostToContainer: the pod's copies of the node's mounts receive the node's later
        # mounts (slave); the default (None) sees only what was mounted when it started.
        follows = any(
            m.get("mountPropagation") in ("HostToContainer", "Bidirectional") for m in mounts
        )
        command = container.get("command") or ["sleep", "infinity"]
        argv = netns.enter(
            node.pid,
            [
                "unshare",
                "--mount",
                "--propagation",
                "slave" if follows else "private",
                "--",
                sys.executable,
                "-m",
                "binderfix.sandbox.podroot",
                *(f"--volume={r}" for r in roots),
                "--",
                *command,
            ],
        )
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self.node_pods[name] = proc
        log = self.pod_logs[name] = []  # held here: a deletion meanwhile drops the entry
        self.pod_hosts[name] = node
        await _until_exec(proc, command[0])  # its root is made: exec lands in it from now on
        self._set_container(name, container, {"running": {"startedAt": now_iso()}}, "Running")
        await self._collect(proc, log)
        code = await proc.wait()
        self.node_pods.pop(name, None)
        reason = "Completed" if code == 0 else "Error"
        self._set_container(
            name,
            container,
            {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now_iso()}},
            "Succeeded" if code == 0 else "Failed",
        )

    def _set_container(
        self,
        name: str,
        container: dict[str, Any],
        state: dict[str, Any],
        phase: str = "Pending",
    ) -> None:
        self.api.patch_pod(
            self.node_pod_ns.get(name, self.state.namespace),
            name,
            {
                "status": {
                    "phase": phase,
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "image": container.get("image", ""),
                            "imageID": _IMAGE_ID if "running" in state else "",
                            "ready": False,
                            "restartCount": 0,
                            "started": "running" in state,
                            "state": state,
                        }
                    ],
                }
            },
        )

    def _set_pod_phase(self, name: str, phase: str) -> None:
        self.api.patch_pod(self.state.namespace, name, {"status": {"phase": phase}})

    # -- logs and exec ----------------------------------------------------------------------

    def logs(self, pod: dict[str, Any]) -> LogLines:
        return list(self.pod_logs.get(pod["metadata"]["name"], []))

    def exec_target(self, pod: dict[str, Any]) -> tuple[int, dict[str, str]] | None:
        """Where ``kubectl exec`` into this pod runs: a pid whose namespaces to enter, and env."""
        host = self.pod_hosts.get(pod["metadata"]["name"])
        if host is None or not host.pid:
            return None
        proc = self.node_pods.get(pod["metadata"]["name"])
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": pod["metadata"]["name"],
            "HOME": "/root",
        }
        if sys.prefix != sys.base_prefix:  # the sandbox's python3 is the venv's: pods get one too
            env["PATH"] = f"{sys.prefix}/bin:{env['PATH']}"
        for var in pod["spec"]["containers"][0].get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            elif var["name"] == "CONFIGPROXY_AUTH_TOKEN":  # the kubelet resolves the secretKeyRef
                env[var["name"]] = self.sandbox.secret("configproxy-auth-token")
        if proc is not None:  # a pod of its own (a node helper): its process, its root
            env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            return proc.pid, env
        return host.pid, env

    async def shutdown(self) -> None:
        for proc in self.node_pods.values():
            if proc.returncode is None:
                proc.kill()
        for builder in self.builders.values():
            if builder.task is not None:
                builder.task.cancel()
            if builder.proc is not None and builder.proc.returncode is None:
                builder.proc.terminate()
                await builder.proc.wait()


async def _until_exec(proc: asyncio.subprocess.Process, program: str, limit: float = 5) -> None:
    """Wait until a pod's process has become its command (set-up done), or has ended."""
    name = Path(program).name[:15]  # /proc/PID/comm holds 15 characters
    for _ in range(int(limit / 0.01)):
        try:
            if Path(f"/proc/{proc.pid}/comm").read_text().strip() == name:
                return
        except OSError:
            return
        if proc.returncode is not None:
            return
        await asyncio.sleep(0.01)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A controller task must not die silently: say why in the API server's log."""
    if not task.cancelled() and task.exception() is not None:
        import traceback

        traceback.print_exception(task.exception(), file=sys.stdout)
        sys.stdout.flush()


def _hash(seed: str) -> str:
    """A ReplicaSet's pod-template hash: stable per Deployment, like `hub-5d8f7c9b6`."""
    digits = string.digits + string.ascii_lowercase
    n = sum(ord(c) * 131**i for i, c in enumerate(seed))
    return "".join(digits[(n >> (5 * i)) % 36] for i in range(9))


_CLF_TIME = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")


def _ingress_log(index: int, end: float) -> LogLines:
    """An ingress controller's access log with a spike in it, ending when the sandbox
    started: the traffic the binder's /metrics counts too (sandbox/metrics.py). The kubelet
    knows each line's time."""
    from binderfix.spikes.synth import sandbox_log_lines

    when = dt.datetime.fromtimestamp(end, dt.UTC) if end else dt.datetime.now(dt.UTC)
    lines = sandbox_log_lines("nginx-ingress", now=when, seed=index)
    out: LogLines = []
    fallback = dt.datetime.now(dt.UTC)
    for line in lines:
        m = _CLF_TIME.search(line)
        ts = dt.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z") if m else fallback
        out.append((ts.astimezone(dt.UTC), line))
    return out
