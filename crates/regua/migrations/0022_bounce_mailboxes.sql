-- Mailboxes the bounces are read from (docs/bounces.md): an IMAP account the ISP already has,
-- polled over TLS (implicit or STARTTLS) with a login. password_enc is sealed with the master
-- key like an SMTP password. A message read is moved to move_to when it is set, else flagged
-- with the keyword $ReguaLido (or \Seen where the server keeps no keywords), so it is not read
-- twice; the bounce's SHA-256 makes a second reading harmless anyway.
CREATE TABLE bounce_mailboxes (
    id             @ID@,
    name           TEXT NOT NULL,
    host           TEXT NOT NULL,
    port           BIGINT NOT NULL,
    security       TEXT NOT NULL CHECK (security IN ('tls', 'starttls')),
    username       TEXT NOT NULL,
    password_enc   TEXT NOT NULL,
    folder         TEXT NOT NULL,
    move_to        TEXT,
    ca_file        TEXT,
    last_polled_at BIGINT,
    last_result    TEXT NOT NULL DEFAULT '',
    last_error     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT bounce_mailboxes_name_key UNIQUE (name)
);
