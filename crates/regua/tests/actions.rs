//! Actions: each change an operator or a trigger makes is one function that writes the fact
//! and its audit row together, whichever way it arrives.

mod common;

use common::*;
use regua::actions::payments::{Payment, PaymentOutcome, record_payment};
use regua::domain::{InvoiceStatus, Money};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_from_any_source_is_the_same_fact_with_its_audit_row() {
    for t in each_backend().await {
        let label = t.label;
        let invoices = open_invoices(&t.db, 2).await;
        let now = clock_on("2026-01-07").now_millis();
        let payment = Payment {
            paid_on: "2026-01-07".parse().unwrap(),
            amount: Money(11990),
        };
        let paid = match record_payment(
            &t.db,
            invoices[0].id,
            &payment,
            &regua::domain::Actor::User("ana".into()),
            now,
        )
        .await
        .unwrap()
        {
            PaymentOutcome::Recorded(i) => i,
            other => panic!("{label}: {other:?}"),
        };
        assert_eq!(
            paid.status,
            InvoiceStatus::Paid {
                paid_on: payment.paid_on,
                amount: Money(11990)
            },
            "{label}"
        );
        // Twice is nothing new.
        assert!(matches!(
            record_payment(
                &t.db,
                invoices[0].id,
                &payment,
                &regua::domain::Actor::User("ana".into()),
                now
            )
            .await
            .unwrap(),
            PaymentOutcome::NotOpen(_)
        ));
        // The ERP's file goes through the same action.
        import_ok(
            &t.db,
            regua::import::ImportKind::Payments,
            &format!(
                "invoice_external_id,paid_on,amount\n{},08/01/2026,\"119,90\"\n",
                invoices[1].external_id
            ),
        )
        .await;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT actor, action, entity FROM audit_log WHERE action = 'invoice.paid' ORDER BY id",
        )
        .fetch_all(&t.db.pool)
        .await
        .unwrap();
        assert_eq!(
            rows,
            [
                (
                    "user: ana".to_string(),
                    "invoice.paid".to_string(),
                    format!("invoice:{}", invoices[0].external_id)
                ),
                (
                    "import".to_string(),
                    "invoice.paid".to_string(),
                    format!("invoice:{}", invoices[1].external_id)
                ),
            ],
            "{label}"
        );
    }
}
