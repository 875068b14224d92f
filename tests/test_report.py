"""`mplm-bench report`: HTML and Markdown from saved run folders, a real browser render,
and one-line errors for bad input."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from mplm_bench.report import summary_long, summary_tables, RunData

from cli_checks import invoke, one_line_error

PARADIGMS = ("mplm", "cot", "fj")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real oracle runs of one 4x4 puzzle; the first with traces."""
    root = tmp_path_factory.mktemp("runs")
    traced, plain = root / "traced", root / "plain"
    for out, extra in ((traced, ["--trace"]), (plain, [])):
        result = invoke("run", "sudoku", "--size", "4", "--policy", "oracle", "--instances", "1",
                        "--out", out, *extra)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (traced / "traces").iterdir()) == [
        f"n4-s0-singles-{p}.jsonl" for p in ("cot", "fj", "mplm")]
    return root, traced, plain


@pytest.fixture(scope="module")
def html_report(runs):
    root, traced, plain = runs
    out = root / "out.html"
    result = invoke("report", traced, plain, "-o", out)
    assert result.exit_code == 0, result.output
    return out


def row_cells(html, label):
    """The cells of the table row headed `label` (pandas to_html layout)."""
    row = re.search(rf"<th>{re.escape(label)}</th>(.*?)</tr>", html, re.S).group(1)
    return re.findall(r"<td>(.*?)</td>", row)


def test_html_holds_configs_per_size_table_and_embedded_images(runs, html_report):
    html = html_report.read_text()
    assert "<caption>run configurations</caption>" in html
    assert row_cells(html, "policy") == ["oracle", "oracle"]
    assert row_cells(html, "sha256")[0] == row_cells(html, "sha256")[1] != "—"
    assert "<caption>sudoku, size 4</caption>" in html
    headings = re.findall(r"<th>(\w+ \[\w+\])</th>", html)
    assert headings == [f"{p} [{run}]" for run in ("traced", "plain") for p in PARADIGMS]
    assert row_cells(html, "solved %") == ["100"] * 6
    assert row_cells(html, "threads")[1] == "1"  # CoT: one thread
    # accuracy, costs, context distribution, and a timeline per paradigm
    assert html.count('<img alt="') == 3 + 3
    assert html.count('src="data:image/png;base64,iVBORw0KGgo') == 6
    assert "http://" not in html and "https://" not in html  # readable offline


def test_markdown_holds_the_tables_and_links_existing_pngs(runs):
    root, traced, plain = runs
    out = root / "md" / "report.md"
    assert invoke("report", traced, plain, "-o", out).exit_code == 0
    text = out.read_text()
    assert "| setting | traced | plain |" in text
    assert "| solved % | 100 | 100 | 100 | 100 | 100 | 100 |" in text
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(links) == 6 and all(link.startswith("report_files/") for link in links)
    assert all((out.parent / link).is_file() for link in links)
    assert (out.parent / "report_files" / "timeline_mplm.png").read_bytes()[:4] == b"\x89PNG"


def test_without_traces_the_report_says_so(runs):
    root, _, plain = runs
    out = root / "plain.md"
    assert invoke("report", plain, "-o", out).exit_code == 0
    text = out.read_text()
    assert "No traces in these run folders" in text and "timeline_" not in text
    assert text.count("![") == 2  # accuracy and costs only


def test_per_size_table_takes_solved_share_and_medians():
    base = dict(task="sudoku", size=4, instance_id="i", paradigm="mplm", generated_tokens=10,
                prefill_tokens=0, kv_copied_tokens=0, peak_thread_context=5, peak_live_kv=5,
                critical_path_tokens=3, threads=2, messages=0, wall_s=0.5)
    rows = [dict(base, status="solved", generated_tokens=10),
            dict(base, status="wrong", generated_tokens=31),
            dict(base, status="solved", generated_tokens=1000)]
    [table] = summary_tables(summary_long([RunData(Path("r"), "r", {}, rows)]))
    assert table.title == "sudoku, size 4 (r)" and list(table.frame.columns) == ["mplm"]
    assert table.frame.loc["solved %", "mplm"] == "66.67"
    assert table.frame.loc["runs", "mplm"] == "3"
    assert table.frame.loc["generated_tokens", "mplm"] == "31"
    assert table.frame.loc["wall_s", "mplm"] == "0.50"


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium not installed (.ci/run installs the Debian package)")
def test_headless_chromium_renders_the_html(html_report, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,1600", html_report.resolve().as_uri()],
        capture_output=True, timeout=120, check=False)
    assert shot.is_file()
    pixels = imread(shot)[..., :3].reshape(-1, 3)
    colours = np.unique((pixels * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50  # text, table borders and plots, not a blank page


def test_bad_input_is_one_error_line_and_exit_2(runs, tmp_path):
    _, traced, _ = runs
    one_line_error(invoke("report", tmp_path / "nope", "-o", tmp_path / "r.html"),
                   "no such run folder")
    one_line_error(invoke("report", tmp_path, "-o", tmp_path / "r.html"), "no results.jsonl")
    one_line_error(invoke("report", traced, "-o", tmp_path / "r.pdf"), ".html or .md")
    assert not (tmp_path / "r.html").exists()


def test_task_metrics_are_reported_as_means_where_a_task_has_them():
    base = dict(task="t", size=1, paradigm="mplm", status="solved", preempted=1,
                **{name: 1 for name in ("generated_tokens", "prefill_tokens", "kv_copied_tokens",
                                        "peak_thread_context", "peak_live_kv", "critical_path_tokens",
                                        "threads", "messages", "wall_s")})
    qa = RunData(Path("qa"), "qa", {}, [{**base, "f1": 0.5}, {**base, "f1": 1.0, "preempted": 0}])
    other = RunData(Path("o"), "o", {}, [{**base, "task": "u"}])
    tables = {t.title: t.frame for t in summary_tables(summary_long([qa, other]))}
    assert tables["t, size 1 (qa)"].loc["f1 (mean)", "mplm"] == "0.75"
    assert tables["t, size 1 (qa)"].loc["preempted (mean)", "mplm"] == "0.50"
    assert "f1 (mean)" not in tables["u, size 1 (o)"].index


@pytest.mark.parametrize("kv_copied, log", [(30, False), (30000, True)])
def test_token_parts_stack_on_a_linear_axis_and_stand_side_by_side_on_a_log_one(kv_copied, log):
    import pandas as pd
    from matplotlib.figure import Figure

    from mplm_bench.report_plots import stacked_tokens

    summary = pd.DataFrame([dict(task="sudoku", size=4, run="r", paradigm="fj",
                                 generated_tokens=100, prefill_tokens=50,
                                 kv_copied_tokens=kv_copied)])
    ax = Figure().subplots()
    stacked_tokens(ax, summary)
    bars = [(bar.get_x(), bar.get_y(), bar.get_height()) for bar in ax.patches]
    assert [height for _, _, height in bars] == [100, 50, kv_copied]
    assert ax.get_yscale() == ("log" if log else "linear")
    if log:  # each part from the axis, at its own x
        assert [y for _, y, _ in bars] == [0, 0, 0] and len({x for x, _, _ in bars}) == 3
    else:  # each part on top of the one before, at one x
        assert [y for _, y, _ in bars] == [0, 100, 150] and len({x for x, _, _ in bars}) == 1
