"""What netcheck probes: the runbook's targets, every Service port, or what the user names."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from binderfix.errors import BinderfixError

DEFAULT_INTERNET = "http://google.com/"


@dataclass(frozen=True)
class Target:
    id: str  # what the matrix calls it
    url: str = ""  # http(s)://host[:port]/path
    address: str = ""  # host:port, for a plain TCP connect
    auth: str = ""  # "configproxy": send the source's CONFIGPROXY_AUTH_TOKEN
    body: str = ""  # "routes": summarise the proxy API's routes
    same_as: str = ""  # the id of a target whose body this one's must equal

    def for_probe(self, timeout: float) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v}
        data.update(connect_timeout=timeout, read_timeout=timeout)
        return data

    def fallback_arg(self, timeout: float) -> str:
        url = self.url or f"http://{self.address}/"
        t = math.ceil(timeout)
        return f"{self.id}|{url}|{t}|{t}|{self.auth}"


def runbook_targets(prefix: str = "", internet_url: str = DEFAULT_INTERNET) -> list[Target]:
    """The runbook's list: binder, the hub API, the same through the proxy, the internet, the
    proxy API with its token. ``prefix`` is a chart fullnameOverride (``prod-`` ...)."""
    p = prefix
    return [
        Target(id=f"{p}binder", url=f"http://{p}binder/"),
        Target(id=f"{p}hub:8081/hub/api", url=f"http://{p}hub:8081/hub/api"),
        Target(
            id=f"{p}proxy-public/hub/api",
            url=f"http://{p}proxy-public/hub/api",
            same_as=f"{p}hub:8081/hub/api",
        ),
        Target(id="internet", url=internet_url),
        Target(
            id=f"{p}proxy-api:8001/api/routes",
            url=f"http://{p}proxy-api:8001/api/routes",
            auth="configproxy",
            body="routes",
        ),
    ]


_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def parse_target(text: str) -> Target:
    """``--target``: a URL, or host:port for a TCP connect. Anything else is refused."""
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise BinderfixError(
                f"--target {text!r} is not a usable URL",
                hint="give http://host[:port]/path, https://..., or host:port",
            )
        return Target(id=text, url=text)
    if _HOST_PORT.match(text) and 0 < int(text.rsplit(":", 1)[1]) < 65536:
        return Target(id=text, address=text)
    raise BinderfixError(
        f"--target {text!r} is neither a URL nor host:port",
        hint="e.g. --target http://binder/health or --target hub:8081",
    )


def service_targets(services: list[dict[str, Any]]) -> list[Target]:
    """Every port of every Service, by its name (as pods resolve it), as a TCP connect."""
    found = []
    for svc in services:
        name = svc["metadata"]["name"]
        for port in (svc.get("spec") or {}).get("ports") or []:
            found.append(Target(id=f"svc/{name}:{port['port']}", address=f"{name}:{port['port']}"))
    return sorted(found, key=lambda t: t.id)
