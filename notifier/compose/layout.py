"""Where templates live on disk and which locale a customer gets.

    templates/
      _layouts/base.html           shared HTML skeleton (no words), includes email.css
      _layouts/email.css           inlined into every HTML email
      _layouts/<locale>.html       the skeleton with that language's help and footer
      _layouts/<locale>.txt        the same for the plain-text part
      <message>/<locale>/
        email.subject.txt   email.preheader.txt (optional)   email.html   email.txt
        sms.txt
        push.title.txt      push.body.txt       push.url.txt (optional)

Names starting with ``_`` or ``.`` are not messages. A channel is available for a locale
when all of its required files exist there. Locale fallback: the customer's locale
(``pl_PL`` then ``pl``), then the shop's default locale, then ``en``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifier.domain import Channel

FALLBACK_LOCALE = "en"


@dataclass(frozen=True)
class Part:
    """One file of a channel's template: ``key`` is how the composer refers to it."""

    key: str
    filename: str
    required: bool = True


PARTS: dict[Channel, tuple[Part, ...]] = {
    Channel.EMAIL: (
        Part("subject", "email.subject.txt"),
        Part("preheader", "email.preheader.txt", required=False),
        Part("html", "email.html"),
        Part("text", "email.txt"),
    ),
    Channel.SMS: (Part("body", "sms.txt"),),
    Channel.PUSH: (
        Part("title", "push.title.txt"),
        Part("body", "push.body.txt"),
        Part("url", "push.url.txt", required=False),
    ),
}


def template_name(message: str, locale: str, part: Part) -> str:
    """Loader name of one part, e.g. ``cart_reminder/pl/sms.txt`` (always ``/``)."""
    return f"{message}/{locale}/{part.filename}"


def normalise_locale(locale: str | None) -> str | None:
    """``pl-pl`` / ``pl_PL.UTF-8`` -> ``pl_PL``; ``None`` for an empty value."""
    raw = (locale or "").strip().split(".")[0].replace("-", "_")
    if not raw:
        return None
    language, _, territory = raw.partition("_")
    return f"{language.lower()}_{territory.upper()}" if territory else language.lower()


def language_of(locale: str) -> str:
    return locale.split("_")[0]


def locale_chain(customer_locale: str | None, default_locale: str | None) -> list[str]:
    """Directories to try, best first: ``pl_PL``, ``pl``, shop default, ``en``."""
    chain: list[str] = []
    for candidate in (customer_locale, default_locale, FALLBACK_LOCALE):
        norm = normalise_locale(candidate)
        if norm:
            for option in (norm, language_of(norm)):
                if option not in chain:
                    chain.append(option)
    return chain


def has_channel(root: Path, message: str, locale: str, channel: Channel) -> bool:
    """Whether every required file of ``channel`` exists for ``message`` in ``locale``."""
    folder = root / message / locale
    return all((folder / p.filename).is_file() for p in PARTS[channel] if p.required)


def resolve_locale(root: Path, message: str, channel: Channel, chain: list[str]) -> str | None:
    """The first locale in ``chain`` that has ``channel`` for ``message``."""
    return next((loc for loc in chain if has_channel(root, message, loc, channel)), None)


def messages(root: Path) -> list[str]:
    """Message names: the top-level folders that are not ``_layouts``-like."""
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )


def locales(root: Path, message: str) -> list[str]:
    folder = root / message
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def channel_files(root: Path, message: str, locale: str, channel: Channel) -> list[Part]:
    """The parts of ``channel`` present for ``message``/``locale`` (possibly incomplete)."""
    folder = root / message / locale
    return [p for p in PARTS[channel] if (folder / p.filename).is_file()]
