"""Cost accounting and re-pricing from stored token counts."""

import pytest

from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.pool import CostLedger
from r2_pipeline.pool.prices import Price, PriceTable

TABLE = {
    "small": {"input_per_m": 0.1, "output_per_m": 0.4, "date": "2026-01-01", "source": "test"},
    "large": {"input_per_m": 3.0, "output_per_m": 15.0, "date": "2026-01-01", "source": "test"},
}


def test_cost_is_tokens_times_price():
    assert Price(1.0, 2.0, "d", "s").cost(1_000_000, 500_000) == pytest.approx(2.0)
    table = PriceTable.from_config(TABLE)
    assert table.cost("large", 1000, 100) == pytest.approx((1000 * 3.0 + 100 * 15.0) / 1e6)


def test_unpriced_member_is_an_error():
    with pytest.raises(KeyError, match="no price for pool member 'medium'"):
        PriceTable.from_config(TABLE).cost("medium", 1, 1)


def test_reprice_under_another_table():
    calls = [
        {"member": "small", "prompt_tokens": 1000, "completion_tokens": 10},
        {"member": "large", "prompt_tokens": 200, "completion_tokens": 50},
    ]
    old = PriceTable.from_config(TABLE).reprice(calls)
    doubled = {
        m: {**p, "input_per_m": 2 * p["input_per_m"], "output_per_m": 2 * p["output_per_m"]}
        for m, p in TABLE.items()
    }
    new = PriceTable.from_config(doubled).reprice(calls)
    assert new == pytest.approx([2 * c for c in old])


def test_ledger_keeps_tokens_not_dollars():
    ledger = CostLedger()
    ledger.add("small", [Completion("1", 10, 2), Completion("2", 20, 3)])
    ledger.add("large", [Completion("3", 5, 1)])
    assert ledger.calls == {"small": 2, "large": 1}
    cheap = PriceTable.from_config(TABLE)
    assert ledger.cost(cheap) == pytest.approx(
        cheap.cost("small", 30, 5) + cheap.cost("large", 5, 1)
    )
