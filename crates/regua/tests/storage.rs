//! Repository and invoicing behaviour, each test run on SQLite and on PostgreSQL.

mod common;

use common::*;
use regua::domain::*;
use regua::invoicing::generate_invoices;
use regua::store;

#[tokio::test]
async fn wallet_and_method_names_are_unique_and_unknown_wallets_are_named() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let dup = store::parties::insert_billing_method(&mut conn, "Boleto BB", "BB", 0)
            .await
            .unwrap_err();
        assert!(
            matches!(dup, store::parties::ConfigError::Duplicate { .. }),
            "{}: {dup}",
            t.label
        );
        let unknown = store::parties::insert_billing_method(&mut conn, "Outro", "Caixa", 0)
            .await
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "no wallet named \"Caixa\"; known: BB",
            "{}",
            t.label
        );
        let wallets = store::parties::list_wallets(&mut conn).await.unwrap();
        assert_eq!(wallets.len(), 1);
        assert_eq!(wallets[0].bank_code, "001");
        assert!(!wallets[0].send_on_generate);
    }
}

/// `generate_all`: every contract not cancelled gets what `generate_invoices` would give it —
/// months that exist skipped, printed contracts not e-mailed, one generation e-mail for each
/// e-mailed one — in batches, and a second run adds nothing.
#[tokio::test]
async fn generating_for_every_contract_matches_one_by_one_and_repeats_nothing() {
    use regua::import::ImportKind;
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "email").await;
        import_ok(
            &t.db,
            ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK2,C1,Fibra 300,\"99,90\",20,printed,Boleto BB\nK3,C1,Fibra 100,\"59,90\",5,email,Boleto BB\n",
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::parties::set_switch(
                &mut conn,
                store::parties::Switch::WalletSendOnGenerate,
                1,
                true
            )
            .await
            .unwrap()
        );
        let k3 = store::parties::find_contract(&mut conn, "K3")
            .await
            .unwrap()
            .unwrap();
        sqlx::query("UPDATE contracts SET status = 'cancelled' WHERE id = $1")
            .bind(k3.id.0)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        sink_account(&t.db, "Principal", 2525, AccountSetup::default()).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Principal",
        )
        .await
        .unwrap();
        drop(conn);
        let clock = clock_on("2026-01-05");
        // K1 has January already (and its e-mail).
        generate_invoices(&t.db, "K1", 1, &clock).await.unwrap();
        let mut seen = Vec::new();
        let report = regua::invoicing::generate_all(&t.db, 2, &clock, |n| seen.push(n))
            .await
            .unwrap();
        assert_eq!(
            report,
            regua::invoicing::BatchReport {
                contracts: 2,
                created: 3,
                skipped_months: 1,
                queued: 1,
                no_account: 0
            },
            "{}",
            t.label
        );
        assert_eq!(seen, [2]);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let mut all = Vec::new();
        for k in ["K1", "K2", "K3"] {
            let c = store::parties::find_contract(&mut conn, k)
                .await
                .unwrap()
                .unwrap();
            all.extend(
                store::invoices::list_invoices_of_contract(&mut conn, c.id)
                    .await
                    .unwrap(),
            );
        }
        let mut got: Vec<(String, String)> = all
            .iter()
            .map(|i| (i.external_id.clone(), i.due_date.to_string()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("K1/2026-01".into(), "2026-01-10".into()),
                ("K1/2026-02".into(), "2026-02-10".into()),
                ("K2/2026-01".into(), "2026-01-20".into()),
                ("K2/2026-02".into(), "2026-02-20".into()),
            ],
            "{}",
            t.label
        );
        let mut numbers: Vec<i64> = all.iter().map(|i| i.our_number).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 4, "{}: our numbers are unique", t.label);
        // Two generation e-mails for K1 (January alone, then February), none for printed K2.
        let notices = store::outbox::list_notices(&mut conn, None, 10)
            .await
            .unwrap();
        assert_eq!(notices.len(), 2, "{}", t.label);
        assert!(
            notices
                .iter()
                .all(|n| n.contract_id == Some(all[0].contract_id))
        );
        drop(conn);
        let again = regua::invoicing::generate_all(&t.db, 2, &clock, |_| {})
            .await
            .unwrap();
        assert_eq!(
            (again.created, again.skipped_months, again.queued),
            (0, 4, 0),
            "{}",
            t.label
        );
        assert!(matches!(
            regua::invoicing::generate_all(&t.db, 0, &clock, |_| {}).await,
            Err(regua::invoicing::GenerateError::Months(0))
        ));
        // The command: one more month for both, and a summary line scripts can read.
        let cli = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
                .args([
                    "--database",
                    &t.url,
                    "--today",
                    "2026-01-05",
                    "invoices",
                    "generate",
                ])
                .args(args)
                .output()
                .unwrap()
        };
        let out = cli(&["--all", "--months", "3"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            "2 contract(s): 2 invoice(s) created, 4 month(s) already had one; 1 generation e-mail(s) queued",
            "{}",
            t.label
        );
        assert_eq!(cli(&["--all", "--contract", "K1"]).status.code(), Some(2));
        assert_eq!(cli(&[]).status.code(), Some(2));
    }
}

