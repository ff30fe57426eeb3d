-- "Pagamento confirmado": a billing method may send the subscriber a message when a payment
-- of one of its invoices is recorded, from any source. Off unless turned on.
ALTER TABLE billing_methods ADD COLUMN confirm_payment BIGINT NOT NULL DEFAULT 0;
