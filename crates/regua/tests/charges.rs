//! A wallet's registration and terms (fine, interest, discount, write-off) from the command
//! line, checked against the consumer caps, on SQLite and PostgreSQL; and what a late invoice
//! costs today, the same in the portal, the app API and the after-due e-mail (docs/charges.md).

mod common;

use common::*;
use regua::store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_terms_from_the_command_line_keep_the_consumer_caps() {
    for t in each_backend().await {
        let label = t.label;
        let add = |extra: &[&str]| {
            let mut args = vec![
                "wallet",
                "add",
                "--name",
                "Itaú",
                "--bank",
                "341",
                "--agency",
                "0810",
                "--account",
                "53678-1",
                "--wallet",
                "109",
                "--agreement",
                "12345",
            ];
            args.extend_from_slice(extra);
            regua_cli(&t.url, &args)
        };
        // 3 % fine for consumers: refused, naming the flag and the cap; nothing saved.
        let out = add(&["--fine-percent", "3"]);
        assert_eq!(out.status.code(), Some(2), "{label}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "error: --fine-percent: 3% is above the consumer cap of 2% (mark the wallet business-only to bill above it)\n"
        );
        let list = regua_cli(&t.url, &["wallet", "list"]);
        assert_eq!(
            String::from_utf8_lossy(&list.stdout).lines().count(),
            1,
            "{label}: only the header"
        );

        // Within the caps, registered by CNAB 400, written off 30 days after the due date.
        let out = add(&[
            "--registration",
            "cnab400",
            "--fine-percent",
            "2",
            "--interest-percent",
            "1",
            "--discount-percent",
            "5",
            "--discount-days",
            "3",
            "--write-off-days",
            "30",
        ]);
        assert!(out.status.success(), "{label}: {out:?}");
        // Update: interest above 1 % refused; allowed once business-only.
        let out = regua_cli(
            &t.url,
            &["wallet", "update", "Itaú", "--interest-percent", "1,5"],
        );
        assert_eq!(out.status.code(), Some(2), "{label}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .starts_with("error: --interest-percent: 1.5% is above")
        );
        let out = regua_cli(
            &t.url,
            &[
                "wallet",
                "update",
                "Itaú",
                "--interest-percent",
                "1,5",
                "--business-only",
            ],
        );
        assert!(out.status.success(), "{label}: {out:?}");
        let list = regua_cli(&t.url, &["wallet", "list"]);
        let text = String::from_utf8_lossy(&list.stdout);
        let row: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!(
            row[9..],
            ["cnab400", "2%", "1.5%", "5%", "3", "30", "yes"],
            "{label}: {text}"
        );
        // The trail has the before and after of each change.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let trail: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT action, before, after FROM audit_log WHERE action LIKE 'wallet.%' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail.len(), 2, "{label}: {trail:?}");
        assert_eq!(trail[1].0, "wallet.terms");
        assert!(
            trail[1].1.as_deref().unwrap().contains("interest=1%/month"),
            "{trail:?}"
        );
        assert!(
            trail[1]
                .2
                .as_deref()
                .unwrap()
                .contains("interest=1.5%/month discount=5% discount_days=3 write_off_days=30 business_only=true"),
            "{trail:?}"
        );
    }
}

