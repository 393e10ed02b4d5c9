"""Where the contract packs live: inside the wheel (``munivideo/_contracts``) once installed, or
``contracts/`` at the top of a source checkout (editable installs)."""

from __future__ import annotations

from pathlib import Path

from munivideo.errors import ConfigurationError

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
