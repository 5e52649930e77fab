"""`edgefed plot`: one directory redraws its figures, several are compared, anything else is a one-line error."""
from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from plots.cli import plot_command

app = typer.Typer()
app.command()(plot_command)


@pytest.mark.slow  # 5 s: renders every figure of a run
def test_one_dir_renders_its_figures(run_dir):
    result = CliRunner().invoke(app, [str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "plots" / "fl_timeline.png").exists()


def test_several_dirs_compare_into_common_parent(comparison_dirs):
    result = CliRunner().invoke(app, [str(d) for d in comparison_dirs])
    assert result.exit_code == 0, result.output
    out = comparison_dirs[0].parent / "comparison"
    assert (out / "report.md").exists() and (out / "report.html").exists()


def test_not_a_run_directory_is_a_one_line_error(tmp_path, run_dir):
    result = CliRunner().invoke(app, [str(run_dir), str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope'}: not a run directory (no summary.json)\n"


def test_edgefed_plot_write_error_is_one_line(tmp_path, comparison_dirs):
    from sim.app.cli import app as edgefed

    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "comparison"
    result = CliRunner().invoke(edgefed, ["plot", *map(str, comparison_dirs), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {out / 'plots'}: Not a directory\n"


def test_edgefed_plot_into_a_run_whose_plots_is_a_file_is_one_line(tmp_path, make_run_dir):
    from sim.app.cli import app as edgefed

    run = make_run_dir(tmp_path / "run")
    (run / "plots").write_text("")
    result = CliRunner().invoke(edgefed, ["plot", str(run)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {run / 'plots'}: File exists\n"
