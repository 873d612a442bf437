"""What every HTML page here is built from: the page and its style, figure cards, tables, percentages, times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1d2430;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6}
.meta{color:#5b6578;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #d8dde6;border-radius:8px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.card span{color:#5b6578;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #d8dde6;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d}.bad{color:#b42318}.small{font-size:.8rem;color:#5b6578}code{font-size:.85rem}
.pre{white-space:pre-wrap}.zero{color:#b8bfcc}.id,.want{white-space:nowrap}
.c{display:inline-block;min-width:1.6em;padding:0 .25em;border-radius:3px;text-align:right}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
.banner{background:#fde8e6;border:2px solid #b42318;color:#7a1610;border-radius:8px;padding:.8rem 1rem;
font-size:1.05rem;margin:1rem 0}.banner b{font-size:1.25rem}
.card.held{border-style:dashed}
"""
NONE = "<p class=ok>none</p>"


def figure_cards(figures: Sequence[tuple[str, str]]) -> str:
    cells = (f"<div class=card><b>{escape(shown)}</b><span>{escape(name)}</span></div>" for name, shown in figures)
    return "".join(cells)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def clip(text: str, limit: int) -> str:
    """Shorten raw text (before escaping, so no entity is cut in half) and say that it was shortened."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{cell}</td>' if index in numeric else f"<td>{cell}</td>" for index, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "unknown time"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )
