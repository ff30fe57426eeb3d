-- Recovery analytics (docs/analytics.md): daily aggregates the routine writes, so the
-- "Resultados da cobrança" page and /api/v1/analytics read a few thousand rows at most, however
-- many invoices there are. Each table is keyed by its day (or due month); a refresh of a range
-- of days replaces those days' rows in one transaction.

-- Notices of each step sent on a day, and what followed.
CREATE TABLE analytics_steps (
    day             TEXT NOT NULL,
    step            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    method_id       BIGINT NOT NULL,
    wallet_id       BIGINT NOT NULL,
    age             BIGINT NOT NULL,
    sent            BIGINT NOT NULL,
    delivered       BIGINT NOT NULL,
    read_count      BIGINT NOT NULL,
    paid_1          BIGINT NOT NULL,
    paid_3          BIGINT NOT NULL,
    paid_7          BIGINT NOT NULL,
    recovered       BIGINT NOT NULL,
    recovered_cents BIGINT NOT NULL,
    PRIMARY KEY (day, step, channel, method_id, wallet_id, age)
);

-- Days from a step's notice to payment (0..90): the medians.
CREATE TABLE analytics_pay_days (
    day       TEXT NOT NULL,
    step      TEXT NOT NULL,
    channel   TEXT NOT NULL,
    method_id BIGINT NOT NULL,
    wallet_id BIGINT NOT NULL,
    days      BIGINT NOT NULL,
    notices   BIGINT NOT NULL,
    PRIMARY KEY (day, step, channel, method_id, wallet_id, days)
);

-- The base rate: open invoices of an age on a day with no notice in the 7 days before.
CREATE TABLE analytics_base (
    day        TEXT NOT NULL,
    age        BIGINT NOT NULL,
    method_id  BIGINT NOT NULL,
    wallet_id  BIGINT NOT NULL,
    open_count BIGINT NOT NULL,
    paid_1     BIGINT NOT NULL,
    paid_3     BIGINT NOT NULL,
    paid_7     BIGINT NOT NULL,
    PRIMARY KEY (day, age, method_id, wallet_id)
);

-- Open and past due on a day, per overdue band (0: in no band).
CREATE TABLE analytics_overdue (
    day          TEXT NOT NULL,
    band_id      BIGINT NOT NULL,
    method_id    BIGINT NOT NULL,
    wallet_id    BIGINT NOT NULL,
    invoices     BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    PRIMARY KEY (day, band_id, method_id, wallet_id)
);

-- Each due month's invoices, and how many are open and past due at the last refresh.
CREATE TABLE analytics_cohorts (
    month         TEXT NOT NULL,
    method_id     BIGINT NOT NULL,
    wallet_id     BIGINT NOT NULL,
    issued        BIGINT NOT NULL,
    issued_cents  BIGINT NOT NULL,
    overdue       BIGINT NOT NULL,
    overdue_cents BIGINT NOT NULL,
    PRIMARY KEY (month, method_id, wallet_id)
);

-- Each due month's payments by day relative to the due date (-10..90).
CREATE TABLE analytics_curve (
    month      TEXT NOT NULL,
    method_id  BIGINT NOT NULL,
    wallet_id  BIGINT NOT NULL,
    rel_day    BIGINT NOT NULL,
    invoices   BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL,
    PRIMARY KEY (month, method_id, wallet_id, rel_day)
);

-- Each refresh: the days it covered and when it ran.
CREATE TABLE analytics_refreshes (
    id         @ID@,
    from_day   TEXT NOT NULL,
    to_day     TEXT NOT NULL,
    ran_at     BIGINT NOT NULL,
    actor      TEXT NOT NULL
);
