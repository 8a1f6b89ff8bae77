"""A socket path's state, and the plan that makes it "absent or a socket". Pure code.

The plan's shell commands re-check at apply time what the fact saw at plan time, so a
path that changed in between is never handled the wrong way (``rmdir`` refuses a
directory that filled up; ``rm -f`` runs only on what is still a file or a link).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix

KINDS = ("absent", "socket", "directory", "file", "symlink", "other")


@dataclass(frozen=True)
class PathState:
    """What the fact found at the path."""

    kind: str  # one of KINDS
    entries: tuple[str, ...] = ()  # a directory's first entries (names)
    entry_count: int = 0  # how many entries the directory holds in all
    target: str = ""  # a symlink's target, as readlink prints it
    parent_real: str = ""  # the parent directory's realpath ("" if it does not exist)
    prefix_real: str = ""  # the allowed prefix's realpath

    def describe(self) -> str:
        if self.kind == "directory":
            if not self.entry_count:
                return "directory (empty)"
            return f"directory holding {self.entry_count} entr{'y' if self.entry_count == 1 else 'ies'}"
        if self.kind == "symlink":
            return f"symlink to {self.target}"
        return {"file": "regular file", "other": "special file (fifo or device)"}.get(
            self.kind, self.kind
        )


@dataclass(frozen=True)
class Plan:
    """What to do: shell commands (empty: nothing), or a refusal saying why not."""

    commands: tuple[str, ...] = ()
    refusal: str = ""
    current: tuple[str, ...] = ()  # diff lines: the state now ...
    desired: tuple[str, ...] = ()  # ... and after

    @property
    def changes(self) -> bool:
        return bool(self.commands or self.refusal)


def parent_escapes(
    state: PathState, path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED
) -> str:
    """Why the path's parent may not be trusted, or "".

    The rule: below the allowed prefix nothing may be a symlink. The prefix itself may
    resolve elsewhere (Debian's ``/var/run -> /run``), so the parent's realpath must equal
    the prefix's realpath followed by the rest of the parent, unchanged.
    """
    if not state.parent_real:
        return ""  # the parent does not exist: the path is absent, there is nothing to touch
    prefix = allowed_prefix(path, allowed_prefixes)
    if prefix is None:
        return f"{path} is outside {', '.join(allowed_prefixes)}"
    rest = posixpath.relpath(posixpath.dirname(path), prefix)
    expected = state.prefix_real if rest == "." else posixpath.join(state.prefix_real, rest)
    if posixpath.normpath(state.parent_real) != posixpath.normpath(expected):
        return (
            f"the parent of {path} resolves through a symlink to {state.parent_real}: "
            "refusing to act outside where binderfix may"
        )
    return ""


def plan(
    state: PathState,
    path: str,
    force: bool = False,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED,
) -> Plan:
    """The plan for one path. ``force`` allows removing a non-empty directory."""
    q = shlex.quote(path)
    now = (f"{path}  {state.describe()}", *(f"{path}/{e}" for e in state.entries))
    gone = (f"{path}  absent (the builder creates its socket when it starts)",)
    if state.kind in ("absent", "socket"):
        return Plan()
    escape = parent_escapes(state, path, allowed_prefixes)
    if escape:
        return Plan(refusal=escape, current=now, desired=("(refused: nothing is changed)",))
    if state.kind == "directory" and state.entry_count == 0:
        return Plan(commands=(f"rmdir -- {q}",), current=now, desired=gone)
    if state.kind == "directory":
        listing = ", ".join(state.entries) + (
            ", ..." if state.entry_count > len(state.entries) else ""
        )
        if not force:
            return Plan(
                refusal=(
                    f"{path} is a directory holding {state.entry_count} entries ({listing}); "
                    "refusing to delete it. Look at what it holds, then remove it by hand or "
                    "run again with force (BINDERFIX_FORCE=1)"
                ),
                current=now,
                desired=("(refused: nothing is changed)",),
            )
        # rm never follows symlinks inside the tree; --one-file-system keeps it off mounts.
        return Plan(
            commands=(f"if [ -d {q} ] && [ ! -L {q} ]; then rm -rf --one-file-system -- {q}; fi",),
            current=now,
            desired=gone,
        )
    if state.kind in ("file", "symlink"):
        # rm removes the link itself, never its target.
        return Plan(
            commands=(f"if [ -L {q} ] || [ -f {q} ]; then rm -f -- {q}; fi",),
            current=now,
            desired=gone,
        )
    return Plan(
        refusal=f"{path} is a {state.describe()}: refusing to remove it",
        current=now,
        desired=("(refused: nothing is changed)",),
    )
