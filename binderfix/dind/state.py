"""A socket path's state, and the plan that makes it "absent or a socket". Pure code.

The plan's shell commands re-check at apply time what the fact saw at plan time, so a
path that changed in between is never handled the wrong way: the parent must still resolve
to the same directory, ``rmdir`` refuses a directory that filled up, ``rm -f`` runs only on
what is still a file or a link, and a path that turned into something else fails the host.

Mount points: nothing reached through a mount point at or below the path is ever deleted,
``force`` or not. ``rm --one-file-system`` is no such guard: it stops only at another
device, and a bind mount of a directory on the same filesystem (``mount --bind /run/other
/run/dind/docker.sock/sub``) is the same device, so ``rm -r`` would empty ``/run/other``.
The node's mount table (``/proc/self/mountinfo``) names every mount point, bind mounts
included: the fact reads it, the plan refuses a path with one at or below it, and the
command reads it again just before it acts.

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
import re
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix, is_under

KINDS = ("absent", "socket", "directory", "file", "symlink", "other")
TARGET_TEXT = "absent (the builder will create its socket)"
MOUNTINFO = "/proc/self/mountinfo"

# The kernel's escapes for a mount point in /proc/self/mountinfo (fs/proc_namespace.c):
# space, tab, newline and backslash as octal. So a mount point is always one line.
_MOUNTINFO_ESCAPES = {" ": "\\040", "\t": "\\011", "\n": "\\012", "\\": "\\134"}


def mountinfo_escape(path: str) -> str:
    """``path`` as /proc/self/mountinfo spells a mount point (``/run/a b`` -> ``/run/a\\040b``)."""
    return "".join(_MOUNTINFO_ESCAPES.get(c, c) for c in path)


def mountinfo_unescape(field: str) -> str:
    """A mount point as read from /proc/self/mountinfo, back to the path it names."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def shown(name: str) -> str:
    """A file name as printed for people: one line, whatever it holds.

    Control characters (a newline above all: it would fake a second entry) and bytes that
    are not UTF-8 (read as surrogates) are written as escapes, and so is the backslash, so
    that ``a\\nb`` (4 characters) and ``a<newline>b`` read differently.
    """
    out = []
    for c in name:
        if c == "\\":
            out.append("\\\\")
        elif c in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c])
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif ord(c) < 0x20 or ord(c) == 0x7F or not c.isprintable():
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


@dataclass(frozen=True)
class PathState:
    """What the fact found at the path."""

    kind: str  # one of KINDS; a symlink is "symlink" whatever it points to
    entries: tuple[str, ...] = ()  # a directory's first entries (names), capped by the fact
    entry_count: int = 0  # how many entries the directory holds in all
    target: str = ""  # a symlink's target, as readlink prints it (never followed)
    parent_real: str = ""  # the parent directory's realpath ("" if it does not exist)
    prefix_real: str = ""  # the realpath of the allowed prefix the path lies under
    # Mount points at or below the path, as the node's mount table names them (unescaped);
    # None when the table could not be read: then nothing is force-deleted.
    mounts: tuple[str, ...] | None = None

    def describe(self) -> str:
        """``directory (empty)``, ``directory holding 2 entries``, ``symlink to /x``, ..."""
        if self.kind == "directory":
            if not self.entry_count:
                return "directory (empty)"
            noun = "entry" if self.entry_count == 1 else "entries"
            return f"directory holding {self.entry_count} {noun}"
        if self.kind == "symlink":
            return f"symlink to {shown(self.target)}"
        return {"file": "regular file", "other": "special file (fifo or device)"}.get(
            self.kind, self.kind
        )

    def to_json(self) -> dict[str, object]:
        """For ``pyinfra ... fact binderfix.dind.facts.SocketPathState``: its JSON output."""
        return {**asdict(self), "description": self.describe()}

    def listing(self) -> str:
        """A directory's entries on one line, ``a, b, ...`` when there are more than read.

        Each name as :func:`shown` prints it, and ``./-rf`` for a name that starts with a
        dash, so that nothing in the list reads as an option.
        """
        more = ", ..." if self.entry_count > len(self.entries) else ""
        names = (("./" if e.startswith("-") else "") + shown(e) for e in self.entries)
        return ", ".join(names) + more


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


INIT_CLEANS_TEXT = (
    "removed by the chart's init container when the builder pod is recreated: "
    "deleting the pod suffices"
)


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


def _mount_guard(path: str, state: PathState, need_table: bool) -> str:
    """Shell that fails the host if anything is mounted at or below ``path`` now.

    Read from the node's mount table when the command runs, not only when the fact ran: a
    mount made in between is refused too. The path's realpath is the parent's (which the
    command has just checked) plus the name, compared in the table's own spelling, as the
    fact does (grep -F for the candidate lines, then the mount point field by case).
    ``need_table``: fail when the table cannot be read (before deleting a tree).
    """
    real = mountinfo_escape(posixpath.join(state.parent_real, posixpath.basename(path)))
    e = shlex.quote(real)
    found = shlex.quote(f"binderfix: refusing to touch {path}: mounted at or below it now:")
    grep = (
        f"{{ m=$(grep -F -e {shlex.quote(f' {real} ')} -e {shlex.quote(f' {real}/')} "
        f"{MOUNTINFO}) || [ $? -eq 1 ]; }}"
    )
    pick = (
        f'm=$(printf "%s\\n" "$m" | while read -r _ _ _ _ x _; do '
        f'case $x in {e}|{e}/*) printf " %s" "$x";; esac; done); '
        f'[ -z "$m" ] || {{ echo {found}"$m" >&2; exit 1; }}; '
    )
    if not need_table:
        return f"m=; [ ! -r {MOUNTINFO} ] || {grep} || m=; {pick}"
    unread = shlex.quote(
        f"binderfix: cannot read {MOUNTINFO}: refusing to delete {path} "
        "without knowing what is mounted inside it"
    )
    return f"[ -r {MOUNTINFO} ] && {grep} || {{ echo {unread} >&2; exit 1; }}; {pick}"


