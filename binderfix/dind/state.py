"""A socket path's state, and the plan that makes it "absent or a socket". Pure code.

The plan's shell commands re-check at apply time what the fact saw at plan time, so a
path that changed in between is never handled the wrong way: the parent must still resolve
to the same directory, ``rmdir`` refuses a directory that filled up, ``rm -f`` runs only on
what is still a file or a link, and a path that turned into something else fails the host.

The parent rule (see :func:`parent_escapes`), exactly:

1. ``prefix`` is the longest allowed prefix the path lies under, lexically
   (``/var/run`` for ``/var/run/dind/docker.sock``).
2. Below the prefix nothing may resolve elsewhere: the parent's realpath must equal the
   prefix's realpath joined with the rest of the parent, unchanged
   (``realpath(/var/run) + /dind``). So ``/var/run/dind -> /etc`` is refused.
3. The prefix itself may be a symlink, as long as the parent's realpath still lies under one
   of the allowed prefixes as written. Debian's ``/var/run -> /run`` is fine because ``/run``
   is allowed too (``/var/run/dind`` -> ``/run/dind``); a ``/var/run -> /etc`` is refused.
   Allow only ``/var/run`` on such a host and everything is refused: list both names.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix, is_under

KINDS = ("absent", "socket", "directory", "file", "symlink", "other")
TARGET_TEXT = "absent (the builder will create its socket)"


@dataclass(frozen=True)
class PathState:
    """What the fact found at the path."""

    kind: str  # one of KINDS; a symlink is "symlink" whatever it points to
    entries: tuple[str, ...] = ()  # a directory's first entries (names), capped by the fact
    entry_count: int = 0  # how many entries the directory holds in all
    target: str = ""  # a symlink's target, as readlink prints it (never followed)
    parent_real: str = ""  # the parent directory's realpath ("" if it does not exist)
    prefix_real: str = ""  # the realpath of the allowed prefix the path lies under

    def describe(self) -> str:
        """``directory (empty)``, ``directory holding 2 entries``, ``symlink to /x``, ..."""
        if self.kind == "directory":
            if not self.entry_count:
                return "directory (empty)"
            noun = "entry" if self.entry_count == 1 else "entries"
            return f"directory holding {self.entry_count} {noun}"
        if self.kind == "symlink":
            return f"symlink to {self.target}"
        return {"file": "regular file", "other": "special file (fifo or device)"}.get(
            self.kind, self.kind
        )

    def to_json(self) -> dict[str, object]:
        """For ``pyinfra ... fact binderfix.dind.facts.SocketPathState``: its JSON output."""
        return {**asdict(self), "description": self.describe()}

    def listing(self) -> str:
        """A directory's entries on one line, ``a, b, ...`` when there are more than read."""
        more = ", ..." if self.entry_count > len(self.entries) else ""
        return ", ".join(self.entries) + more


@dataclass(frozen=True)
class Plan:
    """What to do: shell commands (empty: nothing), or a refusal saying why not.

    ``current`` and ``desired`` are the diff's two sides, one line per path.
    """

    commands: tuple[str, ...] = ()
    refusal: str = ""
    current: tuple[str, ...] = ()  # diff lines: the state now ...
    desired: tuple[str, ...] = ()  # ... and after

    @property
    def changes(self) -> bool:
        """Whether the operation does anything on the host (a refusal fails it)."""
        return bool(self.commands or self.refusal)

    def diff_lines(self) -> list[str]:
        """The diff, uncoloured: ``- <path>  directory (empty)`` then ``+ <path>  absent ...``."""
        return [f"- {line}" for line in self.current] + [f"+ {line}" for line in self.desired]

    def diff_text(self) -> str:
        return "\n".join(self.diff_lines())


def parent_escapes(
    state: PathState, path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED
) -> str:
    """Why the path's parent may not be trusted, or "" when it may (the module's rule)."""
    prefix = allowed_prefix(path, allowed_prefixes)
    if prefix is None:
        return f"{path} is outside {', '.join(allowed_prefixes)}"
    if not state.parent_real.startswith("/") or not state.prefix_real.startswith("/"):
        # Something is at the path, so its parent exists: not resolving it is a surprise.
        return f"could not resolve the parent directory of {path}: refusing to touch it"
    rest = posixpath.relpath(posixpath.dirname(path), prefix)
    expected = posixpath.normpath(posixpath.join(state.prefix_real, rest))
    parent_real = posixpath.normpath(state.parent_real)
    if parent_real != expected:
        return (
            f"the parent of {path} resolves through a symlink to {parent_real} "
            f"(expected {expected}): refusing to act outside where binderfix may"
        )
    if not any(is_under(parent_real, p) for p in allowed_prefixes):
        return (
            f"the parent of {path} resolves to {parent_real}, outside "
            f"{', '.join(allowed_prefixes)}: refusing to act there"
        )
    return ""


