-- Pacing per recipient domain (docs/bounces.md): the big mailbox providers throttle a sender
-- that sends them too much too fast. A rule names a group of domains and how many messages a
-- minute they get from this installation (all accounts together); domains in no rule are not
-- paced. The defaults are a decision, generous enough for a billing day (docs/bounces.md).
CREATE TABLE domain_pacing (
    name       TEXT NOT NULL,
    domains    TEXT NOT NULL,
    per_minute BIGINT NOT NULL CHECK (per_minute > 0),
    CONSTRAINT domain_pacing_name_key UNIQUE (name)
);
INSERT INTO domain_pacing (name, domains, per_minute) VALUES
    ('gmail', 'gmail.com,googlemail.com', 600),
    ('microsoft', 'outlook.com,hotmail.com,live.com,msn.com,outlook.com.br,hotmail.com.br,live.com.br', 300),
    ('yahoo', 'yahoo.com,yahoo.com.br,ymail.com,rocketmail.com', 300),
    ('uol', 'uol.com.br', 120),
    ('bol', 'bol.com.br', 120),
    ('terra', 'terra.com.br', 120);

-- The pacing ledger: one row per message claimed for a paced group, within the last minute.
CREATE TABLE domain_sends (
    id         @ID@,
    pacing     TEXT NOT NULL,
    notice_id  BIGINT NOT NULL,
    sent_at    BIGINT NOT NULL
);
CREATE INDEX domain_sends_window_idx ON domain_sends (pacing, sent_at);

-- A throttling answer (421, or an enhanced status 4.7.x) from an account's server about a
-- recipient domain pauses that account's sends to the domain (its group, when it has one) until
-- `until`; each further one while paused doubles the pause (1 minute up to 30).
CREATE TABLE domain_pauses (
    account_id BIGINT NOT NULL,
    domain_key TEXT NOT NULL,
    until      BIGINT NOT NULL,
    strikes    BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    CONSTRAINT domain_pauses_key UNIQUE (account_id, domain_key)
);
