-- The channels of a send rule and of an overdue band (#22, docs/dunning.md "Channels"): an
-- ordered list (email, sms, push) and a mode, first (the first channel that reaches the
-- subscriber, the next ones as fallback) or all. E-mail only by default: nothing changes for
-- rules and bands made before.
ALTER TABLE send_rules ADD COLUMN channels TEXT NOT NULL DEFAULT 'email';
ALTER TABLE send_rules ADD COLUMN channel_mode TEXT NOT NULL DEFAULT 'first' CHECK (channel_mode IN ('first', 'all'));
ALTER TABLE overdue_bands ADD COLUMN channels TEXT NOT NULL DEFAULT 'email';
ALTER TABLE overdue_bands ADD COLUMN channel_mode TEXT NOT NULL DEFAULT 'first' CHECK (channel_mode IN ('first', 'all'));
