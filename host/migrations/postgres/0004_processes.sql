-- Process manager: templates, processes with their steps, and the records' activity log.
-- Times are Unix milliseconds; JSON is stored as text.

-- A tenant's process template: an ordered list of steps (JSON), validated when saved.
CREATE TABLE process_templates (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    controller_email  TEXT,
    steps             TEXT NOT NULL,
    revision          BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX process_templates_tenant ON process_templates (tenant_id, created_at);

-- A started process. It keeps its own copy of the template's steps (in process_steps), so
-- editing or deleting the template never changes a process that is already running.
CREATE TABLE processes (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    template_id       TEXT NOT NULL,
    template_name     TEXT NOT NULL,
    module            TEXT NOT NULL,
    record_id         TEXT NOT NULL,
    records           TEXT NOT NULL,
    owner             TEXT,
    controller_email  TEXT,
    status            TEXT NOT NULL,
    overdue           BIGINT NOT NULL DEFAULT 0,
    error             TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX processes_tenant ON processes (tenant_id, created_at);
CREATE INDEX processes_record ON processes (tenant_id, module, record_id);

-- The durable schedule: one row per step. The scheduler of any instance claims due rows
-- with a lease (like the delivery outbox), so nothing waits in memory.
-- status: waiting, scheduled (due_at), running (its calls are in process_step_calls),
-- succeeded, failed, cancelled, skipped.
CREATE TABLE process_steps (
    id                TEXT PRIMARY KEY,
    process_id        TEXT NOT NULL REFERENCES processes(id) ON DELETE CASCADE,
    position          BIGINT NOT NULL,
    spec              TEXT NOT NULL,
    status            TEXT NOT NULL,
    due_at            BIGINT,
    started_at        BIGINT,
    deadline_at       BIGINT,
    finished_at       BIGINT,
    notify_at         BIGINT,
    notify_attempts   BIGINT NOT NULL DEFAULT 0,
    overdue_at        BIGINT,
    notified_at       BIGINT,
    notice            TEXT,
    error             TEXT,
    lease_until       BIGINT,
    leased_by         TEXT,
    UNIQUE (process_id, position)
);
CREATE INDEX process_steps_due ON process_steps (status, due_at);

-- The deliveries a running step planned (one per webhook of its service).
CREATE TABLE process_step_calls (
    step_id      TEXT NOT NULL REFERENCES process_steps(id) ON DELETE CASCADE,
    delivery_id  TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    PRIMARY KEY (step_id, delivery_id)
);

-- The activity log of estate and address records: who did what, when, with which result.
CREATE TABLE activities (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    who          TEXT NOT NULL,
    responsible  TEXT NOT NULL,
    what         TEXT NOT NULL,
    result       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    process_id   TEXT,
    position     BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX activities_record ON activities (tenant_id, module, record_id, created_at);
