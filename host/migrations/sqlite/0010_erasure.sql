-- Erasure on request: a delivery whose payload was erased is never delivered again (it is
-- kept, without its payload, for the statistics and the call log it belongs to).
ALTER TABLE deliveries ADD COLUMN erased_at BIGINT;
