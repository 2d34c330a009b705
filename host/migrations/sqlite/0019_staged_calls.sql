-- Call-log entries of finished deliveries, staged without the per-webhook index and moved
-- into `calls` in batches sorted by webhook (see `write_calls` in store/calls.rs). Same
-- columns as `calls`; rows live here only until the next fold.
CREATE TABLE calls_staged (
    id           TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    delivery_id  TEXT,
    attempt      BIGINT NOT NULL,
    trigger      TEXT NOT NULL,
    success      BIGINT NOT NULL,
    call         TEXT NOT NULL,
    detail       TEXT,
    created_at   BIGINT NOT NULL
);
