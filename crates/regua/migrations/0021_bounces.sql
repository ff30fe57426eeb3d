-- Bounces read back (docs/bounces.md): one row per returned message that named one of our
-- notices by its signed return path, known by the message's SHA-256 so reading a mailbox again
-- records nothing twice.
CREATE TABLE bounces (
    id             @ID@,
    message_sha256 TEXT NOT NULL,
    notice_id      BIGINT NOT NULL REFERENCES notices (id),
    address        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'not_a_bounce')),
    status         TEXT,
    diagnostic     TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    CONSTRAINT bounces_message_key UNIQUE (message_sha256)
);
CREATE INDEX bounces_address_idx ON bounces (address);

-- Addresses no e-mail goes to: a hard bounce, a complaint, or soft bounces in a row. Clearing
-- one (the clerk fixed the address) deletes the row; the trail keeps it.
CREATE TABLE email_suppressions (
    address    TEXT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('hard', 'complaint', 'soft')),
    status     TEXT,
    diagnostic TEXT NOT NULL,
    bounce_id  BIGINT REFERENCES bounces (id),
    created_at BIGINT NOT NULL,
    CONSTRAINT email_suppressions_address_key UNIQUE (address)
);
