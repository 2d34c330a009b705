-- A webhook may belong to no service: an MPT vendor's webhook belongs to the provider as a
-- whole and is reached by every tenant that activated any of its services.
ALTER TABLE webhooks ALTER COLUMN service_id DROP NOT NULL;
