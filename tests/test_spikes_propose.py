"""`binderfix spikes --propose`: the values it prints are valid YAML in the BinderHub
chart's shape, each regex matches every spec of its culprit (as BinderHub tests them:
re.match, case-insensitive, on the spec without the provider) and no spec of any other
repository, whatever characters the names hold; nothing is applied."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from binderfix.spikes import events, synth
from binderfix.spikes.aggregate import Counts
from binderfix.spikes.detect import Window
from binderfix.spikes.propose import (
    MAX_QUOTA,
    MIN_QUOTA,
    as_yaml,
    example_spec,
    matches,
    propose,
    quota_for,
    spec_regex,
)
from binderfix.spikes.specs import parse_build_path
from tests.conftest import BINDERFIX, run

FLOOD = "gh:someone/flooding-repo"


def binderhub_bans(regexes: list[str], spec: str) -> bool:
    """BinderHub's RepoProvider.is_banned, restated: any regex re.match-es, ignoring case."""
    return any(re.match(r, spec, re.IGNORECASE) for r in regexes)


def specs_of(path: str) -> list[str]:
    """Specs a user might send for the repository at ``<provider>/<spec>``: refs, case."""
    _provider, _, spec = path.partition("/")
    out = [spec, spec.upper(), spec.lower()]
    if path.split("/", 1)[0] in ("gh", "gist", "git", "gl"):
        out += [f"{spec}/HEAD", f"{spec}/feature/x"]
    return out


def test_cli_proposes_a_ban_that_hits_the_flood_and_nothing_else(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(events.generate(burst=synth.BURST, version=5)) + "\n")
    out = run(BINDERFIX, "spikes", str(log), "--propose")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    snippet = out.stdout[out.stdout.index("# binderfix spikes --propose") :]
    ban, cap = yaml.safe_load_all(snippet)
    (regex,) = ban["binderhub"]["config"]["GitHubRepoProvider"]["banned_specs"]
    (item,) = cap["binderhub"]["config"]["GitHubRepoProvider"]["spec_config"]
    assert item["pattern"] == regex and MIN_QUOTA <= item["config"]["quota"] <= MAX_QUOTA
    for ref in ("HEAD", "main", "feature/new-ui"):
        assert binderhub_bans([regex], f"someone/flooding-repo/{ref}")
        assert binderhub_bans([regex], f"Someone/Flooding-Repo.git/{ref}")
    for path in synth.REPOS:  # every other repository in the archive, any way it is written
        assert not any(binderhub_bans([regex], s) for s in specs_of(path)), path
    assert not binderhub_bans([regex], "someone/flooding-repo2/HEAD")
    assert "matches no other repository seen" in snippet and "nothing was applied" in snippet

    code, report = (lambda o: (o.returncode, json.loads(o.stdout)))(
        run(BINDERFIX, "spikes", str(log), "--propose", "--json")
    )
    assert code == 1
    proposal = report["proposal"]
    assert proposal["applied"] is False
    assert proposal["repositories_checked"] == len(synth.REPOS) + 1
    (culprit,) = proposal["culprits"]
    assert culprit["repo"] == FLOOD and culprit["regex"] == regex and culprit["also_matches"] == []
    assert proposal["banned_specs"] == {"GitHubRepoProvider": [regex]}
    assert proposal["spec_config"]["GitHubRepoProvider"][0]["config"] == {
        "quota": item["config"]["quota"]
    }


def test_no_spike_nothing_to_propose(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(events.generate(burst=None, seed=4)) + "\n")
    out = run(BINDERFIX, "spikes", str(log), "--propose", "--json")
    assert out.returncode == 0
    proposal = json.loads(out.stdout)["proposal"]
    assert proposal["culprits"] == [] and proposal["banned_specs"] == {}
    assert "nothing to propose" in run(BINDERFIX, "spikes", str(log), "--propose").stdout


@pytest.mark.parametrize("path", synth.REPOS)
def test_each_provider_regex_matches_its_specs_and_no_other(path: str) -> None:
    repo = parse_build_path(f"/build/{path}").repo
    regex = spec_regex(repo)
    assert all(matches(regex, s) for s in specs_of(path)), (regex, specs_of(path))
    assert matches(regex, example_spec(repo))
    provider = path.split("/", 1)[0]
    for other in synth.REPOS:
        if other != path and other.split("/", 1)[0] == provider:
            assert not any(matches(regex, s) for s in specs_of(other)), (regex, other)


