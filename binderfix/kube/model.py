"""What binderfix knows about a builder pod and the node it runs on. Pure data, no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# The builder DaemonSets a BinderHub release can run (chart setting `imageBuilderType`,
# plus the 2i2c binderhub-service chart's docker-api), and where each puts its socket on
# the host by default. Every path is overridable (BINDERFIX_SOCKET_PATH).
BUILDER_KINDS: dict[str, str] = {
    "dind": "/var/run/dind/docker.sock",
    "pink": "/var/run/pink/podman.sock",
    "docker-api": "/var/run/{namespace}-{release}/docker-api/docker-api.sock",
}

# Both label generations: BinderHub itself selects `component=image-builder,app=binder`;
# charts before late 2022 labelled the pods `component=dind`. The API takes one selector per
# request, so finding both means one request per selector (set-based selectors cannot OR
# across keys).
DEFAULT_SELECTORS: tuple[str, ...] = (
    "app=binder,component=image-builder",
    "component=dind",
    "app.kubernetes.io/component=docker-api",
)

# Waiting reasons/phases that mean the builder is not serving builds.
UNHEALTHY_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "Error",
        "RunContainerError",
        "CreateContainerError",
        "CreateContainerConfigError",
        "ContainerCannotRun",
        "ImagePullBackOff",
        "ErrImagePull",
        "OOMKilled",
        "Unknown",
    }
)

# Why a container will not start by itself (it waits with this reason for ever): waiting
# for it any longer helps nobody. Reason -> what it means, in words.
CANNOT_START: dict[str, str] = {
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "InvalidImageName": "the image name is not valid",
    "CreateContainerConfigError": "the container's configuration is refused",
    "CreateContainerError": "the container cannot be created",
    "RunContainerError": "the container cannot run",
}

# A builder pod's name: `<release>-dind-xxxxx`, `<release>-pink-xxxxx`, or the 2i2c chart's
# `[<prefix>-]docker-api-xxxxx` (the DaemonSet's name and a five-character suffix).
BUILDER_NAME = re.compile(
    r"(?:(?P<release>[a-z0-9][-a-z0-9.]*?)-(?P<kind>dind|pink)"
    r"|(?:(?P<prefix>[a-z0-9][-a-z0-9.]*?)-)?docker-api)-[a-z0-9]{5}"
)


@dataclass(frozen=True)
class BuilderPod:
    """One builder pod as `kubectl get pod -o wide` (or `-o json`) shows it."""

    name: str
    namespace: str
    node: str
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    ready: bool
    restarts: int
    reason: str = ""  # container waiting/terminated reason, or the STATUS column
    kind: str = "dind"  # a key of BUILDER_KINDS
    labels: dict[str, str] = field(default_factory=dict)
    pod_ip: str = ""
    release: str = ""
    init_cleans_socket: bool = False  # the chart's init container rmdirs the socket path

    @property
    def healthy(self) -> bool:
        """Running and Ready: the builder accepts builds."""
        return self.phase == "Running" and self.ready and self.reason not in UNHEALTHY_REASONS

    @property
    def status(self) -> str:
        """The STATUS column kubectl would print: the reason if there is one, else the phase."""
        return self.reason or self.phase

    def default_socket_path(self) -> str:
        template = BUILDER_KINDS.get(self.kind, BUILDER_KINDS["dind"])
        return template.format(namespace=self.namespace, release=self.release or "binderhub")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        data["status"] = self.status
        return data


def builder_kind(labels: dict[str, str], pod_name: str = "") -> str:
    """Which builder a pod is, from its labels (and, failing that, its name)."""
    if labels.get("app.kubernetes.io/component") == "docker-api":
        return "docker-api"
    name = labels.get("name", "") or pod_name
    if name.endswith("-pink") or "-pink-" in name:
        return "pink"
    return "dind"


def is_builder(labels: dict[str, str]) -> bool:
    """Does a pod carry the labels of either builder generation (or docker-api)?"""
    return (
        (labels.get("component") == "image-builder" and labels.get("app") == "binder")
        or labels.get("component") == "dind"
        or labels.get("app.kubernetes.io/component") == "docker-api"
    )


def from_pod_object(obj: dict[str, Any]) -> BuilderPod:
    """A BuilderPod from a Pod as the API serves it (and `kubectl get pod -o json` prints it).

    The kubernetes client's objects convert with ``ApiClient().sanitize_for_serialization``.
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    containers = status.get("containerStatuses") or []
    reason = ""
    for cs in reversed(containers):  # the first container's reason wins, as in kubectl's STATUS
        state = cs.get("state") or {}
        reason = (
            (state.get("waiting") or {}).get("reason")
            or (state.get("terminated") or {}).get("reason")
            or reason
        )
    init = init_reason(status.get("initContainerStatuses") or [])
    if init:
        reason = init  # kubectl's STATUS: the init container's, while they have not all run
    if meta.get("deletionTimestamp"):
        reason = "Terminating"
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if "Ready" in conditions:
        ready = conditions["Ready"] == "True"
    else:
        ready = bool(containers) and all(cs.get("ready") for cs in containers)
    name = str(meta.get("name", ""))
    return BuilderPod(
        name=name,
        namespace=str(meta.get("namespace") or "default"),
        node=str(spec.get("nodeName") or ""),
        phase=str(status.get("phase") or "Unknown"),
        ready=ready,
        restarts=sum(int(cs.get("restartCount") or 0) for cs in containers),
        reason=reason or str(status.get("reason") or ""),
        kind=builder_kind(labels, name),
        labels=labels,
        pod_ip=str(status.get("podIP") or ""),
        release=release_of(labels, name),
        init_cleans_socket=chart_cleans_socket(spec),
    )


def init_reason(statuses: list[dict[str, Any]]) -> str:
    """``Init:Error``, ``Init:CrashLoopBackOff``...: what kubectl shows for a pod whose init
    containers have not all completed ("" when they have). Pure."""
    for cs in statuses:
        state = cs.get("state") or {}
        done = state.get("terminated") or {}
        if done and done.get("exitCode") == 0:
            continue
        why = (state.get("waiting") or {}).get("reason") or done.get("reason")
        if why and why != "PodInitializing":
            return f"Init:{why}"
    return ""


def chart_cleans_socket(spec: dict[str, Any]) -> bool:
    """Does the pod's chart clean the socket path itself? The BinderHub chart's builder
    DaemonSet gained (binderhub PR 1828, 2024) an init container ``filesystem`` that runs
    ``rmdir`` on the socket path when a pod is created: on such a chart, deleting the pod
    fixes an empty directory with no node access; a non-empty one makes it fail. Pure."""
    for container in spec.get("initContainers") or []:
        words = " ".join(
            str(w) for w in (container.get("command") or []) + (container.get("args") or [])
        )
        if container.get("name") == "filesystem" or "rmdir" in words:
            return True
    return False


def release_of(labels: dict[str, str], name: str) -> str:
    """The Helm release of a builder pod: its labels say it, else its name."""
    release = labels.get("release") or labels.get("app.kubernetes.io/instance")
    if release:
        return release
    match = BUILDER_NAME.fullmatch(name)
    if match is None:
        return ""
    return match.group("release") or match.group("prefix") or ""
