"""predict_direction by reference: after the prepare step the request carries ``at`` and the feature rows
built from it, and the process that serves it (the native ML process re-validates) must accept that."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engines.ml.models.direction import PredictDirectionRequest

AT = {"symbol": "^IXIC", "as_of": "2018-06-01"}
ART = {"name": "m", "version": 1, "stage": "production", "model_type": "mlp", "path": "/x", "sha256": "0" * 64}


def test_request_when_prepared_by_reference_then_rows_and_at_together_accepted():
    req = PredictDirectionRequest.model_validate({"name": "m", "at": AT, "rows": [[1.0, 2.0]], "artifact": ART})
    assert req.rows.shape == (1, 2) and req.at.symbol == "^IXIC"


@pytest.mark.parametrize("body", [
    {"name": "m", "at": AT, "rows": [[1.0, 2.0]]},  # a client sending both
    {"name": "m"},  # neither
])
def test_request_when_not_exactly_one_of_rows_or_at_then_refused(body):
    with pytest.raises(ValidationError, match="exactly one of rows"):
        PredictDirectionRequest.model_validate(body)
