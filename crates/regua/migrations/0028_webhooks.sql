-- Outbound webhooks (#23 item 4, docs/webhooks.md): endpoints of the ISP's network, ERP or bot,
-- each with the events it wants and its secret (Standard Webhooks `whsec_…`, sealed with the
-- master key; during a rotation the previous one signs too, until previous_until); and one
-- delivery per event and endpoint, in a durable outbox with leases and retries.
CREATE TABLE webhook_endpoints (
    id              @ID@,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret_enc      TEXT NOT NULL,
    previous_enc    TEXT,
    previous_until  BIGINT,
    active          BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              @ID@,
    endpoint_id     BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    message_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    last_code       BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at);
