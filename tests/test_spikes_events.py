"""`binderfix spikes` on mybinder.org's launch-events archive, as an operator runs it on the
daily files: every schema version is read, a planted flood is found by repository and by
federation member, gzip, several files and standard input give the same counts, and what is
not a launch event (another schema, a newer version, the archive's index.jsonl, a bucket
finer than the timestamps) is said so, never a traceback and never silently."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
from pathlib import Path

import pytest

from binderfix.spikes import events, synth
from tests.conftest import BINDERFIX, run

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
FLOOD = "gh:someone/flooding-repo"


def write_events(
    path: Path,
    version: int = 6,
    burst: synth.Burst | None = synth.BURST,
    start: dt.datetime = START,
    seed: int = 0,
    **kw: object,
) -> Path:
    lines = events.generate(start=start, burst=burst, version=version, seed=seed, **kw)
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def spikes(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    out = run(BINDERFIX, "spikes", *args, input=input)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def spikes_json(*args: str, input: str | None = None) -> tuple[int, dict]:
    out = spikes(*args, "--json", input=input)
    return out.returncode, json.loads(out.stdout) if out.stdout else {}


def grep_count(word: str, *paths: Path) -> int:
    """`grep WORD FILE... | wc -l`, by the real grep."""
    out = subprocess.run(
        ["sh", "-c", 'cat "$@" | grep -- "$0" | wc -l', word, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_every_version_is_read_and_its_flood_found(tmp_path: Path, version: int) -> None:
    path = write_events(tmp_path / "events-2026-11-01.jsonl", version)
    code, report = spikes_json(str(path))
    lines = len(path.read_text().splitlines())
    assert code == 1
    assert report["lines"] == report["build_lines"] == report["build_requests"] == lines
    assert report["formats"] == {"launch-events": lines} and report["skipped"] == {}
    assert report["notes"] == {}
    (spike,) = report["spikes"]
    assert (spike["start"], spike["end"]) == ("2026-11-01 01:00", "2026-11-01 01:10")
    assert spike["flagged"] == [FLOOD] and spike["repositories"][0]["repo"] == FLOOD
    assert set(report["statuses"]) == {"success", "failure"}
    members = {m["origin"] for m in report["origins"]["members"]}
    if version < 3:  # no origin field yet: not made up
        assert members == {events.NO_ORIGIN}
    else:
        assert members == set(events.ORIGINS)


@pytest.mark.parametrize("version", [1, 3, 6])
def test_a_steady_archive_has_no_spike(tmp_path: Path, version: int) -> None:
    path = write_events(tmp_path / "events.jsonl", version, burst=None, seed=version)
    code, report = spikes_json(str(path))
    assert code == 0, report["spikes"]
    assert report["spikes"] == [] and report["origins"]["spikes"] == []
    text = spikes(str(path)).stdout
    assert "launch events" in text and "no spike" in text and "no spike by member" in text


def test_a_member_flooded_with_ordinary_launches_is_flagged_by_origin(tmp_path: Path) -> None:
    """A burst served by one member: the rule by origin names that member."""
    path = write_events(tmp_path / "events.jsonl", burst_origin="2i2c.mybinder.org")
    code, report = spikes_json(str(path))
    assert code == 1
    (spike,) = report["origins"]["spikes"]
    assert spike["flagged"] == ["2i2c.mybinder.org"]
    assert spike["origins"][0]["origin"] == "2i2c.mybinder.org"
    text = spikes(str(path)).stdout
    assert "members spiking on their own: 2i2c.mybinder.org" in text


def test_gzip_several_days_and_stdin_give_the_same_counts(tmp_path: Path) -> None:
    day1 = write_events(tmp_path / "events-2026-11-01.jsonl", 5)
    day2 = write_events(
        tmp_path / "events-2026-11-02.jsonl.gz", 6, burst=None, start=START + dt.timedelta(1)
    )
    plain2 = tmp_path / "plain-2.jsonl"
    plain2.write_bytes(gzip.decompress(day2.read_bytes()))
    code, both = spikes_json(str(day1), str(day2))
    assert code == 1
    _c, one = spikes_json(str(day1))
    _c, two = spikes_json(str(plain2))
    assert both["build_requests"] == one["build_requests"] + two["build_requests"]
    assert (both["first"], both["last"]) == ("2026-11-01 00:00", "2026-11-02 02:00")
    assert both["sources"] == [str(day1), str(day2)]
    code, piped = spikes_json("-", input=day1.read_text())
    assert code == 1
    for key in ("build_requests", "repositories", "series", "spikes", "origins"):
        assert piped[key] == one[key], key


def test_a_newer_version_is_read_with_a_note_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = events.generate(start=START, burst=synth.BURST, version=6)
    # Version 7, say, with a field binderfix has never heard of.
    later = [line.replace('"version": 6', '"version": 7')[:-1] + ', "new": 1}' for line in lines]
    path.write_text("\n".join(later) + "\n")
    code, report = spikes_json(str(path))
    assert code == 1 and report["build_requests"] == len(lines)
    assert report["notes"] == {events.newer_note(7): len(lines)}
    text = spikes(str(path)).stdout
    assert f"note: {events.newer_note(7)} ({len(lines)} lines)" in text


def test_other_schemas_and_garbage_are_skipped_and_counted(tmp_path: Path) -> None:
    launches = events.generate(start=START, burst=synth.BURST, version=4)
    other = json.dumps({"timestamp": "2026-11-01T00:00:00+00:00", "schema": "x.org/other"})
    mixed = []
    for i, line in enumerate(launches):
        mixed.append(line)
        if i % 100 == 0:
            mixed += [other, "not json at all", "[1, 2]", "", "3, 4"]
    mixed.append(line.replace('"GitHub"', '"Bitbucket"'))
    mixed.append(line.replace('"version": 4', '"version": "4"'))
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(mixed) + "\n")
    code, report = spikes_json(str(path))
    n = len(range(0, len(launches), 100))
    assert code == 1
    assert report["build_requests"] == len(launches)
    assert report["skipped"] == {
        events.OTHER_SCHEMA: n,
        events.NOT_AN_OBJECT: 3 * n,
        "unknown provider": 1,
        "no schema version": 1,
    }
    assert report["lines"] == len(mixed)
    assert report["spikes"][0]["flagged"] == [FLOOD]


def test_grep_counts_what_grep_counts(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.jsonl", 6)
    with path.open("a") as fh:
        fh.write(json.dumps({"schema": "x.org/other", "spec": "someone/flooding-repo"}) + "\n")
    code, report = spikes_json(str(path), "--grep", "flooding")
    assert code == 1 and report["grep_lines"] == grep_count("flooding", path)
    assert report["grep"]["repositories"] == [{"repo": FLOOD, "lines": report["grep_lines"] - 1}]
    assert report["grep"]["other"] == {events.OTHER_SCHEMA: 1}


@pytest.mark.parametrize("stdin", [False, True])
def test_a_bucket_finer_than_a_minute_is_refused(tmp_path: Path, stdin: bool) -> None:
    path = write_events(tmp_path / "events.jsonl.gz")
    if stdin:
        out = spikes("--bucket", "30s", "-", input=gzip.decompress(path.read_bytes()).decode())
    else:
        out = spikes("--bucket", "30s", str(path))
    assert out.returncode == 2 and out.stdout == ""
    assert "error: --bucket 30s: launch events are timed to the minute" in out.stderr
    assert "hint: --bucket in whole minutes" in out.stderr
    assert spikes("--bucket", "5m", "--json", str(path)).returncode == 1


def test_the_archive_index_is_explained(tmp_path: Path) -> None:
    index = tmp_path / "index.jsonl"
    index.write_text(
        '{"name": "events-2026-11-01.jsonl", "date": "2026-11-01", "count": 2955}\n'
        '{"name": "events-2026-11-02.jsonl", "date": "2026-11-02", "count": 2980}\n'
    )
    alone = spikes(str(index))
    assert alone.returncode == 2
    assert "index.jsonl is the launch-events archive's list of daily files" in alone.stderr
    assert "hint: name the daily files it lists" in alone.stderr
    day = write_events(tmp_path / "events-2026-11-01.jsonl")
    code, report = spikes_json(str(index), str(day))
    assert code == 1 and report["notes"] == {events.INDEX_NOTE: 2}
    assert report["lines"] == report["build_requests"] + 2


def test_build_tokens_are_never_printed(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.jsonl", 6)
    token = json.loads(path.read_text().splitlines()[0])["build_token"]
    html = tmp_path / "r.html"
    for args in ([], ["--json"], ["--grep", "mybinder", "--propose"], ["--propose", "--json"]):
        out = spikes(str(path), "--html", str(html), *args)
        assert out.returncode == 1
        assert token not in out.stdout + out.stderr and token[-12:] not in out.stdout
        assert token not in html.read_text()


def test_events_name_repositories_as_build_paths_do(tmp_path: Path) -> None:
    """The same repository from an event and from `/build/<provider>/<spec>`."""
    from binderfix.spikes.specs import parse_build_path

    lines = []
    for path in synth.REPOS:
        lines.append(events.event_line(3, START, path + "/HEAD"))
    tally = events.EventTally()
    tally.feed(("\n".join(lines) + "\n").encode())
    counts = tally.close()
    expected = {parse_build_path(f"/build/{p}/HEAD").repo for p in synth.REPOS}
    assert set(counts.repos) == expected and counts.build_requests == len(synth.REPOS)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6, 7])
def test_the_fast_path_counts_what_json_counts(version: int) -> None:
    """Blocks the archive's key order lets through in C give the counts json.loads gives."""
    lines = events.generate(start=START, burst=synth.BURST, version=min(version, 6), seed=9)
    if version == 7:
        lines = [line.replace('"version": 6', '"version": 7') for line in lines]
    lines[5:5] = ["", "", json.dumps({"schema": "x.org/other"})]  # one block goes by json
    data = ("\n".join(lines) + "\n").encode()
    fast, slow = events.EventTally(), events.EventTally()
    slow._fast_block = lambda *args: False  # type: ignore[method-assign]
    for tally in (fast, slow):
        for at in range(0, len(data), 50_000):  # pieces: blocks of both kinds
            tally.feed(data[at : at + 50_000])
    a, b = fast.close(), slow.close()
    assert a == b and a.build_requests == len(lines) - 3


def test_a_named_pipe_is_read_whole(tmp_path: Path) -> None:
    """`binderfix spikes <(zcat events.gz)`: the file is a pipe, read once, from its start."""
    path = write_events(tmp_path / "events.jsonl.gz")
    out = run(
        "bash",
        "-c",
        f'"{BINDERFIX}" spikes --json <(zcat "$1") "$1"',
        "bash",
        str(path),
    )
    report = json.loads(out.stdout)
    _code, one = spikes_json(str(path))
    assert out.returncode == 1 and report["build_requests"] == 2 * one["build_requests"]


def test_a_line_that_is_two_json_values_is_one_bad_line() -> None:
    lines = events.generate(start=START, burst=None, minutes=5)
    tally = events.EventTally()
    tally.feed(("\n".join([*lines, "5, 6", '{"a": 1}, {"b": 2}']) + "\n").encode())
    counts = tally.close()
    assert counts.build_requests == len(lines) and counts.lines == len(lines) + 2
    assert counts.skipped == {events.NOT_AN_OBJECT: 2}
