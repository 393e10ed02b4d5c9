"""ERP behaviours (capabilities and misbehaviours) and the effect counters that see duplicates.

Every test talks to the real loopback sandbox; the oracle is the sandbox's own count of effects
it executed, which is independent of any unique constraint and so can show a duplicate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from munivideo.errors import ConfigurationError
from munivideo.sandbox import CAPABILITY_SETS, Behaviour, Sandbox

from ._helpers import Erp

DIALECTS = ("rest", "soap")
SHA = "ab" * 32
REF = "munivideo:test:AG-000001"


def _numbers(body: dict[str, Any]) -> tuple[int, int]:
    return int(body["ano"]), int(body["numero"])


def _wait_for(predicate: Any, seconds: float = 30.0) -> bool:
    """Polls until ``predicate`` holds; the bound is generous (a loaded 2-core CI machine), the
    wait ends as soon as it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_keys_ignored_creates_twice_and_the_counter_sees_two(sb: Sandbox, dialect: str) -> None:
    sb.set_behaviour(Behaviour.preset("lookup_only"))
    erp = Erp(sb, dialect)
    first, second = erp.create(key="same"), erp.create(key="same")
    assert first[0] == second[0] == (201 if dialect == "rest" else 200)
    assert _numbers(first[1]) != _numbers(second[1])
    assert sb.effects() == {REF: {"create": 2}}
    assert sb.duplicates() == [(REF, "create", 2)]
    assert [p["referenciaExterna"] for p in sb.protocols()] == [REF, REF]  # visible, not hidden


@pytest.mark.parametrize("dialect", DIALECTS)
def test_keys_honoured_replay_is_not_an_effect(sb: Sandbox, dialect: str) -> None:
    erp = Erp(sb, dialect)
    first, replay = erp.create(key="k"), erp.create(key="k")
    assert _numbers(first[1]) == _numbers(replay[1])
    ano, numero = _numbers(first[1])
    erp.attach(ano, numero, SHA, key="a")
    erp.attach(ano, numero, SHA, key="a")
    erp.forward(ano, numero, "SMF-DIV", key="f")
    erp.forward(ano, numero, "SMF-DIV", key="f")
    erp.status("AG-000001", "AT")
    erp.status("AG-000001", "AT")  # the same status again is a no-op, not an effect
    assert sb.effects() == {
        REF: {"create": 1, f"attach:{SHA}": 1, "forward:SMF-DIV": 1},
        "AG-000001": {"status:AT": 1},
    }
    assert sb.duplicates() == []


def test_keys_ignored_attach_and_forward_duplicate_visibly(sb: Sandbox) -> None:
    erp = Erp(sb, "soap")
    ano, numero = _numbers(erp.create()[1])
    sb.behave(idempotency="ignored")
    for _ in range(2):
        erp.attach(ano, numero, SHA, key="a")
        erp.forward(ano, numero, "SMF-DIV", key="f")
    assert sb.effects()[REF] == {"create": 1, f"attach:{SHA}": 2, "forward:SMF-DIV": 2}
    protocol = sb.protocols()[0]
    assert (len(protocol["anexos"]), len(protocol["tramitacoes"])) == (2, 2)


def test_unique_reference_still_refuses_when_keys_are_ignored(sb: Sandbox) -> None:
    sb.behave(idempotency="ignored", unique_reference=True)
    erp = Erp(sb, "rest")
    assert erp.create(key="one")[0] == 201
    status, body = erp.create(key="two")
    assert (status, body["codigo"]) == (409, "REFERENCIA_DUPLICADA")
    assert sb.effects() == {REF: {"create": 1}}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lookup_modes(sb: Sandbox, dialect: str) -> None:
    erp = Erp(sb, dialect)
    erp.create("AG-000001", key="c1")
    erp.create("AG-000002", key="c2")
    other = "munivideo:test:AG-000002"
    assert erp.find(REF) == (200, REF)
    assert erp.find("munivideo:test:AG-000009") == (200, None)
    sb.behave(lookup="ignores_filter")
    assert erp.find(REF) == (200, other)  # the newest protocol, whatever the filter said
    assert erp.find("munivideo:test:AG-000009") == (200, other)
    sb.behave(lookup="unavailable")  # no such operation: not a transient INDISPONIVEL
    status, body = erp.find(REF)
    assert status == (405 if dialect == "rest" else 500)
    assert "REQUISICAO_INVALIDA" in str(body) and "INDISPONIVEL" not in str(body)
    sb.behave(lookup="late", lookup_delay_seconds=60)
    erp.create("AG-000003", key="c3")
    assert erp.find("munivideo:test:AG-000003") == (200, None)  # committed, not yet visible
    assert sb.effects()["munivideo:test:AG-000003"] == {"create": 1}
    sb.behave(lookup_delay_seconds=0.2)  # (a short lag from here: no timing race above)
    assert _wait_for(lambda: erp.find("munivideo:test:AG-000003")[1] is not None)


