"""The files a sandbox's tools read: SSH keys and sshd's configuration, tokens and TLS
certificates, the cluster's hosts file, and the kubeconfigs. Each writer takes the sandbox's
directory and what it writes from; nothing here starts a process but ``ssh-keygen``."""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
from pathlib import Path

from binderfix.sandbox.state import GCE_PROJECT, GCE_ZONE, SERVICES, State


def write_keys(directory: Path) -> None:
    """The SSH keys (a client key, the nodes' host key), sshd's configuration, the API's
    tokens and TLS certificates: made once, kept across ``up`` after ``down``."""
    ssh_dir = directory / "ssh"
    client_key = ssh_dir / "id_ed25519"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    for key in (client_key, ssh_dir / "ssh_host_ed25519_key"):
        if not key.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "binderfix-sandbox",
                    "-f",
                    str(key),
                ],
                check=True,
                capture_output=True,
            )
    shutil.copy(f"{client_key}.pub", ssh_dir / "authorized_keys")
    (ssh_dir / "sshd_config").write_text(
        "\n".join(
            [
                "Port 22",
                f"HostKey {ssh_dir / 'ssh_host_ed25519_key'}",
                f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PidFile none",
                "MaxStartups 200",
                "MaxSessions 100",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    for name in ("api-token", "restricted-token", "configproxy-auth-token"):
        path = secrets_dir / name
        if not path.exists():
            path.write_text(secrets.token_hex(24))
            path.chmod(0o600)
    expects = secrets_dir / "proxy-expects"
    shutil.copy(secrets_dir / "configproxy-auth-token", expects)
    expects.chmod(0o600)
    (directory / "logs").mkdir(exist_ok=True)
    if not (secrets_dir / "apiserver.key").exists():
        from binderfix.sandbox.tls import make_certificates

        make_certificates(secrets_dir)


def write_ssh_client_files(directory: Path, state: State) -> None:
    """``known_hosts`` (every node by address and name) and an ``ssh_config`` that makes
    ``ssh node-1`` just work, as ``gcloud compute config-ssh`` does for a real cluster."""
    ssh_dir = directory / "ssh"
    host_key = (ssh_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    known_hosts = ssh_dir / "known_hosts"
    known_hosts.write_text("".join(f"{h.ip},{h.name} {' '.join(host_key)}\n" for h in state.nodes))
    (ssh_dir / "config").write_text(
        "".join(
            f"Host {h.name} {h.name}.{GCE_ZONE}.{GCE_PROJECT}\n  HostName {h.ip}\n"
            f"  User root\n  IdentityFile {ssh_dir / 'id_ed25519'}\n"
            f"  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking yes\n"
            for h in state.nodes
        )
    )


def hosts_file(state: State) -> str:
    """The cluster's DNS, as pods see it: each Service's names resolve to its backing pod."""
    lines = ["127.0.0.1 localhost"]
    by_role = {h.role: h for h in state.hosts}
    for svc, (role, _ports) in SERVICES.items():
        ns = state.namespace
        lines.append(
            f"{by_role[role].ip} {svc} {svc}.{ns} {svc}.{ns}.svc {svc}.{ns}.svc.cluster.local"
        )
    lines += [f"{h.ip} {h.name}" for h in state.nodes]
    return "\n".join(lines) + "\n"


def write_kubeconfig(
    directory: Path, state: State, path: Path, user: str, token_secret: str
) -> None:
    """A kubeconfig for ``user`` with the token kept in ``secrets/TOKEN_SECRET``, 0600."""
    server = f"https://127.0.0.1:{state.apiserver_port}"
    ca = base64.b64encode((directory / "secrets" / "ca.crt").read_bytes()).decode()
    token = (directory / "secrets" / token_secret).read_text().strip()
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: binderfix-sandbox
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: binderfix-sandbox-{user}
  user:
    token: {token}
contexts:
- name: binderfix-sandbox
  context:
    cluster: binderfix-sandbox
    user: binderfix-sandbox-{user}
    namespace: {state.namespace}
current-context: binderfix-sandbox
"""
    path.write_text(text)
    path.chmod(0o600)
