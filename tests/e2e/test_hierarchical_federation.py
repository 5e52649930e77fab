"""The bundled hierarchical scenario through Flower's simulation engine: levels, WAN bytes, privacy, rounds.csv."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim import scenario as scenarios
from sim.app.runner import run_federated, run_scenario, write_run

ROOT = Path(__file__).resolve().parents[2]


def _short() -> scenarios.Scenario:
    """scenarios/hierarchical-fl.yaml cut to 4 edge rounds (2 cloud rounds) of one epoch."""
    data = yaml.safe_load((ROOT / "scenarios" / "hierarchical-fl.yaml").read_text())
    data["duration"] = "4h"
    data["federation"].update(rounds=4, local_epochs=1, train_span="7d")
    return scenarios.parse(data, "hierarchical-fl-short")


@pytest.mark.slow
def test_the_bundled_hierarchical_scenario_runs_through_flower(tmp_path):
    result = run_scenario(_short())
    rows = [r for r in result.rounds if r["phase"] == "deploy"]
    assert [(r["level"], r["site"]) for r in rows] == ([("edge", s) for s in (0, 1, 2)] * 2 + [("cloud", -1)]) * 2
    assert all(r["aggregated"] == 3 for r in rows if r["level"] == "edge")  # 3 per site beat the deadline
    assert [r["model_version"] for r in rows if r["level"] == "cloud"] == [1, 2]
    edge_mse = [v["mse"] for v in result.versions if v["model"] == "edge"]
    assert len(edge_mse) == 3 and all(np.isfinite(edge_mse))
    cloud = [r for r in rows if r["level"] == "cloud"]
    # three site models up and one global copy down per site; all 30 gateways then hit their site's cache
    per_round = cloud[0]["upload_bytes"] / 3 + cloud[0]["wan_bytes_saved"] / 30
    assert [r["wan_bytes"] for r in cloud] == pytest.approx([3 * per_round] * 2)
    run = write_run(result, tmp_path / "run")
    with (run / "rounds.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header[-5:] == ["level", "site", "end_s", "wan_bytes", "wan_bytes_saved"]


@pytest.mark.slow
def test_edge_level_messages_carry_only_arrays_and_metrics():
    out = run_federated(_short())
    replies = [m for m in out["exchanged"] if m.metadata.reply_to_message_id and not m.has_error()]
    assert len(replies) >= 4 * 9
    for reply in replies:
        assert set(reply.content.config_records) == set()
        assert set(reply.content.array_records) <= {"arrays"}
        assert set(reply.content["metrics"]) <= {"partition-id", "num-examples", "train-loss", "update-bytes",
                                                 "errors", "baseline-errors"}
