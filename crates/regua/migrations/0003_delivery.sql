-- Delivery: SMTP accounts, the outbox (notices), every delivery attempt, and the per-account
-- send ledger behind rate limits.

-- E-mail accounts ("E-mail SMTP"). transport 'smtp' talks to host:port; transport 'file'
-- writes each message as an .eml file into `folder` (the demo's channel). password_enc is the
-- password sealed with the master key (REGUA_SECRET_KEY): never stored or shown in clear.
-- NULL limits mean unlimited. active = 0 means removed: kept so old notices still name it.
CREATE TABLE smtp_accounts (
    id                  @ID@,
    name                TEXT NOT NULL,
    transport           TEXT NOT NULL CHECK (transport IN ('smtp', 'file')),
    host                TEXT NOT NULL DEFAULT '',
    port                BIGINT NOT NULL DEFAULT 0,
    security            TEXT NOT NULL DEFAULT 'starttls' CHECK (security IN ('none', 'starttls', 'tls')),
    username            TEXT,
    password_enc        TEXT,
    folder              TEXT,
    ca_file             TEXT,
    from_address        TEXT NOT NULL,
    from_name           TEXT NOT NULL DEFAULT '',
    test_recipient      TEXT,
    hourly_limit        BIGINT CHECK (hourly_limit > 0),
    daily_limit         BIGINT CHECK (daily_limit > 0),
    default_layout_id   BIGINT REFERENCES layouts (id),
    fallback_account_id BIGINT REFERENCES smtp_accounts (id),
    dkim_selector       TEXT,
    dkim_domain         TEXT,
    dkim_key_file       TEXT,
    active              BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT smtp_accounts_name_key UNIQUE (name)
);

-- The outbox: one row per notice. dedup_key is the notice's identity (rule:<invoice>:<rule>,
-- portal:<request>, …): enqueuing a key that exists is a no-op. A claimed notice is 'sending'
-- with a lease; a worker that dies leaves the lease to expire and another takes it again.
-- message_id is derived from the dedup key, so a retry after a crash carries the same id.
CREATE TABLE notices (
    id              @ID@,
    dedup_key       TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    account_id      BIGINT REFERENCES smtp_accounts (id),
    recipient       TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    layout_id       BIGINT NOT NULL REFERENCES layouts (id),
    layout_version  BIGINT,
    customer_id     BIGINT REFERENCES customers (id),
    contract_id     BIGINT REFERENCES contracts (id),
    invoice_id      BIGINT REFERENCES invoices (id),
    attach_boleto   BIGINT NOT NULL DEFAULT 0,
    actor           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'retrying', 'dead', 'skipped')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    last_error      TEXT,
    message_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    CONSTRAINT notices_dedup_key_key UNIQUE (dedup_key)
);
CREATE INDEX notices_due_idx ON notices (status, next_attempt_at);
CREATE INDEX notices_customer_idx ON notices (customer_id, created_at);
CREATE INDEX notices_invoice_idx ON notices (invoice_id, created_at);

-- The delivery log: every attempt, its outcome and the server's answer.
CREATE TABLE delivery_attempts (
    id           @ID@,
    notice_id    BIGINT NOT NULL REFERENCES notices (id),
    attempted_at BIGINT NOT NULL,
    channel      TEXT NOT NULL,
    account_id   BIGINT,
    recipient    TEXT NOT NULL,
    reply_code   BIGINT,
    reply_text   TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL CHECK (outcome IN ('sent', 'retrying', 'dead', 'skipped')),
    duration_ms  BIGINT NOT NULL,
    worker       TEXT NOT NULL
);
CREATE INDEX delivery_attempts_notice_idx ON delivery_attempts (notice_id);
CREATE INDEX delivery_attempts_time_idx ON delivery_attempts (attempted_at);

-- The send ledger behind rate limits: a row per message an account sent or is sending now
-- (reserved at claim time, inside the claim's transaction, so several workers never reserve
-- past a limit). A failed attempt removes its reservation; a crashed worker's stays, which
-- only errs on the safe side.
CREATE TABLE account_sends (
    id         @ID@,
    account_id BIGINT NOT NULL REFERENCES smtp_accounts (id),
    notice_id  BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL
);
CREATE INDEX account_sends_window_idx ON account_sends (account_id, sent_at);
CREATE INDEX account_sends_notice_idx ON account_sends (notice_id);

-- A customer's open invoices (every message's `faturas_em_aberto`): without it SQLite walks
-- every open invoice of the base through invoices_status_due_idx.
CREATE INDEX invoices_customer_status_due_idx ON invoices (customer_id, status, due_date);
