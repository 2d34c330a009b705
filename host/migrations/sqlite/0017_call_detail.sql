-- What the call log keeps beside a call's Call object: the start of the request as sent and
-- the plugin's log lines (JSON, NULL when there are none).
ALTER TABLE calls ADD COLUMN detail TEXT;
