"""Tests of clients/litert_export.py: the LiteRT file forecasts as torch does; `calibrate --runtime litert`."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from clients import litert_export
from clients.model import ModelSpec, build_model, model_cost
from sim import scenario as scenarios
from sim.app.cli import app

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"
needs_litert = pytest.mark.skipif(not litert_export.litert_available(),
                                  reason="the litert extra (litert-torch, ai-edge-litert) is not installed")


@needs_litert
@pytest.mark.slow
@pytest.mark.parametrize("spec", [ModelSpec(hidden=64, layers=2), ModelSpec(hidden=8, layers=2, calendar=True),
                                  ModelSpec(hidden=16, proj_size=4), ModelSpec(cell="gru", hidden=8, window=12)])
def test_litert_output_matches_torch_within_tolerance(tmp_path, spec):
    model = build_model(spec, 3)
    path = litert_export.export_litert(model, spec, tmp_path / "edge.tflite")
    assert path.is_file() and path.stat().st_size > 4 * sum(p.numel() for p in model.parameters())
    X = np.random.default_rng(0).normal(size=(16, spec.window, spec.input_features)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(X)).numpy()
    got = litert_export.litert_predict(path, X)
    assert got.shape == expected.shape and np.ptp(expected) > 1e-3  # distinct forecasts, not a constant
    np.testing.assert_allclose(got, expected, rtol=0, atol=litert_export.TOLERANCE)


@needs_litert
@pytest.mark.slow
def test_calibrate_runtime_litert_prints_a_profile_a_scenario_accepts(tmp_path):
    result = CliRunner().invoke(app, ["calibrate", "--runtime", "litert", "--hidden", "16", "--layers", "1",
                                      "--name", "my-box", "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0, result.output
    entry = yaml.safe_load((tmp_path / "p.yaml").read_text())["profiles"]["my-box"]
    assert entry["base"] == "raspberry-pi-4" and "ai-edge-litert" in entry["source"]
    latency = model_cost(ModelSpec(hidden=16, layers=1)).flops_per_inference / entry["lstm_flops_per_s"]
    assert 1e-6 < latency < 0.1  # a batch-1 call of a 16-unit LSTM: microseconds to milliseconds, not seconds
    data = yaml.safe_load(QUICKSTART.read_text())
    data["profiles"] = {"my-box": entry}
    data["fleet"][0]["profile"] = "my-box"
    assert scenarios.parse(data, "x.yaml").device_profile("my-box").lstm_flops_per_s == entry["lstm_flops_per_s"]


def test_an_unknown_runtime_is_a_one_line_error():
    result = CliRunner().invoke(app, ["calibrate", "--runtime", "tflite-micro"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --runtime: unknown runtime 'tflite-micro'; allowed: onnx, litert"
