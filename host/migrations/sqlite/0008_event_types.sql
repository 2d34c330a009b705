-- The event types a webhook subscribes to (a JSON array of names, e.g. ["estate.update"]);
-- NULL: every event its modules, type or extension bring it.
ALTER TABLE webhooks ADD COLUMN event_types TEXT;
