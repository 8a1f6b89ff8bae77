"""A pytest-testinfra backend for nodes reached through the Kubernetes API: ``kubenode://NODE``.

testinfra's ``kubectl://POD`` backend runs commands in a pod's own filesystem; a node check
needs the node's. This backend keeps testinfra's model (``host.file(...)``, ``host.run(...)``)
and runs each command as the ``@kubenode`` pyinfra connector does: in a privileged helper pod
pinned to the node, as ``chroot /host sh -c ...``, through the exec API. The helper pod is
made on the first command and deleted when the pytest session ends.

    pytest -p binderfix.verify.kubenode --pyargs binderfix.verify.test_builders \\
        --hosts='kubenode://node-1?namespace=prod,kubenode://node-2?namespace=prod'

``binderfix verify`` does this by itself when ``BINDERFIX_CONNECT=kubenode``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import testinfra.backend
from testinfra.backend import base

from binderfix.errors import BinderfixError
from binderfix.kube import nodepod

testinfra.backend.BACKENDS["kubenode"] = f"{__name__}.KubenodeBackend"

_STARTED: list[tuple[Any, nodepod.NodeHelper]] = []


class KubenodeBackend(base.BaseBackend):
    NAME = "kubenode"

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.namespace = kwargs.get("namespace")
        self.context = kwargs.get("context")
        self.kubeconfig = kwargs.get("kubeconfig")
        self.image = os.environ.get("BINDERFIX_NODE_IMAGE") or nodepod.DEFAULT_IMAGE
        self._cluster: Any = None
        self._helper: nodepod.NodeHelper | None = None
        super().__init__(name, *args, **kwargs)

    def _ensure_helper(self) -> nodepod.NodeHelper:
        from binderfix.kube.client import connect

        if self._helper is None:
            self._cluster = connect(
                context=self.context, namespace=self.namespace, kubeconfig=self.kubeconfig
            )
            self._helper = nodepod.start_helper(self._cluster, self.hostname, image=self.image)
            _STARTED.append((self._cluster, self._helper))
        return self._helper

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        from binderfix.kube.exec import exec_in_pod

        cmd = self.get_command(command, *args)
        try:
            helper = self._ensure_helper()
            done = exec_in_pod(
                self._cluster,
                helper.pod,
                nodepod.CONTAINER,
                ["chroot", nodepod.HOST_ROOT, "/bin/sh", "-c", cmd],
                limit=float(kwargs.get("timeout") or 600),
                binary=True,
                namespace=helper.namespace,
            )
        except BinderfixError as exc:
            raise RuntimeError(f"kubenode://{self.hostname}: {exc.message}") from None
        code = done.code if done.code is not None else 255
        return self.result(code, self.encode(cmd), done.stdout, done.stderr)


def stop_all() -> None:
    """Delete the helper pods this process made."""
    while _STARTED:
        cluster, helper = _STARTED.pop()
        with contextlib.suppress(BinderfixError):
            nodepod.stop_helper(cluster, helper)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:  # a pytest hook
    stop_all()
