-- Regras de envio: per billing method, a kind and a number of days from the due date, and the
-- layout to send. The same kind twice only with different days; days are 0 exactly for on_due.
CREATE TABLE send_rules (
    id                @ID@,
    billing_method_id BIGINT NOT NULL REFERENCES billing_methods (id),
    kind              TEXT NOT NULL CHECK (kind IN ('before_due', 'on_due', 'after_due')),
    days              BIGINT NOT NULL CHECK (days >= 0 AND days <= 365),
    layout_id         BIGINT NOT NULL REFERENCES layouts (id),
    created_at        BIGINT NOT NULL,
    CONSTRAINT send_rules_method_kind_days_key UNIQUE (billing_method_id, kind, days),
    CONSTRAINT send_rules_on_due_days CHECK ((kind = 'on_due') = (days = 0))
);
