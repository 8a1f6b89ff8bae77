"""Access-log lines of the formats BinderHub operators meet, recognised line by line. Pure.

Every format is one regular expression with four groups, in this order once
:data:`ORDER` is applied: client, time, path, status. A line may start with what
``kubectl logs --prefix`` and ``--timestamps`` add. Traefik's JSON access log is read by
field name (any order, any fields dropped but the path and status), and its fast pattern
follows the order Traefik writes (keys sorted).

Each format comes in two forms: :func:`parse_line` matches one line whatever its path,
and :func:`fast_pattern` finds, in a whole block of lines at once, only the requests for
``/build/<provider>/...`` (the hot path: one C-level ``findall`` per block of lines).
"""

from __future__ import annotations

import calendar
import json
import re
import time

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
    # Traefik's JSON access log (accessLog.format=json): one object a line, keys sorted as
    # Go writes a map, StartUTC in RFC 3339 with nanoseconds. A JSON escape (\u0026) in the
    # path or client sends the line to parse_line, which decodes it.
    # Atomic groups (?>...): each key is looked for once, so a line that fails fails fast.
    "traefik-json": rb'\{(?>[^\n]*?"ClientHost":")([^"\n\\]++)",(?>[^\n]*?"DownstreamStatus":)'
    rb'(\d{3}),(?>[^\n]*?"RequestPath":")(PATH)(?:[?#][^"\n]*+)?",(?>[^\n]*?"StartUTC":")'
    rb'(\d{4}-\d\d-\d\dT\d\d:\d\d:(?:[0-5]\d|60))(?:\.\d++)?Z"',
    # Any other Common or Combined Log Format line (a customised ingress-nginx log-format).
    "combined": _CLF,
}
NAMES = tuple(_SOURCES)  # the order a line is tried in: specific formats before "combined"
# Where client, time, path and status are among each format's groups.
ORDER: dict[str, tuple[int, int, int, int]] = {name: (0, 1, 2, 3) for name in NAMES}
ORDER["binderhub"] = (3, 0, 2, 1)
ORDER["traefik-json"] = (0, 3, 2, 1)
# Formats that share the Common Log Format's head: one fast pattern finds them all.
CLF_FAMILY = ("ingress-nginx", "traefik", "combined")
# Formats of long lines, most not /build: the fast pattern is run on the /build lines only.
LONG_LINES = ("traefik-json",)

# (client, time, path, status), all bytes: a tuple, for millions of lines.
Fields = tuple[bytes, bytes, bytes, bytes]

_LINE = {
    name: re.compile(_KUBECTL + source.replace(b"PATH", _ANY_PATH))
    for name, source in _SOURCES.items()
    if name != "traefik-json"  # read by field name: _traefik_json()
}
PROVIDERS = ("gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan")


def fast_pattern(name: str, base_url: str = "/", kubectl: bool = False) -> re.Pattern[bytes]:
    """Format ``name`` as found in a block of lines, each preceded by a newline, for paths
    ``<base_url>build/<known provider>/...`` only: ``findall`` gives each request's groups
    in the format's own order (:data:`ORDER`). ``kubectl``: lines carry kubectl's prefixes.

    The formats of :data:`CLF_FAMILY` share one fast pattern, their common head.
    """
    source = _CLF if name in CLF_FAMILY else _SOURCES[name]
    return re.compile(
        b"\n" + (_KUBECTL if kubectl else b"") + source.replace(b"PATH", _build(name, base_url))
    )


def _build(name: str, base_url: str) -> bytes:
    """The path group of format ``name`` for ``<base_url>build/<known provider>/...``."""
    prefix = base_url.rstrip("/").encode() + b"/build/"
    providers = "|".join(PROVIDERS).encode()
    chars = rb'[^ "\n?#\\]' if name == "traefik-json" else rb'[^ "\n?#]'  # JSON: no escape
    return re.escape(prefix) + b"(?:" + providers + rb")/" + chars + b"*+"


