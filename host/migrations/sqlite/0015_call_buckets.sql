-- The call log summed per webhook, tenant and hour, written with the call log (the portal's
-- statistics over time and sparklines): reading a day of a busy webhook reads 24 rows per
-- tenant instead of every call. `d00`…`d13` count the calls by duration, at most 1, 2, 5, 10,
-- 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000 ms and longer; the percentiles are read from
-- them. Kept as long as the call log (retention).
CREATE TABLE call_buckets (
    webhook_id  TEXT NOT NULL,
    bucket      BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL,
    calls       BIGINT NOT NULL,
    successes   BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    d00 BIGINT NOT NULL, d01 BIGINT NOT NULL, d02 BIGINT NOT NULL, d03 BIGINT NOT NULL,
    d04 BIGINT NOT NULL, d05 BIGINT NOT NULL, d06 BIGINT NOT NULL, d07 BIGINT NOT NULL,
    d08 BIGINT NOT NULL, d09 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    d12 BIGINT NOT NULL, d13 BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, bucket, tenant_id)
);
CREATE INDEX call_buckets_bucket ON call_buckets (bucket);

-- A call log paged by id (ids are time-ordered), newest first, as the portal reads it
-- (`order=-id`, older pages by `lt(id,…)`); with the columns the log is filtered by, so that
-- counting a filtered log reads the index alone.
CREATE INDEX calls_webhook_id ON calls (webhook_id, id, success, trigger, tenant_id);
