"""Greetings from real SGJP morphology: vocatives, gender, and when to stay neutral."""

from __future__ import annotations

import pytest

from notifier.compose.greeting import addressee, greeting, morphology_available
from notifier.domain import CustomerSnapshot


def person(first: str | None = None, last: str | None = None, **fields: str) -> CustomerSnapshot:
    return CustomerSnapshot(id=1, first_name=first, last_name=last, **fields)


def test_morphology_dictionary_ships_with_the_wheel() -> None:
    assert morphology_available()


@pytest.mark.parametrize(
    ("first_name", "expected"),
    [
        ("Anna", "Dzień dobry, Pani Anno"),
        ("Maria", "Dzień dobry, Pani Mario"),
        ("Ewa", "Dzień dobry, Pani Ewo"),
        ("Zofia", "Dzień dobry, Pani Zofio"),
        ("Katarzyna", "Dzień dobry, Pani Katarzyno"),
        ("Małgorzata", "Dzień dobry, Pani Małgorzato"),
        ("Agnieszka", "Dzień dobry, Pani Agnieszko"),
        ("Barbara", "Dzień dobry, Pani Barbaro"),
        ("Joanna", "Dzień dobry, Pani Joanno"),
        ("Kasia", "Dzień dobry, Pani Kasiu"),
        ("Ola", "Dzień dobry, Pani Olu"),
        ("Tomasz", "Dzień dobry, Panie Tomaszu"),
        ("Paweł", "Dzień dobry, Panie Pawle"),
        ("Jacek", "Dzień dobry, Panie Jacku"),
        ("Marek", "Dzień dobry, Panie Marku"),
        ("Bartosz", "Dzień dobry, Panie Bartoszu"),
        ("Kuba", "Dzień dobry, Panie Kubo"),
        ("Piotr", "Dzień dobry, Panie Piotrze"),
        ("Krzysztof", "Dzień dobry, Panie Krzysztofie"),
        ("Michał", "Dzień dobry, Panie Michale"),
        ("Kacper", "Dzień dobry, Panie Kacprze"),
        ("Jerzy", "Dzień dobry, Panie Jerzy"),
        ("Antoni", "Dzień dobry, Panie Antoni"),
        ("Grzegorz", "Dzień dobry, Panie Grzegorzu"),
        ("Łukasz", "Dzień dobry, Panie Łukaszu"),
    ],
)
def test_polish_greeting_from_first_name_alone(first_name: str, expected: str) -> None:
    assert greeting(person(first_name, "Kowalski"), "pl") == expected


@pytest.mark.parametrize(
    ("first_name", "salutation", "expected"),
    [
        ("Anna", "ms", "Dzień dobry, Pani Anno"),
        ("Anna", "Mrs.", "Dzień dobry, Pani Anno"),
        ("Tomasz", "mr", "Dzień dobry, Panie Tomaszu"),
        ("Paweł", "Pan", "Dzień dobry, Panie Pawle"),
        ("Maria", "pani", "Dzień dobry, Pani Mario"),
        # The salutation contradicts the only gender SGJP knows: stay neutral, never "Panie Anno".
        ("Anna", "mr", "Dzień dobry"),
        ("Tomasz", "ms", "Dzień dobry"),
        # Salutation known, name not a first name in SGJP.
        ("Xavierine", "ms", "Dzień dobry"),
    ],
)
def test_polish_greeting_with_salutation(first_name: str, salutation: str, expected: str) -> None:
    assert greeting(person(first_name, salutation=salutation), "pl") == expected


@pytest.mark.parametrize(
    "customer",
    [
        None,
        person(),
        person("Xyzzyq"),
        person("Nikola"),  # not in SGJP as a first name
        person("Anna-Maria"),  # two words: unsure which to decline
        person("   "),
    ],
    ids=["no customer", "no name", "gibberish", "unknown name", "hyphenated", "blank"],
)
def test_polish_greeting_falls_back_to_plain_dzien_dobry(customer: CustomerSnapshot | None) -> None:
    assert greeting(customer, "pl") == "Dzień dobry"


@pytest.mark.parametrize(
    ("first_name", "expected"),
    [
        ("ANNA", "Dzień dobry, Pani Anno"),
        ("anna", "Dzień dobry, Pani Anno"),
        (" Anna Maria ", "Dzień dobry, Pani Anno"),
    ],
)
def test_polish_greeting_survives_checkout_form_spelling(first_name: str, expected: str) -> None:
    assert greeting(person(first_name), "pl") == expected


def test_gender_field_decides_when_there_is_no_salutation() -> None:
    assert greeting(person("Sasza", gender="male"), "pl") == "Dzień dobry, Panie Saszo"
    assert addressee(person("Sasza", gender="female")).vocative is None


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (person("Jane", "Smith", salutation="ms"), "Dear Ms Smith"),
        (person("John", "Smith", salutation="mr"), "Dear Mr Smith"),
        (person("Anna", "Kowalska", salutation="mrs"), "Dear Mrs Kowalska"),
        (person("John", "Smith", gender="male"), "Dear Mr Smith"),
        (person("Anna", "Smith"), "Hello Anna"),  # no title guessed from a name
        (person("ANNA"), "Hello Anna"),
        (person(None, "Smith"), "Hello"),
        (None, "Hello"),
    ],
)
def test_english_greeting(customer: CustomerSnapshot | None, expected: str) -> None:
    assert greeting(customer, "en") == expected


@pytest.mark.parametrize(
    ("language", "expected"), [("de", "Guten Tag"), ("fr", "Bonjour"), ("xx", "Hello")]
)
def test_other_languages_get_a_neutral_greeting(language: str, expected: str) -> None:
    assert greeting(person("Anna", "Kowalska", salutation="ms"), language) == expected
