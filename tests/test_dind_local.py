"""The fact and the operation for real: pyinfra's @local connector against real sockets,
directories, files and symlinks under a temporary directory (the allowed prefix).

No sandbox, no root needed beyond owning the temp dir: the same fact command and the same
guarded shell commands that run over SSH on a node run here, through pyinfra's CLI (as a
user's deploy) and its API (for the OperationMeta a later step reads).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops

from binderfix.dind.facts import SocketPathState
from binderfix.dind.operations import socket_path
from binderfix.dind.state import PathState, plan
from tests.conftest import PYINFRA, run

# A user's deploy: one socket_path per path, each followed by a step that reads the
# OperationMeta the way binderfix.kube.operations does, and says what it learned.
DEPLOY = """
import json, os
from pyinfra import host, logger, state
from pyinfra.api import operation
from binderfix.dind.operations import socket_path

@operation()
def report(meta, label):
    # did_change() raises before the step ran: while planning, ask will_change.
    changed = meta.did_change() if state.is_executing else meta.will_change
    host.log(f"RESULT {label} changed={changed}", logger.info)
    yield from ()

spec = json.loads(os.environ["DIND_TEST_SPEC"])
for i, op in enumerate(spec["ops"]):
    fixed = socket_path(
        name=f"socket path {i}",
        path=op["path"],
        force=op.get("force", False),
        allowed_prefixes=tuple(spec["allowed"]),
    )
    report(name=f"report {i}", meta=fixed, label=op["path"])
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """The allowed prefix: a real directory (resolved, so its realpath is itself)."""
    root = tmp_path.resolve() / "run"
    (root / "dind").mkdir(parents=True)
    return root


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Bound sockets stay open for the test: a builder holding its socket."""
    held: list[socket.socket] = []
    yield held
    for s in held:
        s.close()


def make_socket(path: Path, held: list[socket.socket]) -> int:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    held.append(s)
    return path.lstat().st_ino


def pyinfra(
    tmp_path: Path, ops: list[dict], allowed: list[Path], *flags: str
) -> subprocess.CompletedProcess[str]:
    """`pyinfra @local deploy.py FLAGS`, as a user runs their own deploy."""
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY)
    spec = {
        "ops": [{**op, "path": str(op["path"])} for op in ops],
        "allowed": list(map(str, allowed)),
    }
    env = {**os.environ, "DIND_TEST_SPEC": json.dumps(spec), "NO_COLOR": "1"}
    return run(PYINFRA, "@local", str(deploy), *flags, env=env, cwd=tmp_path, timeout=60)


def results(proc: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """From `-y --json`: which operations changed, did nothing, failed."""
    ops = json.loads(proc.stdout)["results"]["operations"]
    by = {"success": [], "no_change": [], "error": []}
    for op in ops:
        if op["name"].startswith("socket path"):
            for key in by:
                if op[key]:
                    by[key].append(op["name"])
    return by


def test_apply_reaches_the_goal_and_a_second_apply_changes_nothing(
    tmp_path: Path, base: Path, sockets: list[socket.socket]
) -> None:
    d = base / "dind"
    sock, absent, empty, stray = d / "docker.sock", d / "absent.sock", d / "empty", d / "stray"
    link_file, link_dir = d / "link-file", d / "link-dir"
    inode = make_socket(sock, sockets)
    empty.mkdir()
    stray.write_text("stray\n")
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    target_dir = tmp_path / "lib-dind"  # a link to a directory must not be followed
    target_dir.mkdir()
    (target_dir / "image.tar").write_text("layers\n")
    link_file.symlink_to(precious)
    link_dir.symlink_to(target_dir)
    ops = [{"path": p} for p in (sock, absent, empty, stray, link_file, link_dir)]

    out = pyinfra(tmp_path, ops, [base], "-y", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert results(out) == {
        "success": ["socket path 2", "socket path 3", "socket path 4", "socket path 5"],
        "no_change": ["socket path 0", "socket path 1"],
        "error": [],
    }
    # The socket is the same socket; everything else is gone, and no link was followed.
    assert sock.is_socket() and sock.lstat().st_ino == inode
    for gone in (absent, empty, stray, link_file, link_dir):
        assert not os.path.lexists(gone), gone
    assert precious.read_text() == "precious\n"
    assert (target_dir / "image.tar").read_text() == "layers\n"
    # A later step learns from the OperationMeta whether the host changed.
    assert f"RESULT {sock} changed=False" in out.stderr
    assert f"RESULT {empty} changed=True" in out.stderr
    # With -y pyinfra does not plan, so the diff shows while applying.
    assert f"- {empty}  directory (empty)" in out.stderr
    assert f"+ {empty}  absent (the builder will create its socket)" in out.stderr

    again = pyinfra(tmp_path, ops, [base], "-y", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert results(again)["success"] == [] and len(results(again)["no_change"]) == 6
    assert "changed=True" not in again.stderr and "Will change" not in again.stderr
    assert sock.lstat().st_ino == inode


def test_dry_run_prints_the_diff_per_path_and_changes_nothing(
    tmp_path: Path, base: Path, sockets: list[socket.socket]
) -> None:
    d = base / "dind"
    sock, empty, full, link = d / "docker.sock", d / "empty", d / "full", d / "link"
    make_socket(sock, sockets)
    empty.mkdir()
    full.mkdir()
    (full / "keep.txt").write_text("x\n")
    link.symlink_to(tmp_path)
    before = {p: p.lstat() for p in (sock, empty, full, full / "keep.txt", link)}
    ops = [{"path": p} for p in (sock, empty, full, link)]

    out = pyinfra(tmp_path, ops, [base], "--dry")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert f"[@local] Will change {empty}" in text
    assert f"- {empty}  directory (empty)" in text
    assert f"+ {empty}  absent (the builder will create its socket)" in text
    assert f"[@local] Will refuse to change {full}" in text
    assert f"- {full}  directory holding 1 entry" in text and f"- {full}/keep.txt" in text
    assert f"+ {full}  unchanged (refused)" in text
    assert f"- {link}  symlink to {tmp_path}" in text
    assert f"Will change {sock}" not in text
    assert f"RESULT {empty} changed=True" in text and f"RESULT {sock} changed=False" in text
    for p, st in before.items():
        assert p.lstat().st_ino == st.st_ino and p.lstat().st_mtime_ns == st.st_mtime_ns, p


def test_a_non_empty_directory_fails_the_host_with_its_listing_unless_forced(
    tmp_path: Path, base: Path
) -> None:
    full = base / "dind" / "docker.sock"
    full.mkdir()
    (full / "keep.txt").write_text("x\n")
    (full / "build.log").write_text("log\n")
    outside = tmp_path / "outside"  # rm -r must not follow a link inside the tree
    outside.mkdir()
    (outside / "data").write_text("data\n")
    (full / "escape").symlink_to(outside)

    out = pyinfra(tmp_path, [{"path": full}], [base], "-y")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "holding 3 entries (build.log, escape, keep.txt)" in text
    assert "Traceback" not in text
    assert (full / "keep.txt").read_text() == "x\n" and (full / "escape").is_symlink()

    forced = pyinfra(tmp_path, [{"path": full, "force": True}], [base], "-y")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert not os.path.lexists(full)
    assert (outside / "data").read_text() == "data\n"


def test_a_fifo_is_refused(tmp_path: Path, base: Path) -> None:
    fifo = base / "dind" / "docker.sock"
    os.mkfifo(fifo)
    out = pyinfra(tmp_path, [{"path": fifo, "force": True}], [base], "-y")
    assert out.returncode != 0 and "special file (fifo or device)" in out.stdout + out.stderr
    assert fifo.exists()


def test_a_parent_symlinked_out_of_the_prefix_is_refused(tmp_path: Path) -> None:
    base = tmp_path.resolve() / "run"
    base.mkdir()
    etc = tmp_path.resolve() / "etc"
    (etc / "docker.sock").mkdir(parents=True)  # what the operation would remove
    (base / "dind").symlink_to(etc)  # /var/run/dind -> /etc
    path = base / "dind" / "docker.sock"

    out = pyinfra(tmp_path, [{"path": path}], [base], "-y")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert f"resolves through a symlink to {etc}" in text
    assert (etc / "docker.sock").is_dir()


def test_var_run_as_a_symlink_to_run_is_fine(tmp_path: Path) -> None:
    """Debian's /var/run -> /run, with both names allowed, as by default."""
    root = tmp_path.resolve()
    run_dir, var_run = root / "run", root / "var" / "run"
    (run_dir / "dind" / "docker.sock").mkdir(parents=True)
    var_run.parent.mkdir()
    var_run.symlink_to(run_dir)

    out = pyinfra(tmp_path, [{"path": var_run / "dind" / "docker.sock"}], [var_run, run_dir], "-y")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not (run_dir / "dind" / "docker.sock").exists()
    # Allowing only the link's name: its realpath lies outside, so it is refused.
    (run_dir / "dind" / "docker.sock").mkdir()
    only = pyinfra(tmp_path, [{"path": var_run / "dind" / "docker.sock"}], [var_run], "-y")
    assert only.returncode != 0 and (run_dir / "dind" / "docker.sock").is_dir()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/etc/docker.sock", "outside"),
        ("{base}/../etc/x", "'..'"),
        ("dind/docker.sock", "relative"),
    ],
)
def test_a_bad_path_stops_the_deploy_before_any_host_is_read(
    tmp_path: Path, base: Path, path: str, why: str
) -> None:
    out = pyinfra(tmp_path, [{"path": path.format(base=base)}], [base], "--dry")
    assert out.returncode != 0
    assert why in out.stdout + out.stderr


