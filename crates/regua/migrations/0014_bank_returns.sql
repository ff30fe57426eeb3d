-- Bank return files (arquivo de retorno) and what each of their records did. A file is known by
-- the SHA-256 of its bytes: the same file again changes nothing.
CREATE TABLE bank_return_files (
    id           @ID@,
    sha256       TEXT NOT NULL,
    name         TEXT NOT NULL,
    bank         TEXT NOT NULL,
    layout       TEXT NOT NULL,
    records      BIGINT NOT NULL,
    paid         BIGINT NOT NULL,
    unmatched    BIGINT NOT NULL,
    imported_at  BIGINT NOT NULL,
    imported_by  TEXT NOT NULL,
    CONSTRAINT bank_return_files_sha256_key UNIQUE (sha256)
);

-- One row per title record of a file: the bank's event, the invoice it names (none when no
-- invoice matches), and what Régua did with it.
CREATE TABLE bank_events (
    id             @ID@,
    file_id        BIGINT NOT NULL REFERENCES bank_return_files (id),
    line           BIGINT NOT NULL,
    invoice_id     BIGINT REFERENCES invoices (id),
    our_number     TEXT NOT NULL,
    occurrence     TEXT NOT NULL,
    event          TEXT NOT NULL CHECK (event IN ('registered', 'rejected', 'paid', 'written_off', 'other')),
    outcome        TEXT NOT NULL CHECK (outcome IN ('paid', 'duplicate_payment', 'underpaid', 'flagged', 'recorded', 'unmatched')),
    occurred_on    TEXT,
    credit_on      TEXT,
    face_cents     BIGINT NOT NULL,
    paid_cents     BIGINT NOT NULL,
    fee_cents      BIGINT NOT NULL,
    interest_cents BIGINT NOT NULL,
    discount_cents BIGINT NOT NULL,
    reasons        TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX bank_events_file_idx ON bank_events (file_id);
CREATE INDEX bank_events_invoice_idx ON bank_events (invoice_id);

-- The bank's word on an invoice's registration: registered, rejected (with the reason, until
-- someone acts) or written off.
ALTER TABLE invoices ADD COLUMN bank_status TEXT;
ALTER TABLE invoices ADD COLUMN bank_status_reason TEXT;

-- A return file uploaded on the page and previewed, waiting for the operator's confirmation
-- (base64 of its bytes); removed once imported.
CREATE TABLE bank_return_uploads (
    id          @ID@,
    name        TEXT NOT NULL,
    content     TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL
);

-- The PSPs whose PIX webhooks Régua accepts, each by its secret (only its SHA-256 is kept).
CREATE TABLE pix_psps (
    id         @ID@,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT pix_psps_name_key UNIQUE (name),
    CONSTRAINT pix_psps_token_key UNIQUE (token_hash)
);

-- Every PIX payment a PSP told of, once per end-to-end id, with the invoice its txid names
-- (none when it names none) and what Régua did.
CREATE TABLE pix_payments (
    id            @ID@,
    end_to_end_id TEXT NOT NULL,
    txid          TEXT NOT NULL,
    amount_cents  BIGINT NOT NULL,
    paid_at       TEXT NOT NULL,
    psp           TEXT NOT NULL,
    invoice_id    BIGINT REFERENCES invoices (id),
    outcome       TEXT NOT NULL CHECK (outcome IN ('paid', 'underpaid', 'duplicate_payment', 'unmatched')),
    created_at    BIGINT NOT NULL,
    CONSTRAINT pix_payments_e2e_key UNIQUE (end_to_end_id)
);

-- The ERP's own boleto, carried unchanged: the barcode it registered at the bank and its PIX
-- copia-e-cola (none for the boletos Régua issues itself).
ALTER TABLE invoices ADD COLUMN registered_barcode TEXT;
ALTER TABLE invoices ADD COLUMN registered_pix TEXT;
