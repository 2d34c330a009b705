-- Delivery: the outbox of planned calls, the log of every call, smartml replay protection.

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    trigger          TEXT NOT NULL,
    module           TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    parameters       TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    leased_by        TEXT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, created_at);

-- Every call of a webhook (sync or async): the MPT Call object and where it came from.
CREATE TABLE calls (
    id           TEXT PRIMARY KEY,
    webhook_id   TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    delivery_id  TEXT,
    attempt      BIGINT NOT NULL,
    trigger      TEXT NOT NULL,
    success      BIGINT NOT NULL,
    call         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX calls_webhook ON calls (webhook_id, created_at);
CREATE INDEX calls_created ON calls (created_at);

-- smartml (token, timestamp, hmac) triples seen inside the timestamp window.
CREATE TABLE smartml_replay (
    token_hash  TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    hmac        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (token_hash, timestamp, hmac)
);
CREATE INDEX smartml_replay_expiry ON smartml_replay (expires_at);