def test_a_bad_path_stops_an_apply_too_and_touches_nothing(tmp_path: Path, base: Path) -> None:
    # With -y pyinfra does not plan: the operation's body first runs while applying.
    victim = base / "dind"
    out = pyinfra(tmp_path, [{"path": f"{victim}/../dind"}], [base], "-y")
    assert out.returncode != 0 and "'..'" in out.stdout + out.stderr
    assert victim.is_dir()


# The fact and the apply-time guards, run by sh itself


def read_fact(path: Path, allowed: Path) -> PathState:
    """The fact's own command through sh, parsed by its own process()."""
    fact = SocketPathState()
    proc = subprocess.run(
        ["sh", "-c", fact.command(str(path), (str(allowed),))],
        capture_output=True,
        text=True,
        check=True,
    )
    state = fact.process(proc.stdout.splitlines())
    assert state is not None
    return state


def apply(path: Path, state: PathState, allowed: Path) -> subprocess.CompletedProcess[str]:
    (cmd,) = plan(state, str(path), force=True, allowed_prefixes=(str(allowed),)).commands
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)


def test_the_fact_reads_every_kind(
    tmp_path: Path, base: Path, sockets: list[socket.socket]
) -> None:
    d = base / "dind"
    make_socket(d / "sock", sockets)
    (d / "dir").mkdir()
    for i in range(60):
        (d / "dir" / f"f{i:02}").touch()
    (d / "file").touch()
    (d / "link").symlink_to("/nowhere/at all")
    os.mkfifo(d / "fifo")
    kinds = {n: read_fact(d / n, base) for n in ("sock", "dir", "file", "link", "fifo", "none")}
    assert {n: s.kind for n, s in kinds.items()} == {
        "sock": "socket",
        "dir": "directory",
        "file": "file",
        "link": "symlink",
        "fifo": "other",
        "none": "absent",
    }
    assert kinds["dir"].entry_count == 60 and len(kinds["dir"].entries) == 50
    assert kinds["dir"].entries[:2] == ("f00", "f01")
    assert kinds["link"].target == "/nowhere/at all"
    assert kinds["file"].parent_real == str(d) and kinds["file"].prefix_real == str(base)
    # A parent that does not exist: absent, nothing to resolve.
    assert read_fact(base / "nodir" / "x.sock", base) == PathState(
        kind="absent", prefix_real=str(base)
    )


