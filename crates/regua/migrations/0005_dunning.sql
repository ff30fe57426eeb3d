-- Dunning: overdue bands, routines and their runs, the ISP's holidays, pauses ("promessa de
-- pagamento"), the letters waiting for review, and the invoices of a notice that carries
-- several (the message sent when a contract's invoices are generated).

-- Faixas de atraso: days overdue from..to (inclusive; bands may not overlap, checked by the
-- store), the layout of the e-mail, and whether a PDF collection letter goes with it after an
-- operator reviews it ('email_and_letter').
CREATE TABLE overdue_bands (
    id         @ID@,
    from_days  BIGINT NOT NULL CHECK (from_days >= 1),
    to_days    BIGINT NOT NULL CHECK (to_days <= 3650),
    layout_id  BIGINT NOT NULL REFERENCES layouts (id),
    generation TEXT NOT NULL CHECK (generation IN ('email', 'email_and_letter')),
    created_at BIGINT NOT NULL,
    CONSTRAINT overdue_bands_order CHECK (to_days >= from_days)
);

-- Rotinas: a task on some weekdays (ISO numbers, Monday = 1, comma-separated) at a time of day
-- in the ISP's time zone.
CREATE TABLE routines (
    id              @ID@,
    name            TEXT NOT NULL,
    task            TEXT NOT NULL CHECK (task IN ('send_emails')),
    weekdays        TEXT NOT NULL,
    time_of_day     TEXT NOT NULL,
    run_on_holidays BIGINT NOT NULL DEFAULT 0,
    active          BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    CONSTRAINT routines_name_key UNIQUE (name)
);

-- Every run of the dunning task, scheduled or by hand. The catch-up window starts after the
-- last completed run before the run's date. Dry runs are not recorded.
CREATE TABLE routine_runs (
    id          @ID@,
    routine_id  BIGINT REFERENCES routines (id),
    run_date    TEXT NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    planned     BIGINT NOT NULL DEFAULT 0,
    enqueued    BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX routine_runs_date_idx ON routine_runs (status, run_date);

-- Feriados the ISP adds: one-off (that date) or yearly (that day and month every year), for a
-- state or a city (place: "SP", "Campinas/SP").
CREATE TABLE holidays (
    id         @ID@,
    holiday_on TEXT NOT NULL,
    name       TEXT NOT NULL,
    yearly     BIGINT NOT NULL DEFAULT 0,
    scope      TEXT NOT NULL CHECK (scope IN ('national', 'state', 'city')),
    place      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Promessas de pagamento: dunning paused for a customer or an invoice through `until`.
CREATE TABLE pauses (
    id          @ID@,
    customer_id BIGINT REFERENCES customers (id),
    invoice_id  BIGINT REFERENCES invoices (id),
    until       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT pauses_one_target CHECK ((customer_id IS NULL) <> (invoice_id IS NULL))
);
CREATE INDEX pauses_until_idx ON pauses (until);

-- Letters of 'email_and_letter' bands wait here for an operator; approving one enqueues its
-- notice (same dedup key), rejecting it records the decision. Either way the band is done.
CREATE TABLE letter_reviews (
    id          @ID@,
    dedup_key   TEXT NOT NULL,
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id),
    band_id     BIGINT NOT NULL REFERENCES overdue_bands (id),
    layout_id   BIGINT NOT NULL REFERENCES layouts (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at  BIGINT NOT NULL,
    decided_at  BIGINT,
    decided_by  TEXT,
    CONSTRAINT letter_reviews_dedup_key_key UNIQUE (dedup_key)
);
CREATE INDEX letter_reviews_status_idx ON letter_reviews (status, id);
CREATE INDEX letter_reviews_invoice_idx ON letter_reviews (invoice_id);

-- A notice about several invoices (sent when a contract's invoices are generated): all of them,
-- including the one in notices.invoice_id. The worker attaches one PDF with a page per invoice.
CREATE TABLE notice_invoices (
    notice_id  BIGINT NOT NULL REFERENCES notices (id),
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    CONSTRAINT notice_invoices_pkey PRIMARY KEY (notice_id, invoice_id)
);
CREATE INDEX notice_invoices_invoice_idx ON notice_invoices (invoice_id);

-- The collection letter (PDF) of an approved 'email_and_letter' band goes with the e-mail.
ALTER TABLE notices ADD COLUMN attach_letter BIGINT NOT NULL DEFAULT 0;