def _command(path: str, state: PathState, still: str, act: str) -> str:
    """``act`` if the path is still what the fact saw (``still``), under the same parent.

    At apply time: a parent that now resolves elsewhere fails the host untouched; a path
    that became a socket or vanished is left alone (the goal holds); one that became
    anything else fails the host, to be read again by the next run.
    """
    q = shlex.quote(path)
    parent = shlex.quote(posixpath.dirname(path))
    real = shlex.quote(state.parent_real)
    moved = shlex.quote(
        f"binderfix: the parent of {path} no longer resolves to {state.parent_real}"
    )
    changed = shlex.quote(f"binderfix: {path} changed since it was read; run again")
    return (
        f'[ "$(cd -P -- {parent} && pwd -P)" = {real} ] || {{ echo {moved} >&2; exit 1; }}; '
        f"if {still}; then {act}; "
        f"elif [ -L {q} ] || {{ [ -e {q} ] && [ ! -S {q} ]; }}; then echo {changed} >&2; exit 1; fi"
    )


def plan(
    state: PathState,
    path: str,
    force: bool = False,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED,
) -> Plan:
    """The plan for one path (already through :func:`check_path`).

    socket or absent: nothing. Empty directory: ``rmdir``. Non-empty directory: refused with
    its listing, unless ``force`` (``rm -rf --one-file-system``, never through a symlink).
    Regular file or symlink: ``rm -f`` of the path itself, never a link's target. Anything
    else (fifo, device), or a parent that breaks the parent rule: refused.
    """
    if state.kind in ("absent", "socket"):
        return Plan()
    q = shlex.quote(path)
    now = (f"{path}  {state.describe()}", *(f"{path}/{e}" for e in state.entries))
    if state.entry_count > len(state.entries):
        now += (f"{path}/... and {state.entry_count - len(state.entries)} more",)
    gone = (f"{path}  {TARGET_TEXT}",)
    kept = (f"{path}  unchanged (refused)",)

    escape = parent_escapes(state, path, allowed_prefixes)
    if escape:
        return Plan(refusal=escape, current=now, desired=kept)
    is_dir = f"[ -d {q} ] && [ ! -L {q} ]"  # [ -d ] follows links: rule the link out first
    if state.kind == "directory" and state.entry_count == 0:
        # rmdir, as binderhub's init container and the runbook's fix: it refuses a directory
        # that something wrote into since the fact read it.
        return Plan(
            commands=(_command(path, state, is_dir, f"rmdir -- {q}"),), current=now, desired=gone
        )
    if state.kind == "directory":
        if not force:
            return Plan(
                refusal=(
                    f"{path} is a directory holding {state.entry_count} "
                    f"{'entry' if state.entry_count == 1 else 'entries'} ({state.listing()}); "
                    "refusing to delete it. Look at what it holds, then remove it by hand or "
                    "run again with force=True (BINDERFIX_FORCE=1 for deploys/dind.py)"
                ),
                current=now,
                desired=kept,
            )
        # rm -r removes symlinks inside the tree, never what they point to;
        # --one-file-system keeps it out of anything mounted below the path.
        return Plan(
            commands=(_command(path, state, is_dir, f"rm -rf --one-file-system -- {q}"),),
            current=now,
            desired=gone,
        )
    if state.kind in ("file", "symlink"):
        # rm -f on a link removes the link itself, never its target (no trailing slash:
        # check_path normalised it away).
        still = f"[ -L {q} ] || [ -f {q} ]"
        return Plan(
            commands=(_command(path, state, still, f"rm -f -- {q}"),), current=now, desired=gone
        )
    return Plan(
        refusal=f"{path} is a {state.describe()}: refusing to remove it; look at it by hand",
        current=now,
        desired=kept,
    )
