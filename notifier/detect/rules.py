"""Rules: one TOML file each, validated whole, turned into frozen :class:`Rule` values.

A rule says *when* (a trigger, its params, an optional ``when`` condition), *what* (steps:
a delay after the trigger's anchor and a template) and *how* (purpose, channels, mode,
rollout/holdout, frequency-cap policy, ``max_delay``, ``lookback``). The format is documented for
operators in ``docs/rules.md``; ``rules/`` holds the shipped defaults.

Loading never stops at the first mistake: :func:`load_rules` collects every problem of
every file as ``path:line: reason`` and raises one :class:`~notifier.errors.RuleError`, so
``notifier rules check`` shows an operator everything to fix in one go.

    rules = load_rules(Path("rules"), template_exists=lambda name: name in known)
    for rule in rules.for_entity("shipment"): ...
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from notifier.config_types import Duration, OptionalDuration, parse_duration
from notifier.detect.conditions import (
    ENTITY_TYPES,
    EXTRA_NAMES,
    Condition,
    ConditionError,
    compile_condition,
)
from notifier.detect.locations import KeyPath, key_lines, line_of
from notifier.detect.triggers import TRIGGERS, Entity, Params, Trigger
from notifier.domain import Channel, CustomerSnapshot, Purpose
from notifier.errors import RuleError

TemplateExists = Callable[[str], bool]
Mode = Literal["live", "dry-run", "paused"]
OnCap = Literal["defer", "drop"]
Survey = Literal["csat", "nps"]

#: The fallback order behind ``channels = "preferred"``, after the customer's own choice.
PREFERRED_FALLBACK = (Channel.EMAIL, Channel.SMS, Channel.PUSH)
_CHANNELS = frozenset(c.value for c in Channel)
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
#: How old (since placement) an order may be for a rule to write about it: a backfill or a
#: first sync bringing months of history must not set off apologies for last spring.
LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class Step:
    """One message of a rule's sequence, sent ``delay`` after the anchor."""

    index: int
    delay: timedelta
    template: str
    offer: str | None = None
    escalate: bool = False
    transliterate: bool = False
    escalate_when: Condition | None = None
    survey: Survey | None = None  # one question asked with this message (#13)

    def escalates(self, values: Mapping[str, Any]) -> bool:
        """Whether this step hands the case to a person as well (``escalate = true`` or
        an expression such as ``"customer.segment == 'vip' and days_late >= 3"``)."""
        if self.escalate:
            return True
        return self.escalate_when is not None and self.escalate_when.holds(values)


@dataclass(frozen=True)
class Rule:
    """A validated rule. Build it with :func:`load_rules` or :func:`parse_rule`."""

    name: str
    trigger: Trigger[Any]
    params: Params
    purpose: Purpose
    channels: tuple[Channel, ...]
    steps: tuple[Step, ...]
    condition: Condition | None = None
    prefer_customer_channel: bool = False
    description: str = ""
    mode: Mode = "live"
    rollout: float = 100
    holdout: float = 0
    on_cap: OnCap = "defer"
    max_delay: timedelta | None = timedelta(days=1)
    lookback: timedelta | None = LOOKBACK
    path: Path | None = None
    track_clicks: bool = True

    @property
    def entity(self) -> Entity:
        """The table the scan walks for this rule: ``cart``, ``order`` or ``shipment``."""
        return self.trigger.entity

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    def channel_order(self, customer: CustomerSnapshot | None) -> tuple[Channel, ...]:
        """The channels to try in order; ``"preferred"`` puts the customer's choice first."""
        wanted = ((customer.preferred_channel or "") if customer else "").strip().lower()
        if not self.prefer_customer_channel or wanted not in _CHANNELS:
            return self.channels
        first = Channel(wanted)
        return (first, *(c for c in self.channels if c is not first))


@dataclass(frozen=True)
class RuleSet:
    """Every loaded rule; iterate it, or ask for the rules of one entity."""

    rules: tuple[Rule, ...] = ()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def for_entity(self, entity: Entity) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.entity == entity)

    @property
    def entities(self) -> frozenset[Entity]:
        return frozenset(r.entity for r in self.rules)


# --- the file schema --------------------------------------------------------------------


