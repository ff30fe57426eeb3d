-- The suspension policy of one billing method (#23 item 1, docs/debt.md), overriding the
-- ISP's (the debt_* settings) for its contracts; the legal floors as checks.
CREATE TABLE debt_method_policies (
    billing_method_id                         BIGINT PRIMARY KEY REFERENCES billing_methods (id),
    notice_after_overdue_days                 BIGINT NOT NULL CHECK (notice_after_overdue_days >= 1),
    suspension_after_notice_days              BIGINT NOT NULL CHECK (suspension_after_notice_days >= 15),
    termination_notice_after_suspension_days  BIGINT NOT NULL CHECK (termination_notice_after_suspension_days >= 1),
    termination_after_notice_days             BIGINT NOT NULL CHECK (termination_after_notice_days >= 1),
    restore_within_hours                      BIGINT NOT NULL CHECK (restore_within_hours BETWEEN 1 AND 24),
    updated_at                                BIGINT NOT NULL,
    CHECK (termination_notice_after_suspension_days + termination_after_notice_days >= 60)
);
