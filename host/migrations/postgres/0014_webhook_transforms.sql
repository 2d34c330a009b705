-- A URL webhook may name a component (marketplace:webhook@0.2.0, exporting `transform`) that
-- reshapes or drops each request before it is signed and sent.
ALTER TABLE webhooks ADD COLUMN transform_component_id TEXT REFERENCES components(id);
CREATE INDEX webhooks_transform ON webhooks (transform_component_id);
