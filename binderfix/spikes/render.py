"""The spikes report: for a terminal, as JSON, and as a self-contained HTML page.

JSON keys (``binderfix spikes --json``), in a fixed order:

- ``lines``: lines read; ``build_lines``: of them, lines holding ``/build`` anywhere (what
  ``grep '/build' | wc -l`` prints); ``build_requests``: ``/build/<provider>/<spec>``
  requests counted; ``grep_lines``: the runbook's count for ``--grep`` (else
  ``build_lines``); ``grep``: with ``--grep``, ``{word, lines, repositories, other}``, the
  breakdown behind that count;
- ``first``, ``last``: the log's span (UTC, ``YYYY-MM-DD HH:MM``), leaving out lines dated
  far from the rest; ``outliers``: ``{requests, first, last}``, those requests (counted
  everywhere but in the series and the spike rule) and their dates;
  ``bucket_seconds``; ``since_seconds``: spikes looked for in that last span (or null);
- ``rule``: the spike rule's knobs and its text;
- ``skipped``: reason -> lines mentioning ``/build/`` that were not counted;
  ``sources``: what was read; ``sources_failed``: source -> why it stopped;
- ``formats``: log format -> requests; ``repositories``: the top ``--top``, each
  ``{repo, requests, share, refs}`` (refs: a number, or ``"100+"`` past 200,000 distinct
  pairs); ``statuses``: status -> requests; ``clients``: the
  top ``--top`` ``{client, requests}``; ``clients_folded``: requests of rare clients not
  kept (past 200,000 distinct);
- ``series``: every bucket of the span ``{start, requests, spike}`` (only those with
  requests if the span holds more than 100,000 buckets);
- ``spikes``: windows ``{start, end, requests, peak, baseline_per_bucket, flagged,
  repositories: [{repo, requests, share, baseline_per_bucket}]}``;
- ``notes``: note -> the lines it is about (a launch-events version newer than known, the
  archive's index.jsonl skipped);
- ``origins``: launch events' federation members, ``{members: [{origin, requests,
  share}], spikes: [windows as in spikes, with origins for repositories]}``: the spike
  rule by member (empty for access logs);
- ``proposal``: with ``--propose``, Helm values that would stop the repositories making
  the spikes (see :mod:`binderfix.spikes.propose`; nothing is applied).
"""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any

from binderfix.report import paint, render_table
from binderfix.spikes.aggregate import MORE_REFS, Counts
from binderfix.spikes.detect import Rule, Span, Window, series, span
from binderfix.spikes.specs import printable

BLOCKS = "▁▂▃▄▅▆▇█"


def when(epoch: int) -> str:
    """``YYYY-MM-DD HH:MM`` in UTC (past year 9999, which a bucket's end may be: as such)."""
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return "after 9999-12-31 23:59" if epoch > 0 else "before 1970-01-01 00:00"


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else printable(raw.decode("utf-8", "replace"))


def _top(counter: dict[Any, int], n: int) -> list[tuple[Any, int]]:
    """The ``n`` largest, ties in name order (deterministic), without sorting them all."""
    items: Any = counter.items()
    if len(counter) > 4 * n:
        floor = heapq.nlargest(n, counter.values())[-1]
        items = [kv for kv in items if kv[1] >= floor]
    return sorted(items, key=lambda kv: (-kv[1], str(kv[0])))[:n]


def _refs(counts: Counts, repo: str) -> int | str:
    """Distinct refs of a repository: ``"100+"`` once its rarest had to be folded."""
    refs = counts.refs.get(repo, {})
    return f"{len(refs) - 1}+" if MORE_REFS in refs else len(refs)


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _window(w: Window, key: str = "repo") -> dict[str, Any]:
    """One spike window as JSON; ``key`` names what its breakdown is by."""
    return {
        "start": when(w.start),
        "end": when(w.end),
        "requests": w.requests,
        "peak": w.peak,
        "baseline_per_bucket": round(w.baseline, 1),
        "flagged": w.flagged,
        "origins" if key == "origin" else "repositories": [
            {key: r, "requests": n, "share": round(s, 3), "baseline_per_bucket": round(b, 1)}
            for r, n, s, b in w.repos
        ],
    }