#[tokio::test]
async fn generating_twice_creates_nothing_new() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "email").await;
        let clock = clock_on("2026-01-05");
        let first = generate_invoices(&t.db, "K1", 3, &clock).await.unwrap();
        assert_eq!(first.created.len(), 3, "{}", t.label);
        let dues: Vec<String> = first
            .created
            .iter()
            .map(|i| i.due_date.to_string())
            .collect();
        assert_eq!(
            dues,
            ["2026-01-10", "2026-02-10", "2026-03-10"],
            "{}",
            t.label
        );
        assert!(
            first
                .created
                .iter()
                .all(|i| i.amount == Money(11990) && i.status == InvoiceStatus::Open)
        );
        // What generation returns is exactly what was stored.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let stored = store::invoices::list_invoices_of_contract(&mut conn, first.contract.id)
            .await
            .unwrap();
        assert_eq!(stored, first.created, "{}", t.label);
        drop(conn);
        let second = generate_invoices(&t.db, "K1", 3, &clock).await.unwrap();
        assert!(
            second.created.is_empty(),
            "{}: {:?}",
            t.label,
            second.created
        );
        assert_eq!(second.skipped_months, ["2026-01", "2026-02", "2026-03"]);
        // A month later the window (Feb, Mar, Apr) slides by one: exactly one new invoice.
        let later = generate_invoices(&t.db, "K1", 3, &clock_on("2026-02-05"))
            .await
            .unwrap();
        assert_eq!(later.created.len(), 1, "{}", t.label);
        assert_eq!(later.created[0].due_date.to_string(), "2026-04-10");
        // Once February's due date has passed, the window starts in March.
        let after_due = generate_invoices(&t.db, "K1", 3, &clock_on("2026-02-11"))
            .await
            .unwrap();
        let dues: Vec<String> = after_due
            .created
            .iter()
            .map(|i| i.due_date.to_string())
            .collect();
        assert_eq!(dues, ["2026-05-10"], "{}", t.label);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let contract = store::parties::find_contract(&mut conn, "K1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store::invoices::list_invoices_of_contract(&mut conn, contract.id)
                .await
                .unwrap()
                .len(),
            5
        );
    }
}

#[tokio::test]
async fn concurrent_generations_do_not_duplicate_a_month() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "email").await;
        let clock = clock_on("2026-01-05");
        let (a, b) = tokio::join!(
            generate_invoices(&t.db, "K1", 6, &clock),
            generate_invoices(&t.db, "K1", 6, &clock)
        );
        assert_eq!(
            a.unwrap().created.len() + b.unwrap().created.len(),
            6,
            "{}",
            t.label
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        let contract = store::parties::find_contract(&mut conn, "K1")
            .await
            .unwrap()
            .unwrap();
        let invoices = store::invoices::list_invoices_of_contract(&mut conn, contract.id)
            .await
            .unwrap();
        assert_eq!(invoices.len(), 6, "{}", t.label);
        let mut numbers: Vec<i64> = invoices.iter().map(|i| i.our_number).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 6, "{}: our numbers are unique", t.label);
    }
}

