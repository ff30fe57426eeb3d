-- Suspension notices and the SMS and push channels.

-- Temporary suspensions of a contract (suspensão temporária): both dates inclusive, in the
-- ISP's calendar. One standing suspension per contract and start date, so a repeated API call or
-- import finds the one it made instead of making another; cancelled_at is set when it is ended
-- early or withdrawn, which frees its start date for a new request.
CREATE TABLE suspensions (
    id           @ID@,
    contract_id  BIGINT NOT NULL REFERENCES contracts (id),
    starts_on    TEXT NOT NULL,
    ends_on      TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    cancelled_at BIGINT,
    CHECK (ends_on >= starts_on)
);
CREATE UNIQUE INDEX suspensions_contract_start_key ON suspensions (contract_id, starts_on)
    WHERE cancelled_at IS NULL;
CREATE INDEX suspensions_ends_idx ON suspensions (ends_on);

-- SMS gateways: any provider's HTTP API. headers_enc is the JSON list of "Name: value" headers
-- sealed with the master key (they carry the provider's credentials); header_names keeps the
-- names alone, for listings. The body and URL are templates with {{telefone}} and {{mensagem}}.
-- A reply counts as success when its status is 2xx and, if success_contains is set, its body
-- contains that text.
CREATE TABLE sms_gateways (
    id               @ID@,
    name             TEXT NOT NULL,
    method           TEXT NOT NULL DEFAULT 'POST' CHECK (method IN ('GET', 'POST', 'PUT')),
    url              TEXT NOT NULL,
    headers_enc      TEXT,
    header_names     TEXT NOT NULL DEFAULT '',
    body_template    TEXT NOT NULL DEFAULT '',
    success_contains TEXT,
    hourly_limit     BIGINT CHECK (hourly_limit > 0),
    daily_limit      BIGINT CHECK (daily_limit > 0),
    active           BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT sms_gateways_name_key UNIQUE (name)
);

-- The send ledger of SMS gateways, as account_sends is for e-mail accounts.
CREATE TABLE gateway_sends (
    id         @ID@,
    gateway_id BIGINT NOT NULL REFERENCES sms_gateways (id),
    notice_id  BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL
);
CREATE INDEX gateway_sends_window_idx ON gateway_sends (gateway_id, sent_at);

-- The Firebase configuration ("arquivo de configuração do Firebase"): one row. The service
-- account's private key is sealed with the master key; fcm_url is where messages are posted
-- (https://fcm.googleapis.com in production).
CREATE TABLE push_config (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    project_id      TEXT NOT NULL,
    client_email    TEXT NOT NULL,
    private_key_id  TEXT NOT NULL DEFAULT '',
    private_key_enc TEXT NOT NULL,
    token_uri       TEXT NOT NULL,
    fcm_url         TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- A notice's SMS gateway, the suspension it tells of, and the channels still to try, in order
-- (comma-separated), when its own cannot reach the customer.
ALTER TABLE notices ADD COLUMN gateway_id BIGINT REFERENCES sms_gateways (id);
ALTER TABLE notices ADD COLUMN suspension_id BIGINT REFERENCES suspensions (id);
ALTER TABLE notices ADD COLUMN fallback TEXT NOT NULL DEFAULT '';