class _StepModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay: Duration
    template: str = Field(min_length=1)
    offer: str = ""
    escalate: bool | str = False
    transliterate: bool = False
    survey: Survey | None = None


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    trigger: str
    purpose: Purpose
    channels: Literal["preferred"] | tuple[Channel, ...]
    when: str | None = None  # compiled by _check_when
    mode: Mode = "live"
    rollout: float = Field(default=100, ge=0, le=100)
    holdout: float = Field(default=0, ge=0, le=100)
    on_cap: OnCap = "defer"
    # Absent: the trigger's own default (see Trigger.max_delay); "none": no limit.
    max_delay: OptionalDuration = None
    lookback: OptionalDuration = LOOKBACK
    params: dict[str, Any] = Field(default_factory=dict)  # validated per trigger
    steps: list[_StepModel] = Field(min_length=1)
    track_clicks: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError("use 1-64 lowercase letters, digits, '-', '_' or '.'")
        return value

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str) -> str:
        if value not in TRIGGERS:
            raise ValueError(f"unknown trigger {value!r}; known: {', '.join(TRIGGERS)}")
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        if value == "preferred":
            return value
        if isinstance(value, str) or not isinstance(value, list) or not value:
            raise ValueError('give a list such as ["email", "sms"], or "preferred"')
        if wrong := [c for c in value if c not in _CHANNELS]:
            raise ValueError(f"unknown channel {wrong[0]!r}; use {', '.join(sorted(_CHANNELS))}")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value


# --- loading ----------------------------------------------------------------------------


def load_rules(rules_dir: Path, *, template_exists: TemplateExists | None = None) -> RuleSet:
    """Load every ``*.toml`` in ``rules_dir``; raise :class:`RuleError` listing all problems.

    ``template_exists`` (given a template name) lets the loader refuse steps naming a
    template that does not exist; without it templates are not checked.
    """
    rules, problems = _load_dir(rules_dir, template_exists)
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules))


def check_rules(path: Path, *, template_exists: TemplateExists | None = None) -> list[str]:
    """The problems of a rule file or a directory of them; an empty list means all good."""
    if path.is_dir():
        return _load_dir(path, template_exists)[1]
    if not path.is_file():
        return [f"{path}: no such file or directory"]
    return _load_file(path, template_exists)[1]


def parse_rule(
    text: str, *, path: Path = Path("rule.toml"), template_exists: TemplateExists | None = None
) -> Rule:
    """Validate one rule's TOML ``text``; raise :class:`RuleError` when it is invalid."""
    rule, problems = _parse(text, path, template_exists)
    if rule is None:
        raise RuleError(problems)
    return rule


def _load_dir(
    rules_dir: Path, template_exists: TemplateExists | None
) -> tuple[list[Rule], list[str]]:
    if not rules_dir.is_dir():
        return [], [f"{rules_dir}: not a directory"]
    rules: list[Rule] = []
    problems: list[str] = []
    first_seen: dict[str, Rule] = {}
    for path in sorted(rules_dir.glob("*.toml")):
        rule, file_problems = _load_file(path, template_exists)
        problems.extend(file_problems)
        if rule is None:
            continue
        if (other := first_seen.get(rule.name)) is not None:
            line = _name_line(path)
            problems.append(
                f"{path}:{line}: duplicate rule name {rule.name!r} (also in {other.path})"
            )
            continue
        first_seen[rule.name] = rule
        rules.append(rule)
    return rules, problems


def _load_file(path: Path, template_exists: TemplateExists | None) -> tuple[Rule | None, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}:1: cannot read: {exc}"]
    return _parse(text, path, template_exists)


def _name_line(path: Path) -> int:
    return key_lines(path.read_text(encoding="utf-8")).get(("name",), 1)


