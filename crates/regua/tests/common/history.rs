//! A generated history for the recovery analytics (tests/analytics.rs, the browser test): 60
//! contracts, four months of invoices from January 2026, two rules and a band on e-mail and SMS
//! with receipts, and payments drawn before and after the notices (some never), up to
//! [`HISTORY_TODAY`].

use jiff::civil::Date;
use sqlx::Row as _;

use super::*;

/// The day the history ends.
pub const HISTORY_TODAY: &str = "2026-06-30";

fn ms_at_noon(d: Date) -> i64 {
    d.at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn plus(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap()
}

fn diff(a: Date, b: Date) -> i64 {
    i64::from(a.until(b).unwrap().get_days())
}

/// Builds the history on `db`: contracts, invoices, rules, a band, sent notices and payments.
pub async fn history(db: &regua::store::Db) {
    add_bb_wallet_and_method(db).await;
    let mut customers = String::from("external_id,name,document,email,mobile_phone\n");
    let mut contracts = String::from(
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n",
    );
    let mut rng = fastrand::Rng::with_seed(25);
    let cpfs = [
        "529.982.247-25",
        "111.444.777-35",
        "123.456.789-09",
        "935.411.347-80",
        "168.995.350-09",
    ];
    for i in 0..60 {
        customers.push_str(&format!(
            "C{i},Cliente {i},{},c{i}@exemplo.com.br,(11) 98765-43{:02}\n",
            cpfs[i % cpfs.len()],
            i % 100
        ));
        contracts.push_str(&format!(
            "K{i},C{i},Fibra,\"{},90\",{},email,Boleto BB\n",
            79 + rng.u32(0..5) * 10,
            rng.u32(1..29)
        ));
    }
    import_ok(db, regua::import::ImportKind::Customers, &customers).await;
    import_ok(db, regua::import::ImportKind::Contracts, &contracts).await;
    for i in 0..60 {
        regua::invoicing::generate_invoices(db, &format!("K{i}"), 4, &clock_on("2026-01-05"))
            .await
            .unwrap();
    }
    let mut conn = db.pool.acquire().await.unwrap();
    let layout: i64 = sqlx::query_scalar("SELECT MIN(id) FROM layouts")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let method: i64 = sqlx::query_scalar("SELECT MIN(id) FROM billing_methods")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let mut rules = Vec::new();
    for (kind, days) in [("before_due", 3i64), ("after_due", 5)] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO send_rules (billing_method_id, kind, days, layout_id, created_at) VALUES ($1, $2, $3, $4, 0) RETURNING id",
        )
        .bind(method)
        .bind(kind)
        .bind(days)
        .bind(layout)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        rules.push((id, if kind == "before_due" { -days } else { days }));
    }
    let band: i64 = sqlx::query_scalar(
        "INSERT INTO overdue_bands (from_days, to_days, layout_id, generation, created_at) VALUES (1, 15, $1, 'email', 0) RETURNING id",
    )
    .bind(layout)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO overdue_bands (from_days, to_days, layout_id, generation, created_at) VALUES (16, 60, $1, 'email', 0)",
    )
    .bind(layout)
    .execute(&mut *conn)
    .await
    .unwrap();
    let invoices: Vec<(i64, String, i64, i64, i64)> = sqlx::query(
        "SELECT id, due_date, amount_cents, customer_id, contract_id FROM invoices ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get::<String, _>(1),
            r.get(2),
            r.get(3),
            r.get(4),
        )
    })
    .collect();
    assert_eq!(invoices.len(), 240);
    let today: Date = HISTORY_TODAY.parse().unwrap();
    let mut n = 0;
    for (id, due, amount, customer, contract) in invoices {
        let due: Date = due.parse().unwrap();
        // Payment: some before the due date, many within a week of a notice, some late, some
        // never.
        let paid_on = match rng.u32(0..10) {
            0..=2 => Some(plus(due, -i64::from(rng.u32(0..6)))),
            3..=5 => Some(plus(due, 5 + i64::from(rng.u32(0..8)))),
            6 => Some(plus(due, 1 + i64::from(rng.u32(0..4)))),
            7 | 8 => Some(plus(due, 14 + i64::from(rng.u32(0..50)))),
            _ => None,
        }
        .filter(|p| *p <= today);
        let mut sends: Vec<(String, Date)> = Vec::new();
        for (rule, offset) in &rules {
            sends.push((format!("rule:{id}:{rule}"), plus(due, *offset)));
        }
        sends.push((format!("band:{id}:{band}"), plus(due, 1)));
        for (key, day) in sends {
            // The régua only tells of open invoices, and not always (a channel down, a skip).
            if day > today || paid_on.is_some_and(|p| p <= day) || rng.u32(0..10) == 0 {
                continue;
            }
            n += 1;
            let sms = rng.bool();
            let receipt = if sms {
                ["delivered", "read", "failed"][rng.usize(0..3)]
            } else {
                ""
            };
            sqlx::query(
                "INSERT INTO notices (dedup_key, channel, recipient, purpose, layout_id, customer_id, contract_id, invoice_id, actor, status, attempts, next_attempt_at, message_id, created_at, updated_at, sent_at, receipt)
                 VALUES ($1, $2, 'x', 'reminder', $3, $4, $5, $6, 'test', 'sent', 1, 0, $7, 0, 0, $8, $9)",
            )
            .bind(&key)
            .bind(if sms { "sms" } else { "email" })
            .bind(layout)
            .bind(customer)
            .bind(contract)
            .bind(id)
            .bind(format!("<{n}@test>"))
            .bind(ms_at_noon(day))
            .bind((!receipt.is_empty()).then_some(receipt))
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        if let Some(p) = paid_on {
            sqlx::query(
                "UPDATE invoices SET status = 'paid', paid_on = $1, paid_amount_cents = $2 WHERE id = $3",
            )
            .bind(p.to_string())
            .bind(amount)
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
    assert!(n > 300, "{n} notices");
}
