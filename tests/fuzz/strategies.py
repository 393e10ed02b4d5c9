"""Generators of hostile input: any JSON value, records with any field replaced by anything,
pages of them, and webhook bodies."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (NaN and infinities are not JSON; the server could not send them)."""

NASTY: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        "",
        "\r\n",
        "Ana\r\nBcc: todos@example.com",
        "\x00",
        2147483647,
        2147483648,
        -1,
        10**30,
        1e308,
        "9" * 60,
        "../../admin/usuarios",
        "{{ 7 * 7 }}",
        "{% for i in range(9) %}x{% endfor %}",
        "<script>alert(1)</script>",
        "2031-02-30",
        "25:99",
        "31/12/2031",
        "2031-03-05T14:00:00",
        "ZZ",
        [],
        {},
        True,
        "ｱｲｳ",
        "x" * 5000,
    ]
)
"""Values known to break parsers, templates, headers and calendars."""

FIELDS = (
    ("id",),
    ("codigoServico",),
    ("cidadao",),
    ("cidadao", "nome"),
    ("cidadao", "cpfCnpj"),
    ("cidadao", "email"),
    ("cidadao", "telefone"),
    ("servidor",),
    ("servidor", "matricula"),
    ("servidor", "nome"),
    ("servidor", "email"),
    ("data",),
    ("horaInicio",),
    ("horaFim",),
    ("situacao",),
    ("dataAtualizacao",),
    ("sequencia",),
    ("observacoes",),
)


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any, *, delete: bool) -> None:
    target: Any = doc
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@st.composite
def record_like(draw: st.DrawFn, base: dict[str, Any]) -> tuple[Any, bool]:
    """``(item, bad)``: the valid ``base`` record, a mutation of it, or any JSON value."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "any"]))
    if kind == "any":
        return draw(JSON), True
    doc = copy.deepcopy(base)
    doc["situacao"] = draw(st.sampled_from(["CF", "CF", "AG", "RM", "CA"]))
    if kind == "valid":
        return doc, False
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(FIELDS))
        _set(doc, path, draw(NASTY | JSON), delete=draw(st.booleans()))
    return doc, True
