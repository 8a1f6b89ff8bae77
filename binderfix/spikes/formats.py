"""Access-log lines of the formats BinderHub operators meet, recognised line by line. Pure.

Every format is one regular expression with four groups, in this order once
:data:`ORDER` is applied: client, time, path, status. A line may start with what
``kubectl logs --prefix`` and ``--timestamps`` add.

Each format comes in two forms: :func:`parse_line` matches one line whatever its path,
and :func:`fast_pattern` finds, in a whole block of lines at once, only the requests for
``/build/<provider>/...`` (the hot path: one C-level ``findall`` per block of lines).
"""

from __future__ import annotations

import calendar
import re

# Possessive quantifiers (*+, ++) wherever a class cannot overlap what follows it: a line
# that does not match fails without backtracking.
# What `kubectl logs --prefix` ([pod/name/container]) and `--timestamps` put first.
_KUBECTL = (
    rb"(?:\[pod/[^\]\n]*+\] )?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d++)?(?:Z|[+-]\d\d:\d\d) )?"
)
KUBECTL_PREFIX = re.compile(rb"\[pod/|\d{4}-\d\d-\d\dT")  # a line starting like that
# [01/Jun/2018:23:52:27 +0000]
_CLF_TIME = rb"\[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:(?:[0-5]\d|60) [+-]\d{4})\]"
# "GET /path?query HTTP/1.1" (nginx writes a quote inside as \x22). The path group stops at
# the query: BinderHub's page adds a build_token, different for every request.
_REQUEST = rb'"[A-Z]++ (PATH)[^ "\n]*+(?: [^"\n]*+)?"'
_ANY_PATH = rb'[^ "\n?#]++'
_QUOTED = rb'"[^"\n]*+"'
_CLF = rb"([^ \n]++) - [^ \n]++ " + _CLF_TIME + b" " + _REQUEST + rb" (\d{3}) "

_SOURCES: dict[str, bytes] = {
    # Old stable/nginx-ingress (2018): `ip - [x-forwarded-for] - user [time] "request" status bytes`
    "nginx-ingress": rb"([^ \n\[]++) - \[[^\]\n]*+\] - [^ \n]++ "
    + _CLF_TIME
    + b" "
    + _REQUEST
    + rb" (\d{3}) \d++ ",
    # ingress-nginx's default: `... "referer" "agent" request_length request_time [upstream]`
    "ingress-nginx": _CLF + rb"\d++ " + _QUOTED + b" " + _QUOTED + rb" \d++ [\d.]++ \[",
    # Traefik's common log format with extras: `... "referer" "agent" count "router" "url" 12ms`
    "traefik": _CLF
    + rb"(?:\d++|-) "
    + b" ".join([_QUOTED, _QUOTED, rb"\d++", _QUOTED, _QUOTED])
    + rb" \d++ms",
    # BinderHub's own access log (binderhub/log.py, through traitlets or tornado's formatter):
    # `[I 2024-05-01 12:00:00.123 BinderHub log:135] 200 GET /build/gh/o/r/main (user@ip) 12.34ms`
    # and `302 GET /path -> /location (@ip) 1.00ms`. Written in the pod's clock: UTC.
    "binderhub": rb"\[[A-Z] (\d{4}-\d\d-\d\d \d\d:\d\d:(?:[0-5]\d|60)|\d{6} \d\d:\d\d:(?:[0-5]\d|60))"
    rb"(?:\.\d++)? [^\]\n]*+\] (\d{3}) [A-Z]++ (PATH)[^ \n]*+(?: -> [^ \n]++)? "
    rb"\((?:[^)\n]*@)?([^@)\n]*+)\) [\d.]++ms",
    # Any other Common or Combined Log Format line (a customised ingress-nginx log-format).
    "combined": _CLF,
}
NAMES = tuple(_SOURCES)  # the order a line is tried in: specific formats before "combined"
# Where client, time, path and status are among each format's groups.
ORDER: dict[str, tuple[int, int, int, int]] = {name: (0, 1, 2, 3) for name in NAMES}
ORDER["binderhub"] = (3, 0, 2, 1)
# Formats that share the Common Log Format's head: one fast pattern finds them all.
CLF_FAMILY = ("ingress-nginx", "traefik", "combined")

# (client, time, path, status), all bytes: a tuple, for millions of lines.
Fields = tuple[bytes, bytes, bytes, bytes]

_LINE = {
    name: re.compile(_KUBECTL + source.replace(b"PATH", _ANY_PATH))
    for name, source in _SOURCES.items()
}
PROVIDERS = ("gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan")


def fast_pattern(name: str, base_url: str = "/", kubectl: bool = False) -> re.Pattern[bytes]:
    """Format ``name`` as found in a block of lines, each preceded by a newline, for paths
    ``<base_url>build/<known provider>/...`` only: ``findall`` gives each request's groups
    in the format's own order (:data:`ORDER`). ``kubectl``: lines carry kubectl's prefixes.

    The formats of :data:`CLF_FAMILY` share one fast pattern, their common head.
    """
    prefix = base_url.rstrip("/").encode() + b"/build/"
    providers = "|".join(PROVIDERS).encode()
    build = re.escape(prefix) + b"(?:" + providers + rb')/[^ "\n?#]*+'
    source = _CLF if name in CLF_FAMILY else _SOURCES[name]
    return re.compile(b"\n" + (_KUBECTL if kubectl else b"") + source.replace(b"PATH", build))


def parse_line(line: bytes, first: str | None = None) -> tuple[str, Fields] | None:
    """(format, fields) of one line in any format (trying ``first`` first), or None."""
    for name in (first, *NAMES) if first else NAMES:
        if name is None:
            continue
        m = _LINE[name].match(line)
        if m is not None:
            groups = m.groups()
            c, t, p, s = ORDER[name]
            return name, (groups[c], groups[t], groups[p], groups[s])
    return None


_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        start=1,
    )
}


def minute_of(time: bytes) -> tuple[bytes, int]:
    """(the time without its seconds, the seconds): minutes are what a cache keys on."""
    if time[2:3] == b"/":  # 01/Jun/2018:23:52:27 +0000
        return time[:17] + time[20:], int(time[18:20])
    return time[:-3], int(time[-2:])  # 2024-05-01 12:00:00, 240501 12:00:00


def minute_epoch(minute: bytes) -> int | None:
    """Epoch seconds (UTC) of a minute as :func:`minute_of` gives it, or None if it is
    no real time: ``01/Jun/2018:23:52 +0200`` (CLF), ``2024-05-01 12:00``, tornado's
    ``240501 12:00`` (BinderHub: UTC)."""
    offset = 0
    try:
        if len(minute) == 23 and minute[2:3] == b"/":
            year, month, day = int(minute[7:11]), _MONTHS.get(minute[3:6], 0), int(minute[0:2])
            hour, mins = int(minute[12:14]), int(minute[15:17])
            zone = minute[18:23]
            if zone[:1] not in (b"+", b"-"):
                return None
            offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
            if zone[:1] == b"-":
                offset = -offset
        elif len(minute) == 16:
            year, month, day = int(minute[0:4]), int(minute[5:7]), int(minute[8:10])
            hour, mins = int(minute[11:13]), int(minute[14:16])
        elif len(minute) == 12:
            year, month, day = 2000 + int(minute[0:2]), int(minute[2:4]), int(minute[4:6])
            hour, mins = int(minute[7:9]), int(minute[10:12])
        else:
            return None
    except ValueError:
        return None
    if not (year >= 1970 and 1 <= month <= 12 and hour < 24 and mins < 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, hour, mins, 0)) - offset
