"""``binderfix spikes --propose``: BinderHub values that would stop the repositories that
make a spike, to review by hand. Pure code; nothing is ever applied.

BinderHub reads two per-provider lists (``binderhub/repoproviders.py``): ``banned_specs``,
regexes a spec must not match (``is_banned``), and ``spec_config``, ``{pattern, config}``
items whose ``config`` (here ``{quota: N}``, the repository's running pods at most) applies
to specs matching ``pattern`` (``repo_config``). Both match with ``re.match(pattern, spec,
re.IGNORECASE)`` against the spec as the provider holds it: ``user/repo/ref`` for GitHub,
``<url-escaped URL>/ref`` for Git, a DOI for Zenodo, without the ``gh/`` prefix.

:func:`spec_regex` writes, for a repository as :mod:`.specs` names it (``gh:user/repo``),
a regex that matches every spec naming that repository (any ref, any case, ``.git`` or
not, escaped or not) and no spec of another one; :func:`propose` checks each regex against
a spec of every repository seen in the logs and names any other it would match.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from binderfix.spikes.aggregate import Counts
from binderfix.spikes.detect import Window

# The BinderHub class that holds each provider's banned_specs and spec_config.
CLASSES = {
    "gh": "GitHubRepoProvider",
    "gist": "GistRepoProvider",
    "git": "GitRepoProvider",
    "gl": "GitLabRepoProvider",
    "zenodo": "ZenodoProvider",
    "figshare": "FigshareProvider",
    "hydroshare": "HydroshareProvider",
    "dataverse": "DataverseProvider",
    "ckan": "CKANProvider",
}
SESSION_MINUTES = 30  # how long a launch holds a pod, assumed: the quota is rate x this
HEADROOM = 2  # times the usual concurrent pods the suggested quota allows
MIN_QUOTA = 10  # a repository that is rarely launched still gets room for a class
MAX_QUOTA = 100  # BinderHub's default per_repo_quota: a higher quota would change nothing
SHARE_ALONE = 0.5  # a window nobody spiked in on their own: its top repository, if this share
_SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()#])")  # outside a class, '-' and '/' are literal
_DOI_PREFIX = r"(?:doi:|https?://(?:dx\.)?doi\.org/)?"


def _escape(text: str) -> str:
    """``re.escape`` for people: only what is special outside a character class."""
    return _SPECIAL.sub(r"\\\1", text)


def _escaped_or_not(text: str, slash: str) -> str:
    """A regex for ``text`` written as is or URL-escaped, character by character (a spec
    may escape any of them); ``slash`` is what a ``/`` in it may be written as."""
    out = []
    for ch in text:
        if ch == "/":
            out.append(slash)
            continue
        encoded = quote(ch, safe="")
        out.append(_escape(ch) if encoded == ch else f"(?:{_escape(ch)}|{encoded})")
    return "".join(out)


def spec_regex(repo: str) -> str:
    """The regex over specs (as :data:`CLASSES`' providers hold them, read with re.match and
    re.IGNORECASE) that matches exactly the specs of ``repo`` (``gh:user/repo``)."""
    provider, _, name = repo.partition(":")
    if provider in ("gh", "gist"):
        owner, _, project = name.partition("/")
        ending = r"(?:\.git)?(?:/|$)" if provider == "gh" else "(?:/|$)"
        return f"^{_escape(owner)}/{_escape(project)}{ending}"
    if provider == "git":  # <URL escaped whole>/<ref>: a '/' in the URL is %2F
        return f"^{_escaped_or_not(name, '%2F')}(?:\\.git)?(?:%2F)?(?:/|$)"
    if provider == "gl":  # <namespace%2Fproject>/<ref>
        return f"^{_escaped_or_not(name, '%2F')}(?:/|$)"
    if provider == "ckan":  # the dataset's URL, escaped or not; ?activity_id= is its ref
        return f"^{_escaped_or_not(name, '(?:/|%2F)')}(?:/|%2F)?(?:\\?|%3F|$)"
    if provider == "hydroshare":  # the resource id, anywhere in a URL
        return f"^.*?{_escape(name)}"
    # zenodo, figshare, dataverse: the DOI, bare or as a doi: or https://doi.org/ URL
    return f"^/*{_DOI_PREFIX}{_escaped_or_not(name, '(?:/|%2F)')}/*$"


def example_spec(repo: str) -> str:
    """A spec naming ``repo`` the way BinderHub's page writes it (``HEAD`` for a ref)."""
    provider, _, name = repo.partition(":")
    if provider in ("gh", "gist"):
        return f"{name}/HEAD"
    if provider in ("git", "gl"):
        return f"{quote(name, safe='')}/HEAD"
    if provider == "ckan":
        return quote(name, safe="")
    return name


def matches(regex: str, spec: str) -> bool:
    """Whether BinderHub would take ``spec`` for ``regex`` (its own test, exactly)."""
    return re.match(regex, spec, re.IGNORECASE) is not None


@dataclass
class Culprit:
    """A repository that makes a spike, and what would stop it."""

    repo: str
    provider_class: str
    regex: str
    in_spikes: int  # its requests in the spike windows
    usual_per_minute: float  # its rate outside them
    quota: int
    also_matches: list[str] = field(default_factory=list)  # other repositories seen


@dataclass
class Proposal:
    culprits: list[Culprit]
    repositories_checked: int  # every repository seen: each regex was tried on each

    def by_class(self) -> dict[str, list[Culprit]]:
        out: dict[str, list[Culprit]] = {}
        for c in self.culprits:
            out.setdefault(c.provider_class, []).append(c)
        return out


