"""The rule editor's two views of one rule: form fields and the TOML file.

The TOML is what is stored and published; the form is read from it and written back
into it with tomlkit, so the operator's comments and layout stay where they were. A
comment at the end of a line whose value changed is kept too, but named
(:func:`kept_comments`): it may describe the old value (``delay = "0h"  # 1 h after last
activity``) or the key (``holdout = 0  # % kept as a control group``), and only the
operator can tell which, so the editor asks them to re-read it. Field
names are the dotted keys ``rules check`` names in its problems (``steps[0].delay``,
``params.wait``), so each problem lands at its field and, by its line, in the TOML.

    fields = read_fields(text)                       # None when the TOML does not parse
    text = write_fields(text, form)                  # form values laid into the TOML
    reread = kept_comments(opened, text)             # comments beside values changed since
    by_field = problems_by_field(check_problems)     # {"steps[0].delay": ["..."]}
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

import tomlkit
from tomlkit.items import AoT, Table

from notifier.detect.triggers import TRIGGERS

#: Top-level keys shown as plain form fields, in page order.
SCALARS = ("description", "trigger", "purpose", "channels", "when", "mode", "rollout",
           "holdout", "on_cap", "max_delay", "lookback", "track_clicks")
STEP_KEYS = ("delay", "template", "offer", "escalate", "transliterate", "survey")
BOOLEAN = frozenset({"track_clicks", "transliterate"})
#: What an absent key means: a field left at it does not add the key to the file.
DEFAULTS: dict[str, Any] = {"track_clicks": True, "transliterate": False, "escalate": False}
NUMBER = frozenset({"rollout", "holdout"})
_PROBLEM = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<where>[^:]+): (?P<reason>.*)$",
                      re.DOTALL)


class FormError(ValueError):
    """The TOML could not take the form's values (it does not parse: fix it first)."""


@dataclass
class RuleFields:
    """What the form shows: each field as the text in its input."""

    values: dict[str, str]
    params: list[tuple[str, str]]  # (name, text) for the trigger's parameters
    steps: list[dict[str, str]] = field(default_factory=list)


def shown(value: Any) -> str:
    """A TOML value as the operator types it: strings bare, everything else as TOML."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return tomlkit.item(value).as_string()


def typed(text: str) -> Any:
    """What the operator typed as a TOML value: ``48`` a number, ``["lost"]`` a list,
    ``true`` a boolean, anything else (``1h``, an expression) the string itself."""
    raw = text.strip()
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def read_fields(text: str) -> RuleFields | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    values = {key: shown(data.get(key)) for key in SCALARS}
    if "channels" in data and isinstance(data["channels"], list):
        values["channels"] = ", ".join(str(c) for c in data["channels"])
    if "track_clicks" not in data:
        values["track_clicks"] = "true"
    params_data = data.get("params") if isinstance(data.get("params"), dict) else {}
    trigger = TRIGGERS.get(str(data.get("trigger")))
    names = list(trigger.params_model.model_fields) if trigger else []
    names += [n for n in params_data if n not in names]
    params = [(n, shown(params_data.get(n))) for n in names]
    steps = []
    for raw in data.get("steps") or []:
        step = raw if isinstance(raw, dict) else {}
        steps.append({key: shown(step.get(key)) for key in STEP_KEYS})
    return RuleFields(values, params, steps)


def write_fields(text: str, form: dict[str, str]) -> str:
    """``text`` with every form field's value in place: a blank optional field removes
    its key, a changed one replaces its value; comments and order are kept."""
    try:
        doc = tomlkit.parse(text)
    except Exception as exc:  # tomlkit raises several parse error types
        raise FormError(f"the TOML does not parse, fix it first: {exc}") from exc
    for key in SCALARS:
        if key in form:
            _put(doc, key, _value(key, form[key]), DEFAULTS.get(key))
    _write_params(doc, form)
    _write_steps(doc, form)
    return tomlkit.dumps(doc)


@dataclass(frozen=True)
class KeptComment:
    """A comment at the end of a line whose value differs from the opened version's."""

    field: str  # the form's dotted name, e.g. ``steps[0].delay``
    comment: str  # as written, ``#`` included


