"""Where the contract packs live: inside the wheel (``munivideo/_contracts``) once installed, or
``contracts/`` at the top of a source checkout (editable installs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from munivideo.errors import ConfigurationError, PackCannotCarryError

if TYPE_CHECKING:
    from munivideo.models import ProtocolEntry

#: The versions of the reference ERP packs (``erp-soap``, ``erp-rest``), oldest first: ``v2`` is
#: ``v1`` with ``CpfCnpj`` and ``Telefone`` widened (alphanumeric CNPJ, E.164 of any country).
ERP_PACK_VERSIONS: tuple[str, ...] = ("v1", "v2")


def contracts_root() -> Path:
    """The folder that holds every pack (``erp-soap/v1``, ``erp-rest/v1``, ``canonical``...).

    :raises munivideo.errors.ConfigurationError: neither the wheel's ``_contracts`` nor a
        checkout's ``contracts`` folder exists (a broken install).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_contracts", here.parent.parent / "contracts"):
        if candidate.is_dir():
            return candidate
    raise ConfigurationError("contract packs not found: is munivideo installed correctly?")


def pack_dir(name: str, version: str = "v1") -> Path:
    """The folder of one pack version, e.g. ``pack_dir("erp-soap", "v1")``.

    :raises munivideo.errors.ConfigurationError: no such pack version; the message lists the
        available ones (field ``pack``).
    """
    path = contracts_root() / name / version
    if not path.is_dir():
        known = sorted(
            f"{p.parent.name}/{p.name}" for p in contracts_root().glob("*/v*") if p.is_dir()
        )
        raise ConfigurationError(
            f"no contract pack {name}/{version} (available: {', '.join(known) or 'none'})",
            field="pack",
        )
    return path


#: The ``CpfCnpj`` type of each reference pack version, as its ``openapi.yaml`` writes it
#: (the XSD's is the same set of values; ``tests/contracts`` checks both against the packs).
CPF_CNPJ_PATTERNS: dict[str, str] = {
    "v1": r"^([0-9]{11}|[0-9]{14})$",
    "v2": r"^([0-9]{11}|[0-9A-Z]{12}[0-9]{2})$",
}


def check_carried(entry: ProtocolEntry, pack: str) -> None:
    """Refuse, before anything is sent, a protocol entry the ERP's reference pack cannot carry.

    The only value munivideo writes that a pack version constrains is the applicant's CPF or
    CNPJ (``requerentes/requerente/cpfCnpj``): ``v1`` takes 11 or 14 digits, ``v2`` also the
    alphanumeric CNPJ (Instrução Normativa RFB nº 2.229/2024). Phones are not written back.

    :param entry: the entry about to be created.
    :param pack: ``NAME/VERSION`` of the pack the ERP speaks (``erp-rest/v1``, ``erp-soap/v2``).
    :raises PackCannotCarryError: naming the booking (``record_id``) and ``applicant.cnpj``; its
        message is the catalogue's ``pack.cannot_carry`` (:mod:`munivideo.error_catalogue`: the
        console shows it in pt-BR).
    :raises ConfigurationError: ``pack`` names no known version (field ``pack_version``).
    """
    version = pack.rsplit("/", 1)[-1]
    if version not in CPF_CNPJ_PATTERNS:
        raise ConfigurationError(
            f"unknown reference pack version {version!r} (known: {', '.join(CPF_CNPJ_PATTERNS)})",
            field="pack_version",
        )
    applicant = entry.applicant
    # A CPF is 11 digits in every version; only the alphanumeric CNPJ is new.
    document = None if applicant.cpf else applicant.cnpj
    if document is not None and not re.fullmatch(CPF_CNPJ_PATTERNS[version], str(document)):
        from munivideo.error_catalogue import coded

        error = coded(
            PackCannotCarryError,
            "pack.cannot_carry",
            record_id=entry.booking_id,
            field="applicant.cnpj",
            pack=pack,
            pattern=CPF_CNPJ_PATTERNS[version],
        )
        error.contract = pack
        raise error
