-- Delivering again: recover and bulk retry.

-- The attempts a delivery had made when it was last queued again (a resend, a recover, a bulk
-- retry): its retry schedule starts over from there, so a delivery whose retries ran out gets
-- the whole schedule again, and the call log keeps counting its attempts.
ALTER TABLE deliveries ADD COLUMN retry_base BIGINT NOT NULL DEFAULT 0;

-- Idempotency keys of redelivery requests: the same key from the same caller gets the answer
-- of the first request, whatever happened since. Pruned with the call log.
CREATE TABLE redelivery_keys (
    caller      TEXT NOT NULL,
    key         TEXT NOT NULL,
    answer      TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX redelivery_keys_created ON redelivery_keys (created_at);
