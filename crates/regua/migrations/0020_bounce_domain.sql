-- The domain of an e-mail account's return path (VERP): with it, each message is sent with
-- MAIL FROM bounces+<notice>.<tag>@<domain>, so a bounce names its notice and cannot be forged
-- (docs/bounces.md). Empty: the sender's address, as before.
ALTER TABLE smtp_accounts ADD COLUMN bounce_domain TEXT NOT NULL DEFAULT '';
