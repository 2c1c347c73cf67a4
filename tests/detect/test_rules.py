"""Rule files: the schema, file:line problems, the shipped defaults, ``rules check``."""

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner

from notifier.config import Settings
from notifier.detect.commands import build_rules_cli, templates_in
from notifier.detect.rules import check_rules, load_rules, parse_rule
from notifier.detect.triggers import CartAbandonedParams, ShipmentLateParams
from notifier.domain import Channel, Purpose
from notifier.errors import RuleError
from tests.detect.helpers import customer

SHIPPED = Path(__file__).resolve().parents[2] / "rules"

GOOD = """\
trigger = "shipment.late"
purpose = "transactional"
channels = ["email", "sms"]
[params]
grace = "2h"
[[steps]]
delay = "0h"
template = "shipment_late"
[[steps]]
delay = "1d"
template = "shipment_late"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


BROKEN = [
    pytest.param('name = "x\n', 1, "invalid TOML", id="invalid toml"),
    pytest.param(
        GOOD.replace('purpose = "transactional"', 'purpose = "transactional"\ncolour = 1'),
        3,
        "colour: unknown key",
        id="unknown key",
    ),
    pytest.param(
        GOOD.replace('trigger = "shipment.late"\n', ""),
        1,
        "trigger: required key missing",
        id="missing key",
    ),
    pytest.param(
        GOOD.replace("shipment.late", "shipment.lat"),
        1,
        "unknown trigger 'shipment.lat'",
        id="unknown trigger",
    ),
    pytest.param(
        GOOD.replace('grace = "2h"', 'grace = "2h"\nwait = "1h"'),
        6,
        "params.wait: unknown key",
        id="unknown param",
    ),
    pytest.param(
        GOOD.replace('grace = "2h"', 'grace = "2 hours"'),
        5,
        "params.grace: bad duration",
        id="bad param duration",
    ),
    pytest.param(
        GOOD.replace('grace = "2h"', "grace = 2"),
        5,
        "params.grace: a duration is a quoted string",
        id="unquoted duration",
    ),
    pytest.param(
        GOOD.replace('delay = "1d"', 'delay = "1x"'),
        10,
        "steps[1].delay: bad duration",
        id="bad step duration",
    ),
    pytest.param('max_delay = "soon"\n' + GOOD, 1, "max_delay: bad duration", id="bad max_delay"),
    pytest.param(
        'when = "order.total >="\n' + GOOD, 1, "when: invalid expression", id="unparsable when"
    ),
    pytest.param(
        'when = "total > 1"\n' + GOOD, 1, "when: unknown name total", id="when unknown name"
    ),
    pytest.param(
        'when = "cart.value > 1"\n' + GOOD,
        1,
        "when: unknown name cart",
        id="when entity the trigger lacks",
    ),
    pytest.param(
        'when = "order.totl > 1"\n' + GOOD, 1, "order has no field 'totl'", id="when unknown field"
    ),
    pytest.param(
        GOOD.replace('delay = "1d"', 'delay = "0h"'),
        10,
        "steps[1].delay: must be later",
        id="delays not increasing",
    ),
    pytest.param(
        GOOD.replace('"email", "sms"', '"email", "fax"'),
        3,
        "unknown channel 'fax'",
        id="unknown channel",
    ),
    pytest.param(
        GOOD.replace('"email", "sms"', '"email", "email"'),
        3,
        "listed twice",
        id="duplicate channel",
    ),
    pytest.param(GOOD.replace('["email", "sms"]', "[]"), 3, "channels:", id="no channels"),
    pytest.param(
        GOOD.replace("transactional", "spam"), 2, "purpose: Input should be", id="bad purpose"
    ),
    pytest.param('mode = "maybe"\n' + GOOD, 1, "mode: Input should be", id="bad mode"),
    pytest.param(
        "rollout = 101\n" + GOOD,
        1,
        "rollout: Input should be less than or equal to 100",
        id="rollout > 100",
    ),
    pytest.param('on_cap = "queue"\n' + GOOD, 1, "on_cap:", id="bad on_cap"),
    pytest.param('name = "Shipment Late"\n' + GOOD, 1, "name: use 1-64 lowercase", id="bad name"),
    pytest.param(GOOD.split("[params]")[0], 1, "steps: required key missing", id="no steps"),
    pytest.param(
        GOOD.replace(
            'template = "shipment_late"\n[[steps]]',
            'template = "shipment_late"\nbogus = 1\n[[steps]]',
        ),
        9,
        "steps[0].bogus: unknown key",
        id="unknown step key",
    ),
    pytest.param(
        GOOD.replace('[params]\ngrace = "2h"', 'params = { grace = "2h", wait = "1h" }'),
        4,
        "params.wait: unknown key",
        id="inline params table",
    ),
    pytest.param(
        GOOD.replace("shipment.late", "shipment.exception").replace(
            'grace = "2h"', 'kinds = ["lost", "in_transit"]'
        ),
        5,
        "not an exception kind: in_transit",
        id="bad exception kind",
    ),
]


@pytest.mark.parametrize(("text", "line", "reason"), BROKEN)
def test_check_reports_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = write(tmp_path, "rule.toml", text)
    problems = check_rules(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems[0]
    assert reason in problems[0]


def test_unknown_template(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rule.toml",
        GOOD.replace('template = "shipment_late"\n[[', 'template = "shipment_lat"\n[['),
    )
    problems = check_rules(path, template_exists={"shipment_late"}.__contains__)
    assert problems == [f"{path}:8: steps[0].template: no template 'shipment_lat'"]
    assert check_rules(path) == []  # without a lookup templates are not checked


def test_every_problem_of_a_file_at_once_in_line_order(tmp_path: Path) -> None:
    text = 'name = "Bad"\nwhen = "nope"\nrollout = -1\n' + GOOD.replace(
        'delay = "1d"', 'delay = "0h"'
    )
    problems = check_rules(write(tmp_path, "r.toml", text))
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3", "13"]


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'name = "same"\n' + GOOD)
    second = write(tmp_path, "b.toml", '# a comment\nname = "same"\n' + GOOD)
    problems = check_rules(tmp_path)
    assert problems == [f"{second}:2: duplicate rule name 'same' (also in {tmp_path / 'a.toml'})"]
    with pytest.raises(RuleError) as caught:
        load_rules(tmp_path)
    assert caught.value.problems == problems


def test_problems_from_several_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD.replace("shipment.late", "nope"))
    write(tmp_path, "b.toml", GOOD)
    write(tmp_path, "c.toml", 'when = "x"\n' + GOOD)
    write(tmp_path, "notes.txt", "not a rule")
    problems = check_rules(tmp_path)
    assert [Path(p.split(":")[0]).name for p in problems] == ["a.toml", "c.toml"]


def test_missing_path() -> None:
    assert check_rules(Path("/no/such/rules")) == ["/no/such/rules: no such file or directory"]
    with pytest.raises(RuleError, match="not a directory"):
        load_rules(Path("/no/such/rules"))


def test_a_valid_rule_and_its_defaults(tmp_path: Path) -> None:
    write(tmp_path, "late-parcel.toml", GOOD)
    rule = load_rules(tmp_path).get("late-parcel")  # the name defaults to the file stem
    assert rule is not None
    assert (rule.name, rule.entity, rule.purpose, rule.mode) == (
        "late-parcel",
        "shipment",
        Purpose.TRANSACTIONAL,
        "live",
    )
    # shipment.late is re-checked before sending: no max_delay; 30 days of lookback.
    assert (rule.rollout, rule.holdout, rule.on_cap, rule.max_delay, rule.lookback) == (
        100,
        0,
        "defer",
        None,
        timedelta(days=30),
    )
    assert [s.delay for s in rule.steps] == [timedelta(0), timedelta(days=1)]
    assert rule.steps[0].offer is None and rule.condition is None and not rule.dry_run
    assert rule.params == ShipmentLateParams(grace=timedelta(hours=2))


def test_preferred_channel_order() -> None:
    rule = parse_rule(GOOD.replace('["email", "sms"]', '"preferred"'))
    assert rule.channel_order(customer(preferred_channel="SMS")) == (
        Channel.SMS,
        Channel.EMAIL,
        Channel.PUSH,
    )
    assert rule.channel_order(customer(preferred_channel="pigeon")) == (
        Channel.EMAIL,
        Channel.SMS,
        Channel.PUSH,
    )
    assert rule.channel_order(None) == (Channel.EMAIL, Channel.SMS, Channel.PUSH)
    fixed = parse_rule(GOOD)
    assert fixed.channel_order(customer(preferred_channel="push")) == (Channel.EMAIL, Channel.SMS)


def test_a_file_name_that_is_no_rule_name(tmp_path: Path) -> None:
    path = write(tmp_path, "Late Parcel.toml", GOOD)
    assert check_rules(path) == [
        f"{path}:1: name: the file name 'Late Parcel' is no rule name: set name = \"...\""
    ]
    assert check_rules(write(tmp_path, "Late Parcel.toml", 'name = "late"\n' + GOOD)) == []


def test_parse_rule_raises_rule_error() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule("trigger = 1", path=Path("inline.toml"))
    assert all(p.startswith("inline.toml:") for p in caught.value.problems)


# --- the shipped rules ------------------------------------------------------------------

SHIPPED_RULES = [
    # file stem, trigger, purpose, channels, [(template, offer)], params
    ("cart-abandoned", "cart.abandoned", "marketing", ("email", "push"),
     [("cart_reminder", None), ("cart_reminder_offer", "cart-recovery")],
     {"wait": timedelta(hours=1)}),
    ("order-unshipped", "order.unshipped", "transactional", ("email", "sms"),
     [("order_unshipped", "delay-compensation")], {"grace": timedelta(hours=4)}),
    ("shipment-late", "shipment.late", "transactional", ("email", "sms"),
     [("shipment_late", "delay-compensation")], {"grace": timedelta(0)}),
    ("shipment-stalled", "shipment.stalled", "transactional", ("email", "sms"),
     [("shipment_stalled", None)], {"hours": timedelta(hours=48)}),
    ("shipment-exception", "shipment.exception", "transactional", ("email", "sms"),
     [("shipment_exception", None)], {}),
    ("shipment-at-risk", "shipment.at_risk", "transactional", ("email", "sms"),
     [("shipment_at_risk", None)], {"threshold": 0.6}),
    ("order-delivered-followup", "order.delivered", "marketing", ("email",),
     [("order_delivered_followup", None)], {"after": timedelta(days=3)}),
]  # fmt: skip
TEMPLATES = {t for *_, steps, _ in SHIPPED_RULES for t, _ in steps}


def test_shipped_rules_check_clean() -> None:
    assert check_rules(SHIPPED, template_exists=TEMPLATES.__contains__) == []


@pytest.mark.parametrize(
    ("stem", "trigger", "purpose", "channels", "steps", "params"), SHIPPED_RULES
)
def test_shipped_rule(
    stem: str,
    trigger: str,
    purpose: str,
    channels: tuple[str, ...],
    steps: list[tuple[str, str | None]],
    params: dict[str, timedelta],
) -> None:
    rule = load_rules(SHIPPED).get(stem)
    assert rule is not None and rule.path == SHIPPED / f"{stem}.toml"
    assert (rule.trigger.name, rule.purpose, rule.channels) == (trigger, purpose, channels)
    assert [(s.template, s.offer) for s in rule.steps] == steps
    # A prediction ships in dry-run: a shop sees its quality before customers read it.
    mode = "dry-run" if trigger == "shipment.at_risk" else "live"
    assert (rule.mode, rule.rollout, rule.holdout) == (mode, 100, 0)
    for key, value in params.items():
        assert getattr(rule.params, key) == value


def test_shipped_cart_reminders_come_1h_and_24h_after_activity() -> None:
    rule = load_rules(SHIPPED).get("cart-abandoned")
    assert rule is not None
    assert isinstance(rule.params, CartAbandonedParams)
    wait = rule.params.wait
    assert [wait + s.delay for s in rule.steps] == [timedelta(hours=1), timedelta(hours=24)]


def test_rule_set_by_entity() -> None:
    rules = load_rules(SHIPPED)
    assert len(rules) == len(SHIPPED_RULES)
    assert rules.entities == {"cart", "order", "shipment"}
    assert {r.name for r in rules.for_entity("order")} == {
        "order-unshipped",
        "order-delivered-followup",
    }


# --- notifier rules check ---------------------------------------------------------------


def cli(tmp_path: Path, rules_dir: Path) -> CliRunner:
    return build_rules_cli(
        lambda: Settings(paths={"rules_dir": rules_dir, "templates_dir": tmp_path / "templates"})
    )


def test_cli_check_ok(tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "pl"
    templates.mkdir(parents=True)
    for name in TEMPLATES:
        (templates / f"{name}.email.html").write_text("x")
    result = CliRunner().invoke(cli(tmp_path, SHIPPED), ["check"])
    assert result.exit_code == 0, result.output
    assert "rules OK" in result.output and "not checked" not in result.output


def test_cli_check_reports_and_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", GOOD.replace("shipment.late", "nope"))
    result = CliRunner().invoke(cli(tmp_path, SHIPPED), ["check", str(path), "--no-templates"])
    assert result.exit_code == 1
    assert f"{path}:1: trigger: unknown trigger 'nope'" in result.output


def test_cli_check_finds_missing_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "cart_reminder.txt").write_text("x")
    result = CliRunner().invoke(cli(tmp_path, SHIPPED), ["check"])
    assert result.exit_code == 1
    assert "no template 'shipment_late'" in result.output
    assert "no template 'cart_reminder'" not in result.output


def test_templates_in(tmp_path: Path) -> None:
    assert templates_in(tmp_path / "missing") is None
    assert templates_in(tmp_path) is None
    (tmp_path / "pl" / "shipment_late").mkdir(parents=True)
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "cart_reminder.sms.txt").write_text("x")
    exists = templates_in(tmp_path)
    assert exists is not None
    assert exists("shipment_late") and exists("cart_reminder") and not exists("order_unshipped")
