"""The leaderboard's page: markdown and a styled HTML written side by side, and how a winner is marked.

A best mean is only a winner when its interval clears the runner-up's: :func:`top_marks` bolds
it then, and otherwise marks every entry whose interval overlaps the top one's as tied (``=``),
so a table never singles out one of several indistinguishable results.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np

from algorithms.runs.files import write_text_atomic
from benchmarks.scores import Interval

#: the page's style: numbers never wrap, intervals in a smaller grey, wide tables scroll
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1280px;margin:2em auto;
 padding:0 1em;color:#222;line-height:1.45}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{margin:1.4em 0 .3em;font-size:1.02em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #e3e3e3;white-space:nowrap;text-align:right;
 font-variant-numeric:tabular-nums}
th{background:#f3f4f6;border-bottom:2px solid #bbb;font-weight:600}
td:first-child,th:first-child{text-align:left}
table.text td,table.text th{text-align:left;white-space:normal}
tr:nth-child(even) td{background:#fafafa}
td b{color:#0b5394}
.ci{color:#777;font-size:85%}
.tie{color:#b45f06;font-weight:600}
.flag{color:#b00020}
img{max-width:100%;margin:6px 0;border:1px solid #eee}
img.gif{max-width:32%;margin:4px}
code{background:#f3f4f6;padding:0 3px;border-radius:3px}
pre{white-space:pre-wrap;font-size:85%}
"""

#: a cell: text, or (text, bold)
Cell = str | tuple[str, bool]


def top_marks(intervals: Mapping[str, Interval]) -> tuple[set[str], set[str]]:
    """``(bold, tied)``: the top mean is bold when its interval lies wholly above every other's;
    otherwise it and every entry whose interval overlaps its interval are tied.

    An undefined interval (NaN: one seed) overlaps everything; a single entry is bold.
    """
    if not intervals:
        return set(), set()
    top = max(intervals, key=lambda k: intervals[k].value)
    if len(intervals) == 1:
        return {top}, set()
    best = intervals[top]

    def overlaps(other: Interval) -> bool:
        bounds = (best.low, best.high, other.low, other.high)
        if not all(np.isfinite(bounds)):
            return True
        return other.high >= best.low

    tied = {k for k, v in intervals.items() if k != top and overlaps(v)}
    return (set(), tied | {top}) if tied else ({top}, set())


def fmt(interval: Interval) -> str:
    """An interval with decimals for about four significant digits (returns range 0.01 to 1e5)."""
    finite = [v for v in (interval.value, interval.low, interval.high) if np.isfinite(v)]
    magnitude = max(abs(v) for v in finite)
    return interval.format(
        3 if magnitude < 10 else 2 if magnitude < 100 else 1 if magnitude < 1000 else 0
    )


def marked(interval: Interval, label: str, bold: set[str], tied: set[str]) -> Cell:
    """The interval's cell: bold if it is the clear best, prefixed ``=`` if tied for best."""
    text = fmt(interval)
    return ("= " + text if label in tied else text, label in bold)


class Report:
    """Markdown and HTML written side by side from the same calls."""

    def __init__(self, title: str):
        self.md = [f"# {title}", ""]
        self.html = [
            "<!DOCTYPE html>",
            "<html><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
        ]

    def heading(self, text: str, level: int = 2) -> None:
        self.md += [f"{'#' * level} {text}", ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str, code: bool = False) -> None:
        self.md += ([f"```\n{text}\n```"] if code else [text]) + [""]
        self.html.append(
            f"<pre>{html.escape(text)}</pre>" if code else f"<p>{_inline_html(text)}</p>"
        )

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], numeric: bool = True
    ) -> None:
        """A table; ``numeric`` right-aligns all but the first column and keeps cells on one line."""

        def cell(c: Cell) -> tuple[str, bool]:
            return c if isinstance(c, tuple) else (str(c), False)

        self.md.append("| " + " | ".join(header) + " |")
        self.md.append(
            "|" + "|".join(["---"] + ["---:" if numeric else "---"] * (len(header) - 1)) + "|"
        )
        for row in rows:
            texts = [f"**{t}**" if bold and t else t for t, bold in map(cell, row)]
            self.md.append(
                "| " + " | ".join(t.replace("|", "\\|").replace("\n", " ") for t in texts) + " |"
            )
        self.md.append("")
        kind = "" if numeric else " class='text'"
        self.html.append(
            f"<div class='scroll'><table{kind}><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
        )
        for row in rows:
            cells = (_cell_html(t, bold) for t, bold in map(cell, row))
            self.html.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        self.html.append("</table></div>")

    def images(self, items: Sequence[tuple[str, str]], css: str = "") -> None:
        self.md += ["\n".join(f"![{alt}]({path})" for alt, path in items), ""]
        kind = f" class='{css}'" if css else ""
        self.html.append(
            "<p>"
            + "".join(
                f"<img{kind} src='{html.escape(p)}' alt='{html.escape(a)}'>" for a, p in items
            )
            + "</p>"
        )

    def write(self, out: str) -> None:
        with open(os.path.join(out, "leaderboard.md"), "w") as f:
            f.write("\n".join(self.md).rstrip() + "\n")
        with open(os.path.join(out, "leaderboard.html"), "w") as f:
            f.write("\n".join(self.html + ["</body></html>"]) + "\n")


def _cell_html(text: str, bold: bool) -> str:
    """A cell's HTML: the interval's brackets in grey, a tie's ``=`` and a flag's mark coloured."""
    escaped = html.escape(text)
    escaped = re.sub(r"(\[-?[\d.]+, -?[\d.]+\])", r"<span class='ci'>\1</span>", escaped)
    escaped = re.sub(r"^= ", "<span class='tie'>=</span> ", escaped)
    escaped = escaped.replace("untrained", "<span class='flag'>untrained</span>")
    return f"<b>{escaped}</b>" if bold else escaped


def _inline_html(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def copy_into_readme(path: str, name: str, lines: Sequence[str]) -> None:
    """Replace the block between ``<!-- leaderboard:NAME -->`` and ``<!-- /leaderboard:NAME -->``
    in the markdown file ``path`` (headings demoted to bold lines), so the file shows the tables
    the last regeneration wrote; a file without the markers is an error, not silently skipped."""
    start, end = f"<!-- leaderboard:{name} -->", f"<!-- /leaderboard:{name} -->"
    with open(path) as f:
        text = f.read()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{path} must hold one {start} ... {end} block for the leaderboard tables")
    body = [re.sub(r"^#{2,} (.*)$", r"**\1**", line) for line in lines]
    head, rest = text.split(start)
    tail = rest.split(end)[1]
    write_text_atomic(path, head + start + "\n" + "\n".join(body).strip() + "\n" + end + tail)
