-- Call-log entries of finished deliveries, staged without the per-webhook index and moved
-- into `calls` in batches sorted by webhook (see `write_calls` in store/calls.rs). The
-- columns of `calls`; rows live here only until the next fold.
CREATE TABLE calls_staged AS SELECT * FROM calls WHERE 0;
