-- A webhook's call log is read newest first by id (ids are time-ordered), along
-- `calls_webhook_id`; the index by creation time was a second b-tree written at a random place
-- for every call of a fan-out, and read by nothing else.
DROP INDEX calls_webhook;
