"""Series styles stay distinct past the palette: issue 17's link figure gave two of 9+ links one colour."""
from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from plots.network import draw_link_utilisation
from plots.style import OKABE_ITO, SERIES_PALETTE, name_colours, name_styles


def test_the_palette_has_twelve_different_colours_starting_with_okabe_ito():
    assert SERIES_PALETTE[:8] == OKABE_ITO
    assert len({to_hex(c) for c in SERIES_PALETTE}) == 12


def test_twelve_names_get_twelve_colours():
    assert len(set(name_colours([f"class-{i}" for i in range(12)]).values())) == 12


@pytest.mark.parametrize("count, variants", [(12, 1), (12, 2), (30, 1), (30, 2), (40, 2)])
def test_every_name_and_variant_gets_its_own_colour_and_style(count, variants):
    styles = name_styles([f"link-{i:02d}" for i in range(count)], variants)
    pairs = [(colour, str(style)) for per_name in styles.values() for colour, style in per_name]
    assert len(pairs) == count * variants == len(set(pairs))


def test_the_first_twelve_links_keep_solid_uplinks_and_dashed_downlinks():
    styles = name_styles([f"link-{i:02d}" for i in range(12)], variants=2)
    assert {per_name[0][1] for per_name in styles.values()} == {"-"}
    assert {per_name[1][1] for per_name in styles.values()} == {"--"}


def test_a_figure_of_twelve_links_draws_twelve_distinct_lines(make_run_dir, tmp_path):
    run = make_run_dir(tmp_path / "run")
    names = [f"class-{i:02d}/lte/up" for i in range(12)]
    with (run / "links.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "link", "utilisation", "throughput_bps"])
        writer.writerows([t, name, 0.1, 1e6] for t in (60.0, 120.0) for name in names)
    try:
        lines = draw_link_utilisation(run).axes[0].lines
        pairs = {(to_hex(line.get_color()), str(line.get_linestyle())) for line in lines}
        assert len(lines) == 12 and len(pairs) == 12
    finally:
        plt.close("all")
