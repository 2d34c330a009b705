-- The W3C traceparent of the span that planned a delivery, when traces are on (NULL when
-- they are off): the worker's attempt joins the trigger's trace, on any instance, after any
-- restart.
ALTER TABLE deliveries ADD COLUMN traceparent TEXT;

-- Where a provider or tenant is told by e-mail (with `[smtp]` configured) that a webhook's
-- circuit opened or that the host disabled one of its webhooks; NULL: not by e-mail.
ALTER TABLE providers ADD COLUMN contact_email TEXT;
ALTER TABLE tenants ADD COLUMN contact_email TEXT;