def test_late_lookup_runs_on_the_stores_clock(sb: Sandbox) -> None:
    """A booking updated in the future moves the store's clock ahead of the wall clock (cursors
    never go back); a late lookup must still see a commit once the delay has passed on *that*
    clock (judged by the wall clock, it stayed hidden until the wall clock caught up)."""
    booking = sb.store.list_bookings(None, 1)[0][0]
    ahead = booking.model_copy(
        update={"data_atualizacao": datetime.now(UTC) + timedelta(seconds=60)}
    )
    sb.store.put_bookings([ahead])
    erp = Erp(sb, "rest")
    sb.behave(lookup="late", lookup_delay_seconds=0.2)
    erp.create("AG-000003", key="c3")
    assert _wait_for(lambda: erp.find("munivideo:test:AG-000003")[1] is not None)


def test_late_reads_hide_young_attachments_and_forwards(sb: Sandbox) -> None:
    erp = Erp(sb, "rest")
    ano, numero = _numbers(erp.create()[1])
    url = f"{sb.rest_url}/protocolos/{ano}/{numero}"
    erp.session.get(url, timeout=5)  # warm the contract validators: no slow first read below
    sb.behave(lookup="late", lookup_delay_seconds=60)
    assert erp.session.get(url, timeout=5).status_code == 404  # younger than the lag
    time.sleep(2.0)  # the margin below: how late the next read may reach the server
    erp.attach(ano, numero, SHA)
    erp.forward(ano, numero, "SMF-DIV")
    created = sb.store.get_protocol(ano, numero).data_criacao
    # Lag so that the protocol (2 s older than its attachment and routing) is seen, they not,
    # as long as the read below reaches the server within 1.8 s.
    sb.behave(lookup_delay_seconds=(sb.store.now() - created).total_seconds() - 0.2)
    seen = erp.session.get(url, timeout=5).json()
    assert (seen["anexos"], seen["tramitacoes"]) == ([], [])
    assert seen["codigoDepartamentoAtual"] == "SMF-FISC"
    sb.behave(lookup_delay_seconds=0.1)
    assert _wait_for(
        lambda: erp.session.get(url, timeout=5).json()["codigoDepartamentoAtual"] == "SMF-DIV"
    )
    assert len(erp.session.get(url, timeout=5).json()["anexos"]) == 1


def test_exact_lookup_with_duplicates_names_the_oldest(sb: Sandbox) -> None:
    sb.set_behaviour(CAPABILITY_SETS["lookup_only"])
    erp = Erp(sb, "rest")
    first = erp.create(key="x")[1]
    erp.create(key="x")
    found = erp.session.get(
        f"{sb.rest_url}/protocolos", params={"referenciaExterna": REF}, timeout=5
    ).json()
    assert [p["numero"] for p in found["itens"]] == [first["numero"]]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_commit_after_the_clients_timeout(sb: Sandbox, dialect: str) -> None:
    # 3 s: the check that nothing committed yet must run before it, even on a loaded machine.
    sb.behave(commit_delay_seconds=3, commit_delay_operations=["criarProtocolo"])
    erp = Erp(sb, dialect, timeout=0.15)
    with pytest.raises(requests.ReadTimeout):
        erp.create()
    assert sb.effects() == {}  # the client gave up; nothing committed yet
    assert _wait_for(lambda: sb.effects() == {REF: {"create": 1}})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_foreign_receipts(sb: Sandbox, dialect: str) -> None:
    erp = Erp(sb, dialect)
    theirs = erp.create("AG-000002", key="c2")[1]
    sb.behave(receipts="foreign_reference")
    answer = erp.create("AG-000001", key="c1")[1]
    assert answer["referenciaExterna"] == "munivideo:test:AG-000002"  # another booking's
    assert _numbers(answer) == _numbers(theirs)
    assert sb.effects()[REF] == {"create": 1}  # ours was committed all the same
    status = erp.status("AG-000001", "AT")[1]
    assert status["id"] != "AG-000001"
    sb.behave(receipts="foreign_number")
    mine = erp.create("AG-000003", key="c3")[1]
    assert mine["referenciaExterna"] == "munivideo:test:AG-000003"
    real = next(p for p in sb.protocols() if p["idAgendamento"] == "AG-000003")
    assert _numbers(mine) != (real["ano"], real["numero"])


def test_foreign_reference_is_made_up_when_the_erp_has_no_other(sb: Sandbox) -> None:
    sb.behave(receipts="foreign_reference")
    status, answer = Erp(sb, "rest").create()
    assert status == 201
    assert answer["referenciaExterna"] == "munivideo:sandbox:outro"


