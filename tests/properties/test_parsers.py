"""Hypothesis over what untrusted people write (#11, "keep it fixed"): rule files and
conditions, templates, Shopify/WooCommerce/BaseLinker payloads, SMS bodies. Each either
succeeds or fails with our own named error — never an unhandled exception — and within
the sandbox's time budget. Example counts are printed (``--hypothesis-show-statistics``).
"""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.compose.sms import GSM7, GSM7_BASIC, GSM7_EXTENSION, measure
from notifier.compose.tooling import check_templates
from notifier.config import ShopSettings
from notifier.detect.conditions import (
    EXTRA_NAMES,
    ConditionError,
    ConditionFailed,
    _sample,
    compile_condition,
)
from notifier.detect.rules import parse_rule
from notifier.errors import PayloadError, RuleError
from notifier.ingest.baselinker import BaseLinkerAdapter, parse_order
from notifier.ingest.shopify import ShopifyAdapter
from notifier.ingest.woocommerce import WooCommerceAdapter

PAYLOADS = Path(__file__).resolve().parents[1] / "ingest" / "payloads"
REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- JSON ------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-10**40, 10**40)
           | st.floats(allow_nan=False) | st.text(max_size=30)
           | st.sampled_from(["", "0", "-1", "1e309", "NaN", "2026-12-01T10:00:00Z",
                              "9999-12-31T23:59:59Z", "0001-01-01", "PLN", "a>b@evil.com",
                              "\x00", "subscribed", "paid"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                           max_leaves=20)


def mutated(sample: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The documented sample with some fields (top level or one level down) replaced."""
    paths = [(k,) for k in sample] + [(k, j) for k, v in sample.items() if isinstance(v, dict)
                                      for j in v]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        data = copy.deepcopy(sample)
        for path in draw(st.lists(st.sampled_from(paths), max_size=4)):
            target = data
            for key in path[:-1]:
                target = target.get(key) if isinstance(target.get(key), dict) else {}
            target[path[-1]] = draw(json_values)
        return data

    return build()


def sample(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


SHOPIFY_TOPICS = sorted(ShopifyAdapter.topics)


@FAST
@given(topic=st.sampled_from(SHOPIFY_TOPICS),
       payload=mutated(sample("shopify_order.json")) | json_values)
def test_shopify_mapping_refuses_with_a_named_field_or_maps(topic: str, payload: Any) -> None:
    try:
        ShopifyAdapter([]).parse(topic, payload, now=NOW)
    except PayloadError as exc:
        assert exc.field


@FAST
@given(topic=st.sampled_from(sorted(WooCommerceAdapter.topics)),
       payload=mutated(sample("woocommerce_order.json")) | json_values)
def test_woocommerce_mapping_refuses_with_a_named_field_or_maps(topic: str, payload: Any) -> None:
    try:
        WooCommerceAdapter([]).parse(topic, payload, now=NOW)
    except PayloadError as exc:
        assert exc.field


BASELINKER_ORDER = {
    "order_id": 1, "order_status_id": 1051, "date_add": 1764579600, "date_confirmed": 1764579600,
    "confirmed": True, "currency": "PLN", "payment_done": 100, "delivery_price": 15,
    "delivery_method": "InPost", "email": "anna@example.pl", "phone": "600100200",
    "delivery_fullname": "Anna Kowalska",
    "products": [{"name": "Kubek", "quantity": 2, "price_brutto": 42.5, "sku": "K-1"}],
}


@FAST
@given(payload=mutated(BASELINKER_ORDER) | json_values)
def test_baselinker_mapping_refuses_with_a_named_field_or_maps(payload: Any) -> None:
    adapter = BaseLinkerAdapter(status_map={"1051": "shipped"})
    try:
        adapter.order(parse_order(payload))
    except PayloadError as exc:
        assert exc.field


# -- rules and conditions ----------------------------------------------------------------

NAMES = ["order", "customer", "shipment", "cart", "now", "days_late"]
ATTRS = ["number", "total", "items", "status", "email", "first_name", "carrier", "value",
         "segment", "currency", "no_such_field", "__class__"]
TOKENS = ["and", "or", "not", "==", "!=", ">=", "<", "+", "-", "*", "**", "%", "~", "(", ")",
          "[", "]", "|length", "|upper", "|sum", "is none", "in", "'x'", "10", "10**8",
          "149.99", ",", ".", "if", "else", "range(10**6)", "|join", "|center(10**9)"]


@st.composite
def expressions(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 2))
        if kind == 0:
            parts.append(f"{draw(st.sampled_from(NAMES))}.{draw(st.sampled_from(ATTRS))}")
        elif kind == 1:
            parts.append(draw(st.sampled_from(TOKENS)))
        else:
            parts.append(draw(st.text(max_size=6)))
    return " ".join(parts)


@FAST
@given(source=expressions())
def test_conditions_compile_or_refuse_and_evaluate_or_fail_within_budget(source: str) -> None:
    names = frozenset(NAMES) | EXTRA_NAMES
    try:
        condition = compile_condition(source, names=names)
    except ConditionError as exc:
        assert str(exc)
        return
    with contextlib.suppress(ConditionFailed):
        condition.holds({name: _sample(name) for name in names})


RULE = (REPO / "rules" / "order-unshipped.toml").read_text(encoding="utf-8")
RULE_LINES = RULE.splitlines()


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    lines = list(RULE_LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        choice = draw(st.integers(0, 3))
        if choice == 0:
            del lines[index]
        elif choice == 1:
            key = lines[index].partition("=")[0].strip() or "when"
            value = draw(st.sampled_from(['"soon"', "-1", '""', "[]", "{}", '"25:00-08:00"',
                                          '"order.number * 10**8 != \'\'"', "1e309", "true",
                                          '"' + "x" * 300 + '"', '"9999d"']))
            lines[index] = f"{key} = {value}"
        elif choice == 2:
            lines.insert(index, draw(st.sampled_from(["[[steps]]", "[steps]", "surprise = 1",
                                                      "after = \"0m\"", "==="])))
        else:
            lines[index] = draw(st.text(max_size=40))
    return "\n".join(lines)


@FAST
@given(text=rule_texts())
def test_rule_files_load_or_are_refused_with_problems(text: str) -> None:
    try:
        parse_rule(text, template_exists=lambda _name: True)
    except RuleError as exc:
        assert exc.problems and all(p.startswith("rule.toml") for p in exc.problems)


# -- templates ---------------------------------------------------------------------------

FRAGMENTS = ["{{ order.number }}", "{{ customer|greeting }}", "{{ order.total|money }}",
             "{% for i in order.items %}{{ i.name }}{% endfor %}", "{% if order %}x{% endif %}",
             "{{ 'x' * 10**9 }}", "{{ ''.__class__ }}", "{% for i in range(100000) %}"
             "{% for j in range(100000) %}{% endfor %}{% endfor %}", "{{ missing }}",
             "{% if %}", "{{ none }}", "{{ order.items|length }}", "Zamówienie ", "{{",
             "{% include 'nope.txt' %}", "{{ 9 ** 99999 }}", "ąęłńóśźż €"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=20), min_size=1,
                     max_size=5).map("".join))
def test_templates_check_reports_problems_never_crashes(tmp_path_factory: pytest.TempPathFactory,
                                                        body: str) -> None:
    root = tmp_path_factory.mktemp("templates")
    (root / "order_unshipped" / "pl").mkdir(parents=True)
    (root / "order_unshipped" / "pl" / "sms.txt").write_text(body, encoding="utf-8")
    problems = check_templates(root, ShopSettings(), notes=False)
    assert all(isinstance(p, str) and p for p in problems)


# -- SMS segmentation --------------------------------------------------------------------

GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700)
ANY_TEXT = st.text(max_size=700)


@settings(max_examples=300, deadline=None)
@given(text=GSM_TEXT | ANY_TEXT)
def test_sms_segments_hold_the_text_and_no_more_than_needed(text: str) -> None:
    size = measure(text)
    single, multi = (160, 153) if size.encoding == GSM7 else (70, 67)
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    assert (size.encoding == GSM7) == gsm
    if not text:
        assert size.segments == 0
    elif size.units <= single:
        assert size.segments == 1
    else:
        # Enough room for every unit, and at most one segment lost to unsplittable pairs
        # per segment.
        assert size.segments * multi >= size.units
        assert size.segments <= -(-size.units // (multi - 1))