#[tokio::test]
async fn due_day_31_falls_on_the_last_day_of_short_months() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 31, "email").await;
        let g = generate_invoices(&t.db, "K1", 4, &clock_on("2028-01-31"))
            .await
            .unwrap();
        let dues: Vec<String> = g.created.iter().map(|i| i.due_date.to_string()).collect();
        assert_eq!(
            dues,
            ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"],
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn the_delivery_type_is_copied_onto_each_invoice_when_generated() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "e-mail").await;
        generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-05"))
            .await
            .unwrap();
        // The contract switches to printed: only invoices generated from now on are printed.
        customer_with_contract(&t.db, 10, "impresso").await;
        let g = generate_invoices(&t.db, "K1", 4, &clock_on("2026-01-05"))
            .await
            .unwrap();
        assert_eq!(g.created.len(), 2);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let contract = store::parties::find_contract(&mut conn, "K1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(contract.delivery_type, DeliveryType::Printed);
        let types: Vec<DeliveryType> =
            store::invoices::list_invoices_of_contract(&mut conn, contract.id)
                .await
                .unwrap()
                .iter()
                .map(|i| i.delivery_type)
                .collect();
        use DeliveryType::*;
        assert_eq!(types, [Email, Email, Printed, Printed], "{}", t.label);
    }
}

#[tokio::test]
async fn an_empty_delivery_type_takes_the_global_default() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::parties::SETTING_DEFAULT_DELIVERY_TYPE,
            "printed",
        )
        .await
        .unwrap();
        drop(conn);
        customer_with_contract(&t.db, 10, "").await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let contract = store::parties::find_contract(&mut conn, "K1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(contract.delivery_type, DeliveryType::Printed, "{}", t.label);
    }
}

#[tokio::test]
async fn cancelled_contracts_and_unknown_contracts_are_refused() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        let err = generate_invoices(&t.db, "NOPE", 1, &clock_on("2026-01-05"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no contract \"NOPE\"");
        customer_with_contract(&t.db, 10, "email").await;
        import_ok(
            &t.db,
            regua::import::ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method,status\nK1,C1,Fibra,10,10,email,Boleto BB,cancelado\n",
        )
        .await;
        let err = generate_invoices(&t.db, "K1", 1, &clock_on("2026-01-05"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, regua::invoicing::GenerateError::Cancelled(_)),
            "{}: {err}",
            t.label
        );
    }
}

#[tokio::test]
async fn customers_round_trip_with_normalised_contacts() {
    for t in each_backend().await {
        import_ok(
            &t.db,
            regua::import::ImportKind::Customers,
            "external_id,name,document,email,mobile_phone\nC1,Padaria Pão & Cia,12.ABC.345/01DE-35,Contato@Padaria.COM.BR,+55 (21) 99876-5432\nC2,José,111.444.777-35,,\n",
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let c1 = store::parties::find_customer_by_external_id(&mut conn, "C1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c1.name, "Padaria Pão & Cia");
        assert_eq!(c1.document.to_string(), "12.ABC.345/01DE-35");
        assert_eq!(c1.email.unwrap().as_str(), "Contato@padaria.com.br");
        assert_eq!(
            c1.mobile_phone.unwrap().to_string(),
            "+55 21 99876-5432",
            "{}",
            t.label
        );
        let c2 = store::parties::find_customer_by_external_id(&mut conn, "C2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c2.email, c2.mobile_phone), (None, None));
        assert_eq!(c2.document.to_string(), "111.444.777-35");
    }
}
