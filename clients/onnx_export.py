"""ONNX export of a forecaster and a per-inference latency calibration with ONNX Runtime (optional extra).

Export uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``, opset 17,
batch axis dynamic): on torch 2.13 it works offline with only the ``onnx`` package, while the
default dynamo exporter also needs ``onnxscript``. ``calibrate`` needs ``onnx`` and ``onnxruntime``
(``pip install 'edgefed[onnx]'``). The calibration measures batch-1 latency on this machine and turns
it into a device-profile entry: ``lstm_flops_per_s = model_cost(spec).flops_per_inference / median
latency``, i.e. the effective speed of this CPU on this model (it includes the runtime's per-call
overhead, which dominates for small LSTMs, so it is an honest speed for one request at a time).
"""
from __future__ import annotations

import datetime
import os
import pathlib
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import typer

from clients.model import ModelSpec, build_model, model_cost

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "x", "forecast"


def export_onnx(model: torch.nn.Module, spec: ModelSpec, path: str | os.PathLike) -> pathlib.Path:
    """Write ``model`` (input ``x`` [batch, window, features] -> ``forecast`` [batch]) as an ONNX file."""
    path = pathlib.Path(path)
    example = torch.zeros(1, spec.window, spec.input_features)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript exporter deprecation and RNN batch-size notes
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    finally:
        model.train(was_training)
    return path


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _session(path: pathlib.Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one request on one core, as a device would run it
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(path: str | os.PathLike, X: np.ndarray) -> np.ndarray:
    """Forecasts of an exported model for X [n, window, F] with ONNX Runtime (one call)."""
    return _session(pathlib.Path(path)).run(None, {INPUT_NAME: np.ascontiguousarray(X, np.float32)})[0]


def calibrate(spec: ModelSpec, runs: int = 2000, warmup: int = 100, seed: int = 0) -> dict:
    """Device-profile entry of this machine from the median batch-1 ONNX Runtime latency of ``spec``."""
    import onnxruntime as ort

    if runs < 1:
        raise ValueError("runs must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(build_model(spec, seed), spec, pathlib.Path(tmp) / "edge.onnx")
        session = _session(path)
    x = np.random.default_rng(seed).normal(size=(1, spec.window, spec.input_features)).astype(np.float32)
    feed = {INPUT_NAME: x}
    for _ in range(warmup):
        session.run(None, feed)
    times = np.empty(runs)
    clock = time.perf_counter
    for i in range(runs):
        start = clock()
        session.run(None, feed)
        times[i] = clock() - start
    latency = float(statistics.median(times))
    flops = model_cost(spec).flops_per_inference
    cpu = platform.processor() or platform.machine()
    return {"name": "this-machine", "lstm_flops_per_s": flops / latency, "measured_latency_s": latency,
            "source": (f"measured with onnxruntime {ort.__version__} on {cpu}/{os.cpu_count()} cpus, "
                       f"{datetime.date.today().isoformat()}: median of {runs} batch-1 runs of "
                       f"{spec.cell.upper()} h={spec.hidden}x{spec.layers} window {spec.window} "
                       f"({flops:.0f} FLOPs/inference)")}


def profile_yaml(entry: dict) -> str:
    """The entry as a one-item YAML list, ready to append to a device-profile catalogue."""
    import yaml

    return yaml.safe_dump([entry], sort_keys=False, width=200)


def calibrate_command(hidden: int = typer.Option(64, help="LSTM hidden size"),
                      layers: int = typer.Option(2, help="LSTM layers"),
                      out: Path | None = typer.Option(None, "--out", help="also write the entry to this YAML file"),
                      ) -> None:
    """Measure this machine's per-inference LSTM latency with ONNX Runtime and print a device-profile entry."""
    if not onnxruntime_available():
        typer.echo("error: onnxruntime is not installed; pip install 'edgefed[onnx]'", err=True)
        raise typer.Exit(2)
    torch.set_num_threads(1)
    text = profile_yaml(calibrate(ModelSpec(cell="lstm", hidden=hidden, layers=layers)))
    typer.echo(text, nl=False)
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
