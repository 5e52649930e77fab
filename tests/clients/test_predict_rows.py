"""A forecast's bits do not depend on which other forecasts share its forward pass (clients.forecast.predict pads
its last chunk to PAD_ROWS_TO rows), so scoring can compute a window once for every device that shares it."""
import numpy as np
import pytest

from clients.forecast import PAD_ROWS_TO, PREDICT_BATCH, predict
from clients.model import ModelSpec, build_model, quantize_int8

SPECS = [ModelSpec(hidden=16), ModelSpec(hidden=64), ModelSpec(hidden=32, calendar=True), ModelSpec(cell="gru", hidden=16)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.cell}{s.hidden}{'cal' if s.calendar else ''}")
@pytest.mark.parametrize("int8", [False, True], ids=["fp32", "int8-weights"])
def test_subsets_and_orders_give_the_same_bits(spec, int8):
    model = build_model(spec, 3)
    model = quantize_int8(model) if int8 else model
    rng = np.random.default_rng(7)
    X = rng.normal(size=(PREDICT_BATCH + 500, spec.window, spec.input_features)).astype(np.float32)
    full = predict(model, X)
    # sizes that are not multiples of 8 made some rows differ in their last bits before padding (hidden 64: 3, 19,
    # 777 and 1,023 rows, measured)
    for size in (1, 3, 19, 63, 777, PREDICT_BATCH - 1, PREDICT_BATCH + 1):
        rows = rng.choice(len(X), size=size, replace=False)
        np.testing.assert_array_equal(predict(model, X[rows]), full[rows], err_msg=f"{size} rows")


def test_padding_is_a_multiple_of_the_vector_width():
    assert PREDICT_BATCH % PAD_ROWS_TO == 0 and PAD_ROWS_TO % 8 == 0
