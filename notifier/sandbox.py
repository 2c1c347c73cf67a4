"""Bounds on what a template or a rule condition may cost: size, output and time.

Jinja's sandbox stops templates reaching Python internals but not exhausting a worker:
``'x' * 10**9`` allocates a gigabyte, ``10 ** 10 ** 10`` never finishes, nested
``range(100000)`` loops run for hours. :class:`BoundedSandbox` closes those doors:

* ``*`` on a string or list, ``**`` on numbers and ``%`` formatting are intercepted and
  refused when the result would exceed :data:`MAX_LENGTH` items or :data:`MAX_POWER_BITS`;
* a method or filter that makes text of a given size (:data:`SIZED`) is refused a size
  beyond :data:`MAX_LENGTH` (``'x'.center(10**9)``, ``|indent(10**9)``), and so is a
  format width beyond it (``'%0999999d' % 1``, ``'{:>999999}'.format(1)``);
* every ``for`` loop and every ``range`` checks the :class:`Budget` of the render on each
  iteration, and the output is counted as it is produced (:data:`MAX_OUTPUT` characters).

The budget is cooperative but complete: a template can only spend time in loops, calls
and operators, and each of those checks it, so a render over budget stops within one
iteration and fails with :class:`BudgetExceeded` (a ``SecurityError``) — its message only,
never the worker, which stays free to handle SIGTERM.

    env = BoundedSandbox()
    with Budget(seconds=2.0).active():
        text = env.from_string(source).render(values)
"""

from __future__ import annotations

import functools
import math
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: Longest string or list an operator or a call may make (characters or items).
MAX_LENGTH = 100_000
#: Largest integer ``**`` may make, in bits (2**4096 is a 1,234-digit number).
MAX_POWER_BITS = 4096
#: Longest output of one render, in characters.
MAX_OUTPUT = 1_000_000
#: Default time budget of one render, check or condition, in seconds.
DEFAULT_SECONDS = 2.0

_ITERATE = "notifier_bounded_iter"
_METHOD_TYPES = (types.MethodType, types.BuiltinMethodType)
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")


class BudgetExceeded(SecurityError):
    """A render, check or condition ran past its time budget, output or size bound."""


class Budget:
    """A deadline on this thread's CPU time; :meth:`active` makes it the current one.

    CPU time, not wall time: a runaway template burns CPU, which this counts, while a
    render that merely waited for the core on a loaded machine is not failed for it.
    A thread cannot use more CPU than wall time has passed, so the CPU clock (a system
    call, ~1.6 µs, and a render checks hundreds of times) is read only once the wall
    clock (~50 ns) says the budget could be spent.
    """

    def __init__(self, seconds: float = DEFAULT_SECONDS) -> None:
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds
        self.wall_deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() < self.wall_deadline:
            return
        if time.thread_time() > self.deadline:
            raise BudgetExceeded(f"took longer than its time budget of {self.seconds:g} s")

    @contextmanager
    def active(self) -> Iterator[Budget]:
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


# Per thread and task, not global: each render sets and resets its own.
_current: ContextVar[Budget | None] = ContextVar("notifier_budget", default=None)


def check_budget() -> None:
    """Raise :class:`BudgetExceeded` when the current budget (if any) is spent."""
    budget = _current.get()
    if budget is not None:
        budget.check()


def bounded(items: Iterable[Any]) -> Iterator[Any]:
    """``items``, checking the budget before each one."""
    for item in items:
        check_budget()
        yield item


def _too_long(size: int, what: str) -> None:
    if size > MAX_LENGTH:
        raise BudgetExceeded(f"{what} would make {size:,} items; the limit is {MAX_LENGTH:,}")


#: Methods and filters whose integer arguments are sizes of what they make.
SIZED = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap",
                   "truncate", "range"})


def _check_sizes(args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_LENGTH:
            raise BudgetExceeded(f"a size of {value:,} is beyond the limit of {MAX_LENGTH:,}")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and (width := _widest(text)) > MAX_LENGTH:
        raise BudgetExceeded(f"a format width of {width:,} is beyond {MAX_LENGTH:,}")


def _widest(text: str) -> int:
    widths = [int(a or b) for a, b in _WIDTH.findall(text) if (a or b)]
    return max(widths, default=0)


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context and friends)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_budget()
        if name in SIZED:
            _check_sizes([*args, *kwargs.values()])
        elif name == "format":
            # |format's value is the format string; it comes after a context or
            # environment argument when the filter takes one.
            for value in args:
                _check_format(value)
        return func(*args, **kwargs)

    return guarded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the bounds of this module."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = self._range
        self.globals[_ITERATE] = bounded
        self.filters = _GuardedFilters(self.filters)
        self._safe_attributes: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Jinja's answer depends on the object's type and the attribute's name only (the
        # value is not consulted), and a render asks it for every attribute it prints:
        # kept per (type, name). An object claiming another __class__ than its type
        # (which isinstance would believe) is asked every time.
        cls = type(obj)
        if obj.__class__ is not cls:
            return super().is_safe_attribute(obj, attr, value)
        safe = self._safe_attributes.get((cls, attr))
        if safe is None:
            safe = self._safe_attributes[(cls, attr)] = super().is_safe_attribute(
                obj, attr, value)
        return safe

    @staticmethod
    def _range(*args: int) -> Iterator[int]:
        _check_sizes(args)
        return bounded(range(*args))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_budget()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _too_long(len(seq) * times, "repeating a string or list")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and math.log2(abs(left)) * right > MAX_POWER_BITS:
                raise BudgetExceeded(f"{left} ** {right} is beyond {MAX_POWER_BITS} bits")
        elif operator == "%":
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_budget()
        if getattr(__obj, "__name__", "") in SIZED:
            _check_sizes([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Asked of every attribute a template reads; only a bound method can be a
        # str.format (the parent's own first test), so anything else leaves at once.
        if type(value) not in _METHOD_TYPES and not isinstance(value, _METHOD_TYPES):
            return None
        # "{:>999999}".format(1): the width is in the string the method is bound to.
        owner = getattr(value, "__self__", None)
        if getattr(value, "__name__", "") in {"format", "format_map"}:
            _check_format(owner)
        return super().wrap_str_format(value)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every for loop iterates through bounded(), which checks the budget each time
        # round: a loop that produces no output is stopped as surely as one that does.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name(_ITERATE, "load"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        return tree

    def render_bounded(self, template: Any, namespace: Any, *,
                       seconds: float = DEFAULT_SECONDS) -> str:
        """Render ``template`` within a budget of ``seconds`` and :data:`MAX_OUTPUT`."""
        with Budget(seconds).active() as budget:
            parts: list[str] = []
            size = 0
            # Budget.check's first test inlined: a render yields a few dozen chunks.
            clock, wall = time.monotonic, budget.wall_deadline
            for chunk in template.generate(namespace):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise BudgetExceeded(f"output is longer than {MAX_OUTPUT:,} characters")
                parts.append(chunk)
                if clock() >= wall:
                    budget.check()
            return "".join(parts)


class _GuardedFilters(dict[str, Any]):
    """The filter table, each filter wrapped by :func:`_guarded` (also ones added later)."""

    def __init__(self, filters: dict[str, Any]) -> None:
        super().__init__({name: _guarded(name, f) for name, f in filters.items()})

    def __setitem__(self, name: str, func: Any) -> None:
        super().__setitem__(name, _guarded(name, func))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for name, func in dict(*args, **kwargs).items():
            self[name] = func
