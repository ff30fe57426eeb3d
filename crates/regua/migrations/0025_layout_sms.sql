-- A layout's SMS text (#22 item 4, docs/layouts.md "SMS"): a template with the layout's
-- variables, sent when the notice goes by SMS; empty, the SMS is the company's name and the
-- subject, as before. Versioned with the rest of the layout.
ALTER TABLE layouts ADD COLUMN sms TEXT NOT NULL DEFAULT '';
ALTER TABLE layout_versions ADD COLUMN sms TEXT NOT NULL DEFAULT '';
