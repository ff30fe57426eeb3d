//! E-mail known to arrive (#24, docs/bounces.md). Bounces reach Régua by themselves — read
//! from an IMAP mailbox (a real Dovecot on loopback) or received by the inbound SMTP listener —
//! each recorded against its notice once; the dashboard's rates; `regua smtp check` against a
//! real DNS server; pacing per recipient domain and pauses on throttling answers.

mod common;

use std::time::Duration;

use common::dovecot::{self, Dovecot};
use common::*;
use regua::store;

/// Sends one notice through mailsink; the message mailsink received.
async fn one_sent(
    t: &TestDb,
    invoice: &regua::domain::Invoice,
    key: &str,
) -> (
    mailsink::Sink,
    regua::delivery::NoticeId,
    mailsink::Received,
) {
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let a = sink_account(
        &t.db,
        &format!("Conta {key}"),
        sink.port(),
        AccountSetup::default(),
    )
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE smtp_accounts SET bounce_domain = 'retorno.provedor.com.br'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let clock = clock_on("2026-01-05");
    let id = queue_invoice_email(&t.db, invoice, &a, key, clock.now_millis()).await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    assert_eq!(sink.count(), 1, "{}", t.label);
    let m = sink.received()[0].clone();
    (sink, id, m)
}

fn cli(t: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(args)
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("IMAP_PASSWORD", dovecot::PASSWORD)
        .env("WRONG_PASSWORD", "not-the-password")
        .env("USER", "ana")
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn bounces_of(
    t: &TestDb,
    notice: regua::delivery::NoticeId,
) -> Vec<(String, Option<String>)> {
    let mut conn = t.db.pool.acquire().await.unwrap();
    sqlx::query_as("SELECT kind, status FROM bounces WHERE notice_id = $1")
        .bind(notice.0)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bounce_delivered_to_the_imap_mailbox_is_read_once_moved_and_suppresses_the_address() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 2).await;
        let (sink, notice, sent) = one_sent(&t, &invoices[0], "k1").await;
        let imap = Dovecot::start(&["Processados"]).await;
        // The remote server refuses the address later: its DSN goes to the return path and
        // lands in the ISP's bounce mailbox; so does a forged one, and an ordinary message.
        let dsn = sent.dsn(
            "maria@exemplo.com.br",
            "5.1.1",
            "550 5.1.1 <maria@exemplo.com.br>: Recipient address rejected: User unknown",
        );
        imap.deliver("INBOX", &dsn);
        let mut forged = sent.clone();
        let at = forged.from.find('.').unwrap() + 1;
        forged.from.replace_range(at..at + 4, "0000");
        imap.deliver(
            "INBOX",
            &forged.dsn("maria@exemplo.com.br", "5.1.1", "550 5.1.1 unknown"),
        );
        imap.deliver(
            "INBOX",
            b"From: joao@exemplo.com.br\r\nTo: devolucoes@provedor.com.br\r\nSubject: oi\r\n\r\numa mensagem qualquer\r\n",
        );
        let port = imap.imaps_port.to_string();
        let ca = imap.ca_file.display().to_string();
        let add = cli(
            &t,
            &[
                "bounce",
                "mailbox",
                "add",
                "devolucoes",
                "--host",
                "localhost",
                "--port",
                &port,
                "--user",
                dovecot::USER,
                "--password-env",
                "IMAP_PASSWORD",
                "--ca-file",
                &ca,
                "--move-to",
                "Processados",
            ],
        );
        assert!(add.status.success(), "{add:?}");
        let poll = cli(&t, &["bounce", "poll"]);
        assert!(poll.status.success(), "{poll:?}\n{}", imap.log());
        assert_eq!(
            stdout(&poll),
            "devolucoes\t3 read: 1 recorded (1 suppressed), 0 already recorded, 2 ignored\n",
            "{}",
            t.label
        );
        assert_eq!(
            bounces_of(&t, notice).await,
            [("hard".to_string(), Some("5.1.1".to_string()))]
        );
        assert_eq!(imap.count("INBOX"), 0, "what was read moved away");
        assert_eq!(imap.count("Processados"), 3);
        // Read again: nothing is there; a second copy of the same DSN changes nothing.
        assert_eq!(
            stdout(&cli(&t, &["bounce", "poll", "devolucoes"])),
            "devolucoes\t0 read: 0 recorded (0 suppressed), 0 already recorded, 0 ignored\n"
        );
        imap.deliver("INBOX", &dsn);
        assert_eq!(
            stdout(&cli(&t, &["bounce", "poll"])),
            "devolucoes\t1 read: 0 recorded (0 suppressed), 1 already recorded, 0 ignored\n"
        );
        assert_eq!(bounces_of(&t, notice).await.len(), 1);
        // The address is suppressed: the next notice for it is skipped with the reason.
        let a = {
            let mut conn = t.db.pool.acquire().await.unwrap();
            store::accounts::find_smtp_account(&mut conn, "Conta k1")
                .await
                .unwrap()
                .unwrap()
        };
        let clock = clock_on("2026-01-05");
        let next = queue_invoice_email(&t.db, &invoices[1], &a, "k2", clock.now_millis()).await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 1, "nothing more went to the dead address");
        let mut conn = t.db.pool.acquire().await.unwrap();
        let n = store::outbox::get_notice(&mut conn, next).await.unwrap();
        assert_eq!(
            n.status,
            regua::delivery::NoticeStatus::Skipped,
            "{}",
            t.label
        );
        // A rule that may also go by SMS reaches her there instead (#22's channels): the
        // e-mail is skipped as suppressed and the notice goes on by SMS.
        let stub =
            common::stub::Stub::start(std::sync::Arc::new(|_: &common::stub::Seen, n: usize| {
                (200, format!(r#"{{"status":"ok","id":"m-{n}"}}"#))
            }))
            .await;
        drop(conn);
        plain_sms_gateway(&t.db, "Provedor SMS", &format!("{}/sms", stub.url())).await;
        assert!(cli(&t, &["smtp", "default", "Conta k1"]).status.success());
        let rule = cli(
            &t,
            &[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "before_due",
                "--days",
                "5",
                "--channels",
                "email,sms",
            ],
        );
        assert!(rule.status.success(), "{rule:?}");
        assert!(
            cli(
                &t,
                &[
                    "routine",
                    "run",
                    "--date",
                    "2026-02-05",
                    "--today",
                    "2026-02-05"
                ]
            )
            .status
            .success()
        );
        worker_at(&t.db, &clock_on("2026-02-05"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(stub.on("/sms").len(), 1, "{}: by SMS", t.label);
        assert_eq!(sink.count(), 1, "still nothing more to the dead address");
        let mut conn = t.db.pool.acquire().await.unwrap();
        let steps: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.channel, a.reply_text FROM delivery_attempts a JOIN notices n ON n.id = a.notice_id
             WHERE n.dedup_key LIKE 'rule:%' ORDER BY a.id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(steps[0].0, "email");
        assert!(
            steps[0]
                .1
                .ends_with("(devolvido como inexistente, 5.1.1); segue por SMS"),
            "{steps:?}"
        );
        assert_eq!(steps[1].0, "sms");
        // The mailbox's last reading is listed; its password is not.
        let list = stdout(&cli(&t, &["bounce", "mailbox", "list"]));
        assert!(
            list.contains(&format!(
                "devolucoes\tlocalhost:{port}\ttls\t{}\tINBOX\tProcessados\t",
                dovecot::USER
            )),
            "{list}"
        );
        assert!(list.contains("1 read: 0 recorded"), "{list}");
        assert!(!list.contains(dovecot::PASSWORD));
    }
}

#[tokio::test]
async fn a_mailbox_read_over_starttls_without_moving_flags_what_it_read() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    let (_sink, notice, sent) = one_sent(&t, &invoices[0], "k1").await;
    let imap = Dovecot::start(&[]).await;
    imap.deliver(
        "INBOX",
        &sent.dsn("maria@exemplo.com.br", "4.2.2", "452 4.2.2 Mailbox full"),
    );
    let port = imap.imap_port.to_string();
    let ca = imap.ca_file.display().to_string();
    let add = cli(
        &t,
        &[
            "bounce",
            "mailbox",
            "add",
            "caixa",
            "--host",
            "localhost",
            "--port",
            &port,
            "--security",
            "starttls",
            "--user",
            dovecot::USER,
            "--password-env",
            "IMAP_PASSWORD",
            "--ca-file",
            &ca,
        ],
    );
    assert!(add.status.success(), "{add:?}");
    let poll = cli(&t, &["bounce", "poll"]);
    assert_eq!(
        stdout(&poll),
        "caixa\t1 read: 1 recorded (0 suppressed), 0 already recorded, 0 ignored\n",
        "{poll:?}\n{}",
        imap.log()
    );
    assert_eq!(
        bounces_of(&t, notice).await,
        [("soft".to_string(), Some("4.2.2".to_string()))]
    );
    // It stays, flagged with a keyword (Maildir keeps keywords as lower-case letters), and is
    // not read again; it was not marked seen, so a person still sees it as new.
    assert_eq!(imap.count("INBOX"), 1);
    let flags = imap.flags("INBOX");
    assert_eq!(flags.len(), 1);
    assert!(
        flags[0].chars().any(|c| c.is_ascii_lowercase()),
        "{flags:?}"
    );
    assert!(!flags[0].contains('S'), "{flags:?}");
    assert!(stdout(&cli(&t, &["bounce", "poll"])).starts_with("caixa\t0 read:"));
    // On screen: the mailbox and its last reading; "Ler agora" reads it again.
    imap.deliver(
        "INBOX",
        &sent.dsn(
            "maria@exemplo.com.br",
            "4.2.2",
            "452 4.2.2 Mailbox full, again",
        ),
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana Souza",
        regua::domain::auth::Role::Admin,
        "senha-forte-1",
        0,
    )
    .await
    .unwrap();
    let id: i64 = store::bounces::list_mailboxes(&mut conn).await.unwrap()[0].id;
    drop(conn);
    with_server(&t.db, |addr| async move {
        let ana = common::http::staff_session(addr, "ana", "senha-forte-1").await;
        let page = common::http::http(addr, "GET", "/emails-invalidos", &ana, "").await;
        assert!(page.body.contains("<h2>Caixas de devoluções</h2>"), "{}", page.body);
        assert!(page.body.contains("0 mensagem(ns) lida(s)"), "{}", page.body);
        let csrf = page.field("_csrf");
        let r = common::http::http(
            addr,
            "POST",
            &format!("/emails-invalidos/caixas/{id}/ler"),
            &ana,
            &format!("_csrf={}", common::http::enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let location = r.header("location").unwrap_or_default().to_string();
        let shown = common::http::http(addr, "GET", &location, &ana, "").await;
        assert!(
            shown.body.contains("caixa: 1 mensagem(ns) lida(s): 1 devolução(ões) registrada(s) (0 endereço(s) suprimido(s))"),
            "{}",
            shown.body
        );
    })
    .await;
}

#[tokio::test]
async fn a_mailbox_that_refuses_the_login_is_reported_and_its_password_never_shown() {
    let t = sqlite().await;
    let imap = Dovecot::start(&[]).await;
    let port = imap.imaps_port.to_string();
    let ca = imap.ca_file.display().to_string();
    let add = cli(
        &t,
        &[
            "bounce",
            "mailbox",
            "add",
            "caixa",
            "--host",
            "localhost",
            "--port",
            &port,
            "--user",
            dovecot::USER,
            "--password-env",
            "WRONG_PASSWORD",
            "--ca-file",
            &ca,
        ],
    );
    assert!(add.status.success(), "{add:?}");
    let poll = cli(&t, &["bounce", "poll"]);
    assert_eq!(poll.status.code(), Some(1), "{poll:?}");
    let err = String::from_utf8_lossy(&poll.stderr);
    assert!(err.starts_with("caixa: login refused"), "{err}");
    let list = stdout(&cli(&t, &["bounce", "mailbox", "list"]));
    assert!(list.contains("error: login refused"), "{list}");
    assert!(!list.contains("not-the-password") && !err.contains("not-the-password"));
    // Without the CA, the self-signed certificate is refused: no login is attempted.
    assert!(
        cli(&t, &["bounce", "mailbox", "remove", "caixa"])
            .status
            .success()
    );
    let add = cli(
        &t,
        &[
            "bounce",
            "mailbox",
            "add",
            "caixa",
            "--host",
            "localhost",
            "--port",
            &port,
            "--user",
            dovecot::USER,
            "--password-env",
            "IMAP_PASSWORD",
        ],
    );
    assert!(add.status.success());
    let poll = cli(&t, &["bounce", "poll"]);
    assert_eq!(poll.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&poll.stderr).contains("TLS handshake"),
        "{poll:?}"
    );
    assert!(!imap.log().contains("Login: user="), "{}", imap.log());
    // Bad input: a name taken, an unknown security.
    let again = cli(
        &t,
        &[
            "bounce",
            "mailbox",
            "add",
            "caixa",
            "--host",
            "h",
            "--user",
            "u",
            "--password-env",
            "IMAP_PASSWORD",
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "a bounce mailbox named caixa exists\n"
    );
    let bad = cli(
        &t,
        &[
            "bounce",
            "mailbox",
            "add",
            "x",
            "--host",
            "h",
            "--user",
            "u",
            "--password-env",
            "IMAP_PASSWORD",
            "--security",
            "none",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "--security: \"none\" is not tls or starttls\n"
    );
}

#[tokio::test]
async fn the_server_reads_the_mailboxes_by_itself() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    let (_sink, notice, sent) = one_sent(&t, &invoices[0], "k1").await;
    let imap = Dovecot::start(&[]).await;
    let port = imap.imaps_port.to_string();
    let ca = imap.ca_file.display().to_string();
    assert!(
        cli(
            &t,
            &[
                "bounce",
                "mailbox",
                "add",
                "caixa",
                "--host",
                "localhost",
                "--port",
                &port,
                "--user",
                dovecot::USER,
                "--password-env",
                "IMAP_PASSWORD",
                "--ca-file",
                &ca,
            ],
        )
        .status
        .success()
    );
    imap.deliver(
        "INBOX",
        &sent.dsn("maria@exemplo.com.br", "5.1.1", "550 5.1.1 User unknown"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = regua::server::serve(
        t.db.clone(),
        clock_on("2026-01-05"),
        Some(test_key()),
        regua::server::ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            worker: None,
            scheduler_tick: None,
            secure_cookies: false,
            metrics: regua::web::MetricsAccess::Closed,
            bounce_poll: Some(Duration::from_millis(200)),
            bounce_smtp: None,
        },
        |_| {},
        async move {
            let _ = stopped.await;
        },
    );
    let watch = async {
        let mut found = Vec::new();
        for _ in 0..100 {
            found = bounces_of(&t, notice).await;
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
        found
    };
    let (served, found) = tokio::join!(server, watch);
    served.unwrap();
    assert_eq!(
        found,
        [("hard".to_string(), Some("5.1.1".to_string()))],
        "{}",
        imap.log()
    );
}

#[tokio::test]
async fn the_smtp_listener_takes_only_signed_bounce_addresses() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    let (_sink, notice, sent) = one_sent(&t, &invoices[0], "k1").await;
    let listener = regua::bounce::listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = regua::bounce::listener::run(
        listener,
        t.db.clone(),
        clock_on("2026-01-05"),
        test_key(),
        async move {
            let _ = stopped.await;
        },
    );
    use lettre::AsyncTransport as _;
    let mx = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let send = |to: String| {
        let mx = mx.clone();
        let raw = sent.dsn("maria@exemplo.com.br", "5.1.1", "550 5.1.1 User unknown");
        async move {
            let envelope = lettre::address::Envelope::new(None, vec![to.parse().unwrap()]).unwrap();
            mx.send_raw(&envelope, &raw).await
        }
    };
    let client = async {
        // Someone else's address, and our address with a forged tag: refused at RCPT.
        let other = send("postmaster@retorno.provedor.com.br".into())
            .await
            .unwrap_err();
        assert!(
            other.to_string().contains("not a bounce address"),
            "{other}"
        );
        let mut forged = sent.from.clone();
        let at = forged.find('.').unwrap() + 1;
        forged.replace_range(at..at + 4, "0000");
        assert!(send(forged).await.is_err());
        assert!(bounces_of(&t, notice).await.is_empty());
        // The signed return path: taken and recorded; the same message again changes nothing.
        send(sent.from.clone()).await.unwrap();
        send(sent.from.clone()).await.unwrap();
        assert_eq!(
            bounces_of(&t, notice).await,
            [("hard".to_string(), Some("5.1.1".to_string()))]
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::bounces::find_suppression(&mut conn, "maria@exemplo.com.br")
                .await
                .unwrap()
                .is_some()
        );
        let _ = stop.send(());
    };
    tokio::join!(server, client);
}

/// A spam complaint (ARF, RFC 5965) about a message sent with `return_path`, as the feedback
/// loop delivers it to the bounce mailbox.
fn complaint(return_path: &str) -> Vec<u8> {
    format!(
        "Delivered-To: {return_path}\r\nFrom: feedbackloop@provedor-de-email.test\r\nTo: {return_path}\r\n\
         Subject: complaint\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
         --F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n\
         --F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n\
         Original-Rcpt-To: joao@exemplo.com.br\r\n\r\n--F--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn the_dashboard_shows_each_accounts_bounce_and_complaint_rates_of_the_day() {
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
        store::auth::insert_user(
            &mut conn,
            "ana",
            "Ana Souza",
            regua::domain::auth::Role::Support,
            "senha-forte-1",
            0,
        )
        .await
        .unwrap();
        drop(conn);
        // Three messages today (the server's day is 07/01/2026).
        let clock = clock_on("2026-01-07");
        for (i, inv) in invoices.iter().enumerate() {
            queue_invoice_email(&t.db, inv, &a, &format!("k{i}"), clock.now_millis()).await;
        }
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 3);
        let rates = |body: &str| {
            let row = body
                .split("<tr")
                .find(|r| r.contains("<td>Principal"))
                .expect("the account's row")
                .to_string();
            let cells: Vec<String> = row
                .split("<td")
                .skip(4)
                .map(|c| c[..c.find("</td>").unwrap()].to_string())
                .collect();
            cells
        };
        let db = t.db.clone();
        let received = sink.received();
        with_server(&t.db, |addr| async move {
            let ana = common::http::staff_session(addr, "ana", "senha-forte-1").await;
            let dash = common::http::http(addr, "GET", "/", &ana, "").await;
            assert_eq!(
                rates(&dash.body),
                [
                    ">3",
                    " class=\"\" title=\"acima de 2 % em vermelho\">0,00 % (0)",
                    " class=\"\" title=\"acima de 0,3 % em vermelho\">0,00 % (0)"
                ]
            );
            // One bounced, one drew a complaint: a third each, both in red.
            let key = test_key();
            let now = clock.now_millis();
            regua::actions::bounces::ingest(
                &db,
                &received[0].dsn("maria@exemplo.com.br", "5.1.1", "550 5.1.1 unknown"),
                &key,
                now,
            )
            .await
            .unwrap();
            regua::actions::bounces::ingest(&db, &complaint(&received[1].from), &key, now)
                .await
                .unwrap();
            let dash = common::http::http(addr, "GET", "/", &ana, "").await;
            assert_eq!(
                rates(&dash.body),
                [
                    ">3",
                    " class=\"error\" title=\"acima de 2 % em vermelho\">33,33 % (1)",
                    " class=\"error\" title=\"acima de 0,3 % em vermelho\">33,33 % (1)"
                ]
            );
        })
        .await;
    }
}

/// The public half of the RSA key at `key`, base64 DER, as a DKIM record's `p=` holds it.
fn public_key(key: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

#[tokio::test]
async fn smtp_check_reads_spf_dkim_and_dmarc_and_says_what_is_missing() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = dkim_key(dir.path());
    let dir2 = tempfile::tempdir().unwrap();
    let (other, _) = dkim_key(dir2.path());
    let key_arg = key.display().to_string();
    for args in [
        vec![
            "smtp",
            "add",
            "--name",
            "Assinada",
            "--host",
            "127.0.0.1",
            "--port",
            "25",
            "--security",
            "none",
            "--from",
            "cobranca@provedor.com.br",
            "--dkim-selector",
            "regua2026",
            "--dkim-domain",
            "provedor.com.br",
            "--dkim-key",
            &key_arg,
        ],
        vec![
            "smtp",
            "add",
            "--name",
            "Simples",
            "--host",
            "127.0.0.1",
            "--port",
            "25",
            "--security",
            "none",
            "--from",
            "avisos@outro.net.br",
        ],
    ] {
        let out = cli(&t, &args);
        assert!(out.status.success(), "{out:?}");
    }
    let ours = format!("v=DKIM1; k=rsa; p={}", public_key(&key));
    let theirs = format!("v=DKIM1; k=rsa; p={}", public_key(&other));
    let check = |server: std::net::SocketAddr, name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["smtp", "check", name, "--dns-server", &server.to_string()])
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap()
    };
    // Everything published, the DKIM key long enough that UDP answers truncated: over TCP.
    let dns = common::dns::DnsServer::start(
        &[
            ("provedor.com.br", "v=spf1 ip4:203.0.113.5 -all"),
            ("provedor.com.br", "google-site-verification=abc"),
            ("regua2026._domainkey.provedor.com.br", &ours),
            (
                "_dmarc.provedor.com.br",
                "v=DMARC1; p=quarantine; rua=mailto:dmarc@provedor.com.br",
            ),
        ],
        true,
    )
    .await;
    let out = check(dns.addr, "Assinada");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        "SPF\tok\tprovedor.com.br\tv=spf1 ip4:203.0.113.5 -all\n\
         DKIM\tok\tregua2026._domainkey.provedor.com.br\tthe published key is the account's\n\
         DMARC\tok\t_dmarc.provedor.com.br\tv=DMARC1; p=quarantine; rua=mailto:dmarc@provedor.com.br\n"
    );
    // Another key published, two SPF records, no DMARC: each said, exit 1.
    let dns = common::dns::DnsServer::start(
        &[
            ("provedor.com.br", "v=spf1 ip4:203.0.113.5 -all"),
            ("provedor.com.br", "v=spf1 include:_spf.exemplo.com ~all"),
            ("regua2026._domainkey.provedor.com.br", &theirs),
        ],
        false,
    )
    .await;
    let out = check(dns.addr, "Assinada");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "SPF\twrong\tprovedor.com.br\t2 SPF records: RFC 7208 § 3.2 allows one, receivers treat this as an error"
    );
    assert_eq!(
        lines[1],
        format!(
            "DKIM\twrong\tregua2026._domainkey.provedor.com.br\tthe published key is not the account's: publish \"{ours}\""
        )
    );
    assert_eq!(
        lines[2],
        "DMARC\tmissing\t_dmarc.provedor.com.br\tno DMARC record: publish \"v=DMARC1; p=none; rua=mailto:dmarc@provedor.com.br\" at _dmarc.provedor.com.br (Gmail and Yahoo require one from bulk senders)"
    );
    // An account with nothing: SPF missing, no DKIM key, DMARC looked up at the organization.
    let empty =
        common::dns::DnsServer::start(&[("_dmarc.outro.net.br", "v=DMARC1; p=none")], false).await;
    let out = check(empty.addr, "Simples");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("SPF\tmissing\toutro.net.br\tno SPF record"),
        "{text}"
    );
    assert!(
        text.contains("DKIM\tmissing\toutro.net.br\tthe account signs nothing"),
        "{text}"
    );
    assert!(
        text.contains("DMARC\tok\t_dmarc.outro.net.br\tv=DMARC1; p=none\n"),
        "{text}"
    );
    // A DNS server that does not answer: said, exit 1; an unknown account: exit 2.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args([
            "smtp",
            "check",
            "Simples",
            "--dns-server",
            &silent.local_addr().unwrap().to_string(),
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_NETWORK_TIMEOUT_SECONDS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not answer"),
        "{out:?}"
    );
    assert_eq!(check(empty.addr, "Nenhuma").status.code(), Some(2));
}

