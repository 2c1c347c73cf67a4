"""What the template editor shows beside the code: the draft rendered and checked.

A draft is the message's files as typed. It renders with the composer the back end lays
it into (:func:`notifier.authoring.composer_for`: the published layouts, partials and
other messages with this draft in place), so it renders and fails exactly as it would once
published; its problems are :func:`notifier.authoring.check_draft`'s, the same check as
``notifier templates check``. Nothing here touches the database.

    result = render_draft(composer, "order_unshipped", "pl", ctx, problems)
    result.problems        # [Problem(file="pl/email.html", line=3, text=...)]
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from notifier.compose import Composer, RecipientError, RenderContext
from notifier.compose import sms as sms_rules
from notifier.compose.layout import PARTS
from notifier.compose.views import namespace
from notifier.config import Settings
from notifier.domain import Channel, EmailMessage, PushMessage, SmsMessage
from notifier.errors import TemplateError

#: Every file of one locale the editor shows, in the order of the page.
FILES: tuple[tuple[Channel, str, str], ...] = tuple(
    (channel, part.key, part.filename) for channel, parts in PARTS.items() for part in parts)
_SMS_LIMITS = {sms_rules.GSM7: (160, 153), sms_rules.UCS2: (70, 67)}
_LOCATED = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<reason>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One finding of the check: ``file`` is the draft's file it is in (``order_unshipped/
    pl/sms.txt``, relative to templates/), None for a layout, a partial or the folder."""

    text: str
    file: str | None = None
    line: int = 1


@dataclass(frozen=True)
class SmsView:
    body: str
    encoding: str
    segments: int
    characters: int
    left: int  # characters left before the next segment starts


@dataclass
class Rendered:
    """The draft for one locale and sample: each channel rendered (or why not)."""

    locale: str
    email: EmailMessage | None = None
    sms: SmsView | None = None
    push: PushMessage | None = None
    errors: dict[str, str] = field(default_factory=dict)  # channel -> why it did not render
    problems: list[Problem] = field(default_factory=list)
    variables: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def draft_composer(published: Path, settings: Settings, name: str, files: Mapping[str, str]
                   ) -> Iterator[Composer]:
    """A composer over the published set (a directory, see
    :class:`notifier.authoring.published.PublishedSet`) with ``files`` as folder ``name``:
    the other folders are linked, not copied, and nothing is compiled ahead, so a preview
    costs the templates it renders (the check is :func:`notifier.authoring.check_draft`)."""
    with tempfile.TemporaryDirectory(prefix="notifier-preview-") as tmp:
        root = Path(tmp) / "templates"
        root.mkdir()
        for entry in published.iterdir():
            if entry.name != name and not entry.name.startswith("."):
                (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        for path, text in files.items():
            target = root / path
            if not path.startswith(f"{name}/") or ".." in Path(path).parts:
                raise TemplateError(f"{path}: not a file of {name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        yield Composer(root, settings.shop, from_addr=settings.email.from_,
                       sms_max_segments=settings.delivery.sms_max_segments)


def locate(text: str, message: str) -> Problem:
    """A check's ``path:line: reason`` tied to the draft's file when it is one of them;
    other paths (layouts, partials) stay unplaced."""
    found = _LOCATED.match(text)
    if not found:
        return Problem(text)
    path, line = found.group("path"), int(found.group("line"))
    prefix = f"{message}/"
    if "/" in path and not path.startswith(prefix):
        # An absolute path (a composer over a directory): keep what follows the message.
        marker = f"/{message}/"
        path = path[path.index(marker) + 1:] if marker in path else path
    return Problem(text, path if path.startswith(prefix) else None, line)


def render_draft(composer: Composer, message: str, locale: str, ctx: RenderContext,
                 problems: list[str]) -> Rendered:
    """Every channel of ``message`` in ``locale`` for ``ctx``; ``problems`` are the
    draft's check (``authoring.check_draft``), tied to its files."""
    result = Rendered(locale, problems=[locate(p, message) for p in problems])
    for channel in Channel:
        try:
            rendered = composer.render(message, channel, ctx, locale=locale)
        except (TemplateError, RecipientError) as exc:
            # Shown as the check shows paths: relative to templates/.
            result.errors[channel.value] = str(exc).replace(f"{composer.templates_dir}/", "")
            continue
        if isinstance(rendered, EmailMessage):
            result.email = rendered
        elif isinstance(rendered, SmsMessage):
            result.sms = sms_view(rendered.body)
        elif isinstance(rendered, PushMessage):
            result.push = rendered
    formatter = composer.formatter(locale, ctx)
    result.variables = variables(namespace(ctx, formatter))
    return result


def sms_view(body: str) -> SmsView:
    size = sms_rules.measure(body)
    single, multi = _SMS_LIMITS[size.encoding]
    room = single if size.segments <= 1 else multi * size.segments
    return SmsView(body, size.encoding, size.segments, len(body), max(0, room - size.units))


def variables(names: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``customer.first_name = Zofia``...: what a template can print, with its value for
    the chosen sample (one level into each object; lists shown by their length)."""
    out: list[tuple[str, str]] = []
    for name, value in names.items():
        if name.startswith("_"):
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                out.append((f"{name}.{f.name}", _shown(getattr(value, f.name))))
        else:
            out.append((name, _shown(value)))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | int | float | bool):
        return str(value)
    if isinstance(value, tuple | list):
        return f"[{len(value)} items]" if value else "[]"
    if dataclasses.is_dataclass(value):
        return type(value).__name__
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."
