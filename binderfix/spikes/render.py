"""The spikes report: for a terminal, as JSON, and as a self-contained HTML page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from binderfix.report import paint, render_table
from binderfix.spikes.aggregate import Counts
from binderfix.spikes.detect import Window, series

BLOCKS = " ▁▂▃▄▅▆▇█"


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


def as_data(counts: Counts, windows: list[Window], top: int = 10) -> dict[str, Any]:
    """The JSON document (keys documented in the README); deterministic order."""
    points = series(counts)
    return {
        "lines": counts.lines,
        "build_requests": counts.build_requests,
        "grep_lines": counts.grep_lines,
        "bucket_seconds": counts.bucket_seconds,
        "first": _when(points[0][0]) if points else None,
        "last": _when(points[-1][0] + counts.bucket_seconds) if points else None,
        "skipped": dict(sorted(counts.skipped.items())),
        "sources_failed": dict(sorted(counts.sources_failed.items())),
        "formats": dict(sorted(counts.formats.items())),
        "repositories": [
            {"repo": r, "requests": n, "refs": len(counts.refs[r])}
            for r, n in sorted(counts.repos.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ],
        "statuses": {str(s): n for s, n in sorted(counts.statuses.items())},
        "clients": [
            {"client": c, "requests": n}
            for c, n in sorted(counts.clients.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ],
        "series": [{"start": _when(b), "requests": n} for b, n in points],
        "spikes": [
            {
                "start": _when(w.start),
                "end": _when(w.end),
                "requests": w.requests,
                "baseline_per_bucket": round(w.baseline, 1),
                "flagged": w.flagged,
                "repositories": [
                    {"repo": r, "requests": n, "share": round(s, 3)} for r, n, s in w.repos
                ],
            }
            for w in windows
        ],
    }


def text_report(
    counts: Counts, windows: list[Window], colour: bool, top: int = 10, rows: int = 48
) -> str:
    data = as_data(counts, windows, top)
    out = [
        f"{counts.lines} lines, {counts.build_requests} /build requests"
        + (f", {data['first']} to {data['last']} UTC" if data["first"] else "")
    ]
    if counts.skipped or counts.sources_failed:
        parts = [f"{n} {why}" for why, n in sorted(counts.skipped.items())]
        parts += [f"{src}: {why}" for src, why in sorted(counts.sources_failed.items())]
        out.append("skipped: " + "; ".join(parts))
    if not counts.build_requests:
        return "\n".join(out + ["no /build requests found"])
    out += [
        "",
        render_table(
            ["REPOSITORY", "REQUESTS", "SHARE", "REFS"],
            [
                [
                    r["repo"],
                    r["requests"],
                    f"{r['requests'] / counts.build_requests:.0%}",
                    r["refs"],
                ]
                for r in data["repositories"]
            ],
        ),
    ]
    statuses = ", ".join(f"{s}: {n}" for s, n in data["statuses"].items())
    clients = ", ".join(f"{c['client']} ({c['requests']})" for c in data["clients"][:3])
    out += ["", f"status codes: {statuses}", f"top clients: {clients}", ""]
    out += _chart(counts, windows, colour, rows)
    if windows:
        out.append("")
        for w in windows:
            who = ", ".join(f"{r} {s:.0%}" for r, _n, s in w.repos[:3])
            out.append(
                paint(
                    f"SPIKE {_when(w.start)} to {_when(w.end)} UTC: {w.requests} requests "
                    f"(baseline {w.baseline:.0f} per bucket): {who}",
                    "red",
                    colour,
                )
            )
    else:
        out.append("no spike")
    return "\n".join(out)


def _chart(counts: Counts, windows: list[Window], colour: bool, rows: int) -> list[str]:
    """The whole span in at most ``rows`` rows (buckets folded together), spikes marked."""
    points = series(counts)
    per_row = -(-len(points) // rows)  # ceiling division
    folded = [
        (points[i][0], sum(n for _b, n in points[i : i + per_row]))
        for i in range(0, len(points), per_row)
    ]
    span = counts.bucket_seconds * per_row
    peak = max(n for _b, n in folded) or 1
    width = 50
    lines = [
        f"requests per {span}s ({per_row} bucket{'s' if per_row > 1 else ''} a row), peak {peak}:"
    ]
    for start, n in folded:
        full, part = divmod(n * width * 8 // peak, 8)
        bar = "█" * full + (BLOCKS[part] if part else "")
        spike = any(w.start < start + span and start < w.end for w in windows)
        line = f"{_when(start)[11:]} {n:>7} {bar}" + ("  ◀ spike" if spike else "")
        lines.append(paint(line, "red", colour) if spike else line)
    return lines


def html_report(counts: Counts, windows: list[Window], title: str) -> str:
    """A page with everything inline (SVG chart, CSS): it opens with no network."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("binderfix.spikes", "templates"), autoescape=select_autoescape()
    )
    data = as_data(counts, windows, top=20)
    points = series(counts)
    width, height, pad = 900, 260, 40
    peak = max((n for _b, n in points), default=1) or 1
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    xy = [
        (pad + i * step, height - pad - n * (height - 2 * pad) / peak)
        for i, (_b, n) in enumerate(points)
    ]
    first = points[0][0] if points else 0
    bucket = counts.bucket_seconds
    bands = [
        {
            "x": pad + (w.start - first) / bucket * step,
            "w": max(step * (w.end - w.start) / bucket, 2),
            "label": f"{_when(w.start)[11:]} to {_when(w.end)[11:]}",
        }
        for w in windows
    ]
    return env.get_template("report.html.j2").render(
        title=title,
        data=data,
        polyline=" ".join(f"{x:.1f},{y:.1f}" for x, y in xy),
        bands=bands,
        width=width,
        height=height,
        pad=pad,
        peak=peak,
        ticks=[
            {"x": x, "label": _when(b)[11:]}
            for (x, _y), (b, _n) in list(zip(xy, points, strict=True))[:: max(1, len(points) // 8)]
        ],
    )
