"""requests.parquet: target, model and dropped are categorical columns with their labels, in pandas too."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from plots.rundir import read_requests
from sim import scenario as scenarios
from sim.app.runner import run_scenario, write_run

TINY = {
    "name": "tiny", "seed": 3, "duration": "60s", "policy": {"name": "random"},
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "2/s", "deadline": "1s"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def test_pandas_reads_labels_that_match_the_codes(tmp_path):
    result = run_scenario(scenarios.Scenario.model_validate(TINY))
    write_run(result, tmp_path / "run", plots=False)
    frame = pd.read_parquet(tmp_path / "run" / "requests.parquet")
    codes = result.requests
    assert len(frame) == len(codes["target"]) > 100
    assert list(frame["target"].cat.categories) == ["local", "edge", "cloud"]
    assert list(frame["model"].cat.categories) == ["edge", "cloud", "personal"]
    assert list(frame["dropped"].cat.categories) == ["served", "battery-empty", "unfinished", "no-coverage", "timeout"]
    assert (frame["target"].cat.codes.to_numpy() == codes["target"]).all()
    assert (frame["dropped"].cat.codes.to_numpy() == codes["dropped"]).all()
    # the random policy sends requests everywhere: all three labels occur
    assert set(frame["target"]) == {"local", "edge", "cloud"}
    assert frame["latency_s"].dtype == np.float32


def test_plots_read_labelled_and_legacy_coded_files_alike(tmp_path):
    codes = {"target": np.array([0, 2, 1, 2], np.int8), "dropped": np.array([0, 0, 1, 0], np.int8),
             "latency_s": np.array([1.0, 2.0, 3.0, 4.0], np.float32)}
    labels = {"target": ("local", "edge", "cloud"), "dropped": ("served", "battery-empty", "unfinished", "no-coverage", "timeout")}
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    pq.write_table(pa.table(codes), tmp_path / "old" / "requests.parquet")
    pq.write_table(pa.table({k: pa.DictionaryArray.from_arrays(pa.array(v), pa.array(labels[k])) if k in labels else v
                             for k, v in codes.items()}), tmp_path / "new" / "requests.parquet")
    old, new = (read_requests(tmp_path / d, ["target", "latency_s"]) for d in ("old", "new"))
    assert list(new["target"]) == list(old["target"]) == ["local", "cloud", "cloud"]
    assert list(new["latency_s"]) == list(old["latency_s"]) == [1.0, 2.0, 4.0]


def test_a_request_dropped_before_any_target_has_a_missing_target(tmp_path):
    from sim.app.output import write_parquet

    write_parquet(tmp_path / "r.parquet", {"target": np.array([-1, 1], np.int8)}, {"target": ("local", "edge", "cloud")})
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert frame["target"].isna().tolist() == [True, False] and frame["target"][1] == "edge"
