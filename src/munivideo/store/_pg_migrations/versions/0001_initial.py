"""Bindings, cursors, sent messages, attendance events, the outbox with its steps, audit trail
and per-tenant counters, and the quarantine.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from munivideo.store._pg_migrations import run_raw

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "binding",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("booking_id", sa.Text, primary_key=True),
        sa.Column("booking", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("room", sa.Text),
        sa.Column("room_link_recorded", sa.Text, nullable=False, server_default=""),
        sa.Column("invitation_uid", sa.Text, nullable=False, server_default=""),
        sa.Column("invitation_sequence", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("invitation_method", sa.Text, nullable=False, server_default=""),
        sa.Column("invitation_key", sa.Text, nullable=False, server_default=""),
        sa.Column("attendance", sa.Text),
        sa.Column("external_reference", sa.Text, nullable=False, server_default=""),
        sa.Column("protocol_label", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("binding_dirty", "binding", ["tenant_id", "fingerprint", "updated_at"])
    op.create_table(
        "sync_cursor",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("saved_at", TS, nullable=False),
    )
    op.create_table(
        "sent_message",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("booking_id", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("sent_at", TS, nullable=False),
    )
    op.create_table(
        "attendance_event",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("booking_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("attendance_event_booking", "attendance_event", ["tenant_id", "booking_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", sa.Text, nullable=False),
        sa.Column("external_reference", sa.Text, nullable=False),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_expires_at", TS),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_type", sa.Text),
        sa.Column("receipt", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.UniqueConstraint("tenant_id", "external_reference"),
        sa.CheckConstraint(
            "state IN ('pending', 'in_flight', 'delivered', 'failed')", name="outbox_state"
        ),
    )
    # claims across tenants; claims, due times and status of one tenant; keyset pages
    op.create_index("outbox_due", "outbox", ["state", "next_attempt_at", "id"])
    op.create_index("outbox_tenant_due", "outbox", ["tenant_id", "state", "next_attempt_at", "id"])
    op.create_index("outbox_tenant_state_id", "outbox", ["tenant_id", "state", "id"])
    op.create_index("outbox_tenant_id", "outbox", ["tenant_id", "id"])
    op.create_index("outbox_lease", "outbox", ["state", "lease_expires_at"])
    op.create_table(
        "outbox_step",
        sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.id"), primary_key=True),
        sa.Column("step", sa.Text, primary_key=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("done_at", TS, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "outbox_audit",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("outbox_audit_item", "outbox_audit", ["outbox_id", "id"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("field", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("error_type", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.UniqueConstraint("tenant_id", "kind", "record_id"),
    )
    op.create_index("quarantine_open", "quarantine", ["tenant_id", "resolved_at", "id"])
    # Per-tenant counts by state, kept by a trigger in the same transaction as every change,
    # so status() reads four numbers instead of counting a million rows. One row per tenant
    # (not per state): a transition updates one row, so two transactions cannot deadlock on it.
    op.create_table(
        "outbox_count",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("pending", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("in_flight", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("delivered", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failed", sa.BigInteger, nullable=False, server_default="0"),
    )
    run_raw(
        """
        CREATE FUNCTION munivideo_outbox_count() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            t text := COALESCE(NEW.tenant_id, OLD.tenant_id);
            o text := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.state END;
            n text := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.state END;
        BEGIN
            IF o IS NOT DISTINCT FROM n THEN
                RETURN NULL;
            END IF;
            INSERT INTO outbox_count AS c (tenant_id) VALUES (t) ON CONFLICT (tenant_id) DO NOTHING;
            UPDATE outbox_count SET
                pending = pending + (n IS NOT DISTINCT FROM 'pending')::int
                    - (o IS NOT DISTINCT FROM 'pending')::int,
                in_flight = in_flight + (n IS NOT DISTINCT FROM 'in_flight')::int
                    - (o IS NOT DISTINCT FROM 'in_flight')::int,
                delivered = delivered + (n IS NOT DISTINCT FROM 'delivered')::int
                    - (o IS NOT DISTINCT FROM 'delivered')::int,
                failed = failed + (n IS NOT DISTINCT FROM 'failed')::int
                    - (o IS NOT DISTINCT FROM 'failed')::int
            WHERE tenant_id = t;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_count AFTER INSERT OR DELETE OR UPDATE OF state ON outbox "
        "FOR EACH ROW EXECUTE FUNCTION munivideo_outbox_count()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_count ON outbox")
    op.execute("DROP FUNCTION munivideo_outbox_count()")
    for table in (
        "outbox_count",
        "quarantine",
        "outbox_audit",
        "outbox_step",
        "outbox",
        "attendance_event",
        "sent_message",
        "sync_cursor",
        "binding",
    ):
        op.drop_table(table)
