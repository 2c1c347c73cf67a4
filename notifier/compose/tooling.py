"""Tools for whoever edits templates: check them all, preview one.

``check_templates`` renders every message, locale and channel against the sample
scenarios of :mod:`notifier.compose.samples` and returns ``file:line: reason`` lines for
syntax errors, undefined variables, unsafe constructs, SMS over the segment limit and
channels nobody can receive (present only in a locale outside the fallback chain).
``preview`` renders one message the way a customer gets it and writes the email as
``.eml`` (byte-for-byte what SMTP would send) and ``.html`` for a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from notifier.compose.composer import DEFAULT_SMS_MAX_SEGMENTS, Composer, SmsTooLongError
from notifier.compose.context import RenderContext
from notifier.compose.greeting import morphology_available
from notifier.compose.layout import (
    FALLBACK_LOCALE,
    PARTS,
    channel_files,
    has_channel,
    locales,
    messages,
    resolve_locale,
)
from notifier.compose.recipients import RecipientError
from notifier.compose.samples import scenarios
from notifier.config import ShopSettings
from notifier.domain import Channel, EmailMessage, Message, PushMessage, SmsMessage
from notifier.errors import TemplateError
from notifier.mime import mime_bytes

PREVIEW_FROM = "Sklep <sklep@example.com>"
# Files `check` compiles; anything else under templates/ (images, notes) is left alone.
TEMPLATE_SUFFIXES = frozenset({".html", ".htm", ".txt", ".css"})


def check_templates(
    templates_dir: Path,
    shop: ShopSettings,
    *,
    sms_max_segments: int = DEFAULT_SMS_MAX_SEGMENTS,
    from_addr: str = PREVIEW_FROM,
    notes: bool = True,
    only: Collection[str] | None = None,
) -> list[str]:
    """Every problem found under ``templates_dir``, one ``file:line: reason`` per line.

    A render problem names the sample scenario that triggers it first (``[with
    offer=none]``); an SMS over the limit is reported once, for its longest scenario.
    ``notes=False`` leaves out remarks about the installation rather than the templates
    (no Polish dictionary, no support contact): a reload is not refused for those.
    ``only`` checks just those messages (their files compiled, then rendered): the check
    of one edited message, whose includes and layout come from the rest of the set.
    """
    root = Path(templates_dir)
    if not root.is_dir():
        return [f"{root}: templates directory not found"]
    composer = Composer(root, shop, from_addr=from_addr, sms_max_segments=sms_max_segments)
    report = _Report()
    if notes and not morphology_available():
        report.add("morfeusz2: SGJP dictionary unavailable; Polish greetings degrade")
    if notes and not (shop.support_email or shop.support_phone or shop.contact_url):
        report.add("shop: no support_email, support_phone or contact_url; messages offer no human")
    for path in sorted(p for p in root.rglob("*") if p.suffix in TEMPLATE_SUFFIXES):
        relative = path.relative_to(root)
        if only is not None and relative.parts[0] not in only:
            continue  # the rest of the set compiles when the message includes it
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            report.attempt(partial(composer.environment.check_syntax, relative.as_posix()))
    for message in messages(root):
        if only is not None and message not in only:
            continue
        _check_message(composer, message, report)
    return report.lines()


class _Report:
    """Problems in order of discovery, each once; SMS length kept at its worst case."""

    def __init__(self) -> None:
        self._problems: dict[str, str] = {}
        self._too_long: dict[str, tuple[SmsTooLongError, str]] = {}

    def add(self, problem: str, scenario: str = "") -> None:
        self._problems.setdefault(problem, scenario)

    def attempt(self, action: Callable[[], object], scenario: str = "") -> None:
        try:
            action()
        except SmsTooLongError as exc:
            worst = self._too_long.get(exc.path)
            if worst is None or exc.size.units > worst[0].size.units:
                self._too_long[exc.path] = (exc, scenario)
            self._problems.setdefault(exc.path, "")  # keeps its place in the order
        except TemplateError as exc:
            self.add(str(exc), scenario)
        except RecipientError:
            pass  # a guest has no push subscription: a fact about the sample, not the template

    def lines(self) -> list[str]:
        out = []
        for problem, scenario in self._problems.items():
            if problem in self._too_long:
                exc, scenario = self._too_long[problem]
                problem = str(exc)
            out.append(f"{problem} [with {scenario}]" if scenario else problem)
        return out


def _check_message(composer: Composer, message: str, report: _Report) -> None:
    root = composer.templates_dir
    found = locales(root, message)
    if not found:
        report.add(f"{root / message}: no locale folders (e.g. {message}/pl/)")
    for channel in Channel:
        present = [loc for loc in found if has_channel(root, message, loc, channel)]
        for locale in found:
            parts = channel_files(root, message, locale, channel)
            missing = [p.filename for p in PARTS[channel] if p.required and p not in parts]
            if parts and missing:
                report.add(
                    f"{root / message / locale}: {channel.value} incomplete, "
                    f"missing {', '.join(missing)}"
                )
        fallback = [composer.shop.default_locale, FALLBACK_LOCALE]
        if present and resolve_locale(root, message, channel, fallback) is None:
            report.add(
                f"{root / message}: {channel.value} exists only in {', '.join(present)}; "
                f"add {' or '.join(fallback)} so every customer gets it"
            )
        for locale in present:
            for label, ctx in scenarios(message, locale, composer.shop):
                render = partial(composer.render, message, channel, ctx, locale=locale)
                report.attempt(render, label)


@dataclass(frozen=True)
class Preview:
    """One rendered message, the files written for it and a human-readable summary."""

    message: Message
    locale: str
    files: tuple[Path, ...] = field(default=())

    def summary(self) -> str:
        message = self.message
        lines = [f"locale: {self.locale}"]
        if isinstance(message, EmailMessage):
            lines += [
                f"to: {message.to}",
                f"subject: {message.subject}",
                f"preheader: {message.preheader}",
                *(f"{name}: {value}" for name, value in message.headers),
                "",
                message.text.rstrip(),
            ]
        elif isinstance(message, SmsMessage):
            lines += [
                f"to: {message.to}",
                f"encoding: {message.encoding}, segments: {message.segments}, "
                f"characters: {len(message.body)}",
                "",
                message.body,
            ]
        elif isinstance(message, PushMessage):
            lines += [f"title: {message.title}", f"body: {message.body}", f"url: {message.url}"]
        lines += [f"wrote: {path}" for path in self.files]
        return "\n".join(lines)


def preview(
    composer: Composer,
    message_name: str,
    channel: Channel,
    ctx: RenderContext,
    *,
    out_dir: Path | None = None,
    locale: str | None = None,
    transliterate: bool = False,
) -> Preview:
    """Render ``message_name`` for ``ctx`` (sample or a real customer's) and save it.

    Email is written to ``out_dir`` as ``<name>.<locale>.eml`` and ``.html``; SMS and push
    as ``.txt``. Raises TemplateError exactly as sending would.
    """
    customer_locale = ctx.customer.locale if ctx.customer else None
    used = locale or composer.locale_for(message_name, channel, customer_locale) or "?"
    message = composer.render(
        message_name, channel, ctx, locale=locale, transliterate=transliterate
    )
    files: list[Path] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{message_name}.{used}"
        if isinstance(message, EmailMessage):
            eml, html = out_dir / f"{stem}.eml", out_dir / f"{stem}.html"
            eml.write_bytes(mime_bytes(message))
            html.write_text(message.html, encoding="utf-8")
            files += [eml, html]
        else:
            txt = out_dir / f"{stem}.{channel.value}.txt"
            txt.write_text(Preview(message, used).summary() + "\n", encoding="utf-8")
            files.append(txt)
    return Preview(message, used, tuple(files))
