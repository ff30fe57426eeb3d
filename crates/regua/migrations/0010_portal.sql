-- Central do Assinante (issue #8). A subscriber logs in with a CPF/CNPJ: the customers sharing
-- that document share the login and see each other's invoices, as one person with several
-- records would expect.
CREATE TABLE portal_accounts (
    document      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- First-access and new-password links. The token is found by its hash; its text is kept only
-- until its e-mail is sent (or given up on), so the worker can write it into the message.
CREATE TABLE portal_tokens (
    id          @ID@,
    token_hash  TEXT NOT NULL,
    token_plain TEXT,
    document    TEXT NOT NULL,
    notice_id   BIGINT REFERENCES notices (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT portal_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX portal_tokens_notice_idx ON portal_tokens (notice_id);
CREATE INDEX portal_tokens_document_idx ON portal_tokens (document, created_at);

-- Portal sessions: a browser's cookie (`web`) or the app's bearer token (`app`).
CREATE TABLE portal_sessions (
    token_hash TEXT PRIMARY KEY,
    document   TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('web', 'app')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_document_idx ON portal_sessions (document);

-- The ISP app's devices that take push notifications, by the document logged in on them.
CREATE TABLE portal_devices (
    id         @ID@,
    document   TEXT NOT NULL,
    token      TEXT NOT NULL,
    platform   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT portal_devices_token_key UNIQUE (token)
);
CREATE INDEX portal_devices_document_idx ON portal_devices (document);
