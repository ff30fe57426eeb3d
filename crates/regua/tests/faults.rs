//! What production does to a delivery system, each a fault once reproduced against a release
//! build: a line break in a header field, a server that accepts TCP and never speaks (or goes
//! silent after DATA), a stop in the middle of a send, colliding Message-IDs, values a boleto
//! cannot carry, failures invisible at the default log level, and DKIM signatures no one else
//! could verify. Each test fails on the code before the fix.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mailsink::{DataReply, Sink, SinkConfig};
use regua::delivery::{NoticeStatus, WorkerOptions};
use regua::store;

const T0: &str = "2026-01-05";

fn regua_cmd() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
}

/// A worker with its own network timeout.
fn worker_with_timeout(db: &store::Db, timeout: Duration) -> regua::delivery::Worker {
    regua::delivery::Worker::new(
        db.clone(),
        clock_on(T0),
        WorkerOptions {
            name: "test-worker".into(),
            lease: Duration::from_secs(60),
            batch: 16,
            concurrency: 4,
            timeout,
        },
        Some(test_key()),
    )
}

async fn queue(
    db: &store::Db,
    account: &regua::delivery::SmtpAccount,
    keys: &[&str],
) -> Vec<regua::delivery::NoticeId> {
    let invoices = open_invoices(db, 1).await;
    let mut ids = Vec::new();
    for key in keys {
        ids.push(
            queue_invoice_email(db, &invoices[0], account, key, clock_on(T0).now_millis()).await,
        );
    }
    ids
}

