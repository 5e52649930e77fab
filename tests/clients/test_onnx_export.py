"""Tests of clients/onnx_export.py: ONNX export matches torch, calibration entry, the typer command."""
import numpy as np
import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from clients import onnx_export
from clients.model import ModelSpec, build_model


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


def test_calibrate_returns_a_device_profile_entry():
    ort = pytest.importorskip("onnxruntime")
    spec = ModelSpec(hidden=16)
    entry = onnx_export.calibrate(spec, runs=50, warmup=5)
    assert entry["name"] == "this-machine"
    assert 0 < entry["measured_latency_s"] < 0.1
    from clients.model import model_cost
    assert entry["lstm_flops_per_s"] == pytest.approx(model_cost(spec).flops_per_inference / entry["measured_latency_s"])
    assert f"onnxruntime {ort.__version__}" in entry["source"]


def test_calibrate_command_prints_yaml_and_writes_out(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "profile.yaml"
    result = CliRunner().invoke(_app(), ["--hidden", "8", "--layers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed == yaml.safe_load(out.read_text())
    assert printed[0]["name"] == "this-machine" and printed[0]["lstm_flops_per_s"] > 0


def test_calibrate_command_without_onnxruntime_exits_2(monkeypatch):
    monkeypatch.setattr(onnx_export, "onnxruntime_available", lambda: False)
    result = CliRunner().invoke(_app(), [])
    assert result.exit_code == 2
    assert "error: onnxruntime is not installed; pip install 'edgefed[onnx]'" in result.output
