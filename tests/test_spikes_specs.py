"""/build paths read the way BinderHub reads specs, and --grep words read the way grep
reads them (checked against the real grep)."""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binderfix.spikes import synth
from binderfix.spikes.grep import Grep
from binderfix.spikes.specs import SpecError, parse_build_path


@pytest.mark.parametrize(
    ("path", "repo", "ref"),
    [
        ("/build/gh/SamLau95/nbinteract-image/master", "gh:samlau95/nbinteract-image", "master"),
        ("/build/gh/org/Repo.git/feature/with/slashes?x=1", "gh:org/repo", "feature/with/slashes"),
        ("/build/gh/org/repo", "gh:org/repo", ""),
        ("/build/gl/group%2Fsub%2Fproject/main", "gl:group/sub/project", "main"),
        ("/build/gl/group%2Fproject/feature/x", "gl:group/project", "feature/x"),
        (
            "/build/git/https%3A%2F%2Fcodeberg.org%2Fa%2Fb.git/HEAD",
            "git:https://codeberg.org/a/b",
            "HEAD",
        ),
        (
            "/build/git/https%3A%2F%2Fexample.org%2Fr/release/2.0",
            "git:https://example.org/r",
            "release/2.0",
        ),
        (
            "/build/git/git%40github.com%3Aorg%2Frepo.git/main",
            "git:ssh://git@github.com/org/repo",
            "main",
        ),
        ("/build/zenodo/10.5281/zenodo.3242074/", "zenodo:10.5281/zenodo.3242074", ""),
        ("/build/zenodo/doi:10.5281/ZENODO.3242074", "zenodo:10.5281/zenodo.3242074", ""),
        (
            "/build/figshare/10.6084/m9.figshare.9782777.v1",
            "figshare:10.6084/m9.figshare.9782777.v1",
            "",
        ),
        ("/build/dataverse/10.7910/DVN/TJCLKP", "dataverse:10.7910/dvn/tjclkp", ""),
        (
            "/build/hydroshare/https%3A%2F%2Fwww.hydroshare.org%2Fresource%2Fb8f6eae9d89241cf8b5904033460af61",
            "hydroshare:b8f6eae9d89241cf8b5904033460af61",
            "",
        ),
        ("/build/gist/FPerez/abc123/rev", "gist:fperez/abc123", "rev"),
        ("/build/gist/fperez/abc123", "gist:fperez/abc123", ""),
        (
            "/build/ckan/https%3A%2F%2Fdemo.ckan.org/my-dataset",
            "ckan:https://demo.ckan.org/my-dataset",
            "",
        ),
        (
            "/build/ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fd%3Factivity_id%3D42",
            "ckan:https://demo.ckan.org/dataset/d",
            "activity_id=42",
        ),
        ("https://mybinder.org/build/gh/a/b/c", "gh:a/b", "c"),
    ],
)
def test_specs_are_read_the_way_binderhub_reads_them(path: str, repo: str, ref: str) -> None:
    spec = parse_build_path(path)
    assert (spec.repo, spec.ref) == (repo, ref)


def test_specs_under_a_base_url_and_what_is_not_a_spec() -> None:
    assert parse_build_path("/binder/build/gh/a/b/c", base_url="/binder/").repo == "gh:a/b"
    for path, why in [
        ("/v2/gh/a/b/c", "not a /build/ request"),
        ("/build/nosuch/a/b", "unknown provider"),
        ("/build/gh/", "empty spec"),
        ("/build/gh/onlyuser", "malformed spec"),
    ]:
        with pytest.raises(SpecError, match=why):
            parse_build_path(path)
    assert parse_build_path("/build/gh/a/b/\x1b[31mred").ref == "\\x1b[31mred"  # no escapes


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_any_build_path_is_a_spec_or_a_spec_error(rest: str) -> None:
    with contextlib.suppress(SpecError):
        parse_build_path("/build/" + rest)


# -- grep words, against the real grep -----------------------------------------------------

_GREP_LOG = (
    b"\n".join(
        [
            *(line.encode() for line in synth.generate("traefik", minutes=1, burst=None)),
            b"gh:a.b and a-b and a*b and [x] and ^caret$ and back\\slash /build",
            b"/build/gh/SamLau95/nbinteract-image/master",
            b"/build ends with word",
            b"word /build",
        ]
    )
    + b"\n"
)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(
        [
            "SamLau95",
            "samlau95",
            "a.b",
            "a\\.b",
            "^/build",
            "word$",
            "[Ss]am",
            "a*b",
            "x]",
            "\\(a\\)",
            "gh/[a-z]*/",
            "^caret",
            "^^",
            "^*",
            "a^",
            "$$",
            "a\\|word",
            "back\\\\slash",
            "ingress",
            "2026",
        ]
    )
    | st.text(alphabet="ab./-^$*[]\\:", min_size=1, max_size=6)
)
def test_grep_word_counts_what_the_runbook_pipeline_counts(tmp_path_factory, word: str) -> None:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("grep")
    log = folder / "log"
    log.write_bytes(_GREP_LOG)
    real = subprocess.run(
        ["sh", "-c", 'grep -a "/build" "$1" | grep -a -e "$2" | wc -l', "sh", str(log), word],
        capture_output=True,
        env={"LC_ALL": "C"},
    )
    if b"grep:" in real.stderr:  # not a valid regular expression for grep either
        return
    assert _count(_GREP_LOG, word) == int(real.stdout)


def _count(data: bytes, word: str) -> int:
    grep = Grep(word)
    return sum(b"/build" in line and grep.search(line) for line in data.split(b"\n")[:-1])
