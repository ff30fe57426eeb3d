#!/usr/bin/env python3
"""A billing history for the recovery-analytics benchmark (bench/analytics, BENCHMARKS.md):
INVOICES invoices over twelve due months ending at TODAY, one per contract per month, two rules
and a band of the régua with their sent notices (e-mail and SMS with receipts), and payments
drawn before and after the notices, some never. Written straight into a SQLite database that
`regua migrate` created (the same rows the product writes; nothing the benchmark measures).

    bench/analytics-history.py DB INVOICES TODAY
"""

import datetime
import random
import sqlite3
import sys
import zoneinfo

db, total, today = sys.argv[1], int(sys.argv[2]), datetime.date.fromisoformat(sys.argv[3])
tz = zoneinfo.ZoneInfo("America/Sao_Paulo")
rng = random.Random(25)
months = 12
contracts = max(1, total // months)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode = WAL")
con.execute("PRAGMA synchronous = OFF")
cur = con.cursor()
layout = cur.execute("SELECT MIN(id) FROM layouts").fetchone()[0]
cur.execute(
    "INSERT INTO wallets (name, bank_code, agency, account, wallet_code, agreement, kind, created_at) "
    "VALUES ('Carteira BB', '001', '1234', '56789-0', '18', '1234567', 'bank', 0)")
wallet = cur.lastrowid
cur.execute("INSERT INTO billing_methods (name, wallet_id, created_at) VALUES ('Boleto BB', ?, 0)", (wallet,))
method = cur.lastrowid
rules = []
for kind, days, offset in (("before_due", 3, -3), ("after_due", 5, 5)):
    cur.execute(
        "INSERT INTO send_rules (billing_method_id, kind, days, layout_id, created_at, channels) VALUES (?, ?, ?, ?, 0, 'email,sms')",
        (method, kind, days, layout))
    rules.append((cur.lastrowid, offset))
cur.execute("INSERT INTO overdue_bands (from_days, to_days, layout_id, generation, created_at) VALUES (1, 15, ?, 'email', 0)", (layout,))
band = cur.lastrowid
cur.execute("INSERT INTO overdue_bands (from_days, to_days, layout_id, generation, created_at) VALUES (16, 60, ?, 'email', 0)", (layout,))

cur.executemany(
    "INSERT INTO customers (id, external_id, name, document, email, created_at, updated_at) VALUES (?, ?, ?, '52998224725', ?, 0, 0)",
    ((i, f"C{i}", f"Cliente {i}", f"c{i}@exemplo.com.br") for i in range(1, contracts + 1)))
due_days = [rng.randint(1, 28) for _ in range(contracts + 1)]
cur.executemany(
    "INSERT INTO contracts (id, external_id, customer_id, plan, monthly_amount_cents, due_day, billing_method_id, wallet_id, delivery_type, status, created_at, updated_at) "
    "VALUES (?, ?, ?, 'Fibra', 9990, ?, ?, ?, 'email', 'active', 0, 0)",
    ((i, f"K{i}", i, due_days[i], method, wallet) for i in range(1, contracts + 1)))

first = (today.replace(day=1) - datetime.timedelta(days=330)).replace(day=1)
month_starts = []
m = first
for _ in range(months):
    month_starts.append(m)
    m = (m + datetime.timedelta(days=32)).replace(day=1)


def noon_ms(d):
    return int(datetime.datetime(d.year, d.month, d.day, 12, tzinfo=tz).timestamp() * 1000)


INSERT_INVOICES = (
    "INSERT INTO invoices (id, external_id, customer_id, contract_id, billing_method_id, wallet_id, amount_cents, issue_date, due_date, competence, status, paid_on, paid_amount_cents, our_number, delivery_type, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'email', 0, 0)")
INSERT_NOTICES = (
    "INSERT INTO notices (id, dedup_key, channel, recipient, purpose, layout_id, customer_id, contract_id, invoice_id, actor, status, attempts, next_attempt_at, message_id, created_at, updated_at, sent_at, receipt) "
    "VALUES (?, ?, ?, 'x', 'reminder', ?, ?, ?, ?, 'bench', 'sent', 1, 0, ?, 0, 0, ?, ?)")
invoices, notices = [], []
invoice_id = notice_id = 0


def flush():
    """Writes the rows so far (a batch at a time keeps the memory flat)."""
    cur.executemany(INSERT_INVOICES, invoices)
    cur.executemany(INSERT_NOTICES, notices)
    invoices.clear()
    notices.clear()


for k in range(1, contracts + 1):
    for start in month_starts:
        due = start.replace(day=due_days[k])
        invoice_id += 1
        draw = rng.random()
        if draw < 0.3:
            paid = due - datetime.timedelta(days=rng.randint(0, 5))
        elif draw < 0.7:
            paid = due + datetime.timedelta(days=rng.randint(1, 12))
        elif draw < 0.9:
            paid = due + datetime.timedelta(days=rng.randint(14, 60))
        else:
            paid = None
        if paid is not None and paid > today:
            paid = None
        invoices.append((invoice_id, f"F{invoice_id}", k, k, method, wallet, 9990,
                         (due - datetime.timedelta(days=10)).isoformat(), due.isoformat(),
                         f"{due.year}-{due.month:02}", "paid" if paid else "open",
                         paid.isoformat() if paid else None, 9990 if paid else None, invoice_id))
        sends = [(f"rule:{invoice_id}:{r}", due + datetime.timedelta(days=o)) for r, o in rules]
        sends.append((f"band:{invoice_id}:{band}", due + datetime.timedelta(days=1)))
        for key, day in sends:
            if day > today or (paid is not None and paid <= day) or rng.random() < 0.1:
                continue
            notice_id += 1
            sms = rng.random() < 0.3
            receipt = rng.choice(("delivered", "read", "failed")) if sms else None
            notices.append((notice_id, key, "sms" if sms else "email", layout, k, k, invoice_id,
                            f"<{notice_id}@bench>", noon_ms(day), receipt))
        if len(invoices) >= 100_000:
            flush()
flush()
con.commit()
print(f"{invoice_id} invoices, {notice_id} notices, {contracts} contracts")
