-- Trust unlock ("desbloqueio de confiança", #23 item 5, docs/debt.md): a subscriber suspended
-- for debt asks for a few days of service; the contract's row keeps the last day granted, and
-- every grant is kept (how often one was given is the rule's input and the evidence).
ALTER TABLE contract_debt ADD COLUMN trust_until TEXT;
CREATE TABLE trust_unlocks (
    id          @ID@,
    contract_id BIGINT NOT NULL REFERENCES contracts (id),
    granted_on  TEXT NOT NULL,
    until_on    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX trust_unlocks_contract_idx ON trust_unlocks (contract_id, granted_on);
