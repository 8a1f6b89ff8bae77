"""The pure rules of "absent or a socket": which paths may be touched, and what to do."""

from __future__ import annotations

import pytest

from binderfix.dind.facts import SocketPathState
from binderfix.dind.paths import check_path
from binderfix.dind.state import PathState, plan
from binderfix.errors import BinderfixError

P = "/var/run/dind/docker.sock"


def at(kind: str, **kw) -> PathState:
    return PathState(kind=kind, parent_real="/run/dind", prefix_real="/run", **kw)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "empty"),
        ("var/run/dind/docker.sock", "relative"),
        ("/var/run/../etc/passwd", "'..'"),
        ("/", "outside"),
        ("/var/runx/docker.sock", "outside"),
        ("/etc/docker.sock", "outside"),
        ("/var/run", "outside"),
    ],
)
def test_paths_that_may_not_be_touched(path: str, why: str) -> None:
    with pytest.raises(BinderfixError, match=why if why != "outside" else "outside|refusing"):
        check_path(path)


def test_paths_under_var_run_and_run_are_fine() -> None:
    assert check_path("/var/run/dind/docker.sock") == P
    assert check_path("/run//pink/podman.sock") == "/run/pink/podman.sock"


@pytest.mark.parametrize("kind", ["absent", "socket"])
def test_a_socket_or_nothing_is_left_alone(kind: str) -> None:
    assert not plan(at(kind), P).changes


def test_an_empty_directory_is_rmdired() -> None:
    todo = plan(at("directory"), P)
    assert todo.commands == (f"rmdir -- {P}",) and not todo.refusal
    assert "directory (empty)" in todo.current[0] and "absent" in todo.desired[0]


def test_a_non_empty_directory_is_refused_with_its_listing_unless_forced() -> None:
    full = at("directory", entries=("keep.txt", "build.log"), entry_count=2)
    refused = plan(full, P)
    assert (
        not refused.commands
        and "keep.txt, build.log" in refused.refusal
        and "BINDERFIX_FORCE" in refused.refusal
    )
    assert f"{P}/keep.txt" in refused.current
    forced = plan(full, P, force=True)
    assert "rm -rf --one-file-system" in forced.commands[0] and "[ ! -L" in forced.commands[0]


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_link_is_removed_without_following_it(kind: str) -> None:
    todo = plan(at(kind, target="/etc/shadow"), P)
    assert todo.commands == (f"if [ -L {P} ] || [ -f {P} ]; then rm -f -- {P}; fi",)


def test_a_fifo_is_refused() -> None:
    assert "refusing" in plan(at("other"), P).refusal


def test_a_parent_that_resolves_through_a_symlink_is_refused() -> None:
    escaped = PathState(kind="directory", parent_real="/etc", prefix_real="/run")
    assert "resolves through a symlink" in plan(escaped, P).refusal
    # Debian's own /var/run -> /run is not an escape.
    assert not plan(
        PathState(kind="directory", parent_real="/run/dind", prefix_real="/run"), P
    ).refusal


def test_the_fact_parses_its_command_output() -> None:
    fact = SocketPathState()
    state = fact.process(
        [
            "kind=directory",
            "count=3",
            "entry=a",
            "entry=b c",
            "entry=d",
            "parent_real=/run/dind",
            "prefix_real=/run",
        ]
    )
    assert state == PathState(
        kind="directory",
        entries=("a", "b c", "d"),
        entry_count=3,
        parent_real="/run/dind",
        prefix_real="/run",
    )
    assert fact.process(["kind=symlink", "target=/elsewhere"]).target == "/elsewhere"
    assert fact.command(P).endswith(f"{P} /var/run")
