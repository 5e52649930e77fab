"""Tests of clients/onnx_export.py: ONNX export matches torch, calibration entry, the typer command."""
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from clients import onnx_export
from clients.model import ModelSpec, build_model, model_cost
from sim import scenario as scenarios
from sim.catalogue import DEVICES
from sim.world import World

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(onnx_export.calibrate_command)
    return app


@pytest.mark.parametrize("spec", [ModelSpec(hidden=16), ModelSpec(hidden=8, layers=2, calendar=True),
                                  ModelSpec(cell="gru", hidden=8, window=12)])
def test_onnx_runtime_output_matches_torch(tmp_path, spec):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = build_model(spec, 3)
    path = onnx_export.export_onnx(model, spec, tmp_path / "edge.onnx")
    assert path.is_file() and path.stat().st_size > 4 * sum(p.numel() for p in model.parameters())
    X = np.random.default_rng(0).normal(size=(7, spec.window, spec.input_features)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(X)).numpy()
    for rows in (slice(0, 7), slice(2, 3)):  # the batch axis is dynamic
        got = onnx_export.onnx_predict(path, X[rows])
        assert got.shape == expected[rows].shape
        np.testing.assert_allclose(got, expected[rows], rtol=1e-5, atol=1e-5)
    assert model.training  # export restores the mode it found


def test_calibrate_measures_a_latency_and_its_rate():
    ort = pytest.importorskip("onnxruntime")
    spec = ModelSpec(hidden=16)
    measured = onnx_export.calibrate(spec, runs=50, warmup=5)
    assert 0 < measured.latency_s < 0.1 and measured.runs == 50 and measured.spec == spec
    assert measured.lstm_flops_per_s == pytest.approx(model_cost(spec).flops_per_inference / measured.latency_s)
    assert measured.runtime == f"onnxruntime {ort.__version__}"


# a made-up measurement: the entry's format is tested without running ONNX Runtime
MEASURED = onnx_export.Calibration(ModelSpec(hidden=64, layers=2), 2.5e-4, 2000, "onnxruntime 0.0", "x86_64/8 cpus",
                                   "2025-01-01")


def test_the_printed_entry_pastes_into_a_scenario_and_validates():
    text = onnx_export.profile_yaml(onnx_export.profile_override(MEASURED, "lab-box", "jetson-nano"))
    quickstart = QUICKSTART.read_text()
    assert "\nprofiles:" not in quickstart  # the paste adds the section
    pasted = scenarios.parse(yaml.safe_load(quickstart + "\n" + text), "pasted.yaml")
    profile = pasted.device_profile("lab-box")
    assert profile.lstm_flops_per_s == pytest.approx(model_cost(MEASURED.spec).flops_per_inference / 2.5e-4)
    assert profile.cores == DEVICES["jetson-nano"].cores and profile.active_w == DEVICES["jetson-nano"].active_w
    assert "median latency 0.25 ms of 2000 batch-1 runs of LSTM h=64x2" in profile.source
    data = yaml.safe_load(quickstart)
    data.update(yaml.safe_load(text))
    data["fleet"][0]["profile"] = "lab-box"
    assert World(scenarios.parse(data, "used.yaml")).devices[0].profile == profile


def test_calibrate_command_prints_yaml_and_writes_out(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "profile.yaml"
    result = CliRunner().invoke(_app(), ["--hidden", "8", "--layers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed == yaml.safe_load(out.read_text())
    entry = printed["profiles"]["this-machine"]
    assert entry["base"] == "raspberry-pi-4" and entry["lstm_flops_per_s"] > 0


def test_calibrate_command_rejects_an_unknown_base():
    result = CliRunner().invoke(_app(), ["--base", "cray-1"])
    assert result.exit_code == 2 and "error: --base: unknown profile 'cray-1'; allowed: mcu-cortex-m4," in result.output


def test_calibrate_command_without_onnxruntime_exits_2(monkeypatch):
    monkeypatch.setattr(onnx_export, "onnxruntime_available", lambda: False)
    result = CliRunner().invoke(_app(), [])
    assert result.exit_code == 2
    assert "error: onnxruntime is not installed; pip install 'edgefed[onnx]'" in result.output