STEPS = ("criarProtocolo", "anexarDocumento", "tramitarProtocolo", "atualizarSituacao")
FAULTS = {  # action -> (the client fails with, the effect is committed)
    "drop": (requests.ConnectionError, False),
    "drop_after_commit": (requests.ConnectionError, True),
    "timeout:300ms": (requests.ReadTimeout, True),
}
ANSWERED = {"error:502": False, "error_after_commit": True}  # action -> the effect is committed


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("operation", STEPS)
@pytest.mark.parametrize("action", [*FAULTS, *ANSWERED])
def test_fault_grammar_applies_to_every_step(
    sb: Sandbox, dialect: str, operation: str, action: str
) -> None:
    erp = Erp(sb, dialect, timeout=0.15 if action.startswith("timeout") else 5.0)
    ano, numero = _numbers(Erp(sb, dialect).create()[1])
    step = {
        "criarProtocolo": (
            lambda: erp.create("AG-000002", key="c2"),
            "munivideo:test:AG-000002",
            "create",
        ),
        "anexarDocumento": (lambda: erp.attach(ano, numero, SHA), REF, f"attach:{SHA}"),
        "tramitarProtocolo": (lambda: erp.forward(ano, numero, "SMF-DIV"), REF, "forward:SMF-DIV"),
        "atualizarSituacao": (lambda: erp.status("AG-000002", "AT"), "AG-000002", "status:AT"),
    }
    send, subject, name = step[operation]
    sb.inject(f"{operation}={action}#1")
    if action in ANSWERED:
        assert send()[0] == 502
        committed = ANSWERED[action]
    else:
        failure, committed = FAULTS[action]
        with pytest.raises(failure):
            send()
    expected = 1 if committed else 0
    assert _wait_for(lambda: sb.effects().get(subject, {}).get(name, 0) == expected)
    assert sb.faults()["rules"][0]["fired"] == 1  # type: ignore[index]


def test_behaviour_over_the_inspection_api(sb: Sandbox) -> None:
    url = f"{sb.base_url}/_sandbox/behaviour"
    assert requests.get(url, timeout=5).json()["idempotency"] == "honoured"
    put = requests.put(url, json={"preset": "neither", "receipts": "foreign_number"}, timeout=5)
    assert put.status_code == 200
    assert sb.behaviour == Behaviour.preset("neither", receipts="foreign_number")
    patched = requests.patch(url, json={"lookup": "late", "lookup_delay_seconds": 2}, timeout=5)
    assert patched.json()["lookup"] == "late"
    assert sb.behaviour.idempotency == "ignored"
    bad = requests.patch(url, json={"lookup": "sometimes"}, timeout=5)
    assert (bad.status_code, bad.json()["field"]) == (400, "lookup")
    assert requests.delete(url, timeout=5).json() == Behaviour().model_dump(mode="json")


def test_effects_over_the_inspection_api_and_reset(sb: Sandbox) -> None:
    sb.set_behaviour(Behaviour.preset("neither"))
    erp = Erp(sb, "rest")
    erp.create(key="k")
    erp.create(key="k")
    report = requests.get(f"{sb.base_url}/_sandbox/effects", timeout=5).json()
    assert report["effects"] == {REF: {"create": 2}}
    assert report["duplicates"] == [{"subject": REF, "step": "create", "count": 2}]
    assert report["totals"] == {"create": 2, "attach": 0, "forward": 0, "status": 0}
    assert [e["step"] for e in report["log"]] == ["create", "create"]
    reset = requests.post(f"{sb.base_url}/_sandbox/reset", json={}, timeout=5)
    assert reset.status_code == 200
    assert sb.effects() == {}
    assert sb.behaviour == Behaviour()  # the behaviour the server started with


def test_bad_behaviours_are_refused_by_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        Behaviour.preset("sometimes")
    assert info.value.field == "preset"
    with pytest.raises(ConfigurationError) as info:
        Behaviour().changed(commit_delay_operations=["obterAgendamento"])
    assert info.value.field == "commit_delay_operations"
    with pytest.raises(ConfigurationError) as info:
        Behaviour().changed(lookup_delay_seconds=-1)
    assert info.value.field == "lookup_delay_seconds"


def test_behaviour_given_at_start_and_restored_by_reset(
    munivideo_sandbox_factory: Any,
) -> None:
    sb = munivideo_sandbox_factory(seed="empty", behaviour=Behaviour.preset("lookup_only"))
    sb.behave(lookup="unavailable")
    sb.reset()
    assert sb.behaviour == CAPABILITY_SETS["lookup_only"]


def test_a_store_file_from_before_effect_counting_keeps_its_protocols(tmp_path: Any) -> None:
    import sqlite3

    from munivideo.sandbox.store import Store

    path = tmp_path / "erp.db"
    with Sandbox(seed="empty", db=path) as sb:
        Erp(sb, "rest").create()
        doc = sb.store.list_protocols()[0].model_dump_json()
    old = sqlite3.connect(path)
    old.executescript(
        "DROP TABLE protocol; DROP TABLE effect; CREATE TABLE protocol (id TEXT PRIMARY KEY, "
        "ano INTEGER NOT NULL, numero INTEGER NOT NULL, referencia_externa TEXT NOT NULL UNIQUE, "
        "doc TEXT NOT NULL, UNIQUE (ano, numero));"
    )
    old.execute("INSERT INTO protocol VALUES ('PR-1', 2026, 1, ?, ?)", (REF, doc))
    old.commit()
    old.close()
    store = Store(path)
    try:
        assert [p.novo.referencia_externa for p in store.list_protocols()] == [REF]
        assert store.find_protocol(REF) is not None
        assert store.effect_counts() == {}
    finally:
        store.close()
