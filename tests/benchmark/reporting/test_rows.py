"""Tests of the tidy result row: building rows and the row key."""

from __future__ import annotations

import pytest

from benchmark.store.rows import KEY_COLUMNS, ROW_COLUMNS, make_rows, row_key
from tests.benchmark.reporting.result_rows import rows


def test_make_rows_one_row_per_metric_in_schema_order():
    made = rows("hpnet", "occluded_reid", seed=3, rank1=0.8, mAP=0.7, queries=1000)
    assert [r["metric"] for r in made] == ["rank1", "mAP", "queries"], "one row per metric"
    assert list(made[0]) == list(ROW_COLUMNS), "columns follow ROW_COLUMNS"
    assert made[0]["trial"] == -1 and made[0]["seed"] == 3, "trial defaults to the aggregate -1"
    assert made[2]["value"] == 1000.0, "count metrics are free numbers"


def test_make_rows_rejects_percent_and_missing_context():
    with pytest.raises(ValueError, match="fraction"):
        rows("hpnet", "occluded_reid", rank1=80.0)
    with pytest.raises(ValueError, match="lacks"):
        make_rows({"method": "hpnet"}, {"rank1": 0.5})


def test_row_key_holds_every_condition():
    assert set(KEY_COLUMNS) == set(ROW_COLUMNS) - {"run", "value"} | {"occlusion"}
    gt, ps = (
        rows("hpnet", "occluded_reid", labels="gt", rank1=0.8),
        rows("hpnet", "occluded_reid", labels="ps", rank1=0.8),
    )
    assert row_key(gt[0]) != row_key(ps[0]), "gt and ps part labels are different conditions"
    occluded = rows("hpnet", "occluded_reid", labels="gt", extra={"occlusion": 0.2}, rank1=0.8)
    assert row_key(occluded[0]) != row_key(gt[0]), "an occlusion strength is a condition"
    assert row_key(gt[0]) == row_key({**gt[0], "occlusion": float("nan")}), "NaN = no condition"
    assert row_key(gt[0]) == row_key({**gt[0], "run": "other", "value": 0.1}), "run/value aside"