def culprits_of(windows: list[Window]) -> list[str]:
    """Who makes the spikes: the repositories whose own series spiked, else a window's top
    repository when it holds at least :data:`SHARE_ALONE` of the window."""
    found: dict[str, None] = {}
    for w in windows:
        for repo in w.flagged:
            found[repo] = None
        if not w.flagged and w.repos and w.repos[0][2] >= SHARE_ALONE:
            found[w.repos[0][0]] = None
    return list(found)


def usual_rate(counts: Counts, windows: list[Window], repo: str) -> float:
    """``repo``'s launches a minute over the buckets with data outside the spike windows."""
    step = counts.bucket_seconds
    spiky = {b for w in windows for b in range(w.start, w.end, step)}
    calm = [b for b, n in counts.buckets.items() if n and b not in spiky]
    if not calm:
        return 0.0
    total = sum(counts.bucket_repos.get(b, {}).get(repo, 0) for b in calm)
    return total / (len(calm) * step / 60)


def quota_for(rate_per_minute: float) -> int:
    """Running pods to allow: the usual concurrent ones (Little's law: rate x
    :data:`SESSION_MINUTES`) times :data:`HEADROOM`, within MIN_QUOTA..MAX_QUOTA."""
    usual = rate_per_minute * SESSION_MINUTES * HEADROOM
    return max(MIN_QUOTA, min(MAX_QUOTA, math.ceil(usual)))


def propose(counts: Counts, windows: list[Window]) -> Proposal:
    """A :class:`Proposal` for the repositories that make ``windows``, each regex tried
    against a spec of every repository in ``counts``."""
    step = counts.bucket_seconds
    seen = list(counts.repos)
    found = []
    for repo in culprits_of(windows):
        provider = repo.partition(":")[0]
        regex = spec_regex(repo)
        others = [
            r
            for r in seen
            if r != repo and r.partition(":")[0] == provider and matches(regex, example_spec(r))
        ]
        in_spikes = sum(
            counts.bucket_repos.get(b, {}).get(repo, 0)
            for w in windows
            for b in range(w.start, w.end, step)
        )
        rate = usual_rate(counts, windows, repo)
        found.append(
            Culprit(
                repo=repo,
                provider_class=CLASSES.get(provider, "RepoProvider"),
                regex=regex,
                in_spikes=in_spikes,
                usual_per_minute=round(rate, 3),
                quota=quota_for(rate),
                also_matches=sorted(others),
            )
        )
    return Proposal(culprits=found, repositories_checked=len(seen))


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar: no escapes but '' for ', so a regex stays as written."""
    return "'" + text.replace("'", "''") + "'"


def _why(c: Culprit) -> str:
    others = (
        "would also match " + ", ".join(c.also_matches)
        if c.also_matches
        else "matches no other repository seen"
    )
    return (
        f"{c.repo}: {c.in_spikes} launches in the spikes, usually "
        f"{c.usual_per_minute:g}/min; {others}"
    )


def as_yaml(proposal: Proposal) -> str:
    """Two alternative Helm values snippets, as YAML documents: ban, or cap with a quota."""
    if not proposal.culprits:
        return (
            "# binderfix spikes --propose: nothing to propose: no repository spikes on its"
            f" own or holds {SHARE_ALONE:.0%} of a spike\n"
        )
    groups = proposal.by_class()
    out = [
        "# binderfix spikes --propose: nothing was applied. Review, then merge ONE of the two",
        "# documents into your BinderHub values (mybinder.org-deploy: under binderhub:, as",
        "# here; the BinderHub chart itself: from config: down). Helm replaces lists:",
        "# add these items to any banned_specs / spec_config you already have.",
        f"# Each regex was tried on a spec of all {proposal.repositories_checked} repositories"
        " seen.",
        "# 1. Refuse to build them (BinderHub: re.match, case-insensitive, on the spec):",
        "binderhub:",
        "  config:",
    ]
    for cls, culprits in groups.items():
        out += [f"    {cls}:", "      banned_specs:"]
        for c in culprits:
            out += [f"        # {_why(c)}", f"        - {_quoted(c.regex)}"]
    out += [
        "---",
        f"# 2. Or cap their running pods: the usual rate x {SESSION_MINUTES} min a session"
        f" x {HEADROOM}",
        f"#    (at least {MIN_QUOTA}, at most the default per_repo_quota {MAX_QUOTA}):",
        "binderhub:",
        "  config:",
    ]
    for cls, culprits in groups.items():
        out += [f"    {cls}:", "      spec_config:"]
        for c in culprits:
            out += [
                f"        # {_why(c)}",
                f"        - pattern: {_quoted(c.regex)}",
                "          config:",
                f"            quota: {c.quota}",
            ]
    return "\n".join(out) + "\n"


def as_data(proposal: Proposal) -> dict[str, Any]:
    """The ``proposal`` key of ``--json``."""
    groups = proposal.by_class()
    return {
        "applied": False,
        "repositories_checked": proposal.repositories_checked,
        "culprits": [
            {
                "repo": c.repo,
                "provider_class": c.provider_class,
                "regex": c.regex,
                "also_matches": c.also_matches,
                "requests_in_spikes": c.in_spikes,
                "usual_per_minute": c.usual_per_minute,
                "quota": c.quota,
            }
            for c in proposal.culprits
        ],
        "banned_specs": {cls: [c.regex for c in cs] for cls, cs in groups.items()},
        "spec_config": {
            cls: [{"pattern": c.regex, "config": {"quota": c.quota}} for c in cs]
            for cls, cs in groups.items()
        },
        "yaml": as_yaml(proposal),
    }
