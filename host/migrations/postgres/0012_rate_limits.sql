-- Rate limits per webhook, held across every instance sharing the database.

-- {"perSecond": n} or {"perMinute": n}; NULL: delivery.default_rate_per_minute, if any.
ALTER TABLE webhooks ADD COLUMN rate_limit TEXT;
-- After a 429 (or Retry-After) from the receiver the rate is divided by this until
-- rate_lowered_until (Unix ms); each further one doubles it (at most 16).
ALTER TABLE webhooks ADD COLUMN rate_divisor BIGINT NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN rate_lowered_until BIGINT;

-- Calls made per webhook and window (a second or a minute, by the limit's unit). Instances
-- take tokens in small batches; pruned by retention.
CREATE TABLE rate_windows (
    webhook_id    TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    used          BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, window_start)
);
