//! Editing and removing what an ISP configured (#19 item 1): SMTP accounts, on both engines.

mod common;

use common::*;
use regua::actions::channels::{RemoveError, remove_smtp_account, update_smtp_account};
use regua::delivery::{AccountId, NewSmtpAccount, Security};
use regua::domain::{Actor, EmailAddress};
use regua::store::{self, accounts::PasswordChange};

fn actor() -> Actor {
    Actor::User("ana".into())
}

async fn notice_account(db: &store::Db, id: regua::delivery::NoticeId) -> Option<AccountId> {
    let mut conn = db.pool.acquire().await.unwrap();
    store::outbox::get_notice(&mut conn, id)
        .await
        .unwrap()
        .account_id
}

#[tokio::test]
async fn removing_an_account_moves_its_queue_frees_its_name_and_clears_the_default() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 1).await;
        let a = sink_account(&t.db, "Antiga", 2525, AccountSetup::default()).await;
        let b = sink_account(&t.db, "Nova", 2526, AccountSetup::default()).await;
        let queued = queue_invoice_email(&t.db, &invoices[0], &a, "k1", 0).await;
        {
            let mut conn = t.db.pool.acquire().await.unwrap();
            store::parties::set_setting(
                &mut conn,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                "Antiga",
            )
            .await
            .unwrap();
        }
        // The financial account with a queue and no other account named: held, nothing changes.
        let held = remove_smtp_account(&t.db, "Antiga", None, &actor(), 1).await;
        assert!(
            matches!(held, Err(RemoveError::Held { waiting: 1, .. })),
            "{held:?}"
        );
        assert_eq!(notice_account(&t.db, queued).await, Some(a.id));
        // A target that is not another active account: refused too.
        let bad = remove_smtp_account(&t.db, "Antiga", Some("Antiga"), &actor(), 1).await;
        assert!(matches!(bad, Err(RemoveError::BadTarget(_))), "{bad:?}");

        let removed = remove_smtp_account(&t.db, "Antiga", Some("Nova"), &actor(), 2)
            .await
            .unwrap();
        assert_eq!(removed.moved, 1);
        assert_eq!(removed.moved_to.as_deref(), Some("Nova"));
        assert!(removed.was_financial);
        assert_eq!(notice_account(&t.db, queued).await, Some(b.id));
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::accounts::financial_account(&mut conn)
                .await
                .unwrap()
                .is_none(),
            "a removed account is no longer the default"
        );
        let old = store::accounts::get_smtp_account(&mut conn, a.id)
            .await
            .unwrap();
        assert!(!old.active);
        assert_eq!(old.name, format!("Antiga (removida #{})", a.id.0));
        drop(conn);
        // The name is free again.
        sink_account(&t.db, "Antiga", 2527, AccountSetup::default()).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let audit: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT action, after FROM audit_log WHERE action = 'smtp.remove' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(audit.len(), 1, "the refused removals wrote nothing");
        assert!(
            audit[0]
                .1
                .as_deref()
                .unwrap()
                .contains("\"moved_notices\":1")
        );
    }
}

#[tokio::test]
async fn removing_moves_the_queue_to_the_financial_account_by_default() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 1).await;
        let a = sink_account(&t.db, "Antiga", 2525, AccountSetup::default()).await;
        let f = sink_account(&t.db, "Financeiro", 2526, AccountSetup::default()).await;
        let queued = queue_invoice_email(&t.db, &invoices[0], &a, "k1", 0).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Financeiro",
        )
        .await
        .unwrap();
        drop(conn);
        let removed = remove_smtp_account(&t.db, "Antiga", None, &actor(), 2)
            .await
            .unwrap();
        assert_eq!(
            (removed.moved, removed.was_financial),
            (1, false),
            "{removed:?}"
        );
        assert_eq!(notice_account(&t.db, queued).await, Some(f.id));
    }
}