def test_a_regex_that_would_catch_another_repository_is_reported() -> None:
    """Hydroshare names records by a 32-hex id found anywhere: a record named otherwise
    may hold another's name, and the proposal says so rather than hide it."""
    counts = Counts(bucket_seconds=60)
    counts.repos = Counter({"hydroshare:abc": 50, "hydroshare:xabcx": 3, "gh:abc/abc": 1})
    counts.buckets = Counter({0: 53})
    counts.bucket_repos = {0: Counter(counts.repos)}
    window = Window(0, 60, 53, 1.0, 53, [("hydroshare:abc", 50, 0.94, 0.0)], ["hydroshare:abc"])
    (culprit,) = propose(counts, [window]).culprits
    assert culprit.provider_class == "HydroshareProvider"
    assert culprit.also_matches == ["hydroshare:xabcx"]
    assert "would also match hydroshare:xabcx" in as_yaml(propose(counts, [window]))


def test_quota_follows_the_usual_rate_within_bounds() -> None:
    assert quota_for(0) == MIN_QUOTA
    assert quota_for(1.0) == 60  # 1 launch a minute x 30 min x 2
    assert quota_for(50) == MAX_QUOTA


# GitHub user and repository names, with every regex metacharacter BinderHub's re.match
# would read as syntax (and none that change how the path is split: / ? # % space).
NAME = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.+()[]{}*^$|\\",
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.tuples(NAME, NAME), min_size=2, max_size=12, unique=True),
    data=st.data(),
)
def test_property_regex_matches_culprits_and_nothing_else_seen(
    names: list[tuple[str, str]], data: st.DataObject
) -> None:
    specs = {
        f"{user}/{name}/HEAD": parse_build_path(f"/build/gh/{user}/{name}/HEAD").repo
        for user, name in names
    }
    seen = sorted(set(specs.values()))
    culprits = data.draw(st.lists(st.sampled_from(seen), min_size=1, unique=True))
    counts = Counts(bucket_seconds=60)
    counts.repos = Counter({repo: 1 for repo in seen})
    windows = [Window(0, 60, 1, 0.0, 1, [], [c]) for c in culprits]
    proposal = propose(counts, windows)
    regexes = [c.regex for c in proposal.culprits]
    assert all(c.also_matches == [] for c in proposal.culprits)
    for spec, repo in specs.items():
        variants = [
            spec,
            spec.upper(),
            spec.replace("/HEAD", "/main"),
            spec.replace("/HEAD", ".git/HEAD"),
        ]
        for variant in variants:
            if parse_build_path(f"/build/gh/{variant}").repo != repo:
                continue  # a name ending in .git, say: another repository, as BinderHub sees it
            assert binderhub_bans(regexes, variant) == (repo in culprits), (variant, regexes)


SEGMENT = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.+()[]*$|~", min_size=1, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    paths=st.lists(st.tuples(SEGMENT, SEGMENT), min_size=2, max_size=8, unique=True), data=st.data()
)
def test_property_git_urls_and_dois_with_metacharacters(
    paths: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Git URLs (escaped whole, as BinderHub's page writes them, or with ':' left as is)
    and DOIs: each regex takes its own repository's specs and no other's."""
    from urllib.parse import quote

    cases = []
    for a, b in paths:
        url = f"https://git.example.org/{a}/{b}"
        escaped = quote(url, safe="")
        cases.append(("git", [f"{escaped}/HEAD", escaped.replace("%3A", ":") + "/main"]))
        cases.append(("zenodo", [f"10.5281/{a}.{b}", f"doi:10.5281/{a}.{b}"]))
    repos = {}
    for provider, specs in cases:
        for spec in specs:
            repos[provider, spec] = parse_build_path(f"/build/{provider}/{spec}").repo
    culprit = data.draw(st.sampled_from(sorted(set(repos.values()))))
    regex = spec_regex(culprit)
    for (provider, spec), repo in repos.items():
        if provider == culprit.partition(":")[0]:
            assert matches(regex, spec) == (repo == culprit), (regex, spec, repo)
