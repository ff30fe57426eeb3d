//! "Pagamento confirmado", on SQLite and PostgreSQL: off by default; turned on for a billing
//! method, a payment from any source queues one confirmation per invoice, which the worker
//! sends although the invoice is paid (the reminders of a paid invoice are skipped, this is
//! not one of them), with the payment's date and amount; a second payment does not confirm
//! again; from the command line the switch is `regua method confirm-payment`.

mod common;

use common::*;
use regua::actions::payments::{Payment, PaymentOutcome, record_payment};
use regua::domain::{Actor, Money};
use regua::store;

async fn notices_of(db: &regua::store::Db, invoice: i64) -> Vec<(String, String, String)> {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query_as(
        "SELECT dedup_key, purpose, status FROM notices WHERE invoice_id = $1 ORDER BY id",
    )
    .bind(invoice)
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_confirms_once_when_the_method_asks_and_never_otherwise() {
    for t in each_backend().await {
        let label = t.label;
        let invoices = open_invoices(&t.db, 3).await;
        let dir = tempfile::tempdir().unwrap();
        let account = folder_account(&t.db, dir.path()).await;
        let operator = Actor::Cli("operador".into());
        regua::actions::channels::set_financial_account(
            &t.db,
            regua::actions::channels::AccountRef::Id(account.id),
            &operator,
            0,
        )
        .await
        .unwrap();
        let clock = clock_on("2026-01-12");
        let pay = |amount: i64| Payment {
            paid_on: "2026-01-11".parse().unwrap(),
            amount: Money::from_cents(amount),
        };

        // Off by default: a payment queues nothing.
        let out = record_payment(&t.db, invoices[0].id, &pay(11990), &operator, 1).await;
        assert!(
            matches!(out.unwrap(), PaymentOutcome::Recorded(_)),
            "{label}"
        );
        assert!(
            notices_of(&t.db, invoices[0].id.0).await.is_empty(),
            "{label}"
        );

        // Turned on, from the command line.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["method", "confirm-payment", "Boleto BB", "on"])
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {out:?}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["method", "list"])
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "name\twallet\tconfirm_payment\nBoleto BB\tBB\ton\n",
            "{label}"
        );

        // A reminder was waiting for the second invoice: the payment skips it and queues the
        // confirmation, in the same transaction.
        let reminder = queue_invoice_email(&t.db, &invoices[1], &account, "r:2", 2).await;
        let out = record_payment(&t.db, invoices[1].id, &pay(12550), &operator, 3).await;
        assert!(
            matches!(out.unwrap(), PaymentOutcome::Recorded(_)),
            "{label}"
        );
        let waiting = notices_of(&t.db, invoices[1].id.0).await;
        assert_eq!(
            waiting,
            [
                (
                    "api:0:r:2".to_string(),
                    "reminder_before_due".to_string(),
                    "skipped".to_string()
                ),
                (
                    format!("pago:{}", invoices[1].id.0),
                    "payment_confirmed".to_string(),
                    "queued".to_string()
                ),
            ],
            "{label}: reminder {reminder:?}"
        );

        // The worker sends it, paid as the invoice is, with the payment's date and amount.
        let report = worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(report.sent, 1, "{label}: {report:?}");
        let emails: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(emails.len(), 1, "{label}");
        let text = quoted_printable_decoded(&emails[0]);
        assert!(
            text.contains(&format!(
                "Recebemos o pagamento da sua fatura {}",
                invoices[1].external_id
            )),
            "{label}: {text}"
        );
        assert!(
            text.contains("R$ 125,50, pago em 11/01/2026"),
            "{label}: {text}"
        );
        assert!(
            !text.contains("application/pdf"),
            "{label}: no boleto to pay"
        );

        // A second payment of the same invoice (the ERP's CSV replacing it) confirms nothing
        // more; nor does a method turned off again.
        regua::actions::payments::record_payments(
            &t.db,
            &[(invoices[1].external_id.clone(), pay(12550))],
            &operator,
            4,
        )
        .await
        .unwrap();
        assert_eq!(
            notices_of(&t.db, invoices[1].id.0).await.len(),
            2,
            "{label}"
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        let method = store::parties::list_billing_methods(&mut conn)
            .await
            .unwrap()[0]
            .id;
        drop(conn);
        regua::actions::billing_setup::set_method_confirm_payment(
            &t.db, method, false, &operator, 5,
        )
        .await
        .unwrap();
        record_payment(&t.db, invoices[2].id, &pay(11990), &operator, 6)
            .await
            .unwrap();
        assert!(
            notices_of(&t.db, invoices[2].id.0).await.is_empty(),
            "{label}"
        );
    }
}
