-- Delivery operations: secret rotation and notifications to webhook owners.

-- Signing secrets that were rotated out but still sign during their grace period (the
-- current secret stays in webhooks.secret_enc). Encrypted with the master key.
CREATE TABLE webhook_secrets (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    secret_enc  BLOB NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_secrets_webhook ON webhook_secrets (webhook_id, expires_at);

-- What the host tells a webhook's owner (e.g. it disabled the webhook automatically).
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    owner_kind  TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX notifications_webhook ON notifications (webhook_id, created_at);
CREATE INDEX notifications_created ON notifications (created_at);

-- Retention deletes finished deliveries by age through deliveries_due (status,
-- next_attempt_at): a finished delivery's next_attempt_at is when it finished.
