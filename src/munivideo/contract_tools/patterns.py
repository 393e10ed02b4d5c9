"""Compare two string patterns by the values they accept, not by their text.

A contract's ``pattern`` (JSON Schema / OpenAPI, ECMA-262 syntax, matched anywhere unless
anchored with ``^...$``) or ``xs:pattern`` (XML Schema 1.0 Part 2 Appendix F syntax, always
matching the whole value) is a regular language. Two versions of a field's pattern are compared
as languages with greenery's finite automata: does the new one accept every value the old one
did (widened), only values the old one did (narrowed), the same values (equal), or neither?
A pattern the comparison cannot read exactly (look-arounds, back-references, ``\\p{..}``
categories, XSD ``\\i``/``\\c``/``\\w`` and class subtraction, anchors inside an alternation...)
is reported as not comparable, never guessed.

XSD's ``\\d`` is every Unicode decimal digit (category Nd) and ECMA-262's is ``[0-9]``; each is
read as its own standard says. For XSD the non-ASCII digits, which a pattern can then only name
together through ``\\d``, are one stand-in character (U+0660), so the automata stay small; an XSD
pattern that names a non-ASCII character itself is not comparable.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from munivideo.contract_tools.model import Flavor

#: Escapes the comparison cannot model exactly, per syntax (the pattern is then not comparable).
_UNSUPPORTED: dict[Flavor, frozenset[str]] = {
    Flavor.SOAP: frozenset("icICpPwWDsSbB0123456789"),
    Flavor.REST: frozenset("pPbBkcuxsS0123456789"),
}
#: What ``.`` matches: any character but these (XSD: Part 2 F.1; ECMA-262: line terminators).
_DOT_EXCLUDES: dict[Flavor, str] = {Flavor.SOAP: "\\n\\r", Flavor.REST: "\\n\\r\u2028\u2029"}
#: Characters tried, in order, as an example value for a character class that is negated.
_EXAMPLE_CHARS = "Ax0_-.@é!~ "


class Relation(StrEnum):
    """How a new pattern's values relate to an old one's."""

    EQUAL = "equal"  # the same values, whatever the text
    WIDER = "wider"  # every old value and more
    NARROWER = "narrower"  # only old values, and fewer
    DIFFERENT = "different"  # some old values are refused and some new ones accepted
    UNKNOWN = "unknown"  # a pattern the comparison cannot read exactly


@dataclass(frozen=True)
class Comparison:
    """The relation, with one value the new pattern accepts and the old does not (``gained``)
    and one the old accepts and the new does not (``lost``), when there is one."""

    relation: Relation
    gained: str | None = None
    lost: str | None = None


#: XSD ``\\d``: ASCII digits and one stand-in for every other Unicode Nd digit.
_XSD_DIGITS = "0-9\u0660"


class _Unsupported(ValueError):
    pass


def _translate(pattern: str, flavor: Flavor) -> str:
    """The pattern in greenery's syntax, matching whole values; raises _Unsupported."""
    if flavor is Flavor.SOAP and not pattern.isascii():
        raise _Unsupported("a non-ASCII character in an XSD pattern")
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise _Unsupported("trailing backslash")
            nxt = pattern[i + 1]
            if nxt in _UNSUPPORTED[flavor]:
                raise _Unsupported(f"\\{nxt}")
            if nxt in "^$":  # greenery has no such escapes: a class of the one character
                literal = "\\^" if nxt == "^" else "$"
                out.append(literal if in_class else f"[{literal}]")
            elif nxt == "d" and flavor is Flavor.SOAP:
                out.append(_XSD_DIGITS if in_class else f"[{_XSD_DIGITS}]")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "[" or (ch == "-" and pattern[i + 1 : i + 2] == "["):
                raise _Unsupported("nested class or class subtraction")
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # ECMA-262 [] and [^]; not XSD
                raise _Unsupported("an empty class")
            i += 1
            continue
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            if pattern[i + 2 : i + 3] != ":":
                raise _Unsupported("look-around or named group")
            out.append("(")
            i += 3
            continue
        elif ch in "*+?}" and pattern[i + 1 : i + 2] in ("?", "+"):
            raise _Unsupported("lazy or possessive quantifier")
        elif ch == ".":
            out.append(f"[^{_DOT_EXCLUDES[flavor]}]")
            i += 1
            continue
        out.append(ch)
        i += 1
    if in_class:
        raise _Unsupported("unclosed class")
    text = "".join(out)
    return _anchor(text) if flavor is Flavor.REST else text


