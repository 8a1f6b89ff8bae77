"""``/build/<provider>/<spec>`` to a repository and a ref, the way BinderHub reads specs. Pure.

The repository is what a rate limit would key on; the ref is kept apart, so one
repository built under many refs is one repository:

- ``gh``: ``<user>/<repo>/<ref>`` split at the first two slashes (the ref may hold ``/``),
  user and repo case-folded (GitHub treats them so), ``.git`` dropped;
- ``gist``: ``<user>/<id>[/<ref>]``;
- ``gl``: ``<url-escaped-namespace/project>/<ref>`` and ``git``: ``<url-escaped-url>/<ref>``,
  split at the first slash and unescaped (``git@host:path`` read as ``ssh://git@host/path``);
- ``zenodo``, ``figshare``, ``dataverse``: the DOI (case-folded, any ``doi:`` or
  ``https://doi.org/`` dropped); ``hydroshare``: the 32-hex resource id;
- ``ckan``: the unescaped dataset URL (``?activity_id=`` is its ref).

Query strings are dropped; an absolute URL in the request line is read as its path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

PROVIDERS = ("gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan")
_DOI_PROVIDERS = ("zenodo", "figshare", "dataverse")
_HYDROSHARE_ID = re.compile(r"[0-9a-f]{32}")
_GIT_SSH = re.compile(r"([\w\-]+@[\w\-.]+):(.+)")


@dataclass(frozen=True, slots=True)
class Spec:
    provider: str
    repo: str  # "gh:jupyterlab/jupyterlab-demo"
    ref: str


class SpecError(ValueError):
    """Why a /build/ path is not a build request we can count (the reason is summarised)."""


def printable(text: str) -> str:
    """``text`` with control characters escaped: log content must not drive a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def parse_build_path(path: str, base_url: str = "/") -> Spec:
    """``/build/gh/Org/Repo/main?x=1`` -> ``Spec("gh", "gh:org/repo", "main")``.

    Raises :class:`SpecError` for a path outside ``<base_url>build/``, an unknown
    provider, or a spec with a part missing.
    """
    if path.startswith(("http://", "https://")):  # absolute-form request line
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
    path = path.split("?", 1)[0].split("#", 1)[0]
    prefix = base_url.rstrip("/") + "/build/"
    if not path.startswith(prefix):
        raise SpecError("not a /build/ request")
    provider, _, spec = path[len(prefix) :].partition("/")
    if provider not in PROVIDERS:
        raise SpecError("unknown provider")
    if not spec.strip("/"):
        raise SpecError("empty spec")
    spec = printable(spec)
    if provider in ("gh", "gist"):
        parts = spec.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SpecError("malformed spec")
        user, name = unquote(parts[0]).lower(), unquote(parts[1]).lower()
        ref = unquote(parts[2]) if len(parts) > 2 else ""
        if provider == "gist":
            return Spec(provider, f"gist:{user}/{name}", ref.split("/", 1)[0])
        return Spec(provider, f"gh:{user}/{name.removesuffix('.git')}", ref)
    if provider in ("gl", "git"):
        head, _, ref = spec.partition("/")
        target = unquote(head).strip()
        if not target:
            raise SpecError("malformed spec")
        if provider == "git":
            ssh = _GIT_SSH.fullmatch(target)
            if ssh:
                target = f"ssh://{ssh.group(1)}/{ssh.group(2)}"
            target = target.rstrip("/").removesuffix(".git")
        return Spec(provider, f"{provider}:{target}", unquote(ref))
    if provider == "ckan":
        url, _, version = unquote(spec).partition("?")
        return Spec(provider, f"ckan:{url.rstrip('/')}", version)
    record = unquote(spec).strip().strip("/").lower()
    if provider == "hydroshare":
        found = _HYDROSHARE_ID.search(record)
        return Spec(provider, f"hydroshare:{found.group(0) if found else record}", "")
    for prefix_ in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        record = record.removeprefix(prefix_)
    return Spec(provider, f"{provider}:{record}", "")
