"""Patient identifiers as Brazil's national health data network (RNDS) writes them.

Reading: a CPF or a CNS is recognised by its system URI or by its identifier type (the first
matching row of :data:`READ_RULES` wins). Writing: both, with the RNDS NamingSystem URIs and a
type coding. CPF check digits come from :class:`munivideo.values.Cpf`; the CNS rule is the
Ministry of Health's (as published in ANVISA's RNI validation rules, "validação do CNS"):

* 15 digits;
* starting with 1 or 2 (definitive, derived from the PIS): the check digit is
  ``11 - (sum(d[i] * (15 - i)) for i < 11) mod 11`` (11 -> 0); when that gives 10, the sum is
  taken again plus 2 and the number continues ``001`` + digit, otherwise ``000`` + digit;
* starting with 7, 8 or 9 (provisional): ``sum(d[i] * (15 - i)) for all 15 digits`` is a
  multiple of 11;
* any other first digit is not a CNS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from munivideo.errors import InvalidRecordError
from munivideo.values import Cpf

Kind = Literal["cpf", "cns"]

CPF_SYSTEM = "http://rnds.saude.gov.br/fhir/r4/NamingSystem/cpf"
CNS_SYSTEM = "http://rnds.saude.gov.br/fhir/r4/NamingSystem/cns"
TYPE_SYSTEM = "http://www.saude.gov.br/fhir/r4/CodeSystem/BRTipoDocumentoIndividuo"

SYSTEMS: dict[str, Kind] = {
    CPF_SYSTEM: "cpf",
    CNS_SYSTEM: "cns",
    "https://saude.gov.br/fhir/sid/cpf": "cpf",
    "https://saude.gov.br/fhir/sid/cns": "cns",
}
"""System URIs read as CPF or CNS (RNDS NamingSystems and the newer ``sid`` URIs)."""

TYPE_CODES: dict[str, Kind] = {"CPF": "cpf", "CNS": "cns"}
"""``identifier.type.coding.code`` values read as CPF or CNS, whatever the coding system."""

_DIGITS = re.compile(r"\D")


def cns_valid(value: str) -> bool:
    """True when ``value`` (punctuation ignored) is a CNS with a valid check digit."""
    digits = _DIGITS.sub("", value)
    if len(digits) != 15 or digits[0] not in "12789":
        return False
    weighted = sum(int(d) * (15 - i) for i, d in enumerate(digits))
    if digits[0] in "789":
        return weighted % 11 == 0
    base = digits[:11]
    total = sum(int(d) * (15 - i) for i, d in enumerate(base))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10:
        check = 11 - (total + 2) % 11
        expected = f"{base}001{check}"
    else:
        expected = f"{base}000{check}"
    return digits == expected


def _kind(identifier: dict[str, Any]) -> Kind | None:
    system = identifier.get("system")
    if isinstance(system, str) and system in SYSTEMS:
        return SYSTEMS[system]
    for coding in (identifier.get("type") or {}).get("coding") or []:
        code = str(coding.get("code", "")).upper()
        if code in TYPE_CODES:
            return TYPE_CODES[code]
    return None


@dataclass(frozen=True)
class PatientIds:
    """A patient's national identifiers (digit strings, leading zeros kept)."""

    cpf: Cpf | None
    cns: str | None


def read_patient_ids(patient: dict[str, Any], record_id: str) -> PatientIds:
    """CPF and CNS of a Patient resource; a malformed one is an
    :class:`~munivideo.errors.InvalidRecordError` (for a CPF its
    :class:`~munivideo.errors.InvalidValueError`) naming ``Patient.identifier[n].value``."""
    cpf: Cpf | None = None
    cns: str | None = None
    for n, identifier in enumerate(patient.get("identifier") or []):
        kind = _kind(identifier)
        value = str(identifier.get("value") or "")
        field = f"Patient.identifier[{n}].value"
        if kind == "cpf":
            cpf = Cpf.parse(value, field=field, record_id=record_id)
        elif kind == "cns":
            if not cns_valid(value):
                raise InvalidRecordError(
                    "CNS check digit does not match", record_id=record_id, field=field
                )
            cns = _DIGITS.sub("", value)
    return PatientIds(cpf=cpf, cns=cns)


def any_system(kind: Kind, value: str) -> str:
    """A token search matching ``value`` under every system URI read as ``kind`` (comma = OR):
    a patient registered under another RNDS URI is found, not duplicated."""
    return ",".join(f"{system}|{value}" for system, k in SYSTEMS.items() if k == kind)


def patient_identifiers(cpf: str | None, cns: str | None) -> list[dict[str, Any]]:
    """Identifiers to write: both CPF and CNS when known, with system URI and type."""
    out: list[dict[str, Any]] = []
    for kind, value, system in (("CPF", cpf, CPF_SYSTEM), ("CNS", cns, CNS_SYSTEM)):
        if value:
            out.append(
                {
                    "use": "official",
                    "type": {"coding": [{"system": TYPE_SYSTEM, "code": kind}]},
                    "system": system,
                    "value": str(value),
                }
            )
    return out