def _top_level_alternation(text: str) -> bool:
    depth, in_class, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False


def _anchor(text: str) -> str:
    """ECMA-262 patterns match anywhere: ``^``/``$`` at the ends anchor; elsewhere they are
    not modelled."""
    start = text.startswith("^")
    end = text.endswith("$") and not text.endswith("\\$")
    body = text[1 if start else 0 : len(text) - 1 if end else len(text)]
    if _has_anchor(body):
        raise _Unsupported("anchor inside the pattern")
    if (start or end) and _top_level_alternation(body):
        raise _Unsupported("an anchor over an alternation: '^a|b$' is (^a)|(b$)")
    if start and end:
        return body
    return f"{'' if start else '.*'}({body}){'' if end else '.*'}"


def _has_anchor(text: str) -> bool:
    in_class, i = False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if text[i + 1 : i + 2] == "^":
                i += 1
        elif ch in "^$":
            return True
        i += 1
    return False


@functools.lru_cache(maxsize=256)
def _fsm(pattern: str | None, flavor: Flavor) -> Any:
    from greenery import parse

    text = ".*" if pattern is None else _translate(pattern, flavor)
    try:
        return parse(text).to_fsm()
    except Exception as exc:  # greenery's parse errors have no common base
        raise _Unsupported(str(exc)) from exc


def _example(fsm: Any) -> str | None:
    """A shortest value ``fsm`` accepts (breadth-first over its states), or None."""
    seen = {fsm.initial}
    queue: deque[tuple[Any, str]] = deque([(fsm.initial, "")])
    while queue:
        state, text = queue.popleft()
        if state in fsm.finals:
            return text
        for charclass, target in sorted(fsm.map.get(state, {}).items(), key=repr):
            if target in seen:
                continue
            char = _char_of(charclass)
            if char is not None:
                seen.add(target)
                queue.append((target, text + char))
    return None


def _char_of(charclass: Any) -> str | None:
    if not charclass.negated:
        ranges = charclass.ord_ranges
        return chr(ranges[0][0]) if ranges else None
    return next((c for c in _EXAMPLE_CHARS if charclass.accepts(c)), None)


@functools.lru_cache(maxsize=256)
def compare(old: str | None, new: str | None, flavor: Flavor) -> Comparison:
    """How ``new`` relates to ``old`` as sets of accepted values.

    :param old: the old pattern; None means no pattern (any string).
    :param new: the new pattern; None means no pattern.
    :param flavor: ``REST`` reads ECMA-262 patterns (JSON Schema: unanchored unless ``^...$``),
        ``SOAP`` reads XML Schema patterns (always the whole value).
    :returns: the relation and, where they exist, an example value gained and one lost.
    """
    if old == new:
        return Comparison(Relation.EQUAL)
    try:
        a, b = _fsm(old, flavor), _fsm(new, flavor)
    except _Unsupported:
        return Comparison(Relation.UNKNOWN)
    gained = _example(b.difference(a))
    lost = _example(a.difference(b))
    if gained is None and lost is None:
        relation = Relation.EQUAL
    elif lost is None:
        relation = Relation.WIDER
    elif gained is None:
        relation = Relation.NARROWER
    else:
        relation = Relation.DIFFERENT
    return Comparison(relation, gained=gained, lost=lost)
