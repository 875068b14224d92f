"""A Report written as one self-contained HTML file or as Markdown with a PNG folder."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from mplm_bench.report import Report, Section, Table

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1180px;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } tbody th { text-align: left; white-space: nowrap; }
table.text td, table.text th { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
figure { margin: 12px 0 28px; } img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; } .note { color: #8a4b00; }
code { background: #f4f4f4; padding: 1px 4px; }
"""


def to_html(report: Report) -> str:
    """One file: inline CSS, tables, images as base64 PNG data URIs; nothing fetched."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(report.title)}</h1>",
             "<p>run folders: " + ", ".join(f"<code>{html.escape(r)}</code>" for r in report.runs)
             + "</p>"]
    for section in report.sections:
        parts.append(_html_section(section))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_section(section: Section) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.intro:
        parts.append(f"<p>{html.escape(section.intro)}</p>")
    for note in section.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for table in section.tables:
        parts.append(_html_table(table))
    for image in section.images:
        data = base64.b64encode(image.png).decode("ascii")
        parts.append(f'<figure><img alt="{html.escape(image.title)}" '
                     f'src="data:image/png;base64,{data}">'
                     f"<figcaption>{html.escape(image.caption)}</figcaption></figure>")
    return "\n".join(parts)


def _html_table(table: Table) -> str:
    # no index-name row: the caption names the table; text tables read better left-aligned
    body = table.frame.to_html(escape=True, border=0, index_names=False,
                               classes="text" if table.text else None)
    # pandas writes <table ...>; put the title in as a caption right after it
    head, rest = body.split(">", 1)
    return f"{head}><caption>{html.escape(table.title)}</caption>{rest}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table; the index becomes the first column (no tabulate dependency)."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "| " + " | ".join(["---"] + ["---:"] * len(frame.columns)) + " |"]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join(_md_cell(c) for c in [label, *row.tolist()]) + " |")
    return "\n".join(lines)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_markdown(report: Report, out: Path) -> None:
    """out.md plus out's stem + `_files/` holding the PNGs, linked relatively."""
    folder = out.with_name(out.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f"# {report.title}", "",
             "run folders: " + ", ".join(f"`{r}`" for r in report.runs), ""]
    for section in report.sections:
        parts += [f"## {section.title}", ""]
        if section.intro:
            parts += [section.intro, ""]
        parts += [f"> {note}\n" for note in section.notes]
        for table in section.tables:
            parts += [f"**{table.title}**", "", markdown_table(table.frame), ""]
        for image in section.images:
            (folder / f"{image.name}.png").write_bytes(image.png)
            link = quote(f"{folder.name}/{image.name}.png")
            parts += [f"![{image.title}]({link})", "", f"*{image.caption}*", ""]
    out.write_text("\n".join(parts), encoding="utf-8")
