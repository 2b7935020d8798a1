"""An example written into a table (endpoint candidates) and read back (scoring, GRPO) is the same."""

import pandas as pd

from r2_pipeline.tasks.base import Example


def test_example_round_trips_through_a_table():
    examples = [Example("a", "q?", ["x", 1], {"choices": ["A", "B"], "n": 2}), Example("b", "r?", "7")]
    table = pd.DataFrame([{"benchmark": "t", **e.columns()} for e in examples])
    assert [Example.from_row(r) for r in table.itertuples()] == examples
