"""What netcheck probes: the runbook's targets, every Service port, or what the user names."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from binderfix.errors import BinderfixError

DEFAULT_INTERNET = "http://google.com/"
TOKEN_ENV = "CONFIGPROXY_AUTH_TOKEN"
PROXY_API_HEADERS = (("Authorization", "token ${%s}" % TOKEN_ENV),)  # noqa: UP031

# Characters a target may not hold: they would break the shell fallback's argument format
# ("|"), its JSON ('"', "\\"), or are not part of any URL (whitespace, controls, <>`).
_UNSAFE = re.compile(r'[\s"\\|<>`\x00-\x1f\x7f]')
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


@dataclass(frozen=True)
class Target:
    """One thing to probe, and what its answer must look like."""

    id: str  # what the matrix calls it
    kind: str = "http"  # "http": GET url; "tcp": connect to address
    url: str = ""  # http(s)://host[:port]/path
    address: str = ""  # host:port
    # Headers to send. A value may hold ${NAME}: the probe fills it in from its own
    # environment (the source pod's), so a secret never leaves the pod.
    headers: tuple[tuple[str, str], ...] = ()
    role: str = ""  # "proxy-api": 401/403 is token-rejected, the body is counted as routes
    same_as: str = ""  # the id of a target whose answer this one's must equal
    expect: str = "reachable"  # or "blocked": a network policy must stop it

    @property
    def endpoint(self) -> str:
        """The URL, or host:port."""
        return self.url or self.address

    def env_names(self) -> list[str]:
        """The environment variables this target's headers read."""
        return sorted({n for _, v in self.headers for n in re.findall(r"\$\{(\w+)\}", v)})

    def for_probe(self, timeout: float) -> dict[str, Any]:
        """The target as the Python probe reads it. ``timeout`` bounds the connect, each read,
        and the whole probe (its deadline): the check takes one timeout, whatever the server
        does."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "headers": dict(self.headers),
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "deadline": timeout,
        }
        data["url" if self.kind == "http" else "address"] = self.endpoint
        if self.role:
            data["role"] = self.role
        return data

    def shell_arg(self, timeout: float) -> str:
        """The target as the shell fallback reads it: connect, read and whole-probe timeouts
        (whole seconds), the first header only."""
        t = max(1, math.ceil(timeout))
        header = f"{self.headers[0][0]}: {self.headers[0][1]}" if self.headers else ""
        return f"{self.id}|{self.kind}|{self.endpoint}|{t}|{t}|{t}|{header}"


RUNBOOK_NAMES = ("binder", "hub", "proxy-public", "internet", "proxy-api")


def runbook_targets(
    prefix: str = "",
    internet_url: str = DEFAULT_INTERNET,
    urls: Mapping[str, str] | None = None,
) -> list[Target]:
    """The runbook's list: binder, the hub API, the same through the proxy (its answer must
    equal the hub's), the internet, and the proxy API with the source's token.

    ``prefix`` is a chart ``fullnameOverride`` prefix (``prod-`` ...). ``urls`` moves any
    of them by name (:data:`RUNBOOK_NAMES`), e.g. ``{"proxy-public":
    "https://proxy-public/hub/api"}`` when the proxy serves HTTPS. A target is labelled by
    where it goes (:func:`label_of`), moved or not: a label never names a place not probed.
    "internet" keeps its name: it says what the URL stands for."""
    p = prefix
    where = {
        "binder": f"http://{p}binder/",
        "hub": f"http://{p}hub:8081/hub/api",
        "proxy-public": f"http://{p}proxy-public/hub/api",
        "internet": internet_url,
        "proxy-api": f"http://{p}proxy-api:8001/api/routes",
    }
    for name, url in (urls or {}).items():
        if name not in where:
            raise BinderfixError(
                f"--url {name}=...: the runbook has no target {name!r}",
                hint=f"one of: {', '.join(RUNBOOK_NAMES)}",
            )
        where[name] = url
    for name, url in where.items():
        option = "--internet-url" if name == "internet" else f"--url {name}="
        if parse_target(url, option=option).kind != "http":
            raise BinderfixError(f"{option} {url!r} is not a URL", hint="e.g. http://host/path")
    label = {name: label_of(url) for name, url in where.items()}
    label["internet"] = "internet"
    texts = list(label.values())
    for name, text in label.items():  # two moved to one URL: still two rows
        if texts.count(text) > 1:
            label[name] = f"{text} ({name})"
    return [
        Target(id=label["binder"], url=where["binder"]),
        Target(id=label["hub"], url=where["hub"]),
        Target(id=label["proxy-public"], url=where["proxy-public"], same_as=label["hub"]),
        Target(id="internet", url=where["internet"]),
        Target(
            id=label["proxy-api"],
            url=where["proxy-api"],
            headers=PROXY_API_HEADERS,
            role="proxy-api",
        ),
    ]


def label_of(url: str) -> str:
    """A runbook target's label: its URL, less ``http://`` and a lone ``/`` path
    (``http://binder/`` is ``binder``, ``http://hub:8081/hub/api`` is ``hub:8081/hub/api``)."""
    label = url.removeprefix("http://")
    return label[:-1] if label.endswith("/") and label.count("/") == 1 else label


def parse_target(text: str, expect: str = "reachable", option: str = "--target") -> Target:
    """``--target``: an http(s) URL, or host:port for a TCP connect. Anything else is refused
    with a :class:`BinderfixError` saying what would do."""
    if _UNSAFE.search(text):
        raise BinderfixError(
            f"{option} {text!r} holds a space, quote, '|' or control character",
            hint="give http://host[:port]/path, https://..., or host:port",
        )
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port in (-1, 0):
            raise BinderfixError(
                f"{option} {text!r} is not a usable URL",
                hint="give http://host[:port]/path, https://..., or host:port",
            )
        return Target(id=text, url=text, expect=expect)
    match = _HOST_PORT.match(text)
    if match and 0 < int(match.group(2)) < 65536:
        return Target(id=text, kind="tcp", address=text, expect=expect)
    raise BinderfixError(
        f"{option} {text!r} is neither a URL nor host:port",
        hint="e.g. --target http://binder/health or --target hub:8081",
    )


def service_targets(services: list[dict[str, Any]]) -> list[Target]:
    """Every TCP port of every Service, by the Service's name (as pods in its namespace
    resolve it), as a TCP connect. UDP and SCTP ports cannot be connected to: skipped."""
    found: dict[str, Target] = {}
    for svc in services:
        name = svc["metadata"]["name"]
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("protocol", "TCP") != "TCP":
                continue
            tid = f"svc/{name}:{port['port']}"
            found[tid] = Target(id=tid, kind="tcp", address=f"{name}:{port['port']}")
    return sorted(found.values(), key=lambda t: t.id)
