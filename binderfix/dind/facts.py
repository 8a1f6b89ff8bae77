"""pyinfra facts for the Docker-in-Docker socket path."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra.api import FactBase

from binderfix.dind.paths import DEFAULT_ALLOWED, allowed_prefix
from binderfix.dind.state import PathState

MAX_ENTRIES = 50

# POSIX sh, for Debian, Ubuntu, COS and busybox nodes alike. The link test comes first:
# [ -S ] and [ -d ] follow symlinks, and a link must be reported as a link.
_SCRIPT = """p=$1; pre=$2
if [ -L "$p" ]; then echo kind=symlink; echo "target=$(readlink -- "$p")"
elif [ -S "$p" ]; then echo kind=socket
elif [ -d "$p" ]; then echo kind=directory
  echo "count=$(ls -A -- "$p" | wc -l)"; ls -A -- "$p" | head -n {max} | sed 's/^/entry=/'
elif [ -f "$p" ]; then echo kind=file
elif [ -e "$p" ]; then echo kind=other
else echo kind=absent; fi
d=$(dirname -- "$p")
[ -d "$d" ] && echo "parent_real=$(cd -P -- "$d" && pwd -P)"
[ -d "$pre" ] && echo "prefix_real=$(cd -P -- "$pre" && pwd -P)"
true"""


class SocketPathState(FactBase):
    """
    Returns what is at a socket path: a ``PathState`` whose ``kind`` is ``absent``,
    ``socket``, ``directory`` (with its first entries and their count), ``file``, ``symlink``
    (with its target) or ``other``; and the realpaths of its parent and of the allowed prefix
    it lies under, so that a symlinked parent can be refused.

    .. code:: python

        state = host.get_fact(SocketPathState, path="/var/run/dind/docker.sock")
        state.kind  # "directory"
    """

    def command(self, path: str, allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED) -> str:
        prefix = allowed_prefix(path, allowed_prefixes) or "/nonexistent"
        script = _SCRIPT.format(max=MAX_ENTRIES)
        return f"sh -c {shlex.quote(script)} - {shlex.quote(path)} {shlex.quote(prefix)}"

    def process(self, output: list[str]) -> PathState:
        fields: dict[str, str] = {}
        entries: list[str] = []
        for line in output:
            key, _, value = line.partition("=")
            if key == "entry":
                entries.append(value)
            else:
                fields[key] = value
        count = fields.get("count", "0").strip()
        return PathState(
            kind=fields.get("kind", "absent"),
            entries=tuple(entries),
            entry_count=int(count) if count.isdigit() else len(entries),
            target=fields.get("target", ""),
            parent_real=fields.get("parent_real", ""),
            prefix_real=fields.get("prefix_real", ""),
        )
