"""LiteRT (TensorFlow Lite) export of a forecaster and a per-inference latency calibration (optional extra).

Conversion goes straight from torch through ``litert_torch.convert`` (torch.export, then the LiteRT converter);
the file runs with ``ai_edge_litert``'s interpreter, the runtime Android and embedded Linux devices ship.
The model is exported for batch 1 (``x`` [1, window, features] -> [1]): a device serves one request at a time.
``calibrate`` measures that batch-1 latency on this machine, one thread, and gives a ``Calibration`` that
``clients.onnx_export.profile_override`` turns into a scenario ``profiles:`` entry, as for ONNX Runtime.
Install: docs/runtimes.md (``pip install 'edgefed[litert]'``, or the ``--no-deps`` list that keeps torch).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from clients.model import ModelSpec, build_model
from clients.onnx_export import Calibration

TOLERANCE = 1e-5  # absolute, on forecasts in z units: float32 kernels differ from torch's in the last bits


def litert_available() -> bool:
    """Whether the converter (litert-torch) and the runtime (ai-edge-litert) are both installed."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        import litert_torch  # noqa: F401
    except ImportError:
        return False
    return True


def export_litert(model: torch.nn.Module, spec: ModelSpec, path: str | os.PathLike) -> pathlib.Path:
    """Write ``model`` as a .tflite file taking x [1, window, features] and returning the forecast [1]."""
    import litert_torch

    path = pathlib.Path(path)
    was_training = model.training
    model.eval()
    try:
        # the converter prints its stages on stdout: keep stdout for what a command prints (a profiles: entry)
        with contextlib.redirect_stdout(sys.stderr):
            converted = litert_torch.convert(model, (torch.zeros(1, spec.window, spec.input_features),))
            converted.export(str(path))
    finally:
        model.train(was_training)
    return path


class Runner:
    """One LiteRT interpreter on one thread, as a device runs it: forecast(x [1, window, F]) -> [1]."""

    def __init__(self, path: str | os.PathLike):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def forecast(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)


def litert_predict(path: str | os.PathLike, X: np.ndarray) -> np.ndarray:
    """Forecasts of an exported model for X [n, window, F], one batch-1 call per window."""
    runner = Runner(path)
    X = np.ascontiguousarray(X, np.float32)
    return np.concatenate([runner.forecast(X[i:i + 1]).reshape(1) for i in range(len(X))])


def calibrate(spec: ModelSpec, runs: int = 2000, warmup: int = 100, seed: int = 0) -> Calibration:
    """The median batch-1 LiteRT latency of ``spec`` on this machine (one interpreter thread)."""
    from importlib.metadata import version

    if runs < 1:
        raise ValueError("runs must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(export_litert(build_model(spec, seed), spec, pathlib.Path(tmp) / "edge.tflite"))
    x = np.random.default_rng(seed).normal(size=(1, spec.window, spec.input_features)).astype(np.float32)
    for _ in range(warmup):
        runner.forecast(x)
    times = np.empty(runs)
    clock = time.perf_counter
    for i in range(runs):
        start = clock()
        runner.forecast(x)
        times[i] = clock() - start
    return Calibration(spec, float(statistics.median(times)), runs, f"ai-edge-litert {version('ai-edge-litert')}",
                       f"{platform.processor() or platform.machine()}/{os.cpu_count()} cpus",
                       datetime.date.today().isoformat())


def calibrate_command(hidden: int, layers: int, name: str, base: str, out: pathlib.Path | None) -> None:
    """`edgefed calibrate --runtime litert`: measure with LiteRT; print (and write) a scenario `profiles:` entry."""
    import typer

    from clients.onnx_export import print_profile_entry
    from sim.catalogue import DEVICES

    if base not in DEVICES:
        typer.echo(f"error: --base: unknown profile {base!r}; allowed: {', '.join(DEVICES)}", err=True)
        raise typer.Exit(2)
    if not litert_available():
        typer.echo("error: --runtime litert: litert-torch and ai-edge-litert are not installed; see docs/runtimes.md",
                   err=True)
        raise typer.Exit(2)
    print_profile_entry(calibrate, hidden, layers, name, base, out)
