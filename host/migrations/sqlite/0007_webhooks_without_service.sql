-- no-transaction
-- A webhook may belong to no service: an MPT vendor's webhook belongs to the provider as a
-- whole and is reached by every tenant that activated any of its services.
--
-- SQLite cannot drop NOT NULL in place: the table is rebuilt (SQLite's documented procedure).
-- Foreign keys are off while it is, or dropping the old table would cascade into the rows
-- that reference it (secrets, notifications); the rebuild is one transaction of its own.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE webhooks_rebuilt (
    id                  TEXT PRIMARY KEY,
    owner_kind          TEXT NOT NULL,
    owner_id            TEXT NOT NULL,
    service_id          TEXT REFERENCES services(id),
    description         TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    type                TEXT,
    object_type         TEXT,
    url                 TEXT,
    component_id        TEXT REFERENCES components(id),
    modules             TEXT NOT NULL DEFAULT '[]',
    extension           TEXT,
    criteria            TEXT NOT NULL DEFAULT '{}',
    limits              TEXT,
    allowed_hosts       TEXT NOT NULL DEFAULT '[]',
    retry_policy        TEXT,
    secret_enc          BLOB NOT NULL,
    revision            BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    enabled_at          BIGINT,
    disabled_at         BIGINT,
    stat_total          BIGINT NOT NULL DEFAULT 0,
    stat_successes      BIGINT NOT NULL DEFAULT 0,
    stat_failures       BIGINT NOT NULL DEFAULT 0,
    stat_failures_since BIGINT NOT NULL DEFAULT 0,
    last_success        TEXT,
    last_failure        TEXT,
    last_call           TEXT
);
INSERT INTO webhooks_rebuilt SELECT id, owner_kind, owner_id, service_id, description, status,
    type, object_type, url, component_id, modules, extension, criteria, limits, allowed_hosts,
    retry_policy, secret_enc, revision, created_at, updated_at, enabled_at, disabled_at,
    stat_total, stat_successes, stat_failures, stat_failures_since, last_success, last_failure,
    last_call FROM webhooks;
DROP TABLE webhooks;
ALTER TABLE webhooks_rebuilt RENAME TO webhooks;
CREATE INDEX webhooks_owner ON webhooks (owner_kind, owner_id);
CREATE INDEX webhooks_service ON webhooks (service_id);
CREATE INDEX webhooks_extension ON webhooks (extension);
COMMIT;
PRAGMA foreign_keys = ON;
