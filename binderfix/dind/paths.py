"""Which paths binderfix may touch, decided before anything is touched. Pure code."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from binderfix.errors import BinderfixError

DEFAULT_SOCKET_PATH = "/var/run/dind/docker.sock"
# Where builder sockets live (hostSocketDir in the BinderHub chart). Debian's /var/run is a
# symlink to /run, so both names are allowed; nothing outside them is.
DEFAULT_ALLOWED = ("/var/run", "/run")


def is_under(path: str, prefix: str) -> bool:
    """Component-wise: ``/var/run/x`` is under ``/var/run``, ``/var/runx`` is not."""
    prefix = prefix.rstrip("/") or "/"
    return path == prefix or path.startswith(prefix + "/")


def allowed_prefix(path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str | None:
    """The longest allowed prefix ``path`` lies strictly under, or None."""
    matches = [
        p.rstrip("/") for p in allowed_prefixes if is_under(path, p) and path != p.rstrip("/")
    ]
    return max(matches, key=len) if matches else None


def check_path(path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str:
    """Return ``path`` normalised, or raise BinderfixError saying why it may not be touched."""
    allowed = ", ".join(allowed_prefixes)
    if not isinstance(path, str) or not path:
        raise BinderfixError(
            "the socket path is empty", hint=f"give an absolute path under {allowed}"
        )
    if "\0" in path or "\n" in path:
        raise BinderfixError(f"the socket path {path!r} holds a control character")
    if not path.startswith("/"):
        raise BinderfixError(
            f"the socket path {path!r} is relative", hint=f"give an absolute path under {allowed}"
        )
    if any(part in ("..", ".") for part in path.split("/")):
        raise BinderfixError(
            f"the socket path {path!r} holds '..' or '.'",
            hint="give the path without them, as the chart's hostSocketDir",
        )
    normal = posixpath.normpath(path)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if normal == "/":
        raise BinderfixError("refusing to act on /", hint=f"give the socket's path under {allowed}")
    if allowed_prefix(normal, allowed_prefixes) is None:
        raise BinderfixError(
            f"the socket path {normal} is outside {allowed}",
            hint="builder sockets live under /var/run (hostSocketDir); "
            "pass allowed_prefixes to widen this on purpose",
        )
    return normal