def test_commands_refuse_what_changed_since_the_fact_read_it(
    tmp_path: Path, base: Path, sockets: list[socket.socket]
) -> None:
    d = base / "dind"
    # An empty directory that filled up: rmdir refuses it.
    (d / "a").mkdir()
    state = read_fact(d / "a", base)
    (d / "a" / "new").touch()
    assert apply(d / "a", state, base).returncode != 0 and (d / "a" / "new").exists()
    # A file that became a directory: not removed as a file, the host fails.
    (d / "b").touch()
    state = read_fact(d / "b", base)
    (d / "b").unlink()
    (d / "b").mkdir()
    out = apply(d / "b", state, base)
    assert out.returncode != 0 and "changed since it was read" in out.stderr and (d / "b").is_dir()
    # A directory that became the builder's socket: the goal holds, nothing is touched.
    (d / "c").mkdir()
    state = read_fact(d / "c", base)
    (d / "c").rmdir()
    inode = make_socket(d / "c", sockets)
    assert apply(d / "c", state, base).returncode == 0 and (d / "c").lstat().st_ino == inode
    # A parent swapped for a link elsewhere: nothing there is touched.
    (base / "p").mkdir()
    (base / "p" / "x").mkdir()
    state = read_fact(base / "p" / "x", base)
    (base / "p").rename(base / "p-old")
    (tmp_path / "elsewhere" / "x").mkdir(parents=True)
    (base / "p").symlink_to(tmp_path / "elsewhere")
    out = apply(base / "p" / "x", state, base)
    assert out.returncode != 0 and "no longer resolves" in out.stderr
    assert (tmp_path / "elsewhere" / "x").is_dir()


