-- Secret activation parameters and the key-value quota.

-- Parameter names (or `prefix.*` families) a service declares secret: their activation values
-- are sealed with the master key and masked whenever they are shown.
ALTER TABLE services ADD COLUMN secret_parameters TEXT NOT NULL DEFAULT '[]';

-- The secret values of an activation, as a JSON object sealed with the master key;
-- `parameters` shows them masked.
ALTER TABLE activations ADD COLUMN secret_parameters BLOB;

-- Bytes of key and value, summed per (tenant, service) for quotas.kv_bytes.
ALTER TABLE kv ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE kv SET size = LENGTH(CAST(key AS BLOB)) + LENGTH(value);
