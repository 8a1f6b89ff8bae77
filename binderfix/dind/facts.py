"""pyinfra facts for the Docker-in-Docker socket path."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

from pyinfra.api import FactBase

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix
from binderfix.dind.state import KINDS, MOUNTINFO, PathState, mountinfo_unescape

MAX_ENTRIES = 50

# POSIX sh, for Debian, Ubuntu, COS and busybox nodes alike: only test, cd -P/pwd -P
# (shell builtins, so no realpath binary needed), read, readlink, sed, grep, od and tr.
# $1 path, $2 its parent, $3 the allowed prefix it lies under.
#
# The output cannot be spoofed by a name holding a newline:
# - The mount points come first, each one line (the kernel escapes a newline in
#   mountinfo as \012), closed by "mounts=read" only when the table was read (grep
#   exits 1 for no match, 2 for an error); the parser takes mount lines only from that
#   head block.
# - Then the realpaths and the kind; the parser keeps the first value of each key.
# - A link's target, as hex bytes (od): it may hold a newline, or bytes that are not
#   UTF-8, on which pyinfra's reading of the output would fail.
# - A directory's entries are counted by the shell's glob, not by counting lines of ls,
#   and the first ones printed as one line of hex bytes (od), NUL-separated: a name can
#   hold anything but NUL and "/".
# The mount table names the path by its realpath (parent's realpath + name), in the
# table's own escaping (sed). grep -F picks the few candidate lines in one process (a
# shell's read loop over a node's thousand mounts is slow); the fifth field, the mount
# point, is then compared literally by case (a quoted pattern). A realpath holding a
# newline is not compared at all: the table stays unread and force is refused.
# printf, not echo, for values: dash's echo would expand backslashes in a name.
# The link test comes first: [ -S ] and [ -d ] follow symlinks, and a link must be
# reported as a link.
_SCRIPT = """p=$1; d=$2; pre=$3; dr=; pr=; e=
[ -d "$d" ] && dr=$(cd -P -- "$d" && pwd -P)
[ -d "$pre" ] && pr=$(cd -P -- "$pre" && pwd -P)
case $dr in *'
'*) ;; /*) e=$(printf '%s\\n' "${{dr%/}}/${{p##*/}}" |
  sed -e 's/\\\\/\\\\134/g' -e 's/ /\\\\040/g' -e 's/\t/\\\\011/g');; esac
if [ -n "$e" ] && [ -r {mountinfo} ] && {{ l=$(grep -F -e " $e " -e " $e/" {mountinfo}) ||
    [ $? -eq 1 ]; }}; then
  printf '%s\\n' "$l" | while read -r _ _ _ _ m _; do
    case $m in "$e"|"$e"/*) printf 'mount=%s\\n' "$m";; esac
  done
  echo mounts=read
fi
[ -n "$dr" ] && printf 'parent_real=%s\\n' "$dr"
[ -n "$pr" ] && printf 'prefix_real=%s\\n' "$pr"
if [ -L "$p" ]; then echo kind=symlink
  printf 'target=%s\\n' "$(readlink -- "$p" | od -An -tx1 -v | tr -d ' \\n')"
elif [ -S "$p" ]; then echo kind=socket
elif [ -d "$p" ]; then echo kind=directory
  set -- "$p"/* "$p"/.[!.]* "$p"/..?*; n=0
  for f; do [ -e "$f" ] || [ -L "$f" ] && n=$((n + 1)); done
  echo "count=$n"; printf 'entries='; n=0
  for f; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    n=$((n + 1)); [ "$n" -le {max} ] || break
    printf '%s\\000' "${{f##*/}}"
  done | od -An -tx1 -v | tr -d ' \\n'; echo
elif [ -f "$p" ]; then echo kind=file
elif [ -e "$p" ]; then echo kind=other
else echo kind=absent; fi
true"""


class SocketPathState(FactBase[PathState | None]):
    """
    Returns what is at a socket path, as a ``PathState``: its ``kind`` (``absent``,
    ``socket``, ``directory``, ``file``, ``symlink`` or ``other`` for a fifo or device), a
    directory's first 50 ``entries`` and their ``entry_count``, a symlink's ``target`` (never
    followed), and the realpaths of the path's parent (``parent_real``) and of the allowed
    prefix it lies under (``prefix_real``), so that a symlinked parent can be refused, and
    the ``mounts`` at or below the path from the node's mount table (``None`` if the table
    could not be read). ``None`` if the command printed nothing (it always prints a kind when it runs).

    + path: the socket's path (absolute, as ``check_path`` returns it)
    + allowed_prefixes: used only to pick the prefix whose realpath is read

    .. code:: python

        state = host.get_fact(SocketPathState, path="/var/run/dind/docker.sock")
        state.kind  # "directory"
    """

    def command(self, path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str:
        # A path outside every prefix is refused by the operation before this runs; for a
        # direct get_fact, a prefix that cannot exist leaves prefix_real empty.
        prefix = allowed_prefix(path, allowed_prefixes) or "/nonexistent"
        script = _SCRIPT.format(max=MAX_ENTRIES, mountinfo=MOUNTINFO)
        args = (path, posixpath.dirname(path) or "/", prefix)
        return f"sh -c {shlex.quote(script)} - " + " ".join(shlex.quote(a) for a in args)

    @staticmethod
    def default() -> PathState | None:
        return None

    def process(self, output: list[str]) -> PathState | None:
        mounts: list[str] = []
        mounts_read = False
        fields: dict[str, str] = {}
        entries: list[str] = []
        head = True  # the mount block, before any other key (see _SCRIPT)
        for line in output:
            key, sep, value = line.partition("=")
            if not sep:
                continue
            if head and key == "mount":
                mounts.append(mountinfo_unescape(value))
                continue
            if head and line == "mounts=read":
                mounts_read = True
                head = False
                continue
            head = False
            if key == "entries" and not entries:
                names = _from_hex(value)
                entries = names.split("\0")[:-1] if names is not None else ["?"]
            elif key not in ("mount", "mounts"):
                fields.setdefault(key, value)  # the first value wins (see _SCRIPT)
        kind = fields.get("kind")
        if kind is None:
            return None
        if kind not in KINDS:
            kind = "other"  # never guess a kind the plan would act on
        if kind != "directory":
            entries = []
        count = fields.get("count", "").strip()
        return PathState(
            kind=kind,
            entries=tuple(entries[:MAX_ENTRIES]),
            entry_count=max(int(count), len(entries)) if count.isdigit() else len(entries),
            target=_target_from_hex(fields.get("target", "")),
            parent_real=fields.get("parent_real", ""),
            prefix_real=fields.get("prefix_real", ""),
            mounts=tuple(mounts) if mounts_read else None,
        )


def _from_hex(value: str) -> str | None:
    """Bytes as the fact prints them (od's hex) back to str, or None if they are not hex.

    Bytes that are not UTF-8 become surrogates, as ``os.fsdecode`` makes them, shown as
    ``\\xNN`` (see ``shown``).
    """
    try:
        return bytes.fromhex(value).decode("utf-8", "surrogateescape")
    except ValueError:
        return None


def _target_from_hex(value: str) -> str:
    target = _from_hex(value) or ""
    return target[:-1] if target.endswith("\n") else target  # readlink's own newline