def kept_comments(opened: str, text: str) -> tuple[KeptComment, ...]:
    """The comments of ``text`` beside a value that ``opened`` holds differently (or not at
    all), in form order; none when either does not parse."""
    try:
        before, after = tomlkit.parse(opened), tomlkit.parse(text)
    except Exception:  # tomlkit raises several parse error types
        return ()
    kept: list[KeptComment] = []

    def compare(old: Any, new: Any, keys: Any, prefix: str) -> None:
        for key in keys:
            item = new.get(key) if isinstance(new, dict) else None
            comment = getattr(getattr(item, "trivia", None), "comment", "")
            was = old.get(key) if isinstance(old, dict) else None
            if comment and (was is None or _plain(was) != _plain(item)):
                kept.append(KeptComment(f"{prefix}{key}", comment.strip()))

    compare(before, after, SCALARS, "")
    params = after.get("params")
    compare(before.get("params"), params, list(params) if isinstance(params, dict) else [],
            "params.")
    old_steps = before.get("steps") if isinstance(before.get("steps"), list) else []
    for i, step in enumerate(after.get("steps") or []):
        compare(old_steps[i] if i < len(old_steps) else None, step, STEP_KEYS, f"steps[{i}].")
    return tuple(kept)


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _value(key: str, text: str) -> Any:
    raw = text.strip()
    if key in BOOLEAN:  # a hidden "false" before the checkbox: the last value wins
        return raw in ("true", "on", "1")
    if not raw:
        return None
    if key == "channels":
        return raw if raw == "preferred" else [c.strip() for c in raw.split(",") if c.strip()]
    if key in NUMBER:
        number = typed(raw)
        return number if isinstance(number, int | float) and not isinstance(number, bool) else raw
    return raw


def _put(table: Any, key: str, value: Any, default: Any = None) -> None:
    if value is None or (value == default and key not in table):
        if value is None and key in table:
            del table[key]
        return
    if key in table and table[key] == value:
        return  # unchanged: keep its formatting (and a trailing comment)
    if key in table:
        comment = getattr(table[key], "trivia", None)
        table[key] = value
        if comment is not None and comment.comment:
            table[key].trivia.comment = comment.comment
            table[key].trivia.comment_ws = comment.comment_ws
    else:
        table[key] = value


def _write_params(doc: Any, form: dict[str, str]) -> None:
    given = {k.removeprefix("params."): v for k, v in form.items() if k.startswith("params.")}
    if not given:
        return
    trigger = TRIGGERS.get(str(doc.get("trigger")))
    params = doc.get("params")
    if not isinstance(params, Table):
        if not any(v.strip() for v in given.values()):
            return
        params = tomlkit.table()
        doc["params"] = params
    for name, text in given.items():
        value = typed(text) if text.strip() else None
        if trigger is not None and name in trigger.params_model.model_fields:
            value = _as_annotated(trigger.params_model.model_fields[name].annotation, text)
        _put(params, name, value)


def _as_annotated(annotation: Any, text: str) -> Any:
    raw = text.strip()
    if not raw:
        return None
    value = typed(raw)
    origin = get_origin(annotation)
    if origin is tuple and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if annotation is float and isinstance(value, int):
        return float(value)
    if origin is not None and str in get_args(annotation):
        return raw
    return value


def _write_steps(doc: Any, form: dict[str, str]) -> None:
    count = _step_count(form)
    if count == 0:
        return
    steps = doc.get("steps")
    if not isinstance(steps, AoT):
        steps = tomlkit.aot()
        doc["steps"] = steps
    removed = {i for i in range(count) if form.get(f"steps[{i}].remove")}
    for i in range(count):
        if i >= len(steps):
            steps.append(tomlkit.table())
        step = steps[i]
        for key in STEP_KEYS:
            name = f"steps[{i}].{key}"
            if name not in form:
                continue
            raw = form[name].strip()
            if key in BOOLEAN:
                value: Any = raw in ("true", "on", "1")
            elif key == "escalate":
                value = False if raw in ("", "false") else (True if raw == "true" else raw)
            else:
                value = raw or None
            _put(step, key, value, DEFAULTS.get(key))
    for i in sorted(removed, reverse=True):
        if len(steps) > 1:
            del steps[i]


def _step_count(form: dict[str, str]) -> int:
    found = [int(m.group(1)) for key in form if (m := re.match(r"steps\[(\d+)\]\.", key))]
    return max(found) + 1 if found else 0


def locate(problem: str) -> tuple[str | None, int | None, str]:
    """``(field, line, reason)`` of one ``rules check`` line (field None: the file)."""
    found = _PROBLEM.match(problem)
    if not found:
        line = re.match(r"^.+?:(\d+): ", problem)
        return None, int(line.group(1)) if line else None, problem
    return found.group("where"), int(found.group("line")), found.group("reason")


def problems_by_field(problems: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in problems:
        where, _line, reason = locate(problem)
        if where is not None:
            out.setdefault(where, []).append(reason)
    return out