#[tokio::test]
async fn editing_keeps_replaces_or_clears_the_password_and_follows_a_rename() {
    for t in each_backend().await {
        let a = sink_account(
            &t.db,
            "Principal",
            2525,
            AccountSetup {
                auth: Some(("cobranca".into(), "senha-velha".into())),
                ..AccountSetup::default()
            },
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Principal",
        )
        .await
        .unwrap();
        drop(conn);
        let key = test_key();
        let edit = |name: &str, user: Option<&str>| NewSmtpAccount {
            security: Security::StartTls,
            credentials: user.map(|u| (u.to_string(), regua::secrets::Secret::new(String::new()))),
            hourly_limit: Some(50),
            daily_limit: Some(400),
            ..NewSmtpAccount::smtp(
                name,
                "smtp.exemplo.com.br",
                587,
                EmailAddress::parse("financeiro@provedor.com.br").unwrap(),
            )
        };
        let password = async |db: &store::Db| {
            let mut conn = db.pool.acquire().await.unwrap();
            store::accounts::smtp_password(&mut conn, a.id, Some(&key))
                .await
                .unwrap()
                .map(|s| s.expose().to_string())
        };
        // A blank password keeps the stored one.
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Principal", Some("cobranca")),
            &PasswordChange::Keep,
            Some(&key),
            &actor(),
            1,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await.as_deref(), Some("senha-velha"));
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Cobrança", Some("cobranca")),
            &PasswordChange::Replace(regua::secrets::Secret::new("senha-nova")),
            Some(&key),
            &actor(),
            2,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await.as_deref(), Some("senha-nova"));
        let mut conn = t.db.pool.acquire().await.unwrap();
        let now = store::accounts::get_smtp_account(&mut conn, a.id)
            .await
            .unwrap();
        assert_eq!(
            (
                now.name.as_str(),
                now.host.as_str(),
                now.hourly_limit,
                now.daily_limit
            ),
            ("Cobrança", "smtp.exemplo.com.br", Some(50), Some(400))
        );
        assert_ne!(now.revision, a.revision, "workers see the edit");
        assert_eq!(
            store::accounts::financial_account(&mut conn)
                .await
                .unwrap()
                .map(|f| f.id),
            Some(a.id),
            "a renamed financial account stays the financial one"
        );
        let trail: Vec<(String, String)> = sqlx::query_as(
            "SELECT before, after FROM audit_log WHERE action = 'smtp.update' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail.len(), 2);
        assert!(trail[1].1.contains("\"hourly_limit\":50"), "{}", trail[1].1);
        assert!(
            !trail
                .iter()
                .any(|(b, a)| b.contains("senha") || a.contains("senha")),
            "the password never reaches the trail"
        );
        drop(conn);
        // No user: the password goes too.
        update_smtp_account(
            &t.db,
            a.id,
            &edit("Cobrança", None),
            &PasswordChange::Clear,
            Some(&key),
            &actor(),
            3,
        )
        .await
        .unwrap();
        assert_eq!(password(&t.db).await, None);
        // Renaming onto another account's name is refused.
        sink_account(&t.db, "Outra", 2526, AccountSetup::default()).await;
        let dup = update_smtp_account(
            &t.db,
            a.id,
            &edit("Outra", None),
            &PasswordChange::Keep,
            Some(&key),
            &actor(),
            4,
        )
        .await;
        assert!(
            matches!(dup, Err(store::parties::ConfigError::Duplicate { .. })),
            "{dup:?}"
        );
    }
}

