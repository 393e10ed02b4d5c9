"""``/_sandbox/...``: the inspection API for tests and the demo (not part of any contract).

GET    /_sandbox/health                 {"ok": true, "bookings": N, "protocols": N}
GET    /_sandbox/bookings               every booking (REST shape)
POST   /_sandbox/bookings               add a booking (REST shape; id, dataAtualizacao,
                                        sequencia, versao optional); 422 + field when the
                                        contracts' answers could not carry it
POST   /_sandbox/bookings/<id>/reschedule  {"data": "YYYY-MM-DD", "horaInicio", "horaFim"}
POST   /_sandbox/bookings/<id>/cancel      {"observacao": "..."} (optional)
GET    /_sandbox/protocols              every protocol with attachments and routing
POST   /_sandbox/reset                  {"seed": "tax-office"} (default: the server's seed);
                                        also clears effects, restores the initial behaviour
GET    /_sandbox/faults                 the active fault plan and how often each rule fired
PUT    /_sandbox/faults                 {"spec": "...", "seed": 0}
DELETE /_sandbox/faults                 no faults
GET    /_sandbox/behaviour              the ERP behaviour (munivideo.sandbox.behaviour.Behaviour)
PUT    /_sandbox/behaviour              {"preset": "lookup_only", ...fields}: replace
PATCH  /_sandbox/behaviour              {...fields}: change some fields
DELETE /_sandbox/behaviour              a well-behaved ERP again (the defaults)
GET    /_sandbox/effects                effects executed: {"effects": {subject: {step: count}},
                                        "duplicates": [...], "totals": {...}, "log": [...]}

Writes (POST/PUT/PATCH) must be ``application/json``; see :mod:`munivideo.sandbox.guard`.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from werkzeug.wrappers import Request, Response

from munivideo.errors import ConfigurationError, MunivideoError
from munivideo.sandbox.behaviour import Behaviour, parse_behaviour
from munivideo.sandbox.conformance import rest_doc_problem
from munivideo.sandbox.context import Context
from munivideo.sandbox.errors import OutsideContractError, contract_code
from munivideo.sandbox.faults import FaultPlan
from munivideo.sandbox.records import (
    BookingRecord,
    booking_doc,
    parse_rfc3339,
    protocol_doc,
    rfc3339,
)
from munivideo.sandbox.seeds import apply_seed


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )


def booking_from_doc(ctx: Context, doc: dict[str, Any]) -> BookingRecord:
    """A booking in the REST shape -> a record (for ``POST /_sandbox/bookings``).

    ``id``, ``situacao`` (``AG``), ``dataAtualizacao`` (now), ``sequencia`` (0) and ``versao``
    (1) are filled in when missing; the result is then checked as the REST contract's
    ``Agendamento`` (the schema every answer is validated against). Storing the record checks
    it again as every dialect the server serves renders it
    (:func:`munivideo.sandbox.conformance.check_booking`).

    :raises OutsideContractError: naming the first field the contract refuses (HTTP 422).
    """
    if not isinstance(doc, dict):
        raise OutsideContractError("a booking must be a JSON object", field="body")
    record_id = doc.get("id") or f"AG-X{ctx.store.count_bookings() + 1:06d}"
    full = {
        "situacao": "AG",
        "dataAtualizacao": rfc3339(ctx.store.now()),
        "sequencia": 0,
        "versao": 1,
        **doc,
        "id": record_id,
    }
    problem = rest_doc_problem(ctx, full)
    if problem is not None:
        field, reason = problem
        raise OutsideContractError(
            f"not a booking under the REST contract: {reason}",
            record_id=str(record_id),
            field=field,
        )
    cidadao = full["cidadao"]
    servidor = full.get("servidor") or {}
    sala = full.get("sala") or {}
    record = BookingRecord(
        id=record_id,
        codigo_servico=full["codigoServico"],
        cidadao_nome=cidadao["nome"],
        cidadao_cpf_cnpj=cidadao["cpfCnpj"],
        cidadao_email=cidadao.get("email"),
        cidadao_telefone=cidadao.get("telefone"),
        servidor_matricula=servidor.get("matricula"),
        servidor_nome=servidor.get("nome"),
        servidor_email=servidor.get("email"),
        servidor_departamento=servidor.get("codigoDepartamento"),
        data=date.fromisoformat(full["data"]),
        hora_inicio=full["horaInicio"],
        hora_fim=full["horaFim"],
        situacao=full["situacao"],
        observacoes=full.get("observacoes"),
        consentimento=full.get("consentimentoRegistrado"),
        sala_url=sala.get("url"),
        sala_valida_ate=parse_rfc3339(sala["validaAte"]) if sala else None,
        data_atualizacao=parse_rfc3339(full["dataAtualizacao"]),
        sequencia=full["sequencia"],
        versao=full["versao"],
    )
    return record  # the store checks it as every served dialect renders it


def effects_report(ctx: Context) -> dict[str, Any]:
    """Every effect the ERP executed since the last reset: counts, duplicates, totals, log."""
    counts = ctx.store.effect_counts()
    totals = {"create": 0, "attach": 0, "forward": 0, "status": 0}
    duplicates = []
    for subject, steps in counts.items():
        for step, count in steps.items():
            kind = step.split(":", 1)[0]
            totals[kind] = totals.get(kind, 0) + count
            if count > 1:
                duplicates.append({"subject": subject, "step": step, "count": count})
    return {
        "effects": counts,
        "duplicates": duplicates,
        "totals": totals,
        "log": ctx.store.effect_log(),
    }


def _behaviour(ctx: Context, method: str, body: dict[str, Any]) -> Response:
    if method == "PUT":
        ctx.set_behaviour(parse_behaviour(body))
    elif method == "PATCH":
        ctx.set_behaviour(ctx.current_behaviour().changed(**body))
    elif method == "DELETE":
        ctx.set_behaviour(Behaviour())
    elif method != "GET":
        return _json({"error": f"{method} is not allowed here"}, 405)
    return _json(ctx.current_behaviour().model_dump(mode="json"))


def handle(ctx: Context, request: Request, default_seed: str) -> Response:
    """Answer one ``/_sandbox/...`` request (the endpoints in the module docstring).

    Not a contract operation: no fault plan, no authentication, no effect counting (a cancel or
    reschedule here is the ERP's own users at work, not a write through the contract).

    :param ctx: the sandbox's shared state.
    :param request: a request whose path starts with ``/_sandbox/`` (already screened by
        :mod:`munivideo.sandbox.guard`).
    :param default_seed: what ``POST /_sandbox/reset`` reloads when the body names no seed.
    :returns: JSON; 201 for an added booking; 400 ``{"error", "field"}`` for a bad fault spec,
        behaviour or seed (:class:`~munivideo.errors.ConfigurationError`) or a malformed body;
        ``{"error", "codigo", "field"}`` with the contract code and status of any other typed
        error (e.g. 422 ``REQUISICAO_INVALIDA`` for an added booking the contracts' answers
        could not carry, 404 ``NAO_ENCONTRADO`` for an unknown booking, 409
        ``TRANSICAO_INVALIDA`` for a cancel of an attended one);
        404 for an unknown endpoint.
    """
    parts = [p for p in request.path.split("/") if p][1:]
    method = request.method
    body: dict[str, Any] = request.get_json(silent=True) or {}
    try:
        if parts == ["health"]:
            return _json(
                {
                    "ok": True,
                    "bookings": ctx.store.count_bookings(),
                    "protocols": len(ctx.store.list_protocols()),
                }
            )
        if parts == ["bookings"] and method == "GET":
            records, _ = ctx.store.list_bookings(None, 1_000_000)
            return _json([booking_doc(r, soap=False) for r in records])
        if parts == ["bookings"] and method == "POST":
            record = booking_from_doc(ctx, body)
            ctx.store.put_bookings([record])
            return _json(booking_doc(ctx.store.get_booking(record.id), soap=False), 201)
        if len(parts) == 3 and parts[0] == "bookings" and method == "POST":
            booking_id, action = parts[1], parts[2]
            if action == "reschedule":
                record = ctx.store.reschedule(
                    booking_id,
                    date.fromisoformat(body["data"]),
                    body["horaInicio"],
                    body["horaFim"],
                )
            elif action == "cancel":
                record = ctx.store.set_status(booking_id, "CA", body.get("observacao"))
            else:
                return _json({"error": f"unknown action {action}"}, 404)
            return _json(booking_doc(record, soap=False))
        if parts == ["protocols"]:
            return _json([protocol_doc(p, soap=False) for p in ctx.store.list_protocols()])
        if parts == ["reset"] and method == "POST":
            loaded = apply_seed(ctx.store, body.get("seed") or default_seed)
            ctx.set_behaviour(ctx.initial_behaviour)
            return _json({"ok": True, "bookings": loaded})
        if parts == ["faults"]:
            if method == "PUT":
                ctx.set_plan(FaultPlan(str(body.get("spec", "")), int(body.get("seed", 0))))
            elif method == "DELETE":
                ctx.set_plan(FaultPlan())
            return _json(ctx.plan.describe())
        if parts == ["behaviour"]:
            return _behaviour(ctx, method, body)
        if parts == ["effects"] and method == "GET":
            return _json(effects_report(ctx))
    except ConfigurationError as exc:
        return _json({"error": str(exc), "field": exc.field}, 400)
    except MunivideoError as exc:
        codigo, status = contract_code(exc)
        return _json({"error": str(exc), "codigo": codigo, "field": exc.field}, status)
    except (KeyError, ValueError) as exc:
        return _json({"error": f"bad request: {exc}"}, 400)
    return _json({"error": "no such inspection endpoint"}, 404)