/// A R$ 100,00 invoice due Tuesday 10/03/2026 on a wallet charging 2 % and 1 % a month, with a
/// PIX key; Maria (C1) can log in to the portal. Returns the invoice.
async fn late_invoice(db: &regua::store::Db) -> regua::domain::Invoice {
    add_bb_wallet_and_method(db).await;
    customer_with_contract(db, 10, "email").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
    let terms = regua::domain::charges::Terms {
        fine_bp: 200,
        interest_bp_month: 100,
        ..Default::default()
    };
    store::parties::update_wallet_terms(
        &mut conn,
        wallet.id,
        regua::domain::charges::Registration::Erp,
        &terms,
    )
    .await
    .unwrap();
    sqlx::query("UPDATE wallets SET pix_key = 'financeiro@provedor.com.br'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    import_ok(
        db,
        regua::import::ImportKind::Invoices,
        "external_id,contract_external_id,amount,issue_date,due_date,status\nF-MAR,K1,\"100,00\",2026-03-01,2026-03-10,open\n",
    )
    .await;
    set_portal_password(db, "52998224725", "senha-do-portal-1").await;
    let mut conn = db.pool.acquire().await.unwrap();
    store::invoices::find_invoice_by_external_id(&mut conn, "F-MAR")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_days_late_the_portal_and_the_email_ask_for_102_67_with_a_pix_for_it() {
    for t in each_backend().await {
        let label = t.label;
        let invoice = late_invoice(&t.db).await;
        // The boleto prints the wallet's terms among its instructions.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let customer = store::parties::get_customer(&mut conn, invoice.customer_id)
            .await
            .unwrap();
        let wallet = store::parties::get_wallet(&mut conn, invoice.wallet_id)
            .await
            .unwrap();
        let company = store::parties::company_profile(&mut conn).await.unwrap();
        drop(conn);
        assert_eq!(
            regua::payment::boleto_input(&invoice, &customer, &wallet, &company).instructions,
            [
                "Após o vencimento, multa de 2,00% e juros de 1,00% ao mês.",
                "Não receber após 90 dias do vencimento."
            ],
            "{label}"
        );
        let txid = format!("REGUA{}D20260330", invoice.id.0);
        // The PSP's webhook still names the invoice from the day's txid.
        assert_eq!(regua::payment::invoice_of_txid(&txid), Some(invoice.id));

        // The portal on 30/03/2026: the amount due today and a PIX code for it.
        let id = invoice.id.0;
        let txid_in_page = txid.clone();
        with_server_at(&t.db, "2026-03-30", |addr| async move {
            let (cookie, _) =
                common::http::portal_session(addr, "529.982.247-25", "senha-do-portal-1").await;
            let page = common::http::http(addr, "GET", &format!("/central/faturas/{id}"), &cookie, "").await;
            assert_eq!(page.status, 200);
            assert!(
                page.body.contains("Valor atualizado hoje: <strong>R$ 102,67</strong> (multa de R$ 2,00 e juros de R$ 0,67 por 20 dias de atraso)"),
                "{}",
                page.body
            );
            let pix_at = page.body.find("<textarea id=\"pix-code\" readonly rows=\"4\">").unwrap();
            let pix = &page.body[pix_at..];
            // BR Code field 54 (amount) = 102.67; the txid of the day.
            assert!(pix.contains("5406102.67"), "{pix}");
            assert!(pix.contains(&txid_in_page), "{pix}");
        })
        .await;
        // Before the due date nothing is added: the page shows no updated amount.
        with_server_at(&t.db, "2026-03-09", |addr| async move {
            let (cookie, _) =
                common::http::portal_session(addr, "529.982.247-25", "senha-do-portal-1").await;
            let page =
                common::http::http(addr, "GET", &format!("/central/faturas/{id}"), &cookie, "")
                    .await;
            assert!(!page.body.contains("amount-due"), "{}", page.body);
            assert!(page.body.contains("5406100.00"));
        })
        .await;

        // The after-due reminder e-mailed on 30/03/2026 says the same, PIX in the text.
        let dir = tempfile::tempdir().unwrap();
        let account = folder_account(&t.db, dir.path()).await;
        let clock = clock_on("2026-03-30");
        let mut conn = t.db.pool.acquire().await.unwrap();
        let after_due = store::layouts::layout_for_purpose(
            &mut conn,
            regua::layouts::Purpose::ReminderAfterDue,
        )
        .await
        .unwrap()
        .unwrap()
        .id;
        regua::delivery::enqueue_invoice_email(
            &mut conn,
            invoice.id,
            &account,
            regua::layouts::Purpose::ReminderAfterDue,
            Some(after_due),
            test_key_named("atraso:1"),
            "test",
            clock.now_millis(),
        )
        .await
        .unwrap();
        drop(conn);
        let report = worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(report.sent, 1, "{label}: {report:?}");
        let eml = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .next()
            .unwrap();
        let text = quoted_printable_decoded(&eml);
        assert!(
            text.contains("Valor para pagamento hoje: R$ 102,67"),
            "{label}: {text}"
        );
        assert!(
            text.contains(
                "Inclui multa de R$ 2,00 e juros de R$ 0,03 por dia de atraso (20 dias)."
            ),
            "{label}: {text}"
        );
        assert!(
            text.contains("5406102.67") && text.contains(&txid),
            "{label}: {text}"
        );
    }
}