async fn notice_of(t: &TestDb, id: regua::delivery::NoticeId) -> regua::delivery::Notice {
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::outbox::get_notice(&mut conn, id).await.unwrap()
}

#[tokio::test]
async fn a_paced_domain_gets_its_messages_a_minute_and_the_rest_wait() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 3).await;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        let a = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        // The defaults pace the big providers; the customer's domain is not among them.
        let list = stdout(&cli(&t, &["smtp", "pacing", "list"]));
        assert!(
            list.starts_with(
                "bol\t120/min\tbol.com.br\ngmail\t600/min\tgmail.com,googlemail.com\n"
            ),
            "{list}"
        );
        assert!(!list.contains("exemplo.com.br"));
        let set = cli(
            &t,
            &[
                "smtp",
                "pacing",
                "set",
                "exemplo",
                "--domains",
                "exemplo.com.br,exemplo.net",
                "--per-minute",
                "2",
            ],
        );
        assert!(set.status.success(), "{set:?}");
        let clock = clock_on("2026-01-05");
        let mut ids = Vec::new();
        for (i, inv) in invoices.iter().enumerate() {
            ids.push(
                queue_invoice_email(&t.db, inv, &a, &format!("k{i}"), clock.now_millis()).await,
            );
        }
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 2, "{}: two a minute", t.label);
        let waiting = notice_of(&t, ids[2]).await;
        assert_eq!(waiting.status, regua::delivery::NoticeStatus::Queued);
        assert_eq!(
            waiting.attempts, 0,
            "waiting for the window is not an attempt"
        );
        assert!(
            waiting.next_attempt_at > clock.now_millis()
                && waiting.next_attempt_at <= clock.now_millis() + 60_001,
            "{}",
            waiting.next_attempt_at - clock.now_millis()
        );
        // Half a minute on: still the same minute.
        worker_at(&t.db, &clock.later_by_millis(30_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 2);
        worker_at(&t.db, &clock.later_by_millis(61_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 3, "{}", t.label);
        // Bad input; removal.
        let bad = cli(
            &t,
            &[
                "smtp",
                "pacing",
                "set",
                "x",
                "--domains",
                "maria@exemplo.com.br",
                "--per-minute",
                "5",
            ],
        );
        assert_eq!(bad.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&bad.stderr),
            "--domains: \"maria@exemplo.com.br\" is not a domain\n"
        );
        let bad = cli(
            &t,
            &[
                "smtp",
                "pacing",
                "set",
                "x",
                "--domains",
                "x.com",
                "--per-minute",
                "0",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&bad.stderr),
            "--per-minute: 0 is not a positive number\n"
        );
        assert!(
            cli(&t, &["smtp", "pacing", "remove", "exemplo"])
                .status
                .success()
        );
        assert_eq!(
            cli(&t, &["smtp", "pacing", "remove", "exemplo"])
                .status
                .code(),
            Some(2)
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        let trail: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, actor FROM audit_log WHERE action LIKE 'pacing.%' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            trail,
            [
                ("pacing.set".to_string(), "cli: ana".to_string()),
                ("pacing.remove".to_string(), "cli: ana".to_string())
            ]
        );
    }
}

