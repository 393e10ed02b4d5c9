"""Is a published (or live) ERP contract still what our adapter needs?

The pack is "what we need": every operation and field it uses must exist, compatibly, in the
published contract. That is a diff from the pack to the published document, read with the same
rules: an extra operation at the ERP is fine, a missing one is breaking.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from munivideo.contract_tools.diff import Change, diff_models
from munivideo.contract_tools.exceptions import (
    AcceptedException,
    apply_exceptions,
    find_exceptions_file,
    load_exceptions,
)
from munivideo.contract_tools.model import Flavor
from munivideo.contract_tools.sources import (
    DEFAULT_TIMEOUT,
    fetch,
    is_url,
    load_contract,
    pack_contract,
)
from munivideo.errors import ConfigurationError


@dataclass
class DiffResult:
    """The outcome of :func:`diff_files` or :func:`check_published`.

    :ivar old: what was compared from: a file path, or the pack ``NAME/VERSION`` for a check.
    :ivar new: what was compared to: a file path or the published URL.
    :ivar changes: every change, breaking first, accepted exceptions marked
        (``Change.accepted_reason`` set).
    :ivar expired: accepted exceptions past their ``expires`` date (they no longer apply; the
        reports list them so someone renews or drops them).
    """

    old: str
    new: str
    changes: list[Change]
    expired: list[AcceptedException] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        """Whether any change is breaking and not accepted (``munivideo contracts check`` and
        ``diff`` then exit 3)."""
        return any(c.breaking for c in self.changes)


def diff_files(old: Path, new: Path, *, exceptions: Path | None = None) -> DiffResult:
    """Compare two contract files; accepted exceptions come from ``exceptions`` or from a
    ``contract-exceptions.yaml`` next to ``new`` (then ``old``)."""
    changes = diff_models(load_contract(old), load_contract(new))
    source = exceptions or find_exceptions_file(new, old)
    expired: list[AcceptedException] = []
    if source is not None:
        changes, expired = apply_exceptions(changes, load_exceptions(source))
    return DiffResult(old=str(old), new=str(new), changes=changes, expired=expired)


def check_published(
    pack: str,
    published: str,
    *,
    expect: Flavor,
    timeout: float = DEFAULT_TIMEOUT,
    exceptions: Path | None = None,
) -> DiffResult:
    """Compare pack ``NAME/VERSION`` with a published contract (local path or http(s) URL)."""
    ours = pack_contract(pack)
    flavor = Flavor.SOAP if ours.suffix == ".wsdl" else Flavor.REST
    if flavor is not expect:
        raise ConfigurationError(
            f"pack {pack} is a {flavor.value} contract; use "
            + ("--wsdl" if flavor is Flavor.SOAP else "--openapi"),
            field="pack",
        )
    exceptions = exceptions or find_exceptions_file(ours)
    if not is_url(published):
        return _labelled(diff_files(ours, Path(published), exceptions=exceptions), pack, published)
    with tempfile.TemporaryDirectory(prefix="munivideo-contract-") as tmp:
        local = fetch(published, Path(tmp), timeout=timeout)
        return _labelled(diff_files(ours, local, exceptions=exceptions), pack, published)


def _labelled(result: DiffResult, old: str, new: str) -> DiffResult:
    result.old, result.new = old, new
    return result
