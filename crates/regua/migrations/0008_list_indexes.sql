-- The invoices page lists the latest due first, without a status filter too: without this index
-- every page sorts every invoice.
CREATE INDEX invoices_due_id_idx ON invoices (due_date, id);
