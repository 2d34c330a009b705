-- Ordering: a webhook with ordering 'fifo' receives the deliveries of one record in the order
-- they were planned; a failing one holds back only that record's later ones.
ALTER TABLE webhooks ADD COLUMN ordering TEXT;
-- Set when the delivery was planned for such a webhook; only those rows are in the index the
-- order is checked with, so other deliveries cost nothing more.
ALTER TABLE deliveries ADD COLUMN ordered BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_ordered ON deliveries (webhook_id, record_id, id) WHERE ordered = 1;
