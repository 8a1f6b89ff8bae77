"""``/build/<provider>/<spec>`` to a repository and a ref, the way BinderHub reads specs. Pure.

The repository is what a rate limit would key on: GitHub names case-folded (GitHub treats
them so), GitLab projects and git URLs unescaped, DOIs as records. The ref is kept apart,
so one repository built under many refs is still one repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

PROVIDERS = ("gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan")


@dataclass(frozen=True, slots=True)
class Spec:
    provider: str
    repo: str  # "gh:jupyterlab/jupyterlab-demo"
    ref: str


class SpecError(ValueError):
    """Why a path is not a build request we can count (the reason goes in the summary)."""


def parse_build_path(path: str) -> Spec:
    """``/build/gh/Org/Repo/main?x=1`` -> Spec("gh", "gh:org/repo", "main")."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/build/"):
        raise SpecError("not a /build/ request")
    rest = path[len("/build/") :]
    provider, _, spec = rest.partition("/")
    if provider not in PROVIDERS:
        raise SpecError("unknown provider")
    if not spec.strip("/"):
        raise SpecError("empty spec")
    if provider == "gh":
        parts = spec.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SpecError("malformed spec")
        user, repo = unquote(parts[0]).lower(), unquote(parts[1]).lower()
        return Spec(
            provider,
            f"gh:{user}/{repo.removesuffix('.git')}",
            unquote(parts[2]) if len(parts) > 2 else "",
        )
    if provider == "gist":
        parts = spec.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SpecError("malformed spec")
        return Spec(
            provider,
            f"gist:{unquote(parts[0]).lower()}/{unquote(parts[1])}",
            unquote(parts[2]) if len(parts) > 2 else "",
        )
    if provider in ("gl", "git", "ckan"):
        head, sep, tail = spec.rstrip("/").rpartition("/")
        if not sep or not head:
            raise SpecError("malformed spec")
        target = unquote(head)
        if provider == "git":
            target = target.rstrip("/").removesuffix(".git")
        if provider == "ckan":
            return Spec(provider, f"ckan:{target.rstrip('/')}/{unquote(tail)}", "")
        return Spec(provider, f"{provider}:{target}", unquote(tail))
    # DOI and record providers: the whole spec is the record (a DOI holds a '/').
    record = unquote(spec).strip("/").lower()
    record = record.removeprefix("https://doi.org/").removeprefix("doi:")
    return Spec(provider, f"{provider}:{record}", "")