#[tokio::test]
async fn a_wallet_with_invoices_keeps_its_bank_identity_and_a_method_moves_to_another_wallet() {
    use regua::actions::billing_setup::{WalletEditError, update_billing_method, update_wallet};
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 1).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let bb = store::parties::find_wallet_by_name(&mut conn, "BB")
            .await
            .unwrap()
            .unwrap();
        let spare = regua::domain::NewWallet {
            name: "BB reserva".into(),
            ..regua::demo::banco_do_brasil_wallet("BB reserva")
        };
        let spare_id = store::parties::insert_wallet(&mut conn, &spare, 0)
            .await
            .unwrap();
        drop(conn);
        let as_new = |w: &regua::domain::BillingWallet| regua::domain::NewWallet {
            name: w.name.clone(),
            bank_code: w.bank_code.clone(),
            agency: w.agency.clone(),
            account: w.account.clone(),
            wallet_code: w.wallet_code.clone(),
            agreement: w.agreement.clone(),
            kind: w.kind,
            send_on_generate: w.send_on_generate,
            pix_key: w.pix_key.clone(),
            registration: w.registration,
            terms: w.terms,
        };
        // The boletos already sent carry the agency: it stays.
        let moved = update_wallet(
            &t.db,
            bb.id,
            &regua::domain::NewWallet {
                agency: "9999".into(),
                ..as_new(&bb)
            },
            &actor(),
            1,
        )
        .await;
        assert!(
            matches!(moved, Err(WalletEditError::IdentityLocked(_))),
            "{moved:?}"
        );
        // The name and the PIX key may change.
        update_wallet(
            &t.db,
            bb.id,
            &regua::domain::NewWallet {
                name: "Banco do Brasil".into(),
                pix_key: Some("financeiro@provedor.com.br".into()),
                ..as_new(&bb)
            },
            &actor(),
            2,
        )
        .await
        .unwrap();
        // A wallet without invoices takes a corrected agency.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let s = store::parties::get_wallet(&mut conn, spare_id)
            .await
            .unwrap();
        drop(conn);
        update_wallet(
            &t.db,
            spare_id,
            &regua::domain::NewWallet {
                agency: "4321".into(),
                ..as_new(&s)
            },
            &actor(),
            3,
        )
        .await
        .unwrap();
        // The method now draws on the spare wallet: the next invoice does, the first does not.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let method = store::parties::list_billing_methods(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.name == "Boleto BB")
            .unwrap();
        drop(conn);
        update_billing_method(&t.db, method.id, "Boleto reserva", spare_id, &actor(), 4)
            .await
            .unwrap();
        let next = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-06"))
            .await
            .unwrap()
            .created;
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].wallet_id, spare_id);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let first = store::invoices::get_invoice(&mut conn, invoices[0].id)
            .await
            .unwrap();
        assert_eq!(first.wallet_id, bb.id);
        let after = store::parties::get_wallet(&mut conn, bb.id).await.unwrap();
        assert_eq!(
            (
                after.name.as_str(),
                after.agency.as_str(),
                after.pix_key.as_deref()
            ),
            (
                "Banco do Brasil",
                bb.agency.as_str(),
                Some("financeiro@provedor.com.br")
            )
        );
        let trail: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit_log WHERE action IN ('wallet.update', 'method.update') ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail, ["wallet.update", "wallet.update", "method.update"]);
    }
}

/// A DSN as Postfix writes it, sent to `to` about `rcpt`.
fn dsn(to: &str, rcpt: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.exemplo.com.br (Mail Delivery System)\n\
         To: {to}\n\
         Subject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could not be delivered.\n\n\
         --B\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mx.exemplo.com.br\n\n\
         Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown\n\n\
         --B--\n"
    )
}

