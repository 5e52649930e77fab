"""ONNX export of a forecaster and a per-inference latency calibration with ONNX Runtime (optional extra).

Export uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``, opset 17,
batch axis dynamic): on torch 2.13 it works offline with only the ``onnx`` package, while the
default dynamo exporter also needs ``onnxscript``. ``calibrate`` needs ``onnx`` and ``onnxruntime``
(``pip install 'edgefed[onnx]'``). The calibration measures batch-1 latency on this machine and turns
it into a scenario ``profiles:`` entry built on a catalogue device (``base:``, whose power, cores and RAM it
keeps): ``lstm_flops_per_s = model_cost(spec).flops_per_inference / median latency``, i.e. the effective
speed of this CPU on this model (it includes the runtime's per-call overhead, which dominates for small
LSTMs, so it is an honest speed for one request at a time).
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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Calibration:
    """The median batch-1 latency of one model on this machine, and what it was measured with."""

    spec: ModelSpec
    latency_s: float
    runs: int
    runtime: str  # e.g. "onnxruntime 1.18.0"
    machine: str  # processor / cpu count
    day: str  # ISO date of the measurement

    @property
    def lstm_flops_per_s(self) -> float:
        """The effective rate of this machine on this model: its FLOPs over the measured latency."""
        return model_cost(self.spec).flops_per_inference / self.latency_s


def calibrate(spec: ModelSpec, runs: int = 2000, warmup: int = 100, seed: int = 0) -> Calibration:
    """The median batch-1 ONNX Runtime latency of ``spec`` on this machine."""
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
    return Calibration(spec, float(statistics.median(times)), runs, f"onnxruntime {ort.__version__}",
                       f"{platform.processor() or platform.machine()}/{os.cpu_count()} cpus",
                       datetime.date.today().isoformat())


def profile_override(calibration: Calibration, name: str = "this-machine",
                     base: str = "raspberry-pi-4") -> dict[str, dict]:
    """A scenario `profiles:` entry: the measured rate on top of catalogue device `base` (power, cores, RAM)."""
    spec = calibration.spec
    flops = model_cost(spec).flops_per_inference
    source = (f"measured with {calibration.runtime} on {calibration.machine}, {calibration.day}: median latency "
              f"{calibration.latency_s * 1e3:.4g} ms of {calibration.runs} batch-1 runs of {spec.cell.upper()} "
              f"h={spec.hidden}x{spec.layers} window {spec.window} ({flops:.0f} FLOPs/inference); "
              f"other fields from {base}")
    return {name: {"base": base, "lstm_flops_per_s": calibration.lstm_flops_per_s, "source": source}}


def profile_yaml(override: dict[str, dict]) -> str:
    """The override as a scenario's `profiles:` section, ready to paste into a scenario file."""
    import yaml

    return yaml.safe_dump({"profiles": override}, sort_keys=False, width=200)


def calibrate_command(hidden: int = typer.Option(64, help="LSTM hidden size"),
                      layers: int = typer.Option(2, help="LSTM layers"),
                      name: str = typer.Option("this-machine", help="name of the new device profile"),
                      base: str = typer.Option("raspberry-pi-4", help="catalogue device whose other fields it keeps"),
                      out: Path | None = typer.Option(None, "--out", help="also write the entry to this YAML file"),
                      ) -> None:
    """Measure this machine's per-inference LSTM latency with ONNX Runtime; print a scenario `profiles:` entry."""
    from sim.catalogue import DEVICES

    if base not in DEVICES:
        typer.echo(f"error: --base: unknown profile {base!r}; allowed: {', '.join(DEVICES)}", err=True)
        raise typer.Exit(2)
    if not onnxruntime_available():
        typer.echo("error: onnxruntime is not installed; pip install 'edgefed[onnx]'", err=True)
        raise typer.Exit(2)
    print_profile_entry(calibrate, hidden, layers, name, base, out)


def print_profile_entry(measure, hidden: int, layers: int, name: str, base: str, out: Path | None) -> None:
    """Measure an LSTM with `measure` (this module's calibrate, or clients.litert_export's) on one thread; print the
    scenario `profiles:` entry it gives, and write it to `out` (through a temporary name) when asked."""
    import typer

    torch.set_num_threads(1)
    text = profile_yaml(profile_override(measure(ModelSpec(cell="lstm", hidden=hidden, layers=layers)), name, base))
    typer.echo(text, nl=False)
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
