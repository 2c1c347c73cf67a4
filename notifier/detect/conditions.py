"""A rule's ``when`` condition: a Jinja2 expression compiled once, evaluated per case.

The expression sees ``customer``, ``order``, ``shipment`` and ``cart`` (the snapshots, or
``none`` when the case has no such entity — a cart rule has no ``shipment``), ``now`` and
``days_late``. It runs in Jinja2's immutable sandbox: no attribute starting with ``_``, no
mutation, no I/O; and within the bounds of :mod:`notifier.sandbox` (``order.number *
10**8`` is refused, not gigabytes) and a time budget of :data:`CONDITION_SECONDS`.

Mistakes surface as early as they can:

* at load time, :func:`compile_condition` refuses bad syntax, unknown filters and tests,
  names the rule's trigger does not provide, and attributes the snapshots do not have
  (``order.totl``);
* at run time, anything still undefined — most often an attribute of an absent entity,
  ``shipment.carrier`` when there is no shipment — raises :class:`ConditionFailed` instead
  of quietly comparing as false. The evaluator treats that as "do not send" and reports it.
  Guard optional entities: ``shipment is none or shipment.carrier == "inpost"``.

Decimal literals: ``cart.value >= 149.99`` must hold for a cart worth exactly 149.99, but
Python compares ``Decimal("149.99")`` with the float ``149.99`` as unequal. Float literals
in a condition are therefore turned into Decimals before compiling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_type_hints

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.visitor import NodeTransformer

from notifier.domain import CartSnapshot, CustomerSnapshot, OrderSnapshot, ShipmentSnapshot
from notifier.sandbox import BoundedSandbox, Budget, BudgetExceeded

#: Time budget of one evaluation: a condition is evaluated per case, many per tick.
CONDITION_SECONDS = 0.5

#: The snapshot type behind each entity name, to check ``entity.attribute`` at load time.
ENTITY_TYPES: Mapping[str, type] = {
    "customer": CustomerSnapshot,
    "order": OrderSnapshot,
    "shipment": ShipmentSnapshot,
    "cart": CartSnapshot,
}
#: Names every condition may use besides the entities.
EXTRA_NAMES = frozenset({"now", "days_late"})


class ConditionError(ValueError):
    """The expression cannot be compiled; the message says why (shown to the operator)."""


class ConditionFailed(Exception):
    """Evaluating the expression raised; ``__cause__`` holds the Jinja2 or Python error."""


def create_environment() -> BoundedSandbox:
    """The sandbox conditions run in; StrictUndefined so a missing value is an error."""
    return BoundedSandbox(undefined=StrictUndefined)


@dataclass(frozen=True)
class Condition:
    """A compiled ``when`` expression; call :meth:`holds` with the case's values."""

    source: str
    names: frozenset[str]
    _expression: TemplateExpression = field(repr=False, compare=False)
    _constants: Mapping[str, Decimal] = field(repr=False, compare=False)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the expression is truthy for ``values``; raises :class:`ConditionFailed`."""
        try:
            with Budget(CONDITION_SECONDS).active():
                return bool(self._expression(**values, **self._constants))
        except Exception as exc:  # an operator's expression can raise anything
            raise ConditionFailed(f"{self.source!r}: {exc}") from exc


def compile_condition(
    source: str,
    *,
    names: Iterable[str],
    environment: BoundedSandbox | None = None,
) -> Condition:
    """Compile ``source``, allowing only ``names`` as top-level variables.

    ``names`` is the trigger's entities plus :data:`EXTRA_NAMES`; raises
    :class:`ConditionError` with an operator-facing reason.
    """
    env = environment or create_environment()
    allowed = frozenset(names)
    try:
        expr = _parse(env, source)
    except TemplateError as exc:
        reason = str(exc.message or exc).replace("end of template", "end of the expression")
        raise ConditionError(f"invalid expression: {reason}") from exc
    used = _check_names(expr, allowed)
    constants: dict[str, Decimal] = {}
    expr = _DecimalLiterals(constants).visit(expr)
    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
    try:
        template = env.from_string(nodes.Template(body, lineno=1))
    except TemplateError as exc:  # unknown filter or test
        raise ConditionError(f"invalid expression: {exc.message or exc}") from exc
    condition = Condition(
        source=source,
        names=used,
        _expression=TemplateExpression(template, undefined_to_none=False),
        _constants=constants,
    )
    _dry_run(condition, allowed)
    return condition


def _dry_run(condition: Condition, names: frozenset[str]) -> None:
    """Evaluate once on sample values so ``rules check`` refuses an expression that breaks
    the sandbox's bounds (``order.number * 10**8``); other failures on made-up values
    (a None where a rule expects a value) are left to run time."""
    try:
        condition.holds({name: _sample(name) for name in names})
    except ConditionFailed as exc:
        if isinstance(exc.__cause__, BudgetExceeded):
            raise ConditionError(f"exceeds the sandbox's bounds: {exc.__cause__}") from exc


_SAMPLE_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _sample(name: str) -> Any:
    kind = ENTITY_TYPES.get(name)
    if kind is None:
        return _SAMPLE_AT if name == "now" else 1
    hints = get_type_hints(kind)
    values = {}
    for f in dataclasses.fields(kind):
        hint = str(hints[f.name])
        values[f.name] = next((v for key, v in _SAMPLE_VALUES if key in hint), None)
    return kind(**values)


# By the first type name found in a field's annotation.
_SAMPLE_VALUES: tuple[tuple[str, Any], ...] = (
    ("tuple", ()), ("datetime", _SAMPLE_AT), ("Decimal", Decimal("100.00")),
    ("bool", False), ("int", 1), ("str", "sample-12345"),
)


def _parse(env: BoundedSandbox, source: str) -> nodes.Expr:
    # What Environment.compile_expression does, keeping the tree so we can inspect it.
    parser = Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        parser.fail(f"unexpected {token.value!r} after the expression", token.lineno)
    expr.set_environment(env)
    return expr


def _check_names(expr: nodes.Expr, allowed: frozenset[str]) -> frozenset[str]:
    tree = [expr, *expr.find_all(nodes.Node)]  # find_all skips the root itself
    used = {n.name for n in tree if isinstance(n, nodes.Name) and n.ctx == "load"}
    if unknown := sorted(used - allowed):
        raise ConditionError(
            f"unknown name {', '.join(unknown)}; available: {', '.join(sorted(allowed))}"
        )
    for node in tree:
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        entity = node.node.name if isinstance(node.node, nodes.Name) else None
        if entity not in ENTITY_TYPES:
            continue
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            attr = node.arg.value
        else:
            continue
        fields = {f.name for f in dataclasses.fields(ENTITY_TYPES[entity])}
        if attr not in fields:
            raise ConditionError(
                f"{entity} has no field {attr!r}; it has: {', '.join(sorted(fields))}"
            )
    return frozenset(used)


class _DecimalLiterals(NodeTransformer):
    """Replace float literals with names bound to Decimals (see the module docstring)."""

    def __init__(self, constants: dict[str, Decimal]) -> None:
        self.constants = constants

    def visit_Const(self, node: nodes.Const) -> nodes.Node:
        if not isinstance(node.value, float):
            return node
        name = f"decimal_literal_{len(self.constants)}"
        self.constants[name] = Decimal(repr(node.value))
        return nodes.Name(name, "load", lineno=node.lineno)
