"""Templates and conditions cannot exhaust a worker (#11 item 7): sizes, output and a time
budget that actually stops a render."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError

from notifier.compose import Composer
from notifier.compose.samples import sample_context
from notifier.compose.tooling import check_templates
from notifier.config import ShopSettings
from notifier.detect.conditions import ConditionError, compile_condition
from notifier.detect.rules import check_rules
from notifier.domain import Channel
from notifier.errors import TemplateError
from notifier.sandbox import BoundedSandbox, Budget, BudgetExceeded

from .conftest import WriteTemplates

RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def render(write_templates: WriteTemplates, shop: ShopSettings, body: str,
           seconds: float = 2.0) -> str:
    root = write_templates({"probe/pl/sms.txt": body})
    composer = Composer(root, shop, from_addr="x@example.com")
    composer.environment.render_seconds = seconds
    message = composer.render("probe", Channel.SMS, sample_context("shipment_late", "pl", shop))
    return message.body  # type: ignore[union-attr]


@pytest.mark.parametrize("body, reason", [
    ("{{ 'x' * 10**9 }}", "repeating a string"),
    ("{{ [1] * 10**9 }}", "repeating a string or list"),
    ("{{ 9 ** 99999 }}", "bits"),
    ("{{ 10 ** (10 ** 10) }}", "bits"),
    ("{{ 'x'.center(10**9) }}", "a size of"),
    ("{{ 'x'|center(10**9) }}", "a size of"),
    ("{{ 'x'|indent(10**9, true) }}", "a size of"),
    ("{{ '%0999999d' % 1 }}", "format width"),
    ("{{ '{:>999999}'.format(1) }}", "format width"),
    ("{% for i in range(10**7) %}{% endfor %}", "a size of"),
    ("{% for i in range(99999) %}{{ 'y' * 99 }}{% endfor %}", "output is longer"),
])
def test_sizes_beyond_the_bounds_are_refused(write_templates: WriteTemplates, shop: ShopSettings,
                                             body: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason):
        render(write_templates, shop, body)


def test_nested_loops_stop_at_the_time_budget_and_fail_the_message(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    with pytest.raises(TemplateError, match=r"time budget of 0\.2 s"):
        render(write_templates, shop, RUNAWAY, seconds=0.2)


def test_loops_over_data_check_the_budget_too(write_templates: WriteTemplates,
                                              shop: ShopSettings) -> None:
    body = ("{% set xs = range(500)|list %}{% for a in xs %}{% for b in xs %}{% for c in xs %}"
            "{% endfor %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateError, match="time budget"):
        render(write_templates, shop, body, seconds=0.2)


def test_ordinary_templates_are_untouched(write_templates: WriteTemplates,
                                          shop: ShopSettings) -> None:
    body = "{{ '=' * 3 }} {{ 2 ** 10 }} {{ 'ab'|center(6) }}|{{ 1234567|string }}"
    assert render(write_templates, shop, body) == "=== 1024   ab  |1234567"


def test_templates_check_reports_a_runaway_template(write_templates: WriteTemplates,
                                                    shop: ShopSettings) -> None:
    root = write_templates({"probe/pl/sms.txt": "{{ order.number * 10**8 }}"})
    problems = check_templates(root, shop)
    assert any("sms.txt" in p and "repeating a string" in p for p in problems), problems


def test_a_condition_that_would_use_gigabytes_is_refused_by_rules_check(tmp_path: Path) -> None:
    rule = tmp_path / "greedy.toml"
    rule.write_text(
        'name = "greedy"\ntrigger = "order_unshipped"\nwhen = "order.number * 10**8 != \'\'"\n'
        '[[steps]]\nafter = "0m"\nchannels = ["email"]\ntemplate = "order_unshipped"\n',
        encoding="utf-8")
    problems = check_rules(rule)
    assert any("exceeds the sandbox's bounds" in p for p in problems), problems


def test_a_condition_is_stopped_by_its_budget() -> None:
    condition = compile_condition("order.number|length > 0", names={"order"})
    with pytest.raises(ConditionError, match="bounds"):
        compile_condition("(order.number * 100000)|length > 0", names={"order"})
    assert condition.source


def test_the_budget_is_per_context_and_restored() -> None:
    env = BoundedSandbox()
    template = env.from_string(RUNAWAY)
    with Budget(0.05).active(), pytest.raises(BudgetExceeded):
        template.render()
    assert env.from_string("{% for i in range(3) %}{{ i }}{% endfor %}").render() == "012"


class _Disguised:
    """Claims to be a list (``isinstance`` believes ``__class__``) without being one."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return list

    def append(self, item: object) -> None:
        raise AssertionError("the sandbox let a template call append")


@pytest.mark.parametrize("source", [
    "{{ items.append }}",            # mutating a list the template was given
    "{{ mapping.clear }}",
    "{{ greet.__globals__ }}",       # a function's internals
    "{{ disguised.append }}",        # a list by __class__ only
])
def test_unsafe_attributes_stay_refused_once_the_type_was_seen(source: str) -> None:
    env = BoundedSandbox(undefined=StrictUndefined)  # as templates render: refusals raise
    values = {"items": [1], "mapping": {"a": 1}, "greet": lambda: "hi",
              "disguised": _Disguised()}
    # The same types' harmless attributes first: what the sandbox keeps per type and
    # name must not let a refused attribute through later, nor on the second render.
    assert env.from_string("{{ items.index(1) }}{{ mapping.keys()|list }}").render(values)
    for _ in range(2):
        with pytest.raises(SecurityError):
            env.from_string(source).render(values)