async fn notice(db: &store::Db, id: regua::delivery::NoticeId) -> regua::delivery::Notice {
    let mut conn = db.pool.acquire().await.unwrap();
    store::outbox::get_notice(&mut conn, id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_break_in_the_sender_name_is_refused_and_a_stored_one_fails_only_its_messages() {
    for t in each_backend().await {
        let label = t.label;
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        // Every field that reaches a header or the SMTP conversation, on input.
        for (field, mutate) in [
            (
                "from_name",
                (|a: &mut regua::delivery::NewSmtpAccount| {
                    a.from_name = "Provedor\r\nBcc: intruso@exemplo.com".into()
                }) as fn(&mut regua::delivery::NewSmtpAccount),
            ),
            ("name", |a| a.name = "Conta\nNova".into()),
            ("host", |a| a.host = "smtp.exemplo.com\r\n".into()),
            ("from_name", |a| a.from_name = "Provedor\u{0}".into()),
        ] {
            let mut a = regua::delivery::NewSmtpAccount::smtp(
                "Outra",
                "127.0.0.1",
                25,
                regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap(),
            );
            mutate(&mut a);
            let mut conn = t.db.pool.acquire().await.unwrap();
            match store::accounts::insert_smtp_account(&mut conn, &a, Some(&test_key()), 0).await {
                Err(store::parties::ConfigError::Invalid { field: f, reason }) => {
                    assert_eq!(f, field, "{label}");
                    assert!(
                        reason.contains("line break or control character"),
                        "{label}: {reason}"
                    );
                }
                other => panic!("{label}: {field} accepted: {other:?}"),
            }
        }
        // One stored before the check (or edited in the database): its messages are dead with
        // the reason, the worker goes on, and another account's message still goes out.
        let other = sink_account(&t.db, "Reserva", sink.port(), AccountSetup::default()).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE smtp_accounts SET from_name = $1 WHERE name = 'Principal'")
            .bind("Provedor\r\nBcc: intruso@exemplo.com")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let account =
            store::accounts::get_smtp_account(&mut t.db.pool.acquire().await.unwrap(), account.id)
                .await
                .unwrap();
        let ids = queue(&t.db, &account, &["a:1", "a:2", "a:3"]).await;
        let invoices = store::invoices::list_open_invoices_of_customers(
            &mut t.db.pool.acquire().await.unwrap(),
            &[regua::domain::CustomerId(1)],
        )
        .await
        .unwrap();
        let good = queue_invoice_email(
            &t.db,
            &invoices[0],
            &other,
            "b:1",
            clock_on(T0).now_millis(),
        )
        .await;
        let report = worker_at(&t.db, &clock_on(T0)).drain(|_| {}).await.unwrap();
        assert_eq!((report.dead, report.sent), (3, 1), "{label}: {report:?}");
        for id in ids {
            let n = notice(&t.db, id).await;
            assert_eq!(n.status, NoticeStatus::Dead, "{label}");
            assert_eq!(n.attempts, 1, "{label}: dead at once, not retried");
            assert!(
                n.last_error.unwrap().contains("nome do remetente inválido"),
                "{label}"
            );
        }
        assert_eq!(
            notice(&t.db, good).await.status,
            NoticeStatus::Sent,
            "{label}"
        );
        assert_eq!(sink.count(), 1, "{label}");
    }
}

#[tokio::test]
async fn the_cli_refuses_a_line_break_and_smtp_test_reports_instead_of_crashing() {
    let t = sqlite().await;
    let out = regua_cmd()
        .args([
            "smtp",
            "add",
            "--name",
            "Principal",
            "--host",
            "127.0.0.1",
            "--port",
            "2525",
            "--security",
            "none",
            "--from",
            "cobranca@provedor.com.br",
            "--from-name",
            "Provedor\r\nBcc: intruso@exemplo.com",
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "no panic: {stderr}");
    assert!(
        stderr.contains("--from-name") && stderr.contains("line break"),
        "{stderr}"
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert!(
        store::accounts::list_smtp_accounts(&mut conn)
            .await
            .unwrap()
            .is_empty(),
        "nothing saved"
    );

    // A stored one: `regua smtp test` says why and exits 1, it does not panic (exit 101).
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    drop(conn);
    sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    sqlx::query(
        "UPDATE smtp_accounts SET from_name = 'Prov\nedor', test_recipient = 'ti@provedor.com.br'",
    )
    .execute(&t.db.pool)
    .await
    .unwrap();
    let out = regua_cmd()
        .args(["smtp", "test", "Principal"])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(101), "no panic: {all}");
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("nome do remetente inválido"), "{all}");
    assert_eq!(sink.count(), 0);
}

#[test]
fn a_rendered_subject_with_a_line_break_stays_one_header() {
    let account = bare_smtp_account(None);
    let rendered = regua::layouts::RenderedMessage {
        // A customer's name with a line break, rendered into the subject.
        subject: "Fatura de Maria\r\nBcc: intruso@exemplo.com".into(),
        html: "<p>Olá</p>".into(),
        text: "Olá".into(),
        sms: String::new(),
    };
    let message = regua::delivery::build_message(
        &account,
        "maria@exemplo.com.br",
        "<k.regua@provedor.com.br>",
        &rendered,
        &[("boleto-K1\r\n.pdf".into(), b"%PDF".to_vec())],
    )
    .unwrap();
    let text = String::from_utf8(message.formatted()).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(!head.lines().any(|l| l.starts_with("Bcc:")), "{head}");
    assert!(
        head.contains("Subject: Fatura de Maria Bcc: intruso@exemplo.com"),
        "{head}"
    );
    assert!(
        !text.contains("boleto-K1\r\n"),
        "the attachment's name is one line too"
    );
}

#[test]
fn a_subject_template_with_a_line_break_is_refused_when_saved() {
    let problems = regua::layouts::check_layout("Sua fatura\nBcc: x@y.z", "<p>x</p>", "");
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("o assunto é uma linha só") && p.column == 11),
        "{problems:?}"
    );
}

