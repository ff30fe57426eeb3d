-- WhatsApp through Meta's Cloud API, delivery receipts, opt-outs and replies (#22 items 2, 3
-- and 4, docs/whatsapp.md).

-- A WhatsApp Business account's phone number. The access token and the app secret are sealed
-- with the master key; the verify token (Meta's webhook handshake) is kept as its SHA-256 only.
-- api_url is Meta's Graph API with its version (https://graph.facebook.com/v21.0), or a local
-- server in tests. daily_limit is the messaging limit per rolling 24 hours.
CREATE TABLE whatsapp_accounts (
    id                   @ID@,
    name                 TEXT NOT NULL,
    phone_number_id      TEXT NOT NULL,
    business_account_id  TEXT NOT NULL,
    token_enc            TEXT NOT NULL,
    app_secret_enc       TEXT NOT NULL,
    verify_token_sha256  TEXT NOT NULL,
    api_url              TEXT NOT NULL,
    daily_limit          BIGINT CHECK (daily_limit > 0),
    active               BIGINT NOT NULL DEFAULT 1,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CONSTRAINT whatsapp_accounts_name_key UNIQUE (name)
);

-- The send ledger of WhatsApp accounts, as gateway_sends is for SMS gateways.
CREATE TABLE whatsapp_sends (
    id         @ID@,
    account_id BIGINT NOT NULL REFERENCES whatsapp_accounts (id),
    notice_id  BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL
);
CREATE INDEX whatsapp_sends_window_idx ON whatsapp_sends (account_id, sent_at);

-- A layout's WhatsApp form: an approved template of an account, its language, the Régua
-- variables of its body parameters {{1}}..{{n}} in order (comma-separated), whether its
-- document header carries the boleto PDF, and the variable its URL button takes (empty: none).
CREATE TABLE layout_whatsapp (
    layout_id   BIGINT PRIMARY KEY REFERENCES layouts (id),
    account_id  BIGINT NOT NULL REFERENCES whatsapp_accounts (id),
    template    TEXT NOT NULL,
    language    TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '',
    document    BIGINT NOT NULL DEFAULT 0,
    button      TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL
);

-- The provider's id of each message sent (Meta's wamid, an SMS gateway's message id), so a
-- receipt finds its notice. sender is 'whatsapp' or 'sms:<gateway id>'.
CREATE TABLE provider_messages (
    sender      TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    notice_id   BIGINT NOT NULL REFERENCES notices (id),
    PRIMARY KEY (sender, provider_id)
);
CREATE INDEX provider_messages_notice_idx ON provider_messages (notice_id);

-- Receipts: what the provider said happened to a message after accepting it (sent, delivered,
-- read, failed), with its error code and title. notices.receipt keeps the furthest one for
-- listings.
CREATE TABLE notice_receipts (
    id          @ID@,
    notice_id   BIGINT NOT NULL REFERENCES notices (id),
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    at          BIGINT NOT NULL,
    code        TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);
CREATE INDEX notice_receipts_notice_idx ON notice_receipts (notice_id, at);
ALTER TABLE notices ADD COLUMN receipt TEXT;

-- Numbers WhatsApp must not be used for: opted out (the subscriber wrote PARAR, SAIR or STOP)
-- or unusable (Meta answered that the number is not a WhatsApp user). An operator's removal
-- makes the number usable again; the audit log keeps who did it.
CREATE TABLE whatsapp_blocks (
    phone      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('optout', 'unusable')),
    detail     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Messages subscribers sent (WhatsApp replies), shown on the customer's timeline.
CREATE TABLE inbound_messages (
    id          @ID@,
    channel     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    phone       TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    body        TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    CONSTRAINT inbound_messages_provider_key UNIQUE (channel, provider_id)
);
CREATE INDEX inbound_messages_customer_idx ON inbound_messages (customer_id, received_at);

-- SMS delivery receipts (#22 item 4): where the gateway's reply carries the message id, where
-- the receipt it posts carries the id and the status, which status values mean delivered and
-- failed (comma-separated), and the SHA-256 of the token its receipt URL carries.
ALTER TABLE sms_gateways ADD COLUMN reply_id_path TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_gateways ADD COLUMN receipt_id_path TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_gateways ADD COLUMN receipt_status_path TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_gateways ADD COLUMN receipt_delivered TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_gateways ADD COLUMN receipt_failed TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_gateways ADD COLUMN receipt_token_sha256 TEXT;
