"""Addressing a customer natively: "Dzień dobry, Pani Anno", "Dear Ms Smith".

Polish formal address needs two things we must not guess with suffix rules: the gender
(Pan/Pani, and the verb forms that agree with it) and the vocative of the first name
(Anna→Anno, Paweł→Pawle, Jacek→Jacku, Kuba→Kubo). Both come from the SGJP dictionary
through Morfeusz 2, which ships the dictionary in its wheel and works offline. A name
SGJP does not list as a first name (imię), or whose gender contradicts the salutation,
gets the plain greeting: a correct "Dzień dobry" beats a wrong "Panie Anno".

Gender comes from, in order: the salutation (mr/mrs/ms/miss, pan/pani), the customer's
``gender`` field, then the first name when SGJP knows it with one gender only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from notifier.domain import CustomerSnapshot

log = logging.getLogger(__name__)

FEMALE = "female"
MALE = "male"

_SALUTATION_GENDER = {
    "mr": MALE,
    "pan": MALE,
    "male": MALE,
    "m": MALE,
    "mrs": FEMALE,
    "ms": FEMALE,
    "miss": FEMALE,
    "pani": FEMALE,
    "female": FEMALE,
    "f": FEMALE,
}
_SGJP_GENDER = {"f": FEMALE, "m1": MALE}
_EN_TITLES = {"mr": "Mr", "mrs": "Mrs", "ms": "Ms", "miss": "Miss"}
_EN_TITLE_BY_GENDER = {MALE: "Mr", FEMALE: "Ms"}

# The opening used when we cannot (or, outside pl/en, do not try to) address by name.
NEUTRAL_GREETINGS = {
    "pl": "Dzień dobry",
    "en": "Hello",
    "de": "Guten Tag",
    "fr": "Bonjour",
    "es": "Hola",
    "it": "Buongiorno",
    "cs": "Dobrý den",
    "sk": "Dobrý deň",
    "uk": "Добрий день",
    "lt": "Laba diena",
    "nl": "Goedendag",
    "pt": "Olá",
}


@dataclass(frozen=True)
class Addressee:
    """Who we write to, as far as we can tell; ``None`` fields mean "unsure"."""

    gender: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    salutation: str | None = None
    vocative: str | None = None  # Polish vocative of the first name, agreeing with gender
    declared: bool = False  # gender came from the customer's data, not from the name


def addressee(customer: CustomerSnapshot | None) -> Addressee:
    """Resolve gender and the Polish vocative of the first name for ``customer``."""
    if customer is None:
        return Addressee()
    first = _first_token(customer.first_name)
    last = (customer.last_name or "").strip() or None
    salutation = _clean(customer.salutation)
    forms = polish_first_name(first) if first else {}
    declared = _SALUTATION_GENDER.get(salutation or "") or _SALUTATION_GENDER.get(
        _clean(customer.gender) or ""
    )
    gender = declared or (next(iter(forms)) if len(forms) == 1 else None)
    vocative = forms.get(gender) if gender else None
    return Addressee(gender, first, last, salutation, vocative, declared is not None)


def greeting(customer: CustomerSnapshot | None, language: str) -> str:
    """The opening line, without trailing punctuation, in ``language`` (``pl``, ``en``, ...)."""
    who = addressee(customer)
    if language == "pl":
        if who.gender and who.vocative:
            title = "Pani" if who.gender == FEMALE else "Panie"
            return f"Dzień dobry, {title} {who.vocative}"
        return NEUTRAL_GREETINGS["pl"]
    if language == "en":
        title = _EN_TITLES.get(who.salutation or "") or (
            _EN_TITLE_BY_GENDER.get(who.gender or "") if who.declared else None
        )
        if title and who.last_name:
            return f"Dear {title} {_display_case(who.last_name)}"
        if who.first_name:
            return f"Hello {_display_case(who.first_name)}"
        return NEUTRAL_GREETINGS["en"]
    return NEUTRAL_GREETINGS.get(language, NEUTRAL_GREETINGS["en"])


def gender_of(customer: CustomerSnapshot | None) -> str | None:
    """``"female"``, ``"male"`` or ``None`` when unsure (see the module docstring)."""
    return addressee(customer).gender


@lru_cache(maxsize=4096)
def polish_first_name(name: str) -> dict[str, str]:
    """Vocative of a first name per gender SGJP knows it in: ``{"female": "Anno"}``.

    Empty when SGJP does not list ``name`` as a first name in the nominative singular, or
    when the morphology dictionary is unavailable.
    """
    morphology = _morphology()
    if morphology is None or not name:
        return {}
    lemmas: dict[str, str] = {}
    for start, end, (_orth, lemma, tag, quals, _) in morphology.analyse(name):
        if (start, end) != (0, 1):
            return {}  # "Anna-Maria" and the like: more than one word, so unsure
        parts = tag.split(":")
        if parts[0] != "subst" or "imię" not in quals or len(parts) < 4:
            continue
        if "sg" in parts[1].split(".") and "nom" in parts[2].split("."):
            for sgjp_gender in parts[3].split("."):
                if sgjp_gender in _SGJP_GENDER:
                    lemmas.setdefault(_SGJP_GENDER[sgjp_gender], lemma)
    vocatives: dict[str, str] = {}
    for gender, lemma in lemmas.items():
        for orth, form_lemma, tag, _quals, _ in morphology.generate(lemma):
            parts = tag.split(":")
            if (
                form_lemma == lemma
                and len(parts) >= 4
                and "sg" in parts[1].split(".")
                and "voc" in parts[2].split(".")
                and gender == _SGJP_GENDER.get(parts[3].split(".")[0])
            ):
                vocatives[gender] = orth
                break
    return vocatives


class _Morphology:
    """Morfeusz is a C++ object without documented thread safety; serialise calls."""

    def __init__(self, morfeusz: Any) -> None:
        self._morfeusz = morfeusz
        self._lock = threading.Lock()

    def analyse(self, text: str) -> list[Any]:
        with self._lock:
            return list(self._morfeusz.analyse(text))

    def generate(self, lemma: str) -> list[Any]:
        with self._lock:
            return list(self._morfeusz.generate(lemma))


@lru_cache(maxsize=1)
def _morphology() -> _Morphology | None:
    # Loading the SGJP dictionary takes ~0.1 s; do it once, on first use, not at import.
    try:
        import morfeusz2

        return _Morphology(morfeusz2.Morfeusz(expand_tags=False))
    except Exception:  # missing wheel or dictionary: greet neutrally rather than fail sends
        log.warning("Morfeusz 2 unavailable; Polish greetings fall back to 'Dzień dobry'")
        return None


def morphology_available() -> bool:
    """Whether Polish names can be declined here (for start-up checks and ``check``)."""
    return _morphology() is not None


def _first_token(name: str | None) -> str | None:
    tokens = (name or "").split()
    return tokens[0] if tokens else None


def _clean(value: str | None) -> str | None:
    return (value or "").strip().lower().rstrip(".") or None


def _display_case(name: str) -> str:
    # "ANNA"/"anna" typed into a checkout form; leave "McDonald" as written.
    return name.title() if name.isupper() or name.islower() else name
