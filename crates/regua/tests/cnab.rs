//! Bank return files end to end, on SQLite and PostgreSQL: a file built from Banco do Brasil's
//! CNAB 400 layout pays the invoices it names, their waiting reminders are skipped, the same
//! file again changes nothing, a second payment is kept as a duplicate, and a file with one bad
//! line changes nothing and names the line.

mod common;

use common::*;
use regua::actions::bank_returns::{ReturnUpload, import_return};
use regua::domain::{Actor, Invoice, InvoiceStatus, Money};
use regua::store;

fn printed(db_wallet: &regua::domain::BillingWallet, i: &Invoice) -> String {
    regua::payment::printed_our_number(i.into(), db_wallet).unwrap()
}

async fn import(
    db: &regua::store::Db,
    bytes: &[u8],
    dry_run: bool,
) -> regua::actions::bank_returns::ImportOutcome {
    let file = boleto::cnab::read_return(bytes).unwrap();
    let clock = clock_on("2026-01-14");
    import_return(
        db,
        &ReturnUpload {
            name: "CBR643.RET",
            bytes,
            file: &file,
        },
        dry_run,
        &Actor::Cli("operador".into()),
        (clock.today(), clock.now_millis()),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_file_pays_once_skips_the_reminders_and_keeps_what_it_cannot_apply() {
    for t in each_backend().await {
        let label = t.label;
        let invoices = open_invoices(&t.db, 3).await;
        let dir = tempfile::tempdir().unwrap();
        let account = folder_account(&t.db, dir.path()).await;
        let now = clock_on("2026-01-06").now_millis();
        let reminder = queue_invoice_email(&t.db, &invoices[0], &account, "r:1", now).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
        drop(conn);
        let file = bb_return(&[
            (printed(&wallet, &invoices[0]), "06", 11990),
            (printed(&wallet, &invoices[1]), "06", 10000),
            ("9999999".into(), "06", 11990),
            (printed(&wallet, &invoices[2]), "03", 0),
        ]);

        // A rule two days after the due date: the régua would remind of the first invoice.
        let operator = Actor::Cli("operador".into());
        regua::actions::dunning::add_rule(
            &t.db,
            "Boleto BB",
            regua::domain::rules::RuleKind::AfterDue,
            2,
            None,
            &Default::default(),
            &operator,
            0,
        )
        .await
        .unwrap();
        regua::actions::channels::set_financial_account(
            &t.db,
            regua::actions::channels::AccountRef::Id(account.id),
            &operator,
            0,
        )
        .await
        .unwrap();
        let planned = |db: regua::store::Db| async move {
            let req = regua::dunning::RunRequest {
                date: "2026-01-12".parse().unwrap(),
                dry_run: true,
                routine: None,
                trigger: regua::dunning::Trigger::Manual,
                actor: "cli: operador".into(),
                emission: None,
                detail: true,
            };
            regua::dunning::run(&db, &clock_on("2026-01-12"), &req)
                .await
                .unwrap()
                .notices
                .into_iter()
                .map(|n| n.invoice)
                .collect::<Vec<_>>()
        };
        assert!(
            planned(t.db.clone())
                .await
                .contains(&invoices[0].external_id),
            "{label}: the reminder is due before the payment is known"
        );

        // A dry run says what would happen and changes nothing.
        let dry = import(&t.db, &file, true).await;
        assert_eq!(
            (
                dry.count("paid"),
                dry.count("underpaid"),
                dry.count("unmatched")
            ),
            (1, 1, 1),
            "{label}: {:?}",
            dry.lines
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert_eq!(
            store::invoices::get_invoice(&mut conn, invoices[0].id)
                .await
                .unwrap()
                .status,
            InvoiceStatus::Open,
            "{label}: a dry run pays nothing"
        );
        drop(conn);

        let done = import(&t.db, &file, false).await;
        assert!(done.file_id.is_some());
        assert_eq!(done.count("flagged"), 1, "{label}");
        let mut conn = t.db.pool.acquire().await.unwrap();
        let paid = store::invoices::get_invoice(&mut conn, invoices[0].id)
            .await
            .unwrap();
        assert_eq!(
            paid.status,
            InvoiceStatus::Paid {
                paid_on: "2026-01-12".parse().unwrap(),
                amount: Money(11990)
            },
            "{label}"
        );
        let under = store::invoices::get_invoice(&mut conn, invoices[1].id)
            .await
            .unwrap();
        assert!(
            matches!(under.status, InvoiceStatus::Paid { amount, .. } if amount == Money(10000)),
            "{label}: an underpayment is recorded"
        );
        // Its reminder waiting in the queue was skipped with the payment, and logged.
        let notice = store::outbox::get_notice(&mut conn, reminder)
            .await
            .unwrap();
        assert_eq!(
            notice.status,
            regua::delivery::NoticeStatus::Skipped,
            "{label}"
        );
        let logged: Vec<(String, String)> = sqlx::query_as(
            "SELECT outcome, reply_text FROM delivery_attempts WHERE notice_id = $1",
        )
        .bind(reminder.0)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            logged,
            [(
                "skipped".to_string(),
                "fatura paga em 12/01/2026".to_string()
            )],
            "{label}"
        );
        // The rejected registration is flagged until someone acts.
        let rejected = store::bank_returns::rejected_registrations(&mut conn)
            .await
            .unwrap();
        assert_eq!(rejected.len(), 1, "{label}");
        assert_eq!(rejected[0].1, invoices[2].external_id);
        assert!(rejected[0].2.starts_with("03: "), "{}", rejected[0].2);
        // Every record is on its invoice's timeline, the unmatched one on the file only.
        let timeline = store::bank_returns::events_of_invoice(&mut conn, invoices[0].id)
            .await
            .unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(
            (timeline[0].outcome.as_str(), timeline[0].fee_cents),
            ("paid", 250)
        );
        let all = store::bank_returns::events_of_file(&mut conn, done.file_id.unwrap())
            .await
            .unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[2].invoice_id, None);
        assert_eq!(all[2].outcome, "unmatched");
        drop(conn);

        // The next routine plans nothing for the paid invoice.
        assert!(
            !planned(t.db.clone())
                .await
                .contains(&invoices[0].external_id),
            "{label}"
        );

        // The same file again: nothing changes, and it says so.
        let again = import(&t.db, &file, false).await;
        assert!(again.already.is_some(), "{label}");
        assert!(again.lines.is_empty());

        // Another file paying the same invoice: a duplicate payment, kept to be refunded.
        let second = bb_return(&[(printed(&wallet, &invoices[0]), "06", 11990)]);
        let dup = import(&t.db, &second, false).await;
        assert_eq!(dup.count("duplicate_payment"), 1, "{label}");
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert_eq!(
            store::invoices::get_invoice(&mut conn, invoices[0].id)
                .await
                .unwrap()
                .status,
            paid.status,
            "{label}: the first payment stands"
        );
        let files: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bank_return_files")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(files, 2);
        drop(conn);

        // The dashboard's money side: two payments from files today, two files, one rejection
        // open, one record that matched nothing.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let clock = clock_on("2026-01-14");
        let midnight = clock.start_of_day_ms(clock.today()).unwrap();
        let money = store::bank_returns::payments_today(&mut conn, midnight)
            .await
            .unwrap();
        assert_eq!(
            (
                money.bank,
                money.pix,
                money.other,
                money.files,
                money.rejected,
                money.unmatched
            ),
            (2, 0, 0, 2, 1, 1),
            "{label}: {money:?}"
        );
        drop(conn);

        // Someone acts on the rejection: a note is required, then the invoice leaves the list,
        // the bank's reason is kept with the note, and the trail says who.
        use regua::actions::bank_returns::{ResolveError, resolve_rejection};
        let now = clock.now_millis();
        let r = resolve_rejection(&t.db, invoices[2].id, "  ", &operator, now).await;
        assert_eq!(r.unwrap(), Err(ResolveError::NoteMissing), "{label}");
        let note = "CEP corrigido, boleto enviado de novo";
        let r = resolve_rejection(&t.db, invoices[2].id, note, &operator, now).await;
        assert_eq!(r.unwrap(), Ok(()), "{label}");
        let r = resolve_rejection(&t.db, invoices[2].id, note, &operator, now).await;
        assert_eq!(
            r.unwrap(),
            Err(ResolveError::NotRejected),
            "{label}: only once"
        );
        let r = resolve_rejection(&t.db, invoices[1].id, note, &operator, now).await;
        assert_eq!(
            r.unwrap(),
            Err(ResolveError::NotRejected),
            "{label}: a paid one"
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::bank_returns::rejected_registrations(&mut conn)
                .await
                .unwrap()
                .is_empty(),
            "{label}"
        );
        let (status, reason) = store::bank_returns::bank_status_of(&mut conn, invoices[2].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, "resolved");
        assert!(
            reason.starts_with("03: ") && reason.ends_with(note),
            "{reason}"
        );
        let trail: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor, action FROM audit_log WHERE action = 'invoice.registration_resolved'",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            trail,
            [(
                operator.to_string(),
                "invoice.registration_resolved".to_string()
            )],
            "{label}"
        );
        drop(conn);

        // From the command line: a file with one bad amount changes nothing and names the line.
        let mut bad = bb_return(&[(printed(&wallet, &invoices[2]), "06", 11990)]);
        let at = bad.iter().position(|b| *b == b'\n').unwrap() + 1 + 253;
        bad[at..at + 2].copy_from_slice(b"1x");
        let path = dir.path().join("bad.ret");
        std::fs::write(&path, &bad).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["cnab", "import", path.to_str().unwrap()])
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{label}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 2: paid"), "{err}");
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert_eq!(
            store::invoices::get_invoice(&mut conn, invoices[2].id)
                .await
                .unwrap()
                .status,
            InvoiceStatus::Open,
            "{label}"
        );
    }
}

#[test]
fn cnab_read_json_prints_the_records_of_a_real_file() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../boleto/tests/data/cnab/retorno-341-cnab400-brcobranca.ret");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["cnab", "read", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["bank"], "341");
    assert_eq!(json["layout"], "cnab400");
    let first = &json["records"][0];
    for (key, value) in [
        ("line", serde_json::json!(2)),
        ("our_number", serde_json::json!("00000011")),
        ("occurrence", serde_json::json!("06")),
        ("event", serde_json::json!("paid")),
        ("occurred_on", serde_json::json!("2013-05-20")),
        ("credit_on", serde_json::json!("2013-05-21")),
        ("face_cents", serde_json::json!(4000)),
        ("paid_cents", serde_json::json!(3790)),
        ("fee_cents", serde_json::json!(210)),
    ] {
        assert_eq!(first[key], value, "{key}");
    }
    assert!(first["reasons"].is_array());
}
