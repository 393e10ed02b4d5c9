"""Patterns compared by the values they accept: each syntax read as its standard says."""

from __future__ import annotations

import re

import pytest

from munivideo.contract_tools.model import Flavor
from munivideo.contract_tools.patterns import Relation, compare

REST, SOAP = Flavor.REST, Flavor.SOAP


@pytest.mark.parametrize(
    ("old", "new", "flavor", "relation"),
    [
        # the packs' own changes (v1 -> v2)
        ("^([0-9]{11}|[0-9]{14})$", "^([0-9]{11}|[0-9A-Z]{12}[0-9]{2})$", REST, Relation.WIDER),
        ("^(\\+55)?[0-9]{10,11}$", "^([0-9]{10,11}|\\+[1-9][0-9]{1,14})$", REST, Relation.WIDER),
        ("\\d{11}|\\d{14}", "\\d{11}|[\\dA-Z]{12}\\d{2}", SOAP, Relation.WIDER),
        ("(\\+55)?\\d{10,11}", "\\d{10,11}|\\+[1-9]\\d{1,14}", SOAP, Relation.WIDER),
        # E.164 only would have refused the national form v1 accepts
        ("^(\\+55)?[0-9]{10,11}$", "^\\+[1-9][0-9]{1,14}$", REST, Relation.DIFFERENT),
        # other text, same values
        ("^[0-9]+$", "^\\d+$", REST, Relation.EQUAL),
        ("^(a|b)$", "^[ab]$", REST, Relation.EQUAL),
        # XSD \d is every Unicode decimal digit, ECMA-262's is [0-9]
        ("[0-9]+", "\\d+", SOAP, Relation.WIDER),
        ("\\d{14}", "[0-9]{14}", SOAP, Relation.NARROWER),
        # JSON Schema patterns match anywhere unless anchored
        ("[A-Z]+", "^[A-Z]+$", REST, Relation.NARROWER),
        (None, "^[A-Z]+$", REST, Relation.NARROWER),
        ("^[A-Z]+$", None, REST, Relation.WIDER),
        # XSD: ^ and $ are plain characters, the whole value always matches
        ("a", "a|\\$", SOAP, Relation.WIDER),
        # . is not a line break
        ("^a.c$", "^abc$", REST, Relation.NARROWER),
        # not modelled exactly: reported as unknown, never guessed
        ("^[A-Z]+$", "^(?=I)[A-Z]+$", REST, Relation.UNKNOWN),
        ("^a|b$", "^a$", REST, Relation.UNKNOWN),
        ("\\p{Lu}+", "[A-Z]+", SOAP, Relation.UNKNOWN),
        ("[a-z-[aeiou]]", "[a-z]", SOAP, Relation.UNKNOWN),
        ("\\i\\c*", "[a-z]+", SOAP, Relation.UNKNOWN),
    ],
)
def test_relation(old: str | None, new: str | None, flavor: Flavor, relation: Relation) -> None:
    assert compare(old, new, flavor).relation is relation


def test_examples_are_real_witnesses() -> None:
    old, new = "^([0-9]{11}|[0-9]{14})$", "^([0-9]{11}|[0-9A-Z]{12}[0-9]{2})$"
    found = compare(old, new, REST)
    assert found.gained is not None and found.lost is None
    assert re.search(new, found.gained) and not re.search(old, found.gained)
    back = compare(new, old, REST)
    assert back.relation is Relation.NARROWER and back.lost == found.gained