#[tokio::test]
async fn a_throttling_answer_pauses_the_accounts_sends_to_that_domain_longer_each_time() {
    for t in each_backend().await {
        let invoices = open_invoices(&t.db, 3).await;
        let sink = mailsink::Sink::start(mailsink::SinkConfig {
            script: vec![mailsink::DataReply::Reply(
                451,
                "4.7.28 Our system has detected an unusual rate of mail".into(),
            )],
            ..mailsink::SinkConfig::default()
        })
        .await
        .unwrap();
        let a = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let clock = clock_on("2026-01-05");
        let first = queue_invoice_email(&t.db, &invoices[0], &a, "k0", clock.now_millis()).await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 0);
        assert_eq!(
            notice_of(&t, first).await.status,
            regua::delivery::NoticeStatus::Retrying
        );
        let list = stdout(&cli(
            &t,
            &["smtp", "pacing", "list", "--today", "2026-01-05"],
        ));
        assert!(
            list.contains("paused\tPrincipal\texemplo.com.br\tuntil 2026-01-05 12:01:00\ttransient error (451): 4.7.28 Our system has detected an unusual rate of mail\n"),
            "{list}"
        );
        // A new notice to the same domain waits for the pause, though nothing else holds it.
        let second =
            queue_invoice_email(&t.db, &invoices[1], &a, "k1", clock.now_millis() + 10_000).await;
        worker_at(&t.db, &clock.later_by_millis(10_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 0, "{}", t.label);
        let n = notice_of(&t, second).await;
        assert_eq!(
            (n.status, n.attempts),
            (regua::delivery::NoticeStatus::Queued, 0)
        );
        assert_eq!(n.next_attempt_at, clock.now_millis() + 60_000);
        // After it, both go; a second throttle soon after pauses for two minutes.
        sink.push_script([
            mailsink::DataReply::Accept,
            mailsink::DataReply::Accept,
            mailsink::DataReply::Reply(421, "4.7.0 Try again later".into()),
        ]);
        worker_at(&t.db, &clock.later_by_millis(5 * 60_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 2, "{}", t.label);
        let third = queue_invoice_email(
            &t.db,
            &invoices[2],
            &a,
            "k2",
            clock.now_millis() + 5 * 60_000,
        )
        .await;
        worker_at(&t.db, &clock.later_by_millis(5 * 60_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(
            notice_of(&t, third).await.status,
            regua::delivery::NoticeStatus::Retrying
        );
        let list = stdout(&cli(
            &t,
            &["smtp", "pacing", "list", "--today", "2026-01-05"],
        ));
        assert!(
            list.contains("paused\tPrincipal\texemplo.com.br\tuntil 2026-01-05 12:07:00\t")
                && list.contains("4.7.0 Try again later"),
            "{list}"
        );
        // The dashboard says it (the server's clock is noon, before the pause ends).
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::auth::insert_user(
            &mut conn,
            "ana",
            "Ana Souza",
            regua::domain::auth::Role::Support,
            "senha-forte-1",
            0,
        )
        .await
        .unwrap();
        drop(conn);
        with_server_at(&t.db, "2026-01-05", |addr| async move {
            let ana = common::http::staff_session(addr, "ana", "senha-forte-1").await;
            let dash = common::http::http(addr, "GET", "/", &ana, "").await;
            assert!(
                dash.body.contains("Envios de Principal para exemplo.com.br pausados até 12:07: o servidor pediu para reduzir o ritmo"),
                "{}",
                dash.body
            );
        })
        .await;
    }
}

#[tokio::test]
async fn a_mailbox_is_added_read_and_removed_on_the_page_its_password_never_shown() {
    let t = sqlite().await;
    let imap = Dovecot::start(&[]).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana Souza",
        regua::domain::auth::Role::Admin,
        "senha-forte-1",
        0,
    )
    .await
    .unwrap();
    drop(conn);
    let port = imap.imaps_port;
    let db = t.db.clone();
    let imap = &imap;
    with_server(&t.db, |addr| async move {
        let ana = common::http::staff_session(addr, "ana", "senha-forte-1").await;
        let page = common::http::http(addr, "GET", "/emails-invalidos", &ana, "").await;
        let c = common::http::enc(&page.field("_csrf"));
        let post = |path: String, body: String| {
            let ana = ana.clone();
            async move {
                let r = common::http::http(addr, "POST", &path, &ana, &body).await;
                assert_eq!(r.status, 303, "{}", r.body);
                let to = r.header("location").unwrap_or_default().to_string();
                common::http::http(addr, "GET", &to, &ana, "").await.body
            }
        };
        // Without a password: refused, said, nothing saved.
        let body = post(
            "/emails-invalidos/caixas".into(),
            format!("_csrf={c}&name=devolucoes&host=localhost&port={port}&security=tls&user={}&password=&folder=INBOX&move_to=", dovecot::USER),
        )
        .await;
        assert!(body.contains("Informe a senha da caixa."), "{body}");
        assert!(body.contains("Nenhuma caixa de devoluções cadastrada."));
        let body = post(
            "/emails-invalidos/caixas".into(),
            format!(
                "_csrf={c}&name=devolucoes&host=localhost&port={port}&security=tls&user={}&password={}&folder=INBOX&move_to=",
                dovecot::USER,
                common::http::enc(dovecot::PASSWORD)
            ),
        )
        .await;
        assert!(body.contains("Caixa devolucoes cadastrada."), "{body}");
        assert!(body.contains(&format!("<td>localhost:{port}</td>")), "{body}");
        assert!(!body.contains(dovecot::PASSWORD), "the password is never shown");
        // The test server's certificate is self-signed: a page-added mailbox trusts the public
        // roots only, so the reading fails before any login, and the page says so.
        let id: i64 = {
            let mut conn = db.pool.acquire().await.unwrap();
            store::bounces::list_mailboxes(&mut conn).await.unwrap()[0].id
        };
        let body = post(format!("/emails-invalidos/caixas/{id}/ler"), format!("_csrf={c}")).await;
        assert!(body.contains("devolucoes: a leitura falhou (veja abaixo)"), "{body}");
        assert!(body.contains("Falha na leitura de"), "{body}");
        assert!(!imap.log().contains("Login: user="), "{}", imap.log());
        let body = post(format!("/emails-invalidos/caixas/{id}/remover"), format!("_csrf={c}")).await;
        assert!(body.contains("Caixa devolucoes removida."), "{body}");
        assert!(body.contains("Nenhuma caixa de devoluções cadastrada."));
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let trail: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, after FROM audit_log WHERE action LIKE 'bounce_mailbox.%' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].0, "bounce_mailbox.add");
    assert!(
        trail[0]
            .1
            .as_deref()
            .unwrap_or_default()
            .contains("\"password\":\"***\"")
    );
    assert!(
        !trail[0]
            .1
            .as_deref()
            .unwrap_or_default()
            .contains(dovecot::PASSWORD)
    );
}
