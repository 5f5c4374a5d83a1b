"""Segment criteria keys of SPEC 13 as JSON and in the command form: values, ranges, refusals
that name the key (counting is tested over Slack in test_insight_surfaces)."""

from __future__ import annotations

import pytest

from crm.errors import ValidationError
from crm.segment_criteria import parse_criteria_text, validate_criteria


def test_prediction_keys_take_values_lists_and_ranges() -> None:
    assert parse_criteria_text("p_alive<0.3") == {"p_alive": {"lt": 0.3}}
    assert parse_criteria_text("alive<=30%") == {"p_alive": {"lte": 0.3}}
    assert parse_criteria_text("clv=1k..5k") == {
        "predicted_clv": {"gte": "1000.00", "lte": "5000.00"}
    }
    assert parse_criteria_text("expected_purchases>=1.5 tier=gold") == {
        "expected_purchases": {"gte": 1.5},
        "tier": ["gold"],
    }
    assert validate_criteria({"p_alive": {"gte": "0.2", "lt": 0.5}}) == {
        "p_alive": {"gte": 0.2, "lt": 0.5}
    }


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"p_alive": 1.5}, "p_alive: expected a number from 0 to 1"),
        ({"p_alive": True}, "p_alive: expected a number"),
        ({"p_alive": "often"}, "p_alive: 'often' is not a number"),
        ({"p_alive": {"gte": 0.6, "lte": 0.2}}, "p_alive: this range is empty"),
        ({"expected_purchases": -1}, "expected_purchases: expected a number from 0 to 1,000,000"),
        ({"expected_purchases": "nan"}, "expected_purchases: expected a number from 0"),
        ({"predicted_clv": "lots"}, "predicted_clv:"),
    ],
)
def test_bad_prediction_values_name_the_key(criteria: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_criteria(criteria)
    assert str(caught.value).startswith(message), str(caught.value)
