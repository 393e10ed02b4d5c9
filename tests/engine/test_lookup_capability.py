"""A tenant that declares a lookup by external reference its ERP does not have: the lookup is
refused (REST 405, SOAP "not an operation"), which is a configuration error naming the setting
and a dead letter at once - not a transient failure retried until the attempts run out. Counted
at the sandbox: the create that landed is not re-sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from munivideo.config_check import check_file
from munivideo.engine import Engine, record, writeback
from munivideo.errors import AmbiguousError, CapabilityMismatchError, RejectedError
from munivideo.sandbox import Behaviour, Sandbox
from munivideo.store import OutboxState
from munivideo.transport.classify import lookup_failure

from . import _play
from ._toml import to_toml
from .conftest import SECRET_ENV, TENANT, config_data, plugins_for_tests
from .test_soap import _soap

SETTING = "erp.settings.capabilities.lookup_by_external_reference"
DECLARED = {"honours_idempotency_key": False, "lookup_by_external_reference": True}


@pytest.mark.parametrize("dialect", ["rest", "soap"])
def test_a_declared_lookup_the_erp_lacks_dead_letters_naming_the_setting(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    dialect: str,
) -> None:
    # the ERP has neither keys nor a lookup; the tenant file says it can be asked
    sb = munivideo_sandbox_factory(dialect=dialect, behaviour=Behaviour.preset("neither"))
    recorder = make_engine(sb) if dialect == "rest" else make_engine(sb, erp=_soap(sb))
    booking = recorder.erp.get_booking("AG-000001")
    result = record(recorder, _play.attended(booking), _play.form(booking))
    assert result.outbox_id is not None
    erp: dict[str, Any] = (
        {"settings": {**recorder.config.erp.settings, "capabilities": DECLARED}}
        if dialect == "rest"
        else {**_soap(sb), "settings": {**_soap(sb)["settings"], "capabilities": DECLARED}}
    )
    engine = make_engine(sb, erp=erp)
    assert engine.erp.capabilities.lookup_by_external_reference
    sb.inject("criarProtocolo=drop_after_commit#1")  # it lands; the answer is lost

    run = writeback(engine, wait_seconds=3)

    item = engine.store.get_item(result.outbox_id)
    assert item.state is OutboxState.FAILED, (item.state, item.last_error)
    assert item.last_error_type == CapabilityMismatchError.__name__
    assert item.last_error is not None and SETTING in item.last_error
    # the lost answer is retried once (ambiguous); the refused lookup ends it at once
    assert (run.retrying, run.dead_lettered, item.attempts) == (1, 1, 2)
    ref = f"munivideo:{TENANT}:AG-000001"
    assert sb.effects() == {ref: {"create": 1}}  # counted by the ERP: nothing was re-sent
    assert sb.duplicates() == []


def test_the_table_reads_only_refusals_as_a_missing_lookup() -> None:
    refused = lookup_failure(
        RejectedError("buscarPorReferenciaExterna: the ERP does not offer this operation here"),
        setting=SETTING,
        record_id="munivideo:x:AG-1",
    )
    assert isinstance(refused, CapabilityMismatchError)
    assert (refused.field, refused.record_id) == (SETTING, "munivideo:x:AG-1")
    busy = AmbiguousError("buscarPorReferenciaExterna: the ERP did not answer in time")
    assert lookup_failure(busy, setting=SETTING, record_id=None) is busy


@pytest.mark.parametrize("declared", [True, False])
def test_config_check_probe_names_the_setting(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    declared: bool,
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest", behaviour=Behaviour.preset("neither"))
    data = config_data(sb, tmp_path)
    data["erp"]["settings"]["capabilities"] = {
        "honours_idempotency_key": False,
        "lookup_by_external_reference": declared,
    }
    path = tmp_path / "tenant.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)

    report = check_file(path, plugins_for_tests(), probe=True)

    if declared:
        (problem,) = report.problems
        assert (problem.step, problem.field) == ("find_protocol", SETTING)
        assert "declares it" in problem.message
    else:  # an ERP without a lookup, declared so: nothing to complain about
        assert report.ok, report.problems
        assert any("not probed" in step for step in report.steps)


def test_a_lookup_route_the_erp_lacks_is_not_read_as_not_found(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 404 from a lookup route the ERP does not have (the sandbox answers 404 for an unknown
    path) is a missing lookup, not "this protocol does not exist": the reference mapping lists
    no not-found status for find_protocol, so the probe names the setting."""
    from importlib.resources import files

    sb = munivideo_sandbox_factory(dialect="rest")
    mapping = files("munivideo_erp_rest").joinpath("mappings/rest-v1.toml").read_text("utf-8")
    moved = mapping.replace(
        'operation = "buscarPorReferenciaExterna"\npath = "/api/v1/protocolos"',
        'operation = "buscarPorReferenciaExterna"\npath = "/api/v1/protocolos-por-referencia"',
    )
    assert moved != mapping
    (tmp_path / "mapping.toml").write_text(moved, encoding="utf-8")
    data = config_data(sb, tmp_path)
    data["erp"]["settings"]["mapping"] = str(tmp_path / "mapping.toml")
    path = tmp_path / "tenant.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)

    report = check_file(path, plugins_for_tests(), probe=True)

    (problem,) = report.problems
    assert (problem.step, problem.field) == ("find_protocol", SETTING)