def as_data(
    counts: Counts,
    windows: list[Window],
    rule: Rule,
    top: int = 10,
    since_seconds: int | None = None,
    origin_windows: list[Window] | None = None,
    proposal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document (keys in this module's docstring)."""
    within = span(counts)
    points = series(counts, within)
    step = counts.bucket_seconds
    spiky = {b for w in windows for b in range(w.start, w.end, step)}
    data: dict[str, Any] = {
        "lines": counts.lines,
        "build_lines": counts.build_lines,
        "build_requests": counts.build_requests,
        "grep_lines": counts.grep_lines,
        "bucket_seconds": step,
        "since_seconds": since_seconds,
        "first": when(within.first) if within.first is not None else None,
        "last": when(within.last + step) if within.last is not None else None,
        "outliers": {
            "requests": within.outliers,
            "first": when(within.outlier_first) if within.outlier_first is not None else None,
            "last": when(within.outlier_last + step) if within.outlier_last is not None else None,
        },
        "rule": {
            "window": rule.window,
            "min_history": rule.min_history,
            "k": rule.k,
            "ratio": rule.ratio,
            "min_count": rule.min_count,
            "text": rule.describe(),
        },
        "skipped": dict(sorted(counts.skipped.items())),
        "sources": list(counts.sources),
        "sources_failed": dict(sorted(counts.sources_failed.items())),
        "formats": dict(sorted(counts.formats.items())),
        "repositories": [
            {
                "repo": r,
                "requests": n,
                "share": round(n / counts.build_requests, 4),
                "refs": _refs(counts, r),
            }
            for r, n in _top(counts.repos, top)
        ],
        "statuses": {str(s): n for s, n in sorted(counts.statuses.items(), key=_by_name)},
        "clients": [{"client": _text(c), "requests": n} for c, n in _top(counts.clients, top)],
        "clients_folded": counts.clients_folded,
        "series": [{"start": when(b), "requests": n, "spike": b in spiky} for b, n in points],
        "spikes": [_window(w) for w in windows],
        "notes": dict(sorted(counts.notes.items())),
        "origins": {
            "members": [
                {"origin": o, "requests": n, "share": round(n / counts.build_requests, 4)}
                for o, n in _top(counts.origins, top)
            ],
            "spikes": [_window(w, "origin") for w in origin_windows or []],
        },
    }
    if counts.grep_word is not None:
        data["grep"] = {
            "word": counts.grep_word,
            "lines": counts.grep_lines,
            "repositories": [{"repo": r, "lines": n} for r, n in _top(counts.grep_repos, top)],
            "other": dict(sorted(counts.grep_other.items())),
        }
    if proposal is not None:
        data["proposal"] = proposal
    return data


def _by_name(item: tuple[Any, int]) -> str:
    """Status codes of logs (numbers) and of launch events (words) sort together."""
    return str(item[0])


def text_report(
    counts: Counts,
    windows: list[Window],
    rule: Rule,
    colour: bool,
    top: int = 10,
    since_seconds: int | None = None,
    width: int = 60,
    origin_windows: list[Window] | None = None,
    proposal: str | None = None,
) -> str:
    """What a person reads in a terminal: summary, top repositories, chart, spikes; for
    launch events the federation members too; with ``proposal``, that snippet last."""
    data = as_data(counts, windows, rule, top, since_seconds, origin_windows)
    span = f", {data['first']} to {data['last']} UTC" if data["first"] else ""
    out = [
        f"{counts.lines} lines, {counts.build_lines} {_what_lines(counts)}, "
        f"{counts.build_requests} /build requests{span}"
    ]
    if set(counts.formats) == {"prometheus"}:  # counters: no lines were read
        read = ", ".join(counts.sources)
        out = [f"{counts.build_requests} /build requests counted by Prometheus ({read}){span}"]
    if counts.skipped:
        out.append(
            "skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(counts.skipped.items()))
        )
    for note, n in sorted(counts.notes.items()):
        out.append(paint(f"note: {note} ({n} line{'s' if n != 1 else ''})", "yellow", colour))
    outliers = data["outliers"]
    if outliers["requests"]:
        out.append(
            f"{outliers['requests']} request{'s' if outliers['requests'] > 1 else ''} dated "
            "far outside that span "
            f"({outliers['first']} to {outliers['last']} UTC): counted, but left out of the "
            "chart and the spike rule"
        )
    for source, why in sorted(counts.sources_failed.items()):
        out.append(paint(f"not read in full: {source}: {why}", "yellow", colour))
    if counts.build_requests:
        out += ["", _repositories_table(counts, data)]
        total = counts.build_requests
        statuses = ", ".join(f"{s} ({n / total:.0%})" for s, n in data["statuses"].items())
        clients = ", ".join(f"{c['client']} ({c['requests']})" for c in data["clients"][:3])
        out += ["", f"status codes: {statuses}"]
        out += [f"top clients: {clients}", ""] if clients else [""]
        out += chart(counts, windows, colour, width)
        out.append("")
        out += _spike_lines(windows, counts, colour, since_seconds)
        if counts.origins:
            out += ["", *_origin_lines(counts, data, origin_windows or [], colour)]
    else:
        out.append("no /build requests found")
    if counts.grep_word is not None:
        out += ["", *grep_lines(counts, top)]
    if proposal is not None:
        out += ["", proposal.rstrip("\n")]
    return "\n".join(out)


def _what_lines(counts: Counts) -> str:
    """What ``build_lines`` counts: log lines mentioning /build, or launch events."""
    if set(counts.formats) == {"launch-events"}:
        return "launch events"
    return "mention /build or are launch events" if counts.origins else "mention /build"


def _origin_lines(
    counts: Counts, data: dict[str, Any], windows: list[Window], colour: bool
) -> list[str]:
    """Launch events by federation member, and the spike rule's verdict by member."""
    rows = [[m["origin"], m["requests"], f"{m['share']:.0%}"] for m in data["origins"]["members"]]
    out = [render_table(["ORIGIN (FEDERATION MEMBER)", "LAUNCHES", "SHARE"], rows)]
    per = _span(counts.bucket_seconds)
    if not windows:
        return [*out, paint("no spike by member", "green", colour)]
    for w in windows:
        who = ", ".join(f"{o} {s:.0%} (usually {b:g}/{per})" for o, _n, s, b in w.repos[:3])
        out.append(
            paint(
                f"SPIKE {when(w.start)} to {when(w.end)[11:]} UTC by member: {who}", "red", colour
            )
        )
        if w.flagged:
            out.append(f"  members spiking on their own: {', '.join(w.flagged)}")
    return out


def _repositories_table(counts: Counts, data: dict[str, Any]) -> str:
    rows = [
        [r["repo"], r["requests"], f"{r['share']:.0%}", r["refs"]] for r in data["repositories"]
    ]
    table = render_table(["REPOSITORY", "REQUESTS", "SHARE", "REFS"], rows)
    rest = len(counts.repos) - len(rows)
    return table + (f"\n... and {rest} more repositories" if rest > 0 else "")


def _spike_lines(
    windows: list[Window], counts: Counts, colour: bool, since_seconds: int | None
) -> list[str]:
    per = _span(counts.bucket_seconds)
    scope = f" in the last {_span(since_seconds)}" if since_seconds else ""
    if not windows:
        return [paint(f"no spike{scope}", "green", colour)]
    out = []
    for w in windows:
        who = ", ".join(f"{r} {s:.0%} (usually {b:g}/{per})" for r, _n, s, b in w.repos[:3])
        out.append(
            paint(
                f"SPIKE {when(w.start)} to {when(w.end)[11:]} UTC: {w.requests} requests, "
                f"peak {w.peak}/{per} against {w.baseline:g}/{per} before: {who}",
                "red",
                colour,
            )
        )
        if w.flagged:
            out.append(f"  spiking on their own: {', '.join(w.flagged)}")
    return out


def grep_lines(counts: Counts, top: int = 10) -> list[str]:
    """The runbook's number for ``--grep WORD`` and what the lines behind it are."""
    word = counts.grep_word
    pipe = "" if set(counts.formats) == {"launch-events"} else "grep '/build' | "
    out = [f"{pipe}grep {word!r} | wc -l: {counts.grep_lines}"]
    rows: list[list[Any]] = [[r, n] for r, n in _top(counts.grep_repos, top)]
    rest = sum(counts.grep_repos.values()) - sum(n for _r, n in rows)
    if rest:
        rows.append(["(other repositories)", rest])
    rows += [[f"({why})", n] for why, n in sorted(counts.grep_other.items())]
    if rows:
        out.append(render_table(["OF WHICH", "LINES"], rows))
    return out


def fold(
    counts: Counts, cells: int, within: Span | None = None
) -> tuple[int, list[tuple[int, int]]]:
    """(buckets per cell, [(cell start, requests)]): the span's series in at most ``cells``
    cells of equal time, built from the buckets with requests (the span may be long)."""
    within = within or span(counts)
    if within.first is None or within.last is None:
        return 1, []
    step, first = counts.bucket_seconds, within.first
    buckets = (within.last - first) // step + 1
    per = max(1, -(-buckets // cells))
    totals = [0] * -(-buckets // per)
    for start, n in series(counts, within):
        totals[(start - first) // (step * per)] += n
    return per, [(first + i * step * per, n) for i, n in enumerate(totals)]


def chart(counts: Counts, windows: list[Window], colour: bool, width: int = 60) -> list[str]:
    """The series as rows of unicode blocks, one character per bucket (several when the
    span is long), spike buckets marked with ``^`` beneath and in red."""
    per, folded = fold(counts, width * 24)  # at most 24 rows
    if not folded:
        return []
    step = counts.bucket_seconds
    spiky = [
        any(w.start < start + step * per and start < w.end for w in windows) for start, _n in folded
    ]
    peak_at, peak = max(folded, key=lambda p: p[1])
    unit = _span(step * per)
    lines = [f"requests per {unit} (a character each), peak {peak} at {when(peak_at)} UTC:"]
    for row in range(0, len(folded), width):
        cells, marks = [], []
        for (_start, n), spike in zip(
            folded[row : row + width], spiky[row : row + width], strict=True
        ):
            level = BLOCKS[min(len(BLOCKS) - 1, n * len(BLOCKS) // (peak + 1))] if n else " "
            cells.append(paint(level, "red", colour) if spike else level)
            marks.append("^" if spike else " ")
        lines.append(f"{when(folded[row][0])[5:]} {''.join(cells)}")
        if any(spiky[row : row + width]):
            lines.append(" " * 12 + "".join(marks).rstrip())
    return lines


def html_report(
    counts: Counts,
    windows: list[Window],
    rule: Rule,
    title: str,
    top: int = 20,
    since_seconds: int | None = None,
) -> str:
    """A page with everything inline (SVG chart, CSS, no script): it opens with no network."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("binderfix.spikes", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    data = as_data(counts, windows, rule, top, since_seconds)
    width, height, pad = 960, 280, 44
    per, points = fold(counts, 2 * (width - 2 * pad))  # a long span: cells of several buckets
    peak = max((n for _b, n in points), default=0) or 1
    step = (width - 2 * pad) / max(len(points), 1)
    first = points[0][0] if points else 0
    bucket = counts.bucket_seconds * per

    def x(epoch: int) -> float:
        return pad + (epoch - first) / bucket * step

    def y(n: int) -> float:
        return height - pad - n * (height - 2 * pad) / peak

    line = " ".join(f"{x(b) + step / 2:.1f},{y(n):.1f}" for b, n in points)
    area = f"{pad:.1f},{y(0):.1f} {line} {width - pad:.1f},{y(0):.1f}" if points else ""
    bands = [
        {
            "x": round(x(w.start), 1),
            "w": round(max(step * (w.end - w.start) / bucket, 2.0), 1),
            "label": f"spike {when(w.start)[11:]} to {when(w.end)[11:]} UTC: {w.requests} requests",
        }
        for w in windows
    ]
    ticks = [
        {"x": round(x(b) + step / 2, 1), "label": when(b)[5:]}
        for b, _n in points[:: max(1, len(points) // 8)]
    ]
    return env.get_template("report.html.j2").render(
        title=title,
        data=data,
        line=line,
        area=area,
        bands=bands,
        ticks=ticks,
        width=width,
        height=height,
        pad=pad,
        peak=peak,
        y_mid=round(y(peak // 2), 1),
        peak_half=peak // 2,
    )


def federation_shares(clusters: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The federation's /build requests in total and each cluster's share, from every
    cluster's JSON report (``binderfix spikes --context A --context B``), and the same as a
    table with the spikes each cluster found."""
    counts = {
        name: (c.get("report") or {}).get("build_requests", 0) for name, c in clusters.items()
    }
    total = sum(counts.values())
    rows, shares = [], {}
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        report = clusters[name].get("report") or {}
        share = n / total if total else 0.0
        shares[name] = {"build_requests": n, "share": round(share, 4)}
        found = report.get("spikes") or []
        top = ", ".join((w.get("repositories") or [{}])[0].get("repo", "?") for w in found[:3])
        rows.append(
            [name, str(n), f"{100 * share:.1f}%", str(len(found)) + (f" ({top})" if top else "")]
            if clusters[name].get("report") is not None
            else [name, "-", "-", "could not read its logs"]
        )
    table = render_table(["CLUSTER", "/BUILD REQUESTS", "SHARE", "SPIKES"], rows)
    return {
        "build_requests": total,
        "clusters": shares,
    }, f"{table}\nfederation: {total} /build requests"
