"""The comparison report: report.md (figures linked relatively) and a standalone report.html (figures inlined)."""
from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from plots.compare import render_groups
from plots.topology import report_figures
from plots.groups import METRICS, Group, group_runs, mean_ci, scenario_title


def _cell(values: list[float]) -> str:
    mean, half = mean_ci(values)
    if mean != mean:  # NaN: no replicate has the metric
        return "n/a"
    return f"{mean:.4g}" if half != half else f"{mean:.4g} ± {half:.2g}"


def table_rows(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table: mean ± Student t 95% half-width over seeds."""
    header = ["policy", "seeds"] + [m.name for m in METRICS]
    rows = [[g.label, str(len(g.summaries))] + [_cell(g.values(m.key, m.scale)) for m in METRICS] for g in groups]
    return header, rows


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(run_dirs: list[Path], out_dir: Path) -> tuple[Path, Path]:
    """Draw the comparison figures, then OUT_DIR/report.md and a standalone report.html (images embedded)."""
    groups = group_runs([Path(d) for d in run_dirs])
    out_dir = Path(out_dir)
    # the topology family follows the comparison figures when the runs have sites, mobility or outages
    figures = render_groups(groups, out_dir) + report_figures(run_dirs, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{scenario_title(groups)}: policy comparison"
    runs = sum(len(g.summaries) for g in groups)
    intro = (f"{runs} runs, {len(groups)} policy configurations; each cell is the mean over seeds ± the Student t "
             "95% confidence half-width (no ± with one seed).")
    header, rows = table_rows(groups)
    md = [f"# {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += [line for p in figures for line in ("", f"![{p.stem}]({Path(os.path.relpath(p, out_dir)).as_posix()})" )]
    markdown = out_dir / "report.md"
    _atomic_write(markdown, "\n".join(md) + "\n")

    def img(p: Path) -> str:
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        return f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}"></figure>'

    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em;text-align:right}"
            "td:first-child{text-align:left}img{max-width:100%}figure{display:inline-block;margin:.5em}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + f"</tr>{cells}</table>"
            + "".join(img(p) for p in figures) + "</body></html>\n")
    page_path = out_dir / "report.html"
    _atomic_write(page_path, page)
    return markdown, page_path