# The API: what a later step of the same deploy reads


def test_operation_meta_says_whether_the_host_changed(
    base: Path, sockets: list[socket.socket]
) -> None:
    d = base / "dind"
    make_socket(d / "docker.sock", sockets)
    (d / "empty").mkdir()
    allowed = (str(base),)

    def deploy() -> tuple[State, dict]:
        state = State(Inventory((["@local"], {})), Config())
        connect_all(state)
        metas = {
            name: add_op(state, socket_path, path=str(d / name), allowed_prefixes=allowed)
            for name in ("docker.sock", "empty")
        }
        return state, {name: next(iter(m.values())) for name, m in metas.items()}

    state, metas = deploy()
    assert metas["empty"].will_change and not metas["docker.sock"].will_change
    run_ops(state)
    assert metas["empty"].did_change() and not metas["docker.sock"].did_change()
    assert not (d / "empty").exists()

    state, metas = deploy()
    assert not metas["empty"].will_change
    run_ops(state)
    assert not metas["empty"].did_change() and metas["empty"].did_succeed()


# Names that would fool a line-based listing, mount points, busybox


def test_a_listing_counts_and_shows_awkward_names_right(tmp_path: Path, base: Path) -> None:
    """A name holding a newline is one entry, shown on one line; a name like an option is
    shown as a path, so that the listing cannot be read as `rm -rf`."""
    full = base / "dind" / "docker.sock"
    full.mkdir()
    (full / "-rf").touch()
    (full / "a\nkind=socket").touch()
    (full / ".hidden").touch()
    state = read_fact(full, base)
    assert state.kind == "directory" and state.entry_count == 3
    assert sorted(state.entries) == sorted(["-rf", "a\nkind=socket", ".hidden"])
    out = pyinfra(tmp_path, [{"path": full}], [base], "-y")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "holding 3 entries (" in text and "./-rf" in text and "a\\nkind=socket" in text
    assert f"- {full}/a\\nkind=socket" in text


def test_a_refusal_is_planned_as_no_change(tmp_path: Path, base: Path) -> None:
    """pyinfra counts an operation that yields a command as a change: a refusal yields none
    while planning, so the plan shows it and counts nothing, as the apply changes nothing."""
    full = base / "dind" / "docker.sock"
    full.mkdir()
    (full / "keep.txt").write_text("x\n")
    out = pyinfra(tmp_path, [{"path": full}], [base], "--dry", "--json")
    assert out.returncode == 0, out.stderr
    plan_json = json.loads(out.stdout)["plan"]
    assert [op["hosts_with_change"] for op in plan_json] == [[] for _ in plan_json]
    assert f"Will refuse to change {full}" in out.stderr
    assert f"RESULT {full} changed=False" in out.stderr
    # Applying still fails the host with the reason.
    applied = pyinfra(tmp_path, [{"path": full}], [base], "-y")
    assert applied.returncode != 0 and "Refused: " in applied.stderr
    assert (full / "keep.txt").read_text() == "x\n"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")


