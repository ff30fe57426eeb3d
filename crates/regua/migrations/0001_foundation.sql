-- Foundation: settings, wallets, billing methods, customers, contracts, invoices.
-- One file for SQLite and PostgreSQL. `@ID@` is the only dialect token: an auto-increment
-- BIGINT primary key (see src/store/migrate.rs). Dates are TEXT `YYYY-MM-DD` (they sort and
-- compare as dates in both engines); instants are BIGINT milliseconds since the Unix epoch;
-- money is BIGINT centavos; flags are BIGINT 0/1 so both engines decode them alike.

-- Global parameters ("parâmetros gerais"), e.g. default_delivery_type.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Carteiras de cobrança. next_our_number is the per-wallet nosso-número sequence, advanced in
-- the same transaction that uses it.
CREATE TABLE wallets (
    id               @ID@,
    name             TEXT NOT NULL,
    bank_code        TEXT NOT NULL,
    agency           TEXT NOT NULL,
    account          TEXT NOT NULL,
    wallet_code      TEXT NOT NULL,
    agreement        TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('bank', 'gateway')),
    send_on_generate BIGINT NOT NULL DEFAULT 0,
    pix_key          TEXT,
    next_our_number  BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    CONSTRAINT wallets_name_key UNIQUE (name)
);

-- Formas de cobrança.
CREATE TABLE billing_methods (
    id         @ID@,
    name       TEXT NOT NULL,
    wallet_id  BIGINT NOT NULL REFERENCES wallets (id),
    created_at BIGINT NOT NULL,
    CONSTRAINT billing_methods_name_key UNIQUE (name)
);

CREATE TABLE customers (
    id           @ID@,
    external_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    document     TEXT NOT NULL,
    email        TEXT,
    mobile_phone TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT customers_external_id_key UNIQUE (external_id)
);
CREATE INDEX customers_document_idx ON customers (document);

CREATE TABLE contracts (
    id                   @ID@,
    external_id          TEXT NOT NULL,
    customer_id          BIGINT NOT NULL REFERENCES customers (id),
    plan                 TEXT NOT NULL,
    monthly_amount_cents BIGINT NOT NULL CHECK (monthly_amount_cents >= 0),
    due_day              BIGINT NOT NULL CHECK (due_day BETWEEN 1 AND 31),
    billing_method_id    BIGINT NOT NULL REFERENCES billing_methods (id),
    wallet_id            BIGINT NOT NULL REFERENCES wallets (id),
    delivery_type        TEXT NOT NULL CHECK (delivery_type IN ('email', 'printed')),
    status               TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CONSTRAINT contracts_external_id_key UNIQUE (external_id)
);
CREATE INDEX contracts_customer_idx ON contracts (customer_id);

-- Faturas. competence (YYYY-MM) is set on generated invoices only; the unique constraint on
-- (contract_id, competence) makes "gerar financeiro" idempotent even under concurrent runs
-- (NULLs never conflict, so imported invoices are free of it). delivery_type is the contract's
-- at generation time: a snapshot, not a reference.
CREATE TABLE invoices (
    id                @ID@,
    external_id       TEXT NOT NULL,
    customer_id       BIGINT NOT NULL REFERENCES customers (id),
    contract_id       BIGINT NOT NULL REFERENCES contracts (id),
    billing_method_id BIGINT NOT NULL REFERENCES billing_methods (id),
    wallet_id         BIGINT NOT NULL REFERENCES wallets (id),
    amount_cents      BIGINT NOT NULL CHECK (amount_cents >= 0),
    issue_date        TEXT NOT NULL,
    due_date          TEXT NOT NULL,
    competence        TEXT,
    status            TEXT NOT NULL CHECK (status IN ('open', 'paid', 'cancelled')),
    paid_on           TEXT,
    paid_amount_cents BIGINT,
    our_number        BIGINT NOT NULL,
    delivery_type     TEXT NOT NULL CHECK (delivery_type IN ('email', 'printed')),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT invoices_external_id_key UNIQUE (external_id),
    CONSTRAINT invoices_contract_competence_key UNIQUE (contract_id, competence),
    CONSTRAINT invoices_wallet_our_number_key UNIQUE (wallet_id, our_number),
    CONSTRAINT invoices_paid_fields CHECK ((status = 'paid') = (paid_on IS NOT NULL AND paid_amount_cents IS NOT NULL))
);
CREATE INDEX invoices_contract_due_idx ON invoices (contract_id, due_date);
CREATE INDEX invoices_customer_idx ON invoices (customer_id);
CREATE INDEX invoices_status_due_idx ON invoices (status, due_date);
