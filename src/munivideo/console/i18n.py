"""The console's words in pt-BR (default) and English: one table, message id -> (pt-BR, en).

A test checks that every id a template or handler uses is in the table, so a page never shows
a bare id. Values are ``str.format`` templates (``{label}``); the template engine escapes them.
"""

from __future__ import annotations

from typing import Any

from munivideo.models import Locale

LOCALES: frozenset[str] = frozenset(loc.value for loc in Locale)

MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("Console", "Console"),
    "nav.agenda": ("Agenda", "Agenda"),
    "nav.outbox": ("Fila de envio", "Outbox"),
    "nav.quarantine": ("Quarentena", "Quarantine"),
    "nav.health": ("Saúde por cidade", "Health per city"),
    "nav.logout": ("Sair", "Sign out"),
    "role.servant": ("servidor", "servant"),
    "role.operator": ("operador", "operator"),
    "role.citizen": ("cidadão", "citizen"),
    "login.title": ("Entrar", "Sign in"),
    "login.tenant": ("Município", "City"),
    "login.name": ("Usuário", "User name"),
    "login.password": ("Senha", "Password"),
    "login.submit": ("Entrar", "Sign in"),
    "login.failed": ("Usuário ou senha incorretos.", "Wrong user name or password."),
    "error.title": ("Não foi possível", "Not possible"),
    "error.home": ("Voltar ao início", "Back to the start"),
    "error.signin": ("Entre para continuar.", "Sign in to continue."),
    "error.role": (
        "Esta página não é do seu perfil.",
        "This page is not for your role.",
    ),
    "error.csrf": (
        "Formulário expirado ou de outra origem: recarregue a página e tente de novo.",
        "The form expired or came from another site: reload the page and try again.",
    ),
    "error.tenant": ("Sem acesso ao município {tenant}.", "No access to city {tenant}."),
    "error.no_booking": ("Agendamento {id} não encontrado.", "Booking {id} not found."),
    "error.not_yours": (
        "Este agendamento é de outro servidor.",
        "This booking belongs to another servant.",
    ),
    "error.no_item": ("Item {id} não encontrado.", "Item {id} not found."),
    "agenda.title": ("Agenda", "Agenda"),
    "agenda.previous": ("dia anterior", "previous day"),
    "agenda.today": ("hoje", "today"),
    "agenda.next": ("próximo dia", "next day"),
    "agenda.zone": ("horários em {zone}", "times in {zone}"),
    "agenda.empty": ("Nenhum atendimento neste dia.", "No attendance on this day."),
    "agenda.time": ("Horário", "Time"),
    "agenda.citizen": ("Cidadão", "Citizen"),
    "agenda.service": ("Serviço", "Service"),
    "agenda.status": ("Situação", "Status"),
    "agenda.room": ("Sala", "Room"),
    "agenda.join": ("Entrar na sala", "Join the room"),
    "agenda.no_room": ("sem sala", "no room"),
    "agenda.open": ("Abrir", "Open"),
    "agenda.protocol": ("protocolo {label}", "protocol {label}"),
    "agenda.writeback": ("envio ao ERP: {state}", "to the ERP: {state}"),
    "booking.title": ("Agendamento {id}", "Booking {id}"),
    "booking.contact": ("Contato", "Contact"),
    "booking.notes": ("Observações", "Notes"),
    "booking.events": ("Entradas e saídas na sala", "Room joins and leaves"),
    "booking.no_events": (
        "Nenhum evento recebido do serviço de vídeo.",
        "No event received from the video service.",
    ),
    "booking.recorded": ("Resultado registrado", "Outcome recorded"),
    "event.join": ("entrou", "joined"),
    "event.leave": ("saiu", "left"),
    "status.requested": ("solicitado", "requested"),
    "status.confirmed": ("confirmado", "confirmed"),
    "status.rescheduled": ("remarcado", "rescheduled"),
    "status.cancelled": ("cancelado", "cancelled"),
    "status.attended": ("atendido", "attended"),
    "status.no_show": ("cidadão faltou", "citizen no-show"),
    "status.servant_no_show": ("servidor faltou", "servant no-show"),
    "status.failed": ("falha técnica", "technical failure"),
    "outcome.attended": ("atendido", "attended"),
    "outcome.citizen_no_show": ("cidadão não compareceu", "citizen did not come"),
    "outcome.servant_no_show": ("servidor não compareceu", "servant did not come"),
    "outcome.technical_failure": ("falha técnica", "technical failure"),
    "outcome.cancelled": ("cancelado", "cancelled"),
    "state.pending": ("aguardando", "pending"),
    "state.in_flight": ("enviando", "in flight"),
    "state.delivered": ("entregue", "delivered"),
    "state.failed": ("falhou (carta morta)", "failed (dead letter)"),
    "form.title": ("Resultado do atendimento", "Attendance outcome"),
    "form.outcome": ("Resultado", "Outcome"),
    "form.outcome_auto": (
        "automático (pelas entradas na sala)",
        "automatic (from the room joins)",
    ),
    "form.documents": ("Documentos verificados", "Documents verified"),
    "form.documents_help": (
        "Envie o arquivo (guardamos só o SHA-256) ou informe o SHA-256 de um documento já "
        "arquivado.",
        "Upload the file (only its SHA-256 is kept) or give the SHA-256 of a document already "
        "on file.",
    ),
    "form.doc_name": ("Nome", "Name"),
    "form.doc_kind": ("Tipo", "Kind"),
    "form.doc_file": ("Arquivo", "File"),
    "form.doc_sha": ("ou SHA-256", "or SHA-256"),
    "form.add_document": ("documento", "document"),
    "form.demands": ("Demandas encaminhadas", "Demands forwarded"),
    "form.department": ("Departamento", "Department"),
    "form.demand": ("Demanda", "Demand"),
    "form.add_demand": ("demanda", "demand"),
    "form.summary": ("Resumo", "Summary"),
    "form.save": ("Salvar resultado", "Save the outcome"),
    "form.sha_mismatch": (
        "Documento {n}: o SHA-256 informado não confere com o arquivo.",
        "Document {n}: the SHA-256 given does not match the file.",
    ),
    "form.doc_needs_file": (
        "Documento {n}: envie o arquivo ou informe o SHA-256.",
        "Document {n}: upload the file or give its SHA-256.",
    ),
    "form.doc_bad_sha": (
        "Documento {n}: o SHA-256 tem 64 dígitos hexadecimais.",
        "Document {n}: a SHA-256 has 64 hexadecimal digits.",
    ),
    "form.doc_invalid": ("Documento {n}: {reason}", "Document {n}: {reason}"),
    "form.demand_department": (
        "Demanda {n}: escolha um departamento.",
        "Demand {n}: choose a department.",
    ),
    "form.bad_outcome": ("Resultado desconhecido.", "Unknown outcome."),
    "form.invalid": ("Campo {field}: {reason}", "Field {field}: {reason}"),
    "form.not_saved": ("Não foi salvo: {reason}", "Not saved: {reason}"),
    "form.quarantined": (
        "O registro foi para a quarentena: {reason}",
        "The record went to quarantine: {reason}",
    ),
    "kind.identidade": ("documento de identidade", "identity document"),
    "kind.cpf": ("CPF", "CPF"),
    "kind.comprovante-residencia": ("comprovante de residência", "proof of address"),
    "kind.matricula-imovel": ("matrícula do imóvel", "property registration"),
    "kind.contrato": ("contrato", "contract"),
    "kind.procuracao": ("procuração", "power of attorney"),
    "kind.nota-fiscal": ("nota fiscal", "invoice"),
    "kind.outro": ("outro", "other"),
    "wb.none": ("Ainda sem registro.", "Not recorded yet."),
    "wb.landed": ("Protocolo {label} registrado no ERP.", "Protocol {label} created in the ERP."),
    "wb.landed_at": ("Confirmado em {at}.", "Confirmed at {at}."),
    "wb.failed": (
        "O envio ao ERP falhou; a equipe de operação foi avisada pela fila.",
        "Delivery to the ERP failed; operations see it in the outbox.",
    ),
    "wb.waiting": (
        "Enviando ao ERP ({state}, tentativa {attempts})…",
        "Sending to the ERP ({state}, attempt {attempts})…",
    ),
    "wb.recorded_at": ("Registrado em {at}.", "Recorded at {at}."),
    "op.tenant": ("Município", "City"),
    "op.state": ("Situação", "State"),
    "op.any": ("todas", "any"),
    "op.age": ("Idade", "Age"),
    "op.older_than": ("mais de {age}", "older than {age}"),
    "op.filter": ("Filtrar", "Filter"),
    "op.no_rows": ("Nenhum item.", "No rows."),
    "op.booking": ("Agendamento", "Booking"),
    "op.attempts": ("Tentativas", "Attempts"),
    "op.created": ("Criado", "Created"),
    "op.next": ("Próxima tentativa", "Next attempt"),
    "op.last_error": ("Último erro", "Last error"),
    "op.protocol": ("Protocolo", "Protocol"),
    "op.first": ("início", "first page"),
    "op.next_page": ("próxima página", "next page"),
    "op.item": ("Item {id} da fila", "Outbox row {id}"),
    "op.applicant": ("Requerente", "Applicant"),
    "op.outcome": ("Resultado", "Outcome"),
    "op.lease": ("Com o trabalhador", "Held by worker"),
    "op.steps": ("Etapas no ERP", "Steps in the ERP"),
    "op.no_steps": ("Nenhuma etapa concluída.", "No step done yet."),
    "op.audit": ("Trilha de auditoria", "Audit trail"),
    "op.when": ("Quando", "When"),
    "op.change": ("Mudança", "Change"),
    "op.actor": ("Quem", "Who"),
    "op.reason": ("Motivo", "Reason"),
    "op.actions": ("Ações", "Actions"),
    "action.replay": ("Reenviar", "Replay"),
    "action.replay_help": (
        "Volta para a fila com novas tentativas; etapas já feitas no ERP não se repetem.",
        "Back to the queue with fresh attempts; steps already done in the ERP are not repeated.",
    ),
    "action.requeue": ("Tentar agora", "Requeue now"),
    "action.requeue_help": (
        "A próxima tentativa passa a ser agora.",
        "The next attempt becomes due now.",
    ),
    "action.done": ("Marcar como feito no ERP", "Mark done elsewhere"),
    "action.done_help": (
        "Use só quando alguém registrou este protocolo no ERP à mão.",
        "Only when someone created this protocol in the ERP by hand.",
    ),
    "action.protocol": ("Protocolo (número/ano)", "Protocol (number/year)"),
    "action.protocol_format": (
        "Informe o protocolo como número/ano, por exemplo 123/2026.",
        "Give the protocol as number/year, e.g. 123/2026.",
    ),
    "action.reason_required": ("Informe o motivo.", "Give a reason."),
    "action.none": ("Nenhuma ação neste estado.", "No action in this state."),
    "action.done.replay": ("Reenviado: o item voltou para a fila.", "Replayed: back in the queue."),
    "action.done.requeue": ("O item será tentado agora.", "The row is due now."),
    "action.done.done": ("Marcado como feito no ERP.", "Marked done elsewhere."),
    "q.include_resolved": ("incluir resolvidos", "include resolved"),
    "q.none": ("Nada em quarentena.", "Nothing quarantined."),
    "q.kind": ("Tipo", "Kind"),
    "q.kind.booking": ("agendamento", "booking"),
    "q.kind.attendance": ("atendimento", "attendance"),
    "q.kind.entry": ("protocolo", "protocol entry"),
    "q.record": ("Registro", "Record"),
    "q.field": ("Campo", "Field"),
    "q.reason": ("Motivo", "Reason"),
    "q.seen": ("Visto por último", "Last seen"),
    "q.payload": ("Conteúdo (mascarado)", "Payload (masked)"),
    "q.show": ("mostrar", "show"),
    "q.readmit": ("Readmitir", "Re-admit"),
    "q.resolved": ("resolvido em {at}", "resolved at {at}"),
    "quarantine.admitted": ("{id} readmitido.", "{id} re-admitted."),
    "quarantine.still": (
        "{id} continua em quarentena: {reason}",
        "{id} is still quarantined: {reason}",
    ),
    "h.city": ("Município", "City"),
    "h.lag": ("Atraso", "Lag"),
    "h.stale": ("Travados", "Stale leases"),
    "h.dead": ("Cartas mortas", "Dead letters"),
    "h.sync": ("Última mudança sincronizada", "Newest synced change"),
}
"""Every message: id -> (pt-BR, English)."""


def translate(locale: Locale | str, key: str, **values: Any) -> str:
    """The message ``key`` in ``locale`` with ``values`` filled in; an unknown id comes back
    as itself (and fails the catalogue test)."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if str(locale) == Locale.EN.value else pair[0]
    return text.format(**values) if values else text


__all__ = ["LOCALES", "MESSAGES", "translate"]
