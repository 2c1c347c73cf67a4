"""The one Jinja2 environment templates render in: sandboxed, strict, escaping HTML.

Marketers edit templates, so templates are untrusted input: they run in Jinja's
immutable sandbox (no reaching Python internals such as ``''.__class__``, no mutating
the values we pass in) with the bounds of :mod:`notifier.sandbox`: no gigabyte strings,
an output cap, and a time budget per render (``render_seconds``) that stops a runaway
loop within one iteration. A missing variable or a printed ``None`` is an error rather than
a blank in a customer's message, and every failure surfaces as one
:class:`~notifier.errors.TemplateError` reading ``path:line: reason``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError, TemplateNotFound, UndefinedError

from notifier.compose.filters import FilterError, filters
from notifier.errors import TemplateError
from notifier.sandbox import DEFAULT_SECONDS, BoundedSandbox


class TemplateEnvironment(BoundedSandbox):
    """Sandboxed environment over ``root`` whose :meth:`render` never half-succeeds."""

    def __init__(self, root: Path, *, render_seconds: float = DEFAULT_SECONDS) -> None:
        super().__init__(
            loader=FileSystemLoader(str(root)),
            autoescape=select_autoescape(enabled_extensions=("html", "htm"), default=False),
            undefined=StrictUndefined,
            finalize=_refuse_none,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # No stat() per render: a stat per template per message cost more than the
            # render itself. Edited templates go live when the engine reloads.
            auto_reload=False,
            # Never evicted: after preload() the whole last good set lives in memory, so
            # a broken edit on disk reaches no customer until a reload accepts it.
            cache_size=-1,
        )
        self.root = root
        self.render_seconds = render_seconds
        self.filters.update(filters())
        #: Every file under ``root`` as :meth:`preload` found it (loader names), or None
        #: before a preload: which parts exist is then answered from memory, as the
        #: templates themselves are.
        self.files: frozenset[str] | None = None

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # Jinja chains a template's globals over the environment's (a ChainMap), and each
        # of the dozen contexts of a message (every part, include and block) iterates it
        # twice, slowly. Ours are all set when the environment is made, before any
        # template loads, so a template gets them as one plain dict: the same values.
        return {**self.globals, **(d or {})}

    def join_path(self, template: str, parent: str) -> str:
        """Refuse mixing escaped and unescaped templates (include, import, extends).

        A ``.txt`` partial or macro pulled into an ``.html`` template would insert
        customer data unescaped (Jinja marks a macro's output safe in the caller), so an
        HTML template may only use HTML templates (and ``.css``), and text only text.
        """
        if self._escapes(template) != self._escapes(parent) and not template.endswith(".css"):
            kind = "an HTML" if self._escapes(parent) else "a text"
            raise SecurityError(
                f"{template!r} cannot be used from {kind} template: escaping would differ; "
                "keep .html with .html and .txt with .txt"
            )
        return template

    def _escapes(self, name: str) -> bool:
        autoescape = self.autoescape
        return bool(autoescape(name) if callable(autoescape) else autoescape)

    def render(self, name: str, namespace: Mapping[str, Any]) -> str:
        """Render template ``name`` (relative to ``root``) or raise TemplateError."""
        try:
            return self.render_bounded(self.get_template(name), namespace,
                                       seconds=self.render_seconds)
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(self.describe(exc, name)) from exc

    def preload(self) -> None:
        """Compile every template file under ``root`` into the cache (see ``cache_size``);
        one that does not compile is left out (a check reports it). The files found are
        kept in :attr:`files`: from now on this set is the one rendered, file by file."""
        self.files = frozenset(self.list_templates())
        for name in self.list_templates(extensions=("html", "htm", "txt", "css")):
            if any(part.startswith(".") for part in name.split("/")):
                continue
            try:
                self.get_template(name)
            except Exception:  # reported by check_templates
                continue

    def check_syntax(self, name: str) -> None:
        """Compile ``name`` without rendering it; raise TemplateError on a syntax error."""
        try:
            self.get_template(name)
        except Exception as exc:
            raise TemplateError(self.describe(exc, name)) from exc

    def display_path(self, name: str) -> str:
        return str(self.root / name)

    def describe(self, exc: BaseException, name: str) -> str:
        """``path:line: reason`` for an exception raised while loading or rendering."""
        where, line = name, 1
        if isinstance(exc, TemplateSyntaxError):
            where, line = exc.name or name, exc.lineno
        else:
            located = self._locate(exc)
            if located:
                where, line = located
        return f"{self.display_path(where)}:{line}: {_reason(exc)}"

    def _locate(self, exc: BaseException) -> tuple[str, int] | None:
        # Jinja rewrites tracebacks so template frames carry the template file and line;
        # the innermost such frame is where the template went wrong (an include, a layout).
        root = os.path.realpath(self.root)
        found = None
        for frame in traceback.extract_tb(exc.__traceback__):
            path = os.path.realpath(frame.filename)
            if path.startswith(root + os.sep) and frame.lineno is not None:
                found = (os.path.relpath(path, root), frame.lineno)
        return found


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"unsafe, refused by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, TemplateNotFound):
        return f"template not found: {exc.name}"
    if isinstance(exc, FilterError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _refuse_none(value: Any) -> Any:
    if value is None:
        raise FilterError("printed a missing value (None); guard it with {% if ... %}")
    return value
