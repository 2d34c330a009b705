-- Registry: providers, tenants, services, activations, credentials, components, webhooks,
-- and the plugins' key-value store. Times are Unix milliseconds; JSON is stored as text.

CREATE TABLE providers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A service belongs to a provider (marketplace service) or to one tenant (private service).
CREATE TABLE services (
    id                   TEXT PRIMARY KEY,
    provider_id          TEXT REFERENCES providers(id) ON DELETE CASCADE,
    tenant_id            TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    accepted_parameters  TEXT NOT NULL DEFAULT '[]',
    created_at           BIGINT NOT NULL,
    CHECK ((provider_id IS NULL) <> (tenant_id IS NULL))
);

CREATE TABLE activations (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    service_id  TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    parameters  TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, service_id)
);

-- smartml API users: the token is looked up by hash; the secret is needed to verify HMACs,
-- so it is encrypted with the master key.
CREATE TABLE api_users (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    secret_enc   BYTEA NOT NULL,
    marketplace  BIGINT NOT NULL DEFAULT 0,
    active       BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL UNIQUE,
    active      BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);

-- Components are owned by a provider or a tenant; content-addressed by sha256.
CREATE TABLE components (
    id           TEXT PRIMARY KEY,
    owner_kind   TEXT NOT NULL,
    owner_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    wit_version  TEXT NOT NULL,
    imports      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    wasm         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (owner_kind, owner_id, name, version)
);
CREATE INDEX components_digest ON components (digest);

CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    owner_kind          TEXT NOT NULL,
    owner_id            TEXT NOT NULL,
    service_id          TEXT NOT NULL REFERENCES services(id),
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
    secret_enc          BYTEA NOT NULL,
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
CREATE INDEX webhooks_owner ON webhooks (owner_kind, owner_id);
CREATE INDEX webhooks_service ON webhooks (service_id);
CREATE INDEX webhooks_extension ON webhooks (extension);

CREATE TABLE kv (
    tenant_id   TEXT NOT NULL,
    service_id  TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, service_id, key)
);
