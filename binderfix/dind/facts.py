"""pyinfra facts for the Docker-in-Docker socket path."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

from pyinfra.api import FactBase

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix
from binderfix.dind.state import KINDS, PathState

MAX_ENTRIES = 50
ENTRIES_MARKER = "--binderfix-entries--"

# POSIX sh, for Debian, Ubuntu, COS and busybox nodes alike: only test, cd -P/pwd -P
# (shell builtins, so no realpath binary needed), readlink, ls, wc and head.
# $1 path, $2 its parent, $3 the allowed prefix it lies under.
#
# Order matters for a safe parse: the realpaths and the kind come first, and the parser
# keeps the first value of each key, so a link target holding a newline cannot fake a
# key. The directory's entries come last, after a marker: every line after it is a name.
# printf, not echo, for values: dash's echo would expand backslashes in a name.
# The link test comes first: [ -S ] and [ -d ] follow symlinks, and a link must be
# reported as a link.
_SCRIPT = """p=$1; d=$2; pre=$3
[ -d "$d" ] && printf 'parent_real=%s\\n' "$(cd -P -- "$d" && pwd -P)"
[ -d "$pre" ] && printf 'prefix_real=%s\\n' "$(cd -P -- "$pre" && pwd -P)"
if [ -L "$p" ]; then echo kind=symlink; printf 'target=%s\\n' "$(readlink -- "$p")"
elif [ -S "$p" ]; then echo kind=socket
elif [ -d "$p" ]; then echo kind=directory; echo "count=$(ls -A -- "$p" | wc -l)"
  echo {marker}; ls -A -- "$p" | head -n {max}
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
    prefix it lies under (``prefix_real``), so that a symlinked parent can be refused.
    ``None`` if the command printed nothing (it always prints a kind when it runs).

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
        script = _SCRIPT.format(max=MAX_ENTRIES, marker=ENTRIES_MARKER)
        args = (path, posixpath.dirname(path) or "/", prefix)
        return f"sh -c {shlex.quote(script)} - " + " ".join(shlex.quote(a) for a in args)

    @staticmethod
    def default() -> PathState | None:
        return None

    def process(self, output: list[str]) -> PathState | None:
        fields: dict[str, str] = {}
        entries: list[str] = []
        in_entries = False
        for line in output:
            if in_entries:
                entries.append(line)
            elif line == ENTRIES_MARKER:
                in_entries = True
            else:
                key, sep, value = line.partition("=")
                if sep:
                    fields.setdefault(key, value)  # the first value wins (see _SCRIPT)
        kind = fields.get("kind")
        if kind is None:
            return None
        if kind not in KINDS:
            kind = "other"  # never guess a kind the plan would act on
        count = fields.get("count", "").strip()
        return PathState(
            kind=kind,
            entries=tuple(entries[:MAX_ENTRIES]),
            # A name holding a newline counts twice: the count is for people to read; the
            # decision to rmdir is safe anyway, since rmdir refuses a non-empty directory.
            entry_count=max(int(count), len(entries)) if count.isdigit() else len(entries),
            target=fields.get("target", ""),
            parent_real=fields.get("parent_real", ""),
            prefix_real=fields.get("prefix_real", ""),
        )