def _command(
    path: str,
    state: PathState,
    still: str,
    act: str,
    mounts: bool = False,
    need_table: bool = False,
) -> str:
    """``act`` if the path is still what the fact saw (``still``), under the same parent,
    and (``mounts``, for a directory) with nothing mounted at or below it.

    At apply time: a parent that now resolves elsewhere fails the host untouched; a path
    that became a socket or vanished is left alone (the goal holds); one that became
    anything else, or holds a mount point now, fails the host, to be read again by the next
    run.
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
        f"if {still}; then {_mount_guard(path, state, need_table) if mounts else ''}{act}; "
        f"elif [ -L {q} ] || {{ [ -e {q} ] && [ ! -S {q} ]; }}; then echo {changed} >&2; exit 1; fi"
    )


def _holding(state: PathState) -> str:
    """``holding 2 entries (a, b)``: a non-empty directory, for a refusal."""
    noun = "entry" if state.entry_count == 1 else "entries"
    return f"holding {state.entry_count} {noun} ({state.listing()})"


def _mount_refusal(path: str, state: PathState) -> str:
    mounts = state.mounts or ()
    what = (
        f"a directory {_holding(state)}"
        if state.kind == "directory" and state.entry_count
        else f"a {state.describe()}"
    )
    return (
        f"{path} is {what} with {len(mounts)} mount point{'s' if len(mounts) > 1 else ''} "
        f"at or below it ({', '.join(map(shown, mounts))}); refusing to delete it, even with "
        "force: nothing reached through a mount point is ever deleted. Unmount first, look at "
        "what it holds, then remove it by hand or run again"
    )


def plan(
    state: PathState,
    path: str,
    force: bool = False,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED,
    init_cleans: bool = False,
) -> Plan:
    """The plan for one path (already through :func:`check_path`).

    ``init_cleans``: the builder pod's chart removes an empty directory at the path itself
    (its ``filesystem`` init container runs ``rmdir`` when a pod is created): an empty
    directory then needs no command on the node, deleting the pod is the whole fix.

    socket or absent: nothing. Empty directory: ``rmdir``. Non-empty directory: refused with
    its listing, unless ``force`` (``rm -rf``, never through a symlink). Regular file or
    symlink: ``rm -f`` of the path itself, never a link's target. Anything else (fifo,
    device), a parent that breaks the parent rule, or a path with a mount point at or below
    it (even with ``force``): refused. ``force`` also needs the node's mount table to have
    been read: without it nobody knows what ``rm -r`` would reach.
    """
    if state.kind in ("absent", "socket"):
        return Plan()
    q = shlex.quote(path)
    now = (f"{path}  {state.describe()}", *(f"{path}/{shown(e)}" for e in state.entries))
    if state.entry_count > len(state.entries):
        now += (f"{path}/... and {state.entry_count - len(state.entries)} more",)
    now += tuple(f"{shown(m)}  mount point" for m in state.mounts or ())
    gone = (f"{path}  {TARGET_TEXT}",)
    kept = (f"{path}  unchanged (refused)",)

    escape = parent_escapes(state, path, allowed_prefixes)
    if escape:
        return Plan(refusal=escape, current=now, desired=kept)
    if state.mounts:
        return Plan(refusal=_mount_refusal(path, state), current=now, desired=kept)
    is_dir = f"[ -d {q} ] && [ ! -L {q} ]"  # [ -d ] follows links: rule the link out first
    if state.kind == "directory" and state.entry_count == 0 and init_cleans:
        return Plan(current=now, desired=(f"{path}  {INIT_CLEANS_TEXT}",))
    if state.kind == "directory" and state.entry_count == 0:
        # rmdir, as binderhub's init container and the runbook's fix: it refuses a directory
        # that something wrote into since the fact read it.
        return Plan(
            commands=(_command(path, state, is_dir, f"rmdir -- {q}", mounts=True),),
            current=now,
            desired=gone,
        )
    if state.kind == "directory":
        if not force:
            return Plan(
                refusal=(
                    f"{path} is a directory {_holding(state)}; refusing to delete it. Look at "
                    "what it holds, then remove it by hand or run again with force=True "
                    "(BINDERFIX_FORCE=1 for deploys/dind.py)"
                ),
                current=now,
                desired=kept,
            )
        if state.mounts is None:
            return Plan(
                refusal=(
                    f"could not read the node's mount table ({MOUNTINFO}), so what is mounted "
                    f"inside {path} is unknown; refusing to delete it, even with force"
                ),
                current=now,
                desired=kept,
            )
        # rm -r removes symlinks inside the tree, never what they point to. What keeps it
        # out of mounts is the mount guard in _command, just before it: --one-file-system
        # stops only at another device, not at a bind mount of the same filesystem, and
        # busybox's rm lacks it (so it is used only where rm knows it, as a second fence).
        rm = (
            f"if rm -f --one-file-system 2>/dev/null; then rm -rf --one-file-system -- {q}; "
            f"else rm -rf -- {q}; fi"
        )
        return Plan(
            commands=(_command(path, state, is_dir, rm, mounts=True, need_table=True),),
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
