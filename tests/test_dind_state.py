"""The pure rules of "absent or a socket": which paths may be touched, and what to do."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binderfix.dind.facts import MAX_ENTRIES, SocketPathState
from binderfix.dind.paths import allowed_prefix, check_path
from binderfix.dind.state import (
    TARGET_TEXT,
    PathState,
    mountinfo_escape,
    mountinfo_unescape,
    parent_escapes,
    plan,
    shown,
)
from binderfix.errors import BinderfixError

P = "/var/run/dind/docker.sock"


def at(kind: str, **kw) -> PathState:
    """A state as the fact reads it on Debian, where /var/run -> /run."""
    kw.setdefault("parent_real", "/run/dind")
    kw.setdefault("prefix_real", "/run")
    kw.setdefault("mounts", ())  # the mount table was read: nothing mounted there
    return PathState(kind=kind, **kw)


# check_path: refused before anything is touched


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "empty"),
        ("var/run/dind/docker.sock", "relative"),
        ("./docker.sock", "relative"),
        ("/var/run/../etc/passwd", "'..'"),
        ("/var/run/dind/../../../etc", "'..'"),
        ("/var/run/./dind/docker.sock", "'.'"),
        ("/", "refusing to act on /"),
        ("//", "refusing to act on /"),
        ("/var/runx/docker.sock", "outside"),
        ("/var/run-dind/docker.sock", "outside"),
        ("/etc/docker.sock", "outside"),
        ("/var/run", "allowed prefix itself"),
        ("/run/", "allowed prefix itself"),
        ("/var/run/dind\n/docker.sock", "control character"),
    ],
)
def test_paths_that_may_not_be_touched(path: str, why: str) -> None:
    with pytest.raises(BinderfixError, match=why) as err:
        check_path(path)
    assert err.value.hint  # what to do, not only what went wrong


def test_paths_under_var_run_and_run_are_fine() -> None:
    assert check_path("/var/run/dind/docker.sock") == P
    assert check_path("/run//pink/podman.sock") == "/run/pink/podman.sock"
    assert check_path("/var/run/dind/docker.sock/") == P  # the runbook's own spelling
    assert check_path("//var/run/dind/docker.sock") == P


def test_prefixes_are_compared_component_wise_and_can_be_widened() -> None:
    assert allowed_prefix("/var/runx/a") is None
    assert allowed_prefix("/var/run/a") == "/var/run"
    assert check_path("/srv/sock/a.sock", ["/srv/sock/"]) == "/srv/sock/a.sock"
    with pytest.raises(BinderfixError, match="outside"):
        check_path("/srv/socks/a.sock", ["/srv/sock"])
    # A relative prefix, or one with "..", allows nothing.
    with pytest.raises(BinderfixError, match="outside"):
        check_path("/var/run/a", ["var/run", "/var/run/../run"])
    # The longest prefix is the one whose realpath the fact reads.
    assert allowed_prefix("/var/run/dind/x", ["/var/run", "/var/run/dind"]) == "/var/run/dind"


segment = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=8)


@given(st.lists(segment, min_size=1, max_size=6), st.sampled_from(["/var/run", "/run", "/etc"]))
def test_an_accepted_path_is_always_strictly_under_an_allowed_prefix(
    parts: list[str], base: str
) -> None:
    path = base + "/" + "/".join(parts)
    try:
        normal = check_path(path)
    except BinderfixError:
        return
    assert normal == posixpath.normpath(normal) and ".." not in normal.split("/")
    assert normal.startswith(("/var/run/", "/run/"))


# plan: the node states


@pytest.mark.parametrize("kind", ["absent", "socket"])
def test_a_socket_or_nothing_is_left_alone(kind: str) -> None:
    todo = plan(at(kind), P)
    assert not todo.changes and not todo.commands and not todo.refusal


def test_absent_needs_no_parent_at_all() -> None:
    assert not plan(PathState(kind="absent"), P).changes


def test_an_empty_directory_is_rmdired() -> None:
    todo = plan(at("directory"), P)
    assert not todo.refusal and len(todo.commands) == 1
    cmd = todo.commands[0]
    assert f"; rmdir -- {P}; elif" in cmd and "rm -" not in cmd
    assert f"[ -d {P} ] && [ ! -L {P} ]" in cmd  # still a directory, and not through a link
    assert todo.current == (f"{P}  directory (empty)",)
    assert todo.desired == (f"{P}  absent (the builder will create its socket)",)


def test_a_non_empty_directory_is_refused_with_its_listing() -> None:
    full = at("directory", entries=("keep.txt", "build.log"), entry_count=2)
    refused = plan(full, P)
    assert not refused.commands and refused.changes
    assert "holding 2 entries (keep.txt, build.log)" in refused.refusal
    assert "force" in refused.refusal
    assert refused.current == (
        f"{P}  directory holding 2 entries",
        f"{P}/keep.txt",
        f"{P}/build.log",
    )
    assert refused.desired == (f"{P}  unchanged (refused)",)


def test_a_long_listing_says_how_many_more() -> None:
    names = tuple(f"f{i}" for i in range(MAX_ENTRIES))
    todo = plan(at("directory", entries=names, entry_count=MAX_ENTRIES + 7), P)
    assert f"{P}/... and 7 more" in todo.current
    assert todo.refusal.endswith(
        "run again with force=True (BINDERFIX_FORCE=1 for deploys/dind.py)"
    )
    assert ", ...)" in todo.refusal


def test_a_non_empty_directory_is_removed_with_force_never_through_a_link() -> None:
    full = at("directory", entries=("keep.txt",), entry_count=1)
    cmd = plan(full, P, force=True).commands[0]
    assert f"[ -d {P} ] && [ ! -L {P} ]; then " in cmd
    assert f"then rm -rf --one-file-system -- {P}; else rm -rf -- {P}; fi" in cmd
    assert plan(full, P, force=True).desired == (f"{P}  {TARGET_TEXT}",)


@pytest.mark.parametrize(
    ("kind", "target"),
    [("file", ""), ("symlink", "/root/precious"), ("symlink", "/var/lib/dind")],
)
def test_a_file_or_link_is_removed_without_following_it(kind: str, target: str) -> None:
    """A symlink to a file or to a directory: the link goes, never what it points to."""
    todo = plan(at(kind, target=target), P)
    (cmd,) = todo.commands
    assert f"if [ -L {P} ] || [ -f {P} ]; then rm -f -- {P};" in cmd
    assert "rm -r" not in cmd and "rmdir" not in cmd and f"{P}/" not in cmd
    if kind == "symlink":
        assert target not in cmd
        assert todo.current == (f"{P}  symlink to {target}",)


def test_force_does_not_change_how_a_link_to_a_directory_is_treated() -> None:
    assert plan(at("symlink", target="/etc"), P, force=True) == plan(
        at("symlink", target="/etc"), P
    )


def test_a_fifo_or_device_is_refused() -> None:
    todo = plan(at("other"), P, force=True)
    assert not todo.commands and "special file" in todo.refusal


def test_commands_check_the_parent_again_when_they_run() -> None:
    cmd = plan(at("directory"), P).commands[0]
    assert cmd.startswith('[ "$(cd -P -- /var/run/dind && pwd -P)" = /run/dind ] || {')


def test_paths_are_quoted_in_commands() -> None:
    path = "/run/my dind/it's.sock"
    state = PathState(kind="file", parent_real="/run/my dind", prefix_real="/run")
    cmd = plan(state, path).commands[0]
    assert "rm -f -- '/run/my dind/it'\"'\"'s.sock'" in cmd


# The parent rule


def test_a_parent_that_resolves_through_a_symlink_is_refused() -> None:
    # /var/run/dind -> /etc
    escaped = at("directory", parent_real="/etc")
    assert "resolves through a symlink to /etc" in plan(escaped, P).refusal
    # /var/run/dind -> /run/other: still under /run, but not where the path says.
    sideways = at("directory", parent_real="/run/other")
    assert "resolves through a symlink" in plan(sideways, P).refusal
    assert not plan(escaped, P).commands


def test_var_run_and_run_are_the_same_place_on_debian() -> None:
    # Debian: /var/run -> /run. Both spellings of the path are fine.
    assert plan(at("directory"), P).commands
    assert plan(at("directory"), "/run/dind/docker.sock").commands
    # A distro where /var/run is a real directory.
    real = PathState(kind="directory", parent_real="/var/run/dind", prefix_real="/var/run")
    assert plan(real, P).commands


def test_a_prefix_that_resolves_outside_every_allowed_prefix_is_refused() -> None:
    # /var/run -> /etc: nothing below the prefix is a link, but the prefix leads out.
    state = at("directory", parent_real="/etc/dind", prefix_real="/etc")
    assert "outside /var/run, /run" in plan(state, P).refusal
    # Allowing /var/run alone on Debian refuses too: the realpath is under /run.
    assert plan(at("directory"), P, allowed_prefixes=["/var/run"]).refusal


def test_a_parent_that_could_not_be_resolved_is_refused() -> None:
    assert "could not resolve" in plan(PathState(kind="file"), P).refusal
    assert "could not resolve" in parent_escapes(PathState(kind="file", prefix_real="/run"), P)


def test_the_socket_directly_under_the_prefix() -> None:
    state = PathState(kind="directory", parent_real="/run", prefix_real="/run")
    assert plan(state, "/var/run/docker.sock").commands


# The fact's parser


def test_the_fact_parses_its_command_output() -> None:
    fact = SocketPathState()
    out = ["mount=/run/dind/docker.sock/a\\040b", "mounts=read", "parent_real=/run/dind"]
    out += ["prefix_real=/run", "kind=directory", "count=3", "entries=61006220630a00"]
    state = fact.process([*out, "kind=socket", "mount=/elsewhere", "mounts=read", "entries=7800"])
    assert state == PathState(
        kind="directory",
        entries=("a", "b c\n"),  # hex bytes: a newline in a name is a newline in the name
        entry_count=3,
        parent_real="/run/dind",
        prefix_real="/run",
        mounts=("/run/dind/docker.sock/a b",),  # mountinfo's escapes undone
    )
    # A link's target in hex too, with readlink's newline after it.
    target = ("/else\nwhere\udcff\n".encode("utf-8", "surrogateescape")).hex()
    assert fact.process(["kind=symlink", f"target={target}"]).target == "/else\nwhere\udcff"
    assert (
        "symlink to /else\\nwhere\\xff"
        in plan(
            fact.process(
                ["parent_real=/run/dind", "prefix_real=/run", "kind=symlink", f"target={target}"]
            ),
            P,
        ).current[0]
    )


def test_mount_lines_count_only_in_the_head_block() -> None:
    """Only the shell's first lines come from the mount table; anything later (a link
    target holding a newline) can neither add a mount point nor say the table was read."""
    fact = SocketPathState()
    late = fact.process(["parent_real=/run/dind", "kind=symlink", "target=x", "mounts=read"])
    assert late.mounts is None
    assert fact.process(["mounts=read", "kind=file", "mount=/run/x"]).mounts == ()
    # No "mounts=read": the table was not read (whole), so nothing is known.
    assert fact.process(["mount=/run/dind/docker.sock", "kind=directory"]).mounts is None


def test_the_fact_keeps_the_first_value_of_a_key() -> None:
    # A link target holding a newline cannot make a link look like a socket.
    state = SocketPathState().process(["kind=symlink", "target=2f780a", "kind=socket"])
    assert state.kind == "symlink"


def test_the_fact_never_invents_a_kind() -> None:
    fact = SocketPathState()
    assert fact.process([]) is None
    assert fact.process(["garbage"]) is None
    assert fact.process(["kind=weird"]).kind == "other"
    assert fact.process(["kind=directory", "count=x"]).entry_count == 0


def test_the_fact_command_quotes_its_arguments() -> None:
    cmd = SocketPathState().command("/run/a b/c.sock")
    assert cmd.startswith("sh -c '")
    assert cmd.endswith(" - '/run/a b/c.sock' '/run/a b' /run")
    assert SocketPathState().command(P).endswith(f" - {P} /var/run/dind /var/run")


# Mount points and awkward names


def test_a_mount_point_at_or_below_the_path_is_refused_even_with_force() -> None:
    full = at("directory", entries=("sub", "own.txt"), entry_count=2, mounts=("/run/x/a b",))
    for force in (False, True):
        todo = plan(full, P, force=force)
        assert not todo.commands
        assert "holding 2 entries (sub, own.txt) with 1 mount point at or below it" in (
            todo.refusal
        )
        assert "(/run/x/a b); refusing to delete it, even with force" in todo.refusal
    assert "/run/x/a b  mount point" in plan(full, P).current
    # An empty directory that is itself a mount point: refused, not rmdir'd into EBUSY.
    own = plan(at("directory", mounts=("/run/dind/docker.sock",)), P)
    assert not own.commands and "directory (empty) with 1 mount point" in own.refusal


def test_force_needs_the_mount_table() -> None:
    unknown = at("directory", entries=("a",), entry_count=1, mounts=None)
    todo = plan(unknown, P, force=True)
    assert not todo.commands and "could not read the node's mount table" in todo.refusal
    # rmdir cannot delete anything but an empty directory: no table needed for it.
    assert plan(at("directory", mounts=None), P).commands


def test_the_commands_read_the_mount_table_again() -> None:
    full = at("directory", entries=("a",), entry_count=1)
    (forced,) = plan(full, P, force=True).commands
    # The realpath (parent's realpath + name), in mountinfo's spelling, then rm.
    guard = "case $x in /run/dind/docker.sock|/run/dind/docker.sock/*)"
    assert guard in forced and "grep -F -e ' /run/dind/docker.sock '" in forced
    assert forced.index(guard) < forced.index("rm -rf")
    assert "[ -r /proc/self/mountinfo ] && " in forced  # unreadable: fail, never guess
    (rmdir,) = plan(at("directory"), P).commands
    assert guard in rmdir
    spaced = PathState(kind="directory", parent_real="/run/a b", prefix_real="/run", mounts=())
    (cmd,) = plan(spaced, "/run/a b/c.sock").commands
    assert "case $x in '/run/a\\040b/c.sock'|'/run/a\\040b/c.sock'/*)" in cmd


def test_mountinfo_spelling_round_trips() -> None:
    odd = "/run/a b\tc\nd\\e"
    assert mountinfo_escape(odd) == "/run/a\\040b\\011c\\012d\\134e"
    assert mountinfo_unescape(mountinfo_escape(odd)) == odd


def test_names_are_shown_on_one_line_and_never_as_options() -> None:
    names = ("-rf", "a\nb", "back\\slash", "bad\udcff", "bell\x07")
    full = at("directory", entries=names, entry_count=5)
    assert shown("a\nb") == "a\\nb" and shown("bad\udcff") == "bad\\xff"
    assert "holding 5 entries (./-rf, a\\nb, back\\\\slash, bad\\xff, bell\\x07)" in (
        plan(full, P).refusal
    )
    assert f"{P}/a\\nb" in plan(full, P).current
    assert all("\n" not in line for line in plan(full, P).current + plan(full, P).desired)


def test_on_a_chart_whose_init_container_cleans_an_empty_directory_is_left_to_it() -> None:
    from binderfix.dind.state import INIT_CLEANS_TEXT

    todo = plan(at("directory"), P, init_cleans=True)
    assert not todo.commands and not todo.refusal and not todo.changes
    assert todo.desired == (f"{P}  {INIT_CLEANS_TEXT}",)
    # The init container's rmdir fails on a non-empty directory: the guards are still needed.
    full = at("directory", entries=("keep.txt",), entry_count=1)
    assert plan(full, P, init_cleans=True).refusal
    assert plan(full, P, force=True, init_cleans=True) == plan(full, P, force=True)
