//! PIX payments by webhook, over HTTP on SQLite and PostgreSQL: a valid call pays the invoice
//! its txid names once, however often the PSP repeats it; a wrong secret is 401 and records
//! nothing; a txid that names no invoice is kept as unmatched.

mod common;

use common::*;
use regua::domain::{InvoiceStatus, Money};
use regua::store;
use serde_json::json;

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    secret: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(body);
    if let Some(s) = secret {
        req = req.bearer_auth(s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pix_webhook_pays_once_refuses_a_wrong_secret_and_keeps_the_unmatched() {
    for t in each_backend().await {
        let label = t.label;
        let invoices = open_invoices(&t.db, 2).await;
        let secret = regua::actions::pix::add_psp(
            &t.db,
            "efi",
            &regua::domain::Actor::Cli("operador".into()),
            0,
        )
        .await
        .unwrap();
        let txid = regua::payment::pix_txid(invoices[0].id);
        let body = json!({"pix": [{
            "endToEndId": "E18236120202601121300s0123456789",
            "txid": txid,
            "valor": "119.90",
            "horario": "2026-01-12T13:00:00.000-03:00",
            "infoPagador": "fatura de janeiro"
        }]});
        let db = t.db.clone();
        let first_id = invoices[0].id;
        let secret_ref = &secret;
        with_server(&t.db, |addr| async move {
            // A wrong secret, and none: 401, nothing recorded.
            for wrong in [Some("px_errado"), None] {
                let (status, reply) = post(addr, "/webhooks/pix", wrong, &body).await;
                assert_eq!(status, 401, "{label}");
                assert_eq!(reply["code"], "unauthorized");
            }
            let mut conn = db.pool.acquire().await.unwrap();
            assert!(
                store::pix::list_payments(&mut conn, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(
                store::invoices::get_invoice(&mut conn, first_id)
                    .await
                    .unwrap()
                    .status,
                InvoiceStatus::Open
            );
            drop(conn);
            // The PSP calls, and calls again (at the registered URL with /pix appended, the
            // secret in the query): one payment.
            let (status, reply) = post(addr, "/webhooks/pix", Some(secret_ref), &body).await;
            assert_eq!((status, reply["new"].clone()), (200, json!(1)), "{label}");
            let again = format!("/webhooks/pix/pix?hmac={secret_ref}");
            let (status, reply) = post(addr, &again, None, &body).await;
            assert_eq!((status, reply["new"].clone()), (200, json!(0)), "{label}");
            // A txid that names no invoice.
            let stray = json!({"pix": [{"endToEndId": "E99999999202601121300s9999999999",
                "txid": "OUTRO123", "valor": "10.00", "horario": "2026-01-12T14:00:00Z"}]});
            let (status, _) = post(addr, "/webhooks/pix", Some(secret_ref), &stray).await;
            assert_eq!(status, 200);
            // A malformed value is refused whole.
            let bad = json!({"pix": [{"endToEndId": "E1", "txid": "x", "valor": "1,00",
                "horario": "2026-01-12T14:00:00Z"}]});
            let (status, _) = post(addr, "/webhooks/pix", Some(secret_ref), &bad).await;
            assert_eq!(status, 400);
        })
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert_eq!(
            store::invoices::get_invoice(&mut conn, invoices[0].id)
                .await
                .unwrap()
                .status,
            InvoiceStatus::Paid {
                paid_on: "2026-01-12".parse().unwrap(),
                amount: Money(11990)
            },
            "{label}"
        );
        let recorded = store::pix::list_payments(&mut conn, 10).await.unwrap();
        let outcomes: Vec<(&str, Option<regua::domain::InvoiceId>)> = recorded
            .iter()
            .map(|p| (p.outcome.as_str(), p.invoice_id))
            .collect();
        assert_eq!(
            outcomes,
            [("unmatched", None), ("paid", Some(invoices[0].id))],
            "{label}"
        );
        let actor: String =
            sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'invoice.paid'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(actor, "pix: efi");
    }
}
