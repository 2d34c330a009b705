-- Circuit breaking: after a run of failures a webhook's deliveries pause, and one probe call at
-- growing intervals decides when they resume. Shared by every instance on the database.
ALTER TABLE webhooks ADD COLUMN circuit_state TEXT NOT NULL DEFAULT 'closed';
-- When the circuit opened (the start of the failing period), Unix ms.
ALTER TABLE webhooks ADD COLUMN circuit_opened_at BIGINT;
-- When the next probe may run (open), or until when the probe in flight holds it (probing).
ALTER TABLE webhooks ADD COLUMN circuit_probe_at BIGINT;
-- The current interval between probes, in ms (doubles after each failed probe).
ALTER TABLE webhooks ADD COLUMN circuit_interval_ms BIGINT;
