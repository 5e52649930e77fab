"""Batched forecast numerics: forecasts per second through ``forecast_errors`` against raw torch, in one run.

Four ways to score the same requests of one device with the same fp32 edge model, one torch thread:
``forecast_errors`` (the simulator's path: windows built from the series, grouped by (version,
int8), one model and one forward pass per group); a raw torch forward pass on the prebuilt X in one
batch (``ratio``) and in the chunks that ``predict`` uses (``PREDICT_BATCH`` rows, ``ratio_vs_chunked``,
the same work); the same in 8192-row chunks (what ``predict`` used before: ``chunk_speedup`` is its time
over PREDICT_BATCH's); and one forward pass per request (what batching avoids). Each figure is the best of
``--repeats`` timings. The last line is one JSON object.

Usage: python bench/numerics.py [--requests N] [--hidden H] [--one-at-a-time N]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from clients.data import DeviceSeries
from clients.forecast import PREDICT_BATCH, forecast_errors
from clients.model import ModelSpec, build_model, get_arrays


def _best(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--one-at-a-time", type=int, default=1_000, help="requests timed one by one")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = ModelSpec(hidden=args.hidden)
    series = DeviceSeries.load(0, start="2013-06-01", history_hours=24 * 120, horizon_hours=24 * 60)
    rng = np.random.default_rng(0)
    hours = np.sort(rng.integers(0, 24 * 60, size=args.requests))
    versions, quantized = np.zeros(len(hours), np.int64), np.zeros(len(hours), bool)
    model = build_model(spec, 0).eval()
    weights = {0: get_arrays(model)}
    X, y, valid = series.windows(hours, spec.window, spec.calendar)
    x = torch.from_numpy(X[valid])
    n = int(valid.sum())

    def batched():
        forecast_errors(series, spec, hours, versions, quantized, weights)

    def raw():
        with torch.inference_mode():
            model(x).numpy()

    def raw_chunked(rows: int = PREDICT_BATCH):  # the same chunks as clients.forecast.predict
        with torch.inference_mode():
            for lo in range(0, n, rows):
                model(x[lo:lo + rows]).numpy()

    def one_by_one():
        with torch.inference_mode():
            for i in range(min(args.one_at_a_time, n)):
                model(x[i:i + 1]).numpy()

    batched(), raw()  # warm-up (allocator, kernels)
    t_batched, t_raw = _best(batched, args.repeats), _best(raw, args.repeats)
    t_chunked = _best(raw_chunked, args.repeats)
    t_8192 = _best(lambda: raw_chunked(8192), args.repeats)
    t_one = _best(one_by_one, max(1, args.repeats // 2))
    # forecast_errors scores all requests (invalid windows are NaN, not computed); count the valid ones
    batched_per_s, raw_per_s, chunked_per_s = n / t_batched, n / t_raw, n / t_chunked
    one_per_s = min(args.one_at_a_time, n) / t_one
    print(f"{n} valid requests of {len(hours)}, LSTM h={spec.hidden}, window {spec.window}, 1 torch thread")
    print(f"forecast_errors (batched, simulator path): {batched_per_s:12.0f} forecasts/s")
    print(f"raw torch batched forward:                 {raw_per_s:12.0f} forecasts/s")
    print(f"raw torch, {PREDICT_BATCH}-row chunks as predict():   {chunked_per_s:12.0f} forecasts/s")
    print(f"raw torch, 8192-row chunks:                {n / t_8192:12.0f} forecasts/s")
    print(f"one request at a time:                     {one_per_s:12.0f} forecasts/s")
    print(json.dumps({"requests": n, "hidden": spec.hidden, "batched_per_s": round(batched_per_s),
                      "raw_torch_per_s": round(raw_per_s), "ratio": round(batched_per_s / raw_per_s, 3),
                      "raw_torch_chunked_per_s": round(chunked_per_s),
                      "ratio_vs_chunked": round(batched_per_s / chunked_per_s, 3),
                      "chunk_rows": PREDICT_BATCH, "chunk_speedup": round(t_8192 / t_chunked, 3),
                      "one_at_a_time_per_s": round(one_per_s),
                      "speedup_vs_one_at_a_time": round(batched_per_s / one_per_s, 1)}))


if __name__ == "__main__":
    main()