def _parse(
    text: str, path: Path, template_exists: TemplateExists | None
) -> tuple[Rule | None, list[str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        return None, [f"{path}:{found.group(1) if found else 1}: invalid TOML: {exc}"]
    lines = key_lines(text)
    found: list[tuple[int, str]] = []

    def report(loc: Sequence[str | int], reason: str) -> None:
        line = line_of(lines, loc)
        found.append((line, f"{path}:{line}: {_dotted(loc)}: {reason}"))

    # The schema and the checks below each look at the raw data, so one mistake does not
    # hide another: the operator sees every problem of the file at once.
    model = None
    try:
        model = _RuleModel.model_validate(data)
    except ValidationError as exc:
        for loc, reason in _reasons(exc):
            report(loc, reason)
    trigger = _trigger_of(data)
    params = _check_params(trigger, data.get("params", {}), report)
    condition = _check_when(trigger, data.get("when"), report)
    escalations = _check_escalations(trigger, data.get("steps"), report)
    _check_steps(data.get("steps"), template_exists, report)
    name = (model.name if model else None) or path.stem
    if model is not None and not _NAME.fullmatch(name):
        report(("name",), f'the file name {name!r} is no rule name: set name = "..."')
    if found or model is None or trigger is None or params is None:
        return None, [message for _, message in sorted(found, key=lambda item: item[0])]

    return Rule(
        name=name,
        trigger=trigger,
        params=params,
        purpose=model.purpose,
        channels=PREFERRED_FALLBACK if model.channels == "preferred" else model.channels,
        prefer_customer_channel=model.channels == "preferred",
        steps=tuple(
            Step(i, s.delay, s.template, s.offer or None, s.escalate is True, s.transliterate,
                 escalations.get(i), s.survey)
            for i, s in enumerate(model.steps)
        ),
        condition=condition,
        description=model.description,
        mode=model.mode,
        rollout=model.rollout,
        holdout=model.holdout,
        on_cap=model.on_cap,
        max_delay=(model.max_delay if "max_delay" in model.model_fields_set
                   else trigger.max_delay),
        lookback=model.lookback,
        path=path,
        track_clicks=model.track_clicks,
    ), []


Report = Callable[[Sequence[str | int], str], None]


def _trigger_of(data: dict[str, Any]) -> Trigger[Any] | None:
    name = data.get("trigger")
    return TRIGGERS.get(name) if isinstance(name, str) else None


def _check_params(trigger: Trigger[Any] | None, raw: Any, report: Report) -> Params | None:
    if trigger is None:
        return None
    if not isinstance(raw, dict):
        report(("params",), "must be a table")
        return None
    try:
        return trigger.params_model.model_validate(raw)
    except ValidationError as exc:
        for loc, reason in _reasons(exc):
            report(("params", *loc), reason)
        return None


def _check_when(trigger: Trigger[Any] | None, when: Any, report: Report) -> Condition | None:
    if not isinstance(when, str):
        return None  # absent, or the schema already named the wrong type
    # Without a known trigger, still check the syntax against every name there is.
    sees = trigger.sees if trigger is not None else frozenset(ENTITY_TYPES)
    try:
        return compile_condition(when, names=sees | EXTRA_NAMES)
    except ConditionError as exc:
        report(("when",), str(exc))
        return None


def _check_escalations(
    trigger: Trigger[Any] | None, raw: Any, report: Report
) -> dict[int, Condition]:
    """Compile each step's ``escalate`` expression (a bool needs nothing)."""
    out: dict[int, Condition] = {}
    if not isinstance(raw, list):
        return out
    sees = trigger.sees if trigger is not None else frozenset(ENTITY_TYPES)
    for i, step in enumerate(raw):
        source = step.get("escalate") if isinstance(step, dict) else None
        if not isinstance(source, str):
            continue
        try:
            out[i] = compile_condition(source, names=sees | EXTRA_NAMES)
        except ConditionError as exc:
            report(("steps", i, "escalate"), str(exc))
    return out


def _check_steps(raw: Any, template_exists: TemplateExists | None, report: Report) -> None:
    if not isinstance(raw, list):
        return
    steps = [step if isinstance(step, dict) else {} for step in raw]
    delays = [_duration_or_none(step.get("delay")) for step in steps]
    for i in range(1, len(delays)):
        before, this = delays[i - 1], delays[i]
        if before is not None and this is not None and this <= before:
            report(("steps", i, "delay"), "must be later than the step before")
    for i, step in enumerate(steps):
        template = step.get("template")
        if template_exists is None or not isinstance(template, str) or not template:
            continue
        if not template_exists(template):
            report(("steps", i, "template"), f"no template {template!r}")


def _duration_or_none(value: Any) -> timedelta | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _reasons(exc: ValidationError) -> list[tuple[KeyPath, str]]:
    """pydantic's errors in an operator's words, keyed by the path of the offending key."""
    out: list[tuple[KeyPath, str]] = []
    for err in exc.errors():
        loc: KeyPath = tuple(p for p in err["loc"] if isinstance(p, str | int))
        # A union reports each member separately; the literal member adds nothing useful.
        if err["type"] == "literal_error" and loc[-1:] == ("literal['preferred']",):
            continue
        loc = tuple(p for p in loc if not str(p).startswith(("literal[", "tuple[")))
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        elif err["type"] == "missing":
            reason = "required key missing"
        else:
            reason = err["msg"].removeprefix("Value error, ")
        out.append((loc, reason))
    return list(dict.fromkeys(out))


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "rule"
