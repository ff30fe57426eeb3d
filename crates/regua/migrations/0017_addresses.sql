-- The payer's postal address, which a registered boleto (and every bank's remessa) carries.
-- Optional: an ERP that does not send it leaves it empty; a remessa refuses an invoice whose
-- payer has none (docs/remessa.md).
ALTER TABLE customers ADD COLUMN address_street TEXT;
ALTER TABLE customers ADD COLUMN address_number TEXT;
ALTER TABLE customers ADD COLUMN address_complement TEXT;
ALTER TABLE customers ADD COLUMN address_district TEXT;
ALTER TABLE customers ADD COLUMN address_zip TEXT;
ALTER TABLE customers ADD COLUMN address_city TEXT;
ALTER TABLE customers ADD COLUMN address_state TEXT;
