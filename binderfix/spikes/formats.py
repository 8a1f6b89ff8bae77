"""Access-log lines of the formats BinderHub operators meet, recognised line by line. Pure.

Each format is one compiled regular expression anchored at the start of the line; the
parser tries the format that matched last first, since a log rarely changes format.
"""

from __future__ import annotations

import calendar
import re

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        start=1,
    )
}

_REQUEST = rb'"(?P<method>[A-Z]{3,7}) (?P<path>\S+) HTTP/[\d.]+"'
_CLF_TIME = rb"\[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]"

# Old stable/nginx-ingress (2018): `ip - [x-forwarded-for] - user [time] "request" ...`
NGINX_INGRESS_OLD = re.compile(
    rb"(?P<client>[^\s\[]+) - \[(?P<xff>[^\]]*)\] - \S+ "
    + _CLF_TIME
    + rb" "
    + _REQUEST
    + rb" (?P<status>\d{3}) \d+ "
)
# ingress-nginx's default: `ip - user [time] "request" status bytes "ref" "ua" len time [upstream]`
INGRESS_NGINX = re.compile(
    rb"(?P<client>\S+) - \S+ "
    + _CLF_TIME
    + rb" "
    + _REQUEST
    + rb' (?P<status>\d{3}) \d+ "[^"]*" "[^"]*" \d+ [\d.]+ \['
)
# Traefik's common log format with extras: `... "ref" "ua" count "router" "url" 12ms`
TRAEFIK = re.compile(
    rb"(?P<client>\S+) - \S+ "
    + _CLF_TIME
    + rb" "
    + _REQUEST
    + rb' (?P<status>\d{3}) (?:\d+|-) "[^"]*" "[^"]*" \d+ "[^"]*" "[^"]*" \d+ms'
)
# BinderHub's own (tornado/traitlets) access log:
# `[I 2024-05-01 12:00:00.123 BinderHub log:135] 200 GET /build/gh/o/r/main (anon@10.0.0.1) 12.34ms`
BINDERHUB = re.compile(
    rb"\[[A-Z] (?P<date>\d{4}-\d{2}-\d{2}|\d{6}) (?P<clock>\d{2}:\d{2}:\d{2})(?:\.\d+)?[^\]]*\] "
    rb"(?P<status>\d{3}) (?P<method>[A-Z]{3,7}) (?P<path>\S+) \((?:[^@)]*@)?(?P<client>[^)]*)\)"
)

FORMATS: dict[str, re.Pattern[bytes]] = {
    "nginx-ingress": NGINX_INGRESS_OLD,
    "ingress-nginx": INGRESS_NGINX,
    "traefik": TRAEFIK,
    "binderhub": BINDERHUB,
}


# (time in epoch seconds UTC, path, status, client, format): a tuple, not a class, because
# the parser makes one for every /build line of a log of millions.
Request = tuple[int, bytes, bytes, bytes, str]


class LineParser:
    """Parses lines, remembering the last format that matched and caching timestamps."""

    def __init__(self) -> None:
        self._order = list(FORMATS.items())
        self._times: dict[bytes, int] = {}

    def parse(self, line: bytes) -> Request | None:
        for index, (name, pattern) in enumerate(self._order):
            m = pattern.match(line)
            if m is None:
                continue
            if index:  # most logs are one format: try this one first next time
                self._order.insert(0, self._order.pop(index))
            when = (
                self._clf_time(m["time"])
                if name != "binderhub"
                else self._iso_time(m["date"], m["clock"])
            )
            if when is None:
                return None
            return when, m["path"], m["status"], m["client"], name
        return None

    def _clf_time(self, raw: bytes) -> int | None:
        cached = self._times.get(raw)
        if cached is not None:
            return cached
        # 01/Jun/2018:23:52:27 +0000, by hand: strptime costs ten times as much.
        month = _MONTHS.get(raw[3:6])
        try:
            day, year = int(raw[0:2]), int(raw[7:11])
            hour, minute, second = int(raw[12:14]), int(raw[15:17]), int(raw[18:20])
            sign = -1 if raw[21:22] == b"-" else 1
            offset = sign * (int(raw[22:24]) * 3600 + int(raw[24:26]) * 60)
            if month is None or not (1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
                return None
            when = calendar.timegm((year, month, day, hour, minute, second)) - offset
        except ValueError:
            return None
        if len(self._times) > 100_000:  # bounded: a week of seconds is far more than a log holds
            self._times.clear()
        self._times[raw] = when
        return when

    def _iso_time(self, date: bytes, clock: bytes) -> int | None:
        key = date + b" " + clock
        cached = self._times.get(key)
        if cached is not None:
            return cached
        try:
            if len(date) == 6:  # tornado's %y%m%d
                year, month, day = 2000 + int(date[0:2]), int(date[2:4]), int(date[4:6])
            else:
                year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
            hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
            if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
                return None
            when = calendar.timegm((year, month, day, hour, minute, second))  # logged in UTC
        except ValueError:
            return None
        self._times[key] = when
        return when
