-- Remessa files: what Régua sent each wallet's bank to register, write off or change, and the
-- file itself (ASCII text), so downloading file N again gives the same bytes. The sequence
-- number (NSA) is per wallet, incremented once per new file.
ALTER TABLE wallets ADD COLUMN remessa_sequence BIGINT NOT NULL DEFAULT 0;

CREATE TABLE remessa_files (
    id           @ID@,
    wallet_id    BIGINT NOT NULL REFERENCES wallets (id),
    sequence     BIGINT NOT NULL,
    layout       TEXT NOT NULL,
    name         TEXT NOT NULL,
    content      TEXT NOT NULL,
    entries      BIGINT NOT NULL,
    write_offs   BIGINT NOT NULL,
    changes      BIGINT NOT NULL,
    generated_at BIGINT NOT NULL,
    generated_by TEXT NOT NULL,
    CONSTRAINT remessa_files_wallet_sequence_key UNIQUE (wallet_id, sequence)
);

-- One row per title line of a file: the invoice, what was asked, and the due date and amount
-- it carried (a later change of due date is sent as an "alteração").
CREATE TABLE remessa_items (
    id           @ID@,
    file_id      BIGINT NOT NULL REFERENCES remessa_files (id),
    invoice_id   BIGINT NOT NULL REFERENCES invoices (id),
    movement     TEXT NOT NULL CHECK (movement IN ('entry', 'write_off', 'change')),
    due_date     TEXT NOT NULL,
    amount_cents BIGINT NOT NULL
);
CREATE INDEX remessa_items_invoice_idx ON remessa_items (invoice_id);
CREATE INDEX remessa_items_file_idx ON remessa_items (file_id);