def mixed_pattern(first: str, base_url: str = "/") -> tuple[re.Pattern[bytes], tuple[str, ...]]:
    """Every format at once, for blocks whose lines of several formats are interleaved
    (the logs of several controllers merged): (pattern, names). ``findall`` over lines, each
    preceded by a newline, gives one row a ``/build/<known provider>/...`` request, with four
    groups per name in that name's own order (:data:`ORDER`), empty but in the format that
    matched. The formats are tried in the order :func:`parse_line` tries them with ``first``,
    so each line is labelled as it labels it; kubectl's prefixes may be there or not."""
    names = (first, *(name for name in NAMES if name != first))
    # kubectl's prefix in each branch: a line is tried format by format as parse_line does
    branches = [
        _KUBECTL + _SOURCES[name].replace(b"PATH", _build(name, base_url)) for name in names
    ]
    return re.compile(b"\n(?:" + b"|".join(branches) + b")"), names


def parse_line(line: bytes, first: str | None = None) -> tuple[str, Fields] | None:
    """(format, fields) of one line in any format (trying ``first`` first), or None."""
    for name in (first, *NAMES) if first else NAMES:
        if name is None:
            continue
        if name == "traefik-json":
            fields = _traefik_json(line)
            if fields is not None:
                return name, fields
            continue
        m = _LINE[name].match(line)
        if m is not None:
            groups = m.groups()
            c, t, p, s = ORDER[name]
            return name, (groups[c], groups[t], groups[p], groups[s])
    return None


# BinderHub's (tornado's) warnings and errors about a request, written beside the request's
# access-log line: `[W 2026-11-30 10:00:00.123 BinderHub web:2348] 404 GET /build/gh/a/b/c
# (10.0.0.1): No provider found`, `[E ... web:1875] Uncaught exception GET /build/...
# (10.0.0.1)`, and the request's repr on the line after that one (tornado indents it).
_BINDERHUB_NOTE = re.compile(
    _KUBECTL + rb"(?:\[[A-Z] (?:\d{4}-\d\d-\d\d|\d{6}) \d\d:\d\d:\d\d(?:\.\d++)? [^\]\n]*+\] "
    rb"(?:Uncaught exception |\d{3} )?[A-Z]++ ([^ \n?#]++)[^ \n]*+ \([^)\n]*+\)(?::|$)"
    rb"| *+HTTPServerRequest\([^\n]*?\buri='([^'\n?#]*+))"
)


def binderhub_note(line: bytes) -> bytes | None:
    """The path of the request a BinderHub warning or error line is about (its access-log
    line counts the request), or None if the line is no such note."""
    m = _BINDERHUB_NOTE.match(line)
    return None if m is None else m.group(1) or m.group(2)


_JSON_START = re.compile(_KUBECTL + rb"\{")
_ISO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _traefik_json(line: bytes) -> Fields | None:
    """A line of Traefik's JSON access log, read by field name: ClientHost (else the host of
    ClientAddr), RequestPath, DownstreamStatus (else OriginStatus), and StartUTC (else
    ``time`` or StartLocal, moved to UTC); None if it is not one."""
    m = _JSON_START.match(line)
    if m is None or b'"RequestPath"' not in line:
        return None
    try:
        data = json.loads(line[m.end() - 1 :])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    path, status = data.get("RequestPath"), data.get("DownstreamStatus", data.get("OriginStatus"))
    stamp = data.get("StartUTC") or data.get("time") or data.get("StartLocal")
    if not isinstance(path, str) or not isinstance(status, int) or not isinstance(stamp, str):
        return None
    if not 100 <= status <= 999:
        return None
    client = data.get("ClientHost")
    if not isinstance(client, str) or not client:
        addr = data.get("ClientAddr")
        client = addr.rsplit(":", 1)[0].strip("[]") if isinstance(addr, str) and addr else "-"
    when = _utc_seconds(stamp)
    if when is None:
        return None
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    return client.encode(), when.encode(), path.encode(), b"%d" % status


def _utc_seconds(stamp: str) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC of an RFC 3339 time (``Z`` or an offset), as written
    when it is already UTC (a bad date is left for minute_epoch to reject)."""
    m = _ISO_TIME.match(stamp)
    if m is None:
        return None
    if m.group(7) == "Z" or m.group(7) in ("+00:00", "-00:00"):
        return stamp[:19]
    sign = 1 if m.group(7)[0] == "+" else -1
    offset = sign * (int(m.group(7)[1:3]) * 3600 + int(m.group(7)[4:6]) * 60)
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    try:
        epoch = calendar.timegm((y, mo, d, h, mi, sec)) - offset
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    except (ValueError, OverflowError, OSError):
        return stamp[:19]


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