def in_mount_namespace(script: str) -> subprocess.CompletedProcess[str]:
    """`script` in a private mount namespace of its own: its mounts vanish with it."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
    )


@needs_root
def test_the_fact_and_the_command_see_a_bind_mount_in_a_path_with_a_space(
    tmp_path: Path, base: Path
) -> None:
    """mountinfo writes a space as \\040: the fact and the command compare in that spelling."""
    d = base / "my dind"
    full = d / "docker.sock"
    (full / "sub").mkdir(parents=True)
    (full / "own.txt").write_text("own\n")
    other = base / "other"
    other.mkdir()
    (other / "keep.txt").write_text("precious\n")
    fact = SocketPathState()
    allowed = (str(base),)
    mount = f"mount --bind {shlex.quote(str(other))} {shlex.quote(str(full / 'sub'))}"

    read = in_mount_namespace(f"{mount} && {fact.command(str(full), allowed)}")
    state = fact.process(read.stdout.splitlines())
    assert state is not None and state.mounts == (str(full / "sub"),), read.stdout + read.stderr
    refused = plan(state, str(full), force=True, allowed_prefixes=allowed)
    assert not refused.commands and f"({full / 'sub'})" in refused.refusal

    # Read without the mount, applied with it (made in between): refused, nothing deleted.
    (command,) = plan(read_fact(full, base), str(full), True, allowed).commands
    out = in_mount_namespace(f"{mount} && {command}")
    assert (other / "keep.txt").read_text() == "precious\n"
    assert (full / "own.txt").read_text() == "own\n"
    assert out.returncode != 0 and "mounted at or below it now" in out.stderr


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH of busybox applets alone, as on a minimal node (installed with apt if missing
    and possible, as the sandbox installs its system packages)."""
    if not shutil.which("busybox") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "busybox"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed")
    bin_dir = tmp_path_factory.mktemp("busybox-bin")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
    for applet in applets:
        (bin_dir / applet).symlink_to(busybox)
    return bin_dir


def test_the_fact_and_force_work_with_busybox(
    base: Path, busybox_bin: Path, sockets: list[socket.socket]
) -> None:
    """busybox's sh, od, sed and rm (which lacks --one-file-system)."""
    env = {"PATH": str(busybox_bin)}
    full = base / "dind" / "docker.sock"
    (full / "deep").mkdir(parents=True)
    (full / "-rf").touch()
    (full / "a\nb").touch()
    fact = SocketPathState()
    allowed = (str(base),)
    proc = subprocess.run(
        ["sh", "-c", fact.command(str(full), allowed)], capture_output=True, text=True, env=env
    )
    state = fact.process(proc.stdout.splitlines())
    assert state is not None and state.entry_count == 3 and state.mounts == (), proc.stderr
    assert sorted(state.entries) == ["-rf", "a\nb", "deep"]
    (command,) = plan(state, str(full), force=True, allowed_prefixes=allowed).commands
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert not os.path.lexists(full)
    # And the socket the builder then makes is read as a socket.
    make_socket(full, sockets)
    proc = subprocess.run(
        ["sh", "-c", fact.command(str(full), allowed)], capture_output=True, text=True, env=env
    )
    assert fact.process(proc.stdout.splitlines()).kind == "socket"


def test_a_link_target_that_is_not_text_is_read_and_shown(tmp_path: Path, base: Path) -> None:
    """A target holding a newline and a byte that is not UTF-8: pyinfra reads the fact's
    output as UTF-8 lines, so the target travels as hex, and is shown escaped."""
    link = base / "dind" / "docker.sock"
    os.symlink(b"/nowhere/\xff\nkind=socket", os.fsencode(link))
    out = pyinfra(tmp_path, [{"path": link}], [base], "-y")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"- {link}  symlink to /nowhere/\\xff\\nkind=socket" in out.stderr
    assert not os.path.lexists(link)
