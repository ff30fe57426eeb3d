-- A wallet's registration mode and its terms for late and early payment (docs/charges.md).
-- Percentages in basis points (1 % = 100). Existing wallets keep today's behaviour: the ERP
-- registers, nothing is charged or granted.
ALTER TABLE wallets ADD COLUMN registration TEXT NOT NULL DEFAULT 'erp'
    CHECK (registration IN ('erp', 'cnab240', 'cnab400'));
ALTER TABLE wallets ADD COLUMN fine_bp BIGINT NOT NULL DEFAULT 0 CHECK (fine_bp >= 0);
ALTER TABLE wallets ADD COLUMN interest_bp_month BIGINT NOT NULL DEFAULT 0 CHECK (interest_bp_month >= 0);
ALTER TABLE wallets ADD COLUMN discount_bp BIGINT NOT NULL DEFAULT 0 CHECK (discount_bp >= 0 AND discount_bp < 10000);
ALTER TABLE wallets ADD COLUMN discount_days BIGINT NOT NULL DEFAULT 0 CHECK (discount_days >= 0);
ALTER TABLE wallets ADD COLUMN write_off_days BIGINT CHECK (write_off_days >= 0);
ALTER TABLE wallets ADD COLUMN business_only BIGINT NOT NULL DEFAULT 0;
