-- Suspension for non-payment by the book (#23, docs/debt.md): each contract's place on the
-- clock, the evidence that moves it, and every transition with its reason (the record an ISP
-- shows Anatel or Procon). episode counts the contract's debt episodes (a paid debt closes one),
-- so each episode's notices have their own dedup keys. Dates are calendar dates in the ISP's
-- time zone (AAAA-MM-DD).
CREATE TABLE contract_debt (
    contract_id                BIGINT PRIMARY KEY REFERENCES contracts (id),
    state                      TEXT NOT NULL CHECK (state IN ('regular', 'notified', 'suspension_due',
                                   'suspended', 'termination_notified', 'termination_due', 'terminated', 'restore_due')),
    episode                    BIGINT NOT NULL DEFAULT 1,
    notice_id                  BIGINT REFERENCES notices (id),
    notice_sent_on             TEXT,
    suspended_on               TEXT,
    termination_notice_id      BIGINT REFERENCES notices (id),
    termination_notice_sent_on TEXT,
    restore_due_at             BIGINT,
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX contract_debt_state_idx ON contract_debt (state);

CREATE TABLE contract_debt_events (
    id          @ID@,
    contract_id BIGINT NOT NULL REFERENCES contracts (id),
    at          BIGINT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL
);
CREATE INDEX contract_debt_events_contract_idx ON contract_debt_events (contract_id, at);
