//! `regua smtp|outbox|log|invoices send` through the real binary, against mailsink.

mod common;

use common::*;
use mailsink::{Sink, SinkConfig};

fn regua(url: &str, envs: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.args(args)
        .env("REGUA_DATABASE_URL", url)
        .env("REGUA_TODAY", "2026-01-05")
        .env_remove("REGUA_SECRET_KEY")
        .env("USER", "ana");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const PASSWORD: &str = "Xk9-segredo-nao-vaza";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_password_is_sealed_never_shown_and_the_test_message_goes_out_over_starttls() {
    let t = sqlite().await;
    let (cert, key) = mailsink::self_signed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let sink = Sink::start(SinkConfig {
        tls: Some((cert, key)),
        auth: Some(("cobranca".into(), PASSWORD.into())),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let port = sink.port().to_string();
    let master = regua::secrets::MasterKey::generate_hex();
    let add = [
        "smtp",
        "add",
        "--name",
        "Principal",
        "--host",
        "localhost",
        "--port",
        &port,
        "--security",
        "starttls",
        "--user",
        "cobranca",
        "--password-env",
        "SMTP_PASS",
        "--from",
        "cobranca@provedor.com.br",
        "--ca-file",
        ca.to_str().unwrap(),
        "--default",
        "--hourly-limit",
        "100",
    ];
    // Without a master key the password would have to be stored in clear: refused.
    let out = regua(&t.url, &[("SMTP_PASS", PASSWORD)], &add);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REGUA_SECRET_KEY is not set"));

    let env = [
        ("SMTP_PASS", PASSWORD),
        ("REGUA_SECRET_KEY", master.as_str()),
    ];
    ok(&regua(&t.url, &env, &add));
    let list = ok(&regua(&t.url, &env, &["smtp", "list"]));
    assert!(list.contains("Principal\tsmtp\tlocalhost:"), "{list}");
    assert!(list.contains("\tcobranca\t(set)\t"), "{list}");
    assert!(!list.contains(PASSWORD));
    let db_bytes = std::fs::read(t.url.trim_start_matches("sqlite://")).unwrap();
    let wal =
        std::fs::read(format!("{}-wal", t.url.trim_start_matches("sqlite://"))).unwrap_or_default();
    for bytes in [&db_bytes, &wal] {
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the password is stored in clear"
        );
    }

    let out = regua(
        &t.url,
        &env,
        &["smtp", "test", "Principal", "--to", "ti@provedor.com.br"],
    );
    let stdout = ok(&out);
    assert!(stdout.starts_with("sent: 250 "), "{stdout}");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert!(
        got[0].text().contains("Subject: =?utf-8?")
            || got[0].text().contains("Subject: Teste de envio"),
        "{}",
        got[0].text()
    );
    assert_eq!(got[0].to, vec!["ti@provedor.com.br".to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(PASSWORD));

    // A wrong key cannot open the password: a clear error, nothing sent.
    let other = regua::secrets::MasterKey::generate_hex();
    let out = regua(
        &t.url,
        &[("REGUA_SECRET_KEY", other.as_str())],
        &["smtp", "test", "Principal", "--to", "ti@provedor.com.br"],
    );
    assert!(!out.status.success());
    assert_eq!(sink.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_sent_from_the_cli_shows_in_the_log_with_who_caused_it() {
    let t = sqlite().await;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let port = sink.port().to_string();
    let invoices = open_invoices(&t.db, 1).await;
    let out = regua(
        &t.url,
        &[],
        &["invoices", "send", "--invoice", &invoices[0].external_id],
    );
    assert_eq!(out.status.code(), Some(2), "no account yet");
    ok(&regua(
        &t.url,
        &[],
        &[
            "smtp",
            "add",
            "--name",
            "Local",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--security",
            "none",
            "--from",
            "cobranca@provedor.com.br",
            "--default",
        ],
    ));
    let queued = ok(&regua(
        &t.url,
        &[],
        &["invoices", "send", "--invoice", &invoices[0].external_id],
    ));
    assert!(queued.starts_with("notice 1 queued"), "{queued}");
    let drained = ok(&regua(&t.url, &[], &["outbox", "drain"]));
    assert_eq!(
        drained.trim(),
        "1 claimed: 1 sent, 0 retrying, 0 dead, 0 skipped"
    );
    assert_eq!(sink.count(), 1);
    let log = ok(&regua(
        &t.url,
        &[],
        &["log", "--invoice", &invoices[0].external_id],
    ));
    let line = log.lines().nth(1).unwrap();
    assert!(line.contains("\tsent\t250\t"), "{line}");
    assert!(
        line.contains("\tLocal\tmaria@exemplo.com.br\taccount_default\tcli: ana\t"),
        "{line}"
    );
    let by_customer = ok(&regua(
        &t.url,
        &[],
        &["log", "--customer", "C1", "--status", "sent"],
    ));
    assert_eq!(by_customer.lines().count(), 2);
    let none = ok(&regua(&t.url, &[], &["log", "--status", "dead"]));
    assert_eq!(none.lines().count(), 1, "header only");
    let out = regua(&t.url, &[], &["outbox", "requeue", "1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a sent notice cannot be requeued"
    );
}

#[tokio::test]
async fn port_465_with_starttls_is_refused_with_the_fix() {
    let t = sqlite().await;
    let out = regua(
        &t.url,
        &[],
        &[
            "smtp",
            "add",
            "--name",
            "Provedor",
            "--host",
            "smtp.exemplo.com.br",
            "--port",
            "465",
            "--security",
            "starttls",
            "--from",
            "cobranca@provedor.com.br",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "--security: port 465 is implicit TLS (SMTPS): use --security tls, or port 587 with starttls\n"
    );
    let list = regua(&t.url, &[], &["smtp", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "nothing added"
    );
}
