"""SQL for the append-only event store (used by migration 0001)."""

CREATE_STORE = """
CREATE TABLE stored_event (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     uuid NOT NULL UNIQUE,
    type           varchar(200) NOT NULL,
    version        smallint NOT NULL CHECK (version > 0),
    source         varchar(50) NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    aggregate_id   varchar(200) NOT NULL,
    correlation_id uuid NOT NULL,
    causation_id   uuid NULL,
    payload        jsonb NOT NULL
);
CREATE INDEX stored_event_type_position ON stored_event (type, position);
CREATE INDEX stored_event_aggregate ON stored_event (aggregate_id, position);
CREATE INDEX stored_event_correlation ON stored_event (correlation_id, position);

CREATE FUNCTION stored_event_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER stored_event_no_update_or_delete
    BEFORE UPDATE OR DELETE ON stored_event
    FOR EACH ROW EXECUTE FUNCTION stored_event_is_append_only();
CREATE TRIGGER stored_event_no_truncate
    BEFORE TRUNCATE ON stored_event
    FOR EACH STATEMENT EXECUTE FUNCTION stored_event_is_append_only();

-- One writer at a time, whoever writes: positions become visible in order, so a
-- reader that has seen position N can never later find a smaller one appear.
CREATE FUNCTION stored_event_take_writer_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(185335809);  -- services.STORE_WRITER_LOCK
    RETURN NULL;
END
$$;
CREATE TRIGGER stored_event_single_writer
    BEFORE INSERT ON stored_event
    FOR EACH STATEMENT EXECUTE FUNCTION stored_event_take_writer_lock();

-- The owner (events_role) gives up the rights to change history; nobody else had them.
REVOKE UPDATE, DELETE, TRUNCATE ON stored_event FROM CURRENT_USER;
"""

DROP_STORE = """
DROP TABLE stored_event;
DROP FUNCTION stored_event_is_append_only();
DROP FUNCTION stored_event_take_writer_lock();
"""