#[tokio::test]
async fn an_account_with_a_bounce_domain_sends_each_message_with_its_own_return_path() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let a = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE smtp_accounts SET bounce_domain = 'retorno.provedor.com.br'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let clock = clock_on("2026-01-05");
    let id = queue_invoice_email(&t.db, &invoices[0], &a, "k1", clock.now_millis()).await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    assert_eq!(sink.count(), 1);
    let m = &sink.received()[0];
    let expected = regua::bounce::return_path(id.0, "retorno.provedor.com.br", &test_key());
    assert_eq!(m.from, expected, "MAIL FROM is the notice's return path");
    assert!(
        m.text()
            .contains("From: Provedor <cobranca@provedor.com.br>"),
        "the From stays"
    );
    // The bounce, sent back to that address, names the notice; with a forged tag, nothing.
    let dir = tempfile::tempdir().unwrap();
    let classify = |file: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["bounce", "classify", "--json"])
            .arg(file)
            .env("REGUA_SECRET_KEY", "5e".repeat(32))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let good = dir.path().join("good.eml");
    std::fs::write(&good, dsn(&expected, "maria@exemplo.com.br")).unwrap();
    let got = classify(&good);
    assert_eq!(got["notice"], serde_json::json!(id.0), "{got}");
    assert_eq!(got["kind"], "hard");
    assert_eq!(got["recipient"], "maria@exemplo.com.br");
    let forged = dir.path().join("forged.eml");
    let tag_start = expected.find('.').unwrap() + 1;
    let mut wrong = expected.clone();
    wrong.replace_range(tag_start..tag_start + 4, "0000");
    std::fs::write(&forged, dsn(&wrong, "maria@exemplo.com.br")).unwrap();
    assert_eq!(classify(&forged)["notice"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_bounce_read_back_suppresses_the_address_and_the_next_notice_is_skipped() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 3).await;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        let a = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE smtp_accounts SET bounce_domain = 'retorno.provedor.com.br'")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let clock = clock_on("2026-01-05");
        let first = queue_invoice_email(&t.db, &invoices[0], &a, "k1", clock.now_millis()).await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 1, "{}", t.label);
        let rp = sink.received()[0].from.clone();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.eml"), dsn(&rp, "maria@exemplo.com.br")).unwrap();
        let mut forged = rp.clone();
        let at = forged.find('.').unwrap() + 1;
        forged.replace_range(at..at + 4, "0000");
        std::fs::write(
            dir.path().join("2-forged.eml"),
            dsn(&forged, "maria@exemplo.com.br"),
        )
        .unwrap();
        let cli = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
                .args(args)
                .env("REGUA_DATABASE_URL", &t.url)
                .env("REGUA_SECRET_KEY", "5e".repeat(32))
                .env("USER", "ana")
                .output()
                .unwrap()
        };
        let folder = dir.path().display().to_string();
        let out = cli(&["bounce", "import", &folder]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{out:?}");
        assert!(
            text.contains(&format!(
                "recorded\tnotice {}\tmaria@exemplo.com.br\thard\t5.1.1\tsuppressed",
                first.0
            )),
            "{text}"
        );
        assert!(
            text.contains("2-forged.eml\tignored"),
            "a forged bounce changes nothing: {text}"
        );
        // The same mailbox again: nothing new.
        let again =
            String::from_utf8_lossy(&cli(&["bounce", "import", &folder]).stdout).to_string();
        assert!(
            again.contains("0 recorded (0 address(es) suppressed), 1 already recorded, 1 ignored"),
            "{again}"
        );
        let listed = String::from_utf8_lossy(&cli(&["bounce", "suppressed"]).stdout).to_string();
        assert!(
            listed.starts_with("maria@exemplo.com.br\thard\t5.1.1\t"),
            "{listed}"
        );
        // The next notice to that address is skipped, with the reason.
        let second = queue_invoice_email(&t.db, &invoices[1], &a, "k2", clock.now_millis()).await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 1, "nothing more went to a suppressed address");
        let mut conn = t.db.pool.acquire().await.unwrap();
        let n = store::outbox::get_notice(&mut conn, second).await.unwrap();
        assert_eq!(n.status, regua::delivery::NoticeStatus::Skipped);
        assert_eq!(
            n.last_error.as_deref(),
            Some("e-mail suprimido: maria@exemplo.com.br (devolvido como inexistente, 5.1.1)")
        );
        drop(conn);
        // Cleared (the clerk fixed it): the next one goes out.
        assert!(
            cli(&["bounce", "unsuppress", "Maria@Exemplo.com.br"])
                .status
                .success()
        );
        queue_invoice_email(&t.db, &invoices[2], &a, "k3", clock.now_millis()).await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 2, "{}", t.label);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let trail: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, actor FROM audit_log WHERE action LIKE 'suppression.%' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            trail,
            [
                ("suppression.add".to_string(), "bounce".to_string()),
                ("suppression.clear".to_string(), "cli: ana".to_string())
            ]
        );
    }
}

#[tokio::test]
async fn three_soft_bounces_in_a_row_suppress_an_address_one_does_not() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 3).await;
    let a = folder_account(&t.db, tempfile::tempdir().unwrap().path()).await;
    let key = test_key();
    let mut notices = Vec::new();
    for (i, inv) in invoices.iter().enumerate() {
        notices.push(queue_invoice_email(&t.db, inv, &a, &format!("s{i}"), 0).await);
    }
    for (i, n) in notices.iter().enumerate() {
        let rp = regua::bounce::return_path(n.0, "retorno.provedor.com.br", &key);
        let soft = dsn(&rp, "maria@exemplo.com.br")
            .replace("Status: 5.1.1", "Status: 5.2.2")
            .replace("Recipient address rejected: User unknown", "Mailbox full");
        let got = regua::actions::bounces::ingest(&t.db, soft.as_bytes(), &key, 10 + i as i64)
            .await
            .unwrap();
        let suppressed = match got {
            regua::actions::bounces::Ingested::Recorded {
                bounce, suppressed, ..
            } => {
                assert_eq!(bounce.kind, regua::bounce::BounceKind::Soft);
                suppressed
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(suppressed, i == 2, "bounce {}", i + 1);
    }
}