#[tokio::test]
async fn two_keys_that_fold_alike_get_different_message_ids_and_files() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let account = folder_account(&t.db, &dir.path().join("mail")).await;
    // Before: both became `<lote.2026.12.regua@…>`, and the second .eml overwrote the first.
    let ids = queue(&t.db, &account, &["lote:2026/12", "lote_2026.12"]).await;
    let report = worker_at(&t.db, &clock_on(T0)).drain(|_| {}).await.unwrap();
    assert_eq!(report.sent, 2);
    let a = notice(&t.db, ids[0]).await.message_id;
    let b = notice(&t.db, ids[1]).await.message_id;
    assert_ne!(a, b);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for id in [&a, &b] {
        let eml = std::fs::read_to_string(
            dir.path()
                .join("mail")
                .join(format!("{}.eml", id.trim_matches(['<', '>']))),
        )
        .unwrap();
        assert!(eml.contains(&format!("Message-ID: {id}")));
    }
    // A Message-ID is never reused, even for the same key in another database.
    let from = regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap();
    assert_ne!(
        store::outbox::message_id_for("rule:1:1", &from),
        store::outbox::message_id_for("rule:1:1", &from)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_speaks_or_stalls_after_data_costs_one_timeout_and_a_retry() {
    for (config, step) in [
        (
            SinkConfig {
                silent: true,
                ..SinkConfig::default()
            },
            "greeting and EHLO",
        ),
        (
            SinkConfig {
                script: vec![DataReply::Stall],
                ..SinkConfig::default()
            },
            "message transaction",
        ),
    ] {
        let t = sqlite().await;
        let sink = Sink::start(config).await.unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let ids = queue(&t.db, &account, &["x:1"]).await;
        let started = Instant::now();
        let report = worker_with_timeout(&t.db, Duration::from_secs(1))
            .drain(|_| {})
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(8),
            "{step}: bounded by the timeout, took {took:?}"
        );
        assert_eq!(report.retrying, 1, "{step}");
        let n = notice(&t.db, ids[0]).await;
        assert_eq!(n.status, NoticeStatus::Retrying, "{step}");
        let error = n.last_error.unwrap();
        assert!(
            error.contains(&format!("timed out after 1 s waiting for the {step}")),
            "{error}"
        );
        // The attempt is in the log.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let log = store::log::list_attempts(
            &mut conn,
            &store::log::LogFilter {
                limit: 10,
                ..store::log::LogFilter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(log.len(), 1, "{step}");
        assert_eq!(log[0].outcome, NoticeStatus::Retrying);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_cancels_a_hanging_send_within_seconds_and_leaves_it_to_be_retried() {
    let t = sqlite().await;
    let sink = Sink::start(SinkConfig {
        script: vec![DataReply::Stall],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let ids = queue(&t.db, &account, &["x:1"]).await;
    // A long timeout: only the stop can end this send.
    let worker = worker_with_timeout(&t.db, Duration::from_secs(600));
    let started = Instant::now();
    let stop_at = started + Duration::from_millis(700);
    worker
        .run(Duration::from_millis(50), async move {
            tokio::time::sleep_until(stop_at.into()).await;
        })
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(700)
            + regua::delivery::SHUTDOWN_GRACE
            + Duration::from_secs(3),
        "stopped after {took:?}"
    );
    let n = notice(&t.db, ids[0]).await;
    assert_eq!(n.status, NoticeStatus::Retrying);
    assert!(n.last_error.unwrap().contains("envio interrompido"));
    assert!(
        n.next_attempt_at <= clock_on(T0).now_millis(),
        "due again at once"
    );
    assert_eq!(sink.count(), 0);
}

/// Sends SIGTERM to a child process.
fn terminate(child: &std::process::Child) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits up to `limit` for a child to exit.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_worker_and_serve_while_a_server_hangs() {
    for command in [
        vec!["worker"],
        vec!["serve", "--bind", "127.0.0.1:0", "--no-scheduler"],
    ] {
        let t = sqlite().await;
        let sink = Sink::start(SinkConfig {
            silent: true,
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let ids = queue(&t.db, &account, &["x:1"]).await;
        let mut child = regua_cmd()
            .args(&command)
            .env("REGUA_DATABASE_URL", &t.url)
            .env("REGUA_SECRET_KEY", "5e".repeat(32))
            .env("REGUA_TODAY", T0)
            .env("REGUA_NETWORK_TIMEOUT_SECONDS", "600")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the send is on the wire (the notice leased).
        let deadline = Instant::now() + Duration::from_secs(20);
        while notice(&t.db, ids[0]).await.status != NoticeStatus::Sending {
            assert!(Instant::now() < deadline, "{command:?}: never claimed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stopping = Instant::now();
        terminate(&child);
        let status = wait_exit(&mut child, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("{command:?} ignored SIGTERM"));
        assert!(status.success(), "{command:?}: {status}");
        assert!(stopping.elapsed() < regua::delivery::SHUTDOWN_GRACE + Duration::from_secs(5));
        let n = notice(&t.db, ids[0]).await;
        assert_eq!(
            n.status,
            NoticeStatus::Retrying,
            "{command:?}: left to be retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_logged_at_the_default_level_without_flooding() {
    let t = sqlite().await;
    // A port nothing listens on: every attempt is "connection refused".
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let account = sink_account(&t.db, "Principal", port, AccountSetup::default()).await;
    let keys: Vec<String> = (0..30).map(|i| format!("x:{i}")).collect();
    queue(
        &t.db,
        &account,
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    // Five notices dead at once too: a 550 after DATA.
    let out = regua_cmd()
        .args(["outbox", "drain"])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("REGUA_TODAY", T0)
        .env_remove("REGUA_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures = stderr
        .lines()
        .filter(|l| l.contains("delivery failed; will retry"))
        .count();
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains("Connection refused") || stderr.contains("connection refused"),
        "{stderr}"
    );
    assert_eq!(
        failures, 10,
        "at most 10 lines a minute per account: {stderr}"
    );

    // Dead is ERROR.
    let sink = Sink::start(SinkConfig {
        script: vec![DataReply::Reply(550, "5.7.1 Rejected".into())],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let t = sqlite().await;
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    queue(&t.db, &account, &["y:1"]).await;
    let out = regua_cmd()
        .args(["outbox", "drain"])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("REGUA_TODAY", T0)
        .env_remove("REGUA_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("notice is dead") && l.contains("550")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_signatures_verify_with_an_independent_implementation_over_smtp_and_in_files() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, dkim) = dkim_key(dir.path());
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let from = regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap();
    let mut conn = t.db.pool.acquire().await.unwrap();
    let mut accounts = Vec::new();
    for a in [
        regua::delivery::NewSmtpAccount {
            from_name: "Provedor Açaí Fibra".into(),
            dkim: Some(dkim.clone()),
            ..regua::delivery::NewSmtpAccount::smtp(
                "Principal",
                "127.0.0.1",
                sink.port(),
                from.clone(),
            )
        },
        regua::delivery::NewSmtpAccount {
            dkim: Some(dkim.clone()),
            ..regua::delivery::NewSmtpAccount::folder(
                "Pasta",
                &dir.path().join("mail").display().to_string(),
                from.clone(),
            )
        },
    ] {
        let id = store::accounts::insert_smtp_account(&mut conn, &a, Some(&test_key()), 0)
            .await
            .unwrap();
        accounts.push(
            store::accounts::get_smtp_account(&mut conn, id)
                .await
                .unwrap(),
        );
    }
    drop(conn);
    let invoices = open_invoices(&t.db, 1).await;
    // The subject starts with the company's name: a non-ASCII one makes an encoded subject.
    store::parties::set_setting(
        &mut t.db.pool.acquire().await.unwrap(),
        "company_name",
        "Provedor Açaí Fibra",
    )
    .await
    .unwrap();
    for (i, account) in accounts.iter().enumerate() {
        // The boleto PDF is attached.
        let mut conn = t.db.pool.acquire().await.unwrap();
        regua::delivery::enqueue_invoice_email(
            &mut conn,
            invoices[0].id,
            account,
            regua::layouts::Purpose::PortalSecondCopy,
            None,
            test_key_named(&format!("dkim:{i}")),
            "test",
            clock_on(T0).now_millis(),
        )
        .await
        .unwrap();
    }
    let report = worker_at(&t.db, &clock_on(T0)).drain(|_| {}).await.unwrap();
    assert_eq!(report.sent, 2);
    let over_smtp = sink.received().remove(0).data;
    let in_file = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .unwrap();
    for (how, message) in [("smtp", &over_smtp), ("folder", &in_file)] {
        let text = String::from_utf8_lossy(message);
        assert!(text.contains("DKIM-Signature:"), "{how}");
        let subject = text
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .unwrap_or_default();
        assert!(
            subject.contains("=?utf-8?"),
            "{how}: a non-ASCII subject, encoded: {subject}"
        );
        assert!(
            text.contains("filename=\"boleto-"),
            "{how}: the boleto attached"
        );
        assert!(
            dkim_verifies(message, &key),
            "{how}: dkimpy refused the signature"
        );
        // And a changed subject no longer verifies: the verifier is not a rubber stamp.
        let tampered = text.replacen(subject, "Subject: Fatura paga, ignore", 1);
        assert!(
            !dkim_verifies(tampered.as_bytes(), &key),
            "{how}: tampering went unnoticed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_a_boleto_cannot_carry_are_refused_at_the_edge_and_a_stored_one_is_dead_at_once() {
    use regua::import::ImportKind;
    for t in each_backend().await {
        let label = t.label;
        open_invoices(&t.db, 1).await;
        // The CSV import names the line, the column and the reason, and imports nothing.
        let csv = "external_id,contract_external_id,amount,issue_date,due_date,status\n\
                   I1,K1,\"100.000.000,00\",2026-01-01,2026-01-10,open\n\
                   I2,K1,\"99.999.999,99\",2026-01-01,2026-01-10,open\n\
                   I3,K1,\"10,00\",2000-07-01,2000-07-02,open\n\
                   I4,K1,\"10,00\",2026-01-01,2037-01-10,open\n";
        let bad = bad_rows(&t.db, ImportKind::Invoices, csv).await;
        let got: Vec<(u64, &str)> = bad.iter().map(|r| (r.line, r.column.as_str())).collect();
        assert_eq!(
            got,
            [(2, "amount"), (4, "due_date"), (5, "due_date")],
            "{label}: {bad:?}"
        );
        assert!(
            bad[0].reason.contains("more than a boleto can carry"),
            "{label}"
        );
        let names = format!(
            "external_id,name,document,email,mobile_phone\nC5,{},529.982.247-25,,\n\"C\u{1}6\",Ana,529.982.247-25,,\n\"C7\",\"Ana\nSouza\",529.982.247-25,,\n",
            "a".repeat(2_000_000)
        );
        let bad = bad_rows(&t.db, ImportKind::Customers, &names).await;
        let got: Vec<(u64, &str)> = bad.iter().map(|r| (r.line, r.column.as_str())).collect();
        assert_eq!(
            got,
            [(2, "name"), (3, "external_id"), (4, "name")],
            "{label}: {bad:?}"
        );
        assert!(bad[0].reason.contains("longer than 200"), "{label}");
        assert!(bad[1].reason.contains("control character"), "{label}");
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::invoices::find_invoice_by_external_id(&mut conn, "I2")
                .await
                .unwrap()
                .is_none(),
            "{label}: all or nothing"
        );
        drop(conn);

        // The REST API names the field.
        let db = t.db.clone();
        let token = {
            let mut conn = db.pool.acquire().await.unwrap();
            use regua::web::auth::Permission;
            store::auth::insert_api_key(
                &mut conn,
                "erp",
                &[Permission::View, Permission::EditBilling],
                0,
            )
            .await
            .unwrap()
            .1
        };
        with_server(&t.db, |addr| async move {
            use common::http::json_call;
            use serde_json::json;
            let post = |path: &'static str, body: serde_json::Value| {
                let token = token.clone();
                async move { json_call(addr, "POST", path, &token, Some(&body)).await }
            };
            let inv = json!({"id": "F-1", "contract": "K1", "amount_cents": 13990, "issue_date": "2026-01-05", "due_date": "2026-01-15"});
            for (field, value, expect) in [
                ("amount_cents", json!(10_000_000_000i64), "amount_cents"),
                ("due_date", json!("2000-07-02"), "due_date"),
                ("due_date", json!("2037-01-15"), "due_date"),
                ("id", json!("F\u{1}1"), "id"),
            ] {
                let mut body = inv.clone();
                body[field] = value;
                if field == "due_date" && body["due_date"] == "2000-07-02" {
                    body["issue_date"] = json!("2000-07-01");
                }
                let (status, answer) = post("/api/v1/invoices", body).await;
                assert_eq!((status, answer["field"].clone()), (422, json!(expect)), "{label}: {field}: {answer}");
            }
            let (status, answer) = post("/api/v1/customers", json!({"id": "C9", "name": "Ana\r\nSouza", "document": "52998224725"})).await;
            assert_eq!((status, answer["field"].clone()), (422, json!("name")), "{label}: {answer}");
            let (status, answer) = post("/api/v1/customers", json!({"id": "C9", "name": "a".repeat(201), "document": "52998224725"})).await;
            assert_eq!((status, answer["field"].clone()), (422, json!("name")), "{label}: {answer}");
            let (status, answer) = post("/api/v1/contracts", json!({"id": "K9", "customer": "C1", "plan": "Fibra", "monthly_amount_cents": 10_000_000_000i64, "due_day": 10, "billing_method": "Boleto BB"})).await;
            assert_eq!((status, answer["field"].clone()), (422, json!("monthly_amount_cents")), "{label}: {answer}");
            // At the limit it is accepted.
            let mut max = inv.clone();
            max["amount_cents"] = json!(9_999_999_999i64);
            assert_eq!(post("/api/v1/invoices", max).await.0, 201, "{label}");

            // One stored before the checks: its PDF is a 422 with the reason, not a 500.
            sqlx::query("UPDATE invoices SET amount_cents = 10000000000 WHERE external_id = 'F-1'")
                .execute(&db.pool)
                .await
                .unwrap();
            let (status, answer) = json_call(addr, "GET", "/api/v1/invoices/F-1/boleto.pdf", &token, None).await;
            assert_eq!((status, answer["code"].clone()), (422, json!("unissuable")), "{label}: {answer}");
        })
        .await;
        // Its notice is dead at the first attempt, with the reason; nothing is retried.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let invoice = store::invoices::find_invoice_by_external_id(&mut conn, "F-1")
            .await
            .unwrap()
            .unwrap();
        let account = sink_account(&t.db, "Principal", 9, AccountSetup::default()).await;
        drop(conn);
        let id =
            queue_invoice_email(&t.db, &invoice, &account, "f:1", clock_on(T0).now_millis()).await;
        worker_at(&t.db, &clock_on(T0)).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, id).await;
        assert_eq!((n.status, n.attempts), (NoticeStatus::Dead, 1), "{label}");
        assert!(
            n.last_error.unwrap().contains("não pode ser gerado"),
            "{label}"
        );
    }
}

/// The rows a file is refused for (it must be refused).
async fn bad_rows(
    db: &store::Db,
    kind: regua::import::ImportKind,
    csv: &str,
) -> Vec<regua::import::RowError> {
    match regua::import::import_csv(db, kind, csv.as_bytes(), &clock_on(T0)).await {
        Err(regua::import::ImportError::BadRows(rows)) => rows,
        other => panic!("{other:?}"),
    }
}

/// The administrator "ana", password "senha-certa-123".
async fn add_admin_ana(db: &store::Db) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana",
        regua::web::auth::Role::Admin,
        "senha-certa-123",
        0,
    )
    .await
    .unwrap();
}

/// A login form's cookie and CSRF token, reusable for several posts.
async fn login_form(addr: std::net::SocketAddr) -> (String, String) {
    use common::http::http;
    let form = http(addr, "GET", "/login", "", "").await;
    (
        format!("regua_login={}", form.cookie("regua_login").unwrap()),
        form.field("_csrf"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_guesses_get_exactly_the_allowed_tries() {
    for t in each_backend().await {
        let label = t.label;
        add_admin_ana(&t.db).await;
        with_server(&t.db, |addr| async move {
            use common::http::{enc, http};
            let (cookie, csrf) = login_form(addr).await;
            let guesses = (0..50).map(|i| {
                let (cookie, csrf) = (cookie.clone(), csrf.clone());
                async move {
                    http(
                        addr,
                        "POST",
                        "/login",
                        &cookie,
                        &format!("_csrf={}&login=ana&password=errada{i}&next=%2F", enc(&csrf)),
                    )
                    .await
                    .status
                }
            });
            let statuses = futures_util::future::join_all(guesses).await;
            let tried = statuses.iter().filter(|s| **s == 401).count();
            let refused = statuses.iter().filter(|s| **s == 429).count();
            assert_eq!((tried, refused), (5, 45), "{label}: {statuses:?}");
            // The right password is refused too while the login is throttled.
            let r = http(
                addr,
                "POST",
                "/login",
                &cookie,
                &format!(
                    "_csrf={}&login=ana&password=senha-certa-123&next=%2F",
                    enc(&csrf)
                ),
            )
            .await;
            assert_eq!(r.status, 429, "{label}");
        })
        .await;
    }
}

#[tokio::test]
async fn a_login_redirect_goes_only_to_this_site() {
    let t = sqlite().await;
    add_admin_ana(&t.db).await;
    with_server(&t.db, |addr| async move {
        use common::http::{enc, http};
        for (next, expect) in [
            ("%2F%09%2Fevil.test%2F", "/"),
            ("%2F%0A%2Fevil.test", "/"),
            ("%2F%0D%0ASet-Cookie%3A%20x%3D1", "/"),
            ("%2F%2Fevil.test", "/"),
            ("%2F%5Cevil.test", "/"),
            ("https%3A%2F%2Fevil.test", "/"),
            ("%2Ffaturas%3Fstatus%3Dopen", "/faturas?status=open"),
        ] {
            let (cookie, csrf) = login_form(addr).await;
            let r = http(
                addr,
                "POST",
                "/login",
                &cookie,
                &format!(
                    "_csrf={}&login=ana&password=senha-certa-123&next={next}",
                    enc(&csrf)
                ),
            )
            .await;
            assert_eq!(r.status, 303, "{next}: {}", r.body);
            assert_eq!(r.header("location"), Some(expect), "{next}");
        }
    })
    .await;
}

#[tokio::test]
async fn metrics_are_closed_unless_a_token_or_open_is_configured() {
    use regua::web::MetricsAccess;
    assert_eq!(
        MetricsAccess::from_options(None, false),
        MetricsAccess::Closed
    );
    assert_eq!(
        MetricsAccess::from_options(Some(String::new()), false),
        MetricsAccess::Closed
    );
    assert_eq!(MetricsAccess::from_options(None, true), MetricsAccess::Open);
    assert_eq!(
        MetricsAccess::from_options(Some("t".into()), true),
        MetricsAccess::Token("t".into())
    );
    // `regua serve` with neither: 401.
    let t = sqlite().await;
    let mut child = regua_cmd()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-worker",
            "--no-scheduler",
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .env_remove("REGUA_METRICS_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    let r = common::http::http(addr, "GET", "/metrics", "", "").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("regua_queue_depth"));
}

#[tokio::test]
async fn every_setting_gateway_header_and_account_form_field_is_one_line() {
    let t = sqlite().await;
    let run = |args: &[&str]| {
        regua_cmd()
            .args(args)
            .env("REGUA_DATABASE_URL", &t.url)
            .env("REGUA_SECRET_KEY", "5e".repeat(32))
            .output()
            .unwrap()
    };
    let out = run(&["settings", "set", "company_name", "Provedor\r\nBcc: x@y.z"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.status.code() != Some(101),
        "{stderr}"
    );
    assert!(
        stderr.contains("line break or control character"),
        "{stderr}"
    );
    let out = run(&[
        "sms",
        "add",
        "--name",
        "Gateway",
        "--url",
        "http://127.0.0.1:9/sms",
        "--header",
        "Authorization: Bearer x\r\nX-Evil: 1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.status.code() != Some(101),
        "{stderr}"
    );
    assert!(
        stderr.contains("line break or control character"),
        "{stderr}"
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert!(
        store::channels::list_sms_gateways(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );
    drop(conn);
    add_admin_ana(&t.db).await;
    with_server(&t.db, |addr| async move {
        use common::http::{enc, http, staff_session};
        let session = staff_session(addr, "ana", "senha-certa-123").await;
        let csrf = http(addr, "GET", "/", &session, "").await.field("_csrf");
        let r = http(
            addr,
            "POST",
            "/configuracoes/email",
            &session,
            &format!(
                "_csrf={}&name=Principal&host=127.0.0.1&port=25&security=none&from=cobranca%40provedor.com.br&from_name={}",
                enc(&csrf),
                enc("Provedor\r\nBcc: intruso@exemplo.com")
            ),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Não pode conter quebra de linha"), "{}", r.body);
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert!(
        store::accounts::list_smtp_accounts(&mut conn)
            .await
            .unwrap()
            .is_empty(),
        "nothing saved"
    );
}
