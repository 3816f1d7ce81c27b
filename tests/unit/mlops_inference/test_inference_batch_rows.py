"""The batch job's rows under the service's rules: a row out of the numeric range, or one the model gives
no finite prediction for, comes out with its reason and no prediction (not a NaN score)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa

from mlops_inference.batch_rows import NOT_FINITE, output_schema, predict_batch
from mlops_inference.model import Feature, ModelSpec, load_model
from tests.support.inference_support import model_files

# Within the range, both features become inf in float32 (std 1e-30): the scripted Linear's
# 0.5 * inf - 0.5 * inf is NaN; 0 and 0 stay finite.
SPEC = ModelSpec(features=(Feature("a", "numeric", std=1e-30), Feature("b", "numeric", std=1e-30)))


def test_rows_out_of_range_or_without_a_finite_prediction_carry_their_reason():
    model = load_model("overflow", 1, model_files(spec=SPEC))
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3], "a": [0.0, 1e15, 1e300], "b": [0.0, 1e15, 0.0]})
    schema = output_schema(model, batch.schema, ["id"], "test://rows")

    out, invalid = predict_batch(model, batch, ["id"], schema, datetime.now(UTC))

    rows = out.to_pylist()
    assert invalid == 2
    assert math.isfinite(rows[0]["score"]) and rows[0]["error"] is None
    assert (rows[1]["score"], rows[1]["error"]) == (None, NOT_FINITE)
    assert (rows[2]["score"], rows[2]["error"]) == (None, "a: must be within +/-1e+15")
