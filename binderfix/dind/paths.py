"""Which paths binderfix may touch, decided before anything is touched. Pure code.

Only the lexical checks live here. Whether the path's parent resolves through a symlink
needs the host, so :func:`binderfix.dind.state.parent_escapes` decides it from what the
fact read there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from binderfix.errors import BinderfixError

DEFAULT_SOCKET_PATH = "/var/run/dind/docker.sock"
# Where builder sockets live (hostSocketDir in the BinderHub chart). Debian's /var/run is a
# symlink to /run, so both names are allowed; nothing outside them is.
DEFAULT_ALLOWED = ("/var/run", "/run")


def _clean_prefix(prefix: str) -> str:
    # "/var/run/" and "/var//run" name the same prefix as "/var/run". A relative prefix, or
    # one holding "..", names nothing we can reason about: it matches no path at all.
    if not prefix.startswith("/") or ".." in prefix.split("/"):
        return ""
    return posixpath.normpath("/" + prefix.lstrip("/"))


def is_under(path: str, prefix: str) -> bool:
    """Component-wise: ``/var/run/x`` is under ``/var/run``, ``/var/runx`` is not.

    A path is "under" itself. Both are taken as already normalised (see :func:`check_path`).
    """
    prefix = _clean_prefix(prefix)
    if not prefix:
        return False
    if prefix == "/":
        return path.startswith("/")
    return path == prefix or path.startswith(prefix + "/")


def allowed_prefix(path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str | None:
    """The longest allowed prefix ``path`` lies strictly under (normalised), or None."""
    matches = [
        clean
        for clean in map(_clean_prefix, allowed_prefixes)
        if clean and clean != path and is_under(path, clean)
    ]
    return max(matches, key=len) if matches else None


def check_path(path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str:
    """Return ``path`` normalised, or raise BinderfixError saying why it may not be touched.

    Refused: an empty or relative path, one holding ``..`` or ``.`` components or a control
    character, ``/``, an allowed prefix itself, and anything not strictly under one of
    ``allowed_prefixes`` (component-wise: ``/var/runx`` is not under ``/var/run``).
    """
    allowed = ", ".join(allowed_prefixes)
    if not isinstance(path, str) or not path:
        raise BinderfixError(
            "the socket path is empty", hint=f"give an absolute path under {allowed}"
        )
    # A newline would split the fact's output lines; NUL cannot be in a path at all.
    if "\0" in path or "\n" in path:
        raise BinderfixError(
            f"the socket path {path!r} holds a control character",
            hint="give the path as the chart's hostSocketDir plus the socket name",
        )
    if not path.startswith("/"):
        raise BinderfixError(
            f"the socket path {path!r} is relative", hint=f"give an absolute path under {allowed}"
        )
    # Refused, not normalised away: "/var/run/../etc/x" is a typo or an attack, never the
    # socket somebody meant.
    if any(part in ("..", ".") for part in path.split("/")):
        raise BinderfixError(
            f"the socket path {path!r} holds '..' or '.'",
            hint="give the path without them, as the chart's hostSocketDir",
        )
    normal = posixpath.normpath("/" + path.lstrip("/"))  # POSIX keeps a leading "//"; we don't
    if normal == "/":
        raise BinderfixError("refusing to act on /", hint=f"give the socket's path under {allowed}")
    if any(normal == _clean_prefix(p) for p in allowed_prefixes):
        raise BinderfixError(
            f"the socket path {normal} is an allowed prefix itself, not a path under it",
            hint="give the socket's full path, e.g. /var/run/dind/docker.sock",
        )
    if allowed_prefix(normal, allowed_prefixes) is None:
        raise BinderfixError(
            f"the socket path {normal} is outside {allowed}",
            hint="builder sockets live under /var/run (hostSocketDir); "
            "pass allowed_prefixes to widen this on purpose",
        )
    return normal
