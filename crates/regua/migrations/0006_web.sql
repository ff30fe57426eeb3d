-- The web layer: users and their sessions, login attempts (throttling) and the audit trail of
-- settings changes.

-- Usuários. password_hash is argon2id in PHC form; role is one of the four of docs/web.md.
CREATE TABLE users (
    id            @ID@,
    login         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'finance', 'support', 'readonly')),
    active        BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT users_login_key UNIQUE (login)
);

-- A session is known by the SHA-256 of its cookie token (the token itself is never stored), and
-- carries the CSRF token its forms must return.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Failed logins, by login and by client address, for throttling.
CREATE TABLE login_failures (
    id        @ID@,
    login     TEXT NOT NULL,
    client    TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_login_idx ON login_failures (login, failed_at);
CREATE INDEX login_failures_client_idx ON login_failures (client, failed_at);

-- Who changed which setting, when, from what to what (secrets masked before they get here).
CREATE TABLE audit_log (
    id      @ID@,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    entity  TEXT NOT NULL,
    before  TEXT,
    after   TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
