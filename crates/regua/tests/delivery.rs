//! The delivery engine against a real SMTP server on loopback (mailsink: STARTTLS with a
//! self-signed certificate, AUTH PLAIN/LOGIN, scripted replies), on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use mailsink::{DataReply, Sink, SinkConfig};
use regua::delivery::{Enqueued, NoticeStatus};
use regua::store::{self, log::LogFilter};

const T0: &str = "2026-01-05";

async fn attempts_of(
    db: &regua::store::Db,
    id: regua::delivery::NoticeId,
) -> Vec<regua::delivery::Attempt> {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut a: Vec<_> = store::log::list_attempts(&mut conn, &LogFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.notice_id == id)
        .collect();
    a.reverse();
    a
}

async fn notice(db: &regua::store::Db, id: regua::delivery::NoticeId) -> regua::delivery::Notice {
    let mut conn = db.pool.acquire().await.unwrap();
    store::outbox::get_notice(&mut conn, id).await.unwrap()
}

#[tokio::test]
async fn starttls_with_a_trusted_self_signed_certificate_and_auth_delivers_with_the_boleto() {
    let (cert, key) = mailsink::self_signed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    for mechanism in ["PLAIN", "LOGIN"] {
        for t in each_backend().await {
            let sink = Sink::start(SinkConfig {
                tls: Some((cert.clone(), key.clone())),
                auth: Some(("cobranca".into(), "s3nh@ forte".into())),
                auth_mechanisms: Some(mechanism.into()),
                ..SinkConfig::default()
            })
            .await
            .unwrap();
            let account = sink_account(
                &t.db,
                "Principal",
                sink.port(),
                AccountSetup {
                    starttls_ca: Some(ca.clone()),
                    auth: Some(("cobranca".into(), "s3nh@ forte".into())),
                    ..AccountSetup::default()
                },
            )
            .await;
            let invoices = open_invoices(&t.db, 1).await;
            let clock = clock_on(T0);
            let id = queue_invoice_email(
                &t.db,
                &invoices[0],
                &account,
                "manual:1",
                clock.now_millis(),
            )
            .await;
            let report = worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
            assert_eq!(
                report.sent,
                1,
                "{} {mechanism}: {report:?} {:?}",
                t.label,
                attempts_of(&t.db, id).await
            );
            let got = sink.received();
            assert_eq!(got.len(), 1);
            assert!(got[0].tls, "the session was upgraded with STARTTLS");
            assert_eq!(got[0].user.as_deref(), Some("cobranca"));
            assert_eq!(got[0].to, vec!["maria@exemplo.com.br".to_string()]);
            let n = notice(&t.db, id).await;
            assert_eq!(n.status, NoticeStatus::Sent);
            assert_eq!(got[0].message_id.as_deref(), Some(n.message_id.as_str()));
            let text = got[0].text();
            assert!(
                text.contains("Content-Type: application/pdf"),
                "boleto attached"
            );
            assert!(text.contains("multipart/alternative"));
            let log = attempts_of(&t.db, id).await;
            assert_eq!(log.len(), 1);
            assert_eq!(
                (log[0].outcome, log[0].reply_code),
                (NoticeStatus::Sent, Some(250))
            );
            assert!(
                log[0].reply_text.contains("queued as"),
                "{}",
                log[0].reply_text
            );
            assert_eq!(
                n.layout_version,
                Some(1),
                "the notice records the layout version"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_logged_authentication_error() {
    let (cert, key) = mailsink::self_signed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig {
            tls: Some((cert.clone(), key.clone())),
            auth: Some(("cobranca".into(), "certa".into())),
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let account = sink_account(
            &t.db,
            "Principal",
            sink.port(),
            AccountSetup {
                starttls_ca: Some(ca.clone()),
                auth: Some(("cobranca".into(), "errada".into())),
                ..AccountSetup::default()
            },
        )
        .await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let id = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "manual:1",
            clock.now_millis(),
        )
        .await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, id).await;
        assert_eq!(n.status, NoticeStatus::Dead, "535 is permanent");
        let reason = n.last_error.unwrap();
        assert!(
            reason.contains("535") || reason.contains("credentials"),
            "{reason}"
        );
        assert!(
            !reason.contains("errada"),
            "the password never appears in a reason"
        );
        assert_eq!(sink.auth_failures(), 1);
        assert_eq!(sink.count(), 0);
        assert_eq!(attempts_of(&t.db, id).await[0].reply_code, Some(535));
    }
}

#[tokio::test]
async fn a_server_that_answers_451_twice_gets_the_message_exactly_once_on_the_third_attempt() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig {
            script: vec![
                DataReply::Reply(451, "4.3.0 Try again later".into()),
                DataReply::Reply(451, "4.3.0 Try again later".into()),
            ],
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let id = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "rule:1:1",
            clock.now_millis(),
        )
        .await;

        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, id).await;
        assert_eq!(n.status, NoticeStatus::Retrying);
        assert_eq!(
            n.next_attempt_at,
            clock.now_millis() + 60_000,
            "first retry after a minute"
        );
        // Nothing is due before the retry time.
        let early = worker_at(&t.db, &clock.later_by_millis(59_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(early.claimed, 0);
        let after_1m = clock.later_by_millis(60_000);
        worker_at(&t.db, &after_1m).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, id).await;
        assert_eq!(
            (n.status, n.next_attempt_at),
            (NoticeStatus::Retrying, after_1m.now_millis() + 120_000)
        );
        worker_at(&t.db, &after_1m.later_by_millis(120_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(
            notice(&t.db, id).await.status,
            NoticeStatus::Sent,
            "{}",
            t.label
        );
        assert_eq!(sink.count(), 1, "delivered exactly once");
        assert_eq!(sink.data_commands(), 3);
        let log = attempts_of(&t.db, id).await;
        let outcomes: Vec<_> = log.iter().map(|a| (a.outcome, a.reply_code)).collect();
        assert_eq!(
            outcomes,
            vec![
                (NoticeStatus::Retrying, Some(451)),
                (NoticeStatus::Retrying, Some(451)),
                (NoticeStatus::Sent, Some(250)),
            ]
        );
    }
}

#[tokio::test]
async fn a_550_is_dead_after_one_attempt_with_the_reason_visible_and_can_be_requeued() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig {
            script: vec![DataReply::Reply(
                550,
                "5.7.1 Message rejected as spam".into(),
            )],
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let id = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "rule:1:1",
            clock.now_millis(),
        )
        .await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, id).await;
        assert_eq!((n.status, n.attempts), (NoticeStatus::Dead, 1));
        assert!(
            n.last_error
                .as_deref()
                .unwrap()
                .contains("Message rejected as spam"),
            "{:?}",
            n.last_error
        );
        // A later run does not touch it.
        assert_eq!(
            worker_at(&t.db, &clock.later_by_millis(86_400_000))
                .drain(|_| {})
                .await
                .unwrap()
                .claimed,
            0
        );
        // The operator requeues it; the server now accepts.
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::outbox::requeue_notice(&mut conn, id, clock.now_millis())
                .await
                .unwrap()
        );
        drop(conn);
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(notice(&t.db, id).await.status, NoticeStatus::Sent);
        assert_eq!(sink.count(), 1);
    }
}

#[tokio::test]
async fn a_recipient_the_server_rejects_is_dead_at_once() {
    let t = sqlite().await;
    let sink = Sink::start(SinkConfig {
        reject_recipients: vec!["maria@exemplo.com.br".into()],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let invoices = open_invoices(&t.db, 1).await;
    let clock = clock_on(T0);
    let id = queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "rule:1:1",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let n = notice(&t.db, id).await;
    assert_eq!((n.status, n.attempts), (NoticeStatus::Dead, 1));
    assert!(n.last_error.unwrap().contains("Mailbox does not exist"));
}

#[tokio::test]
async fn a_connection_dropped_during_data_is_retried_and_delivered() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig {
            script: vec![DataReply::Drop],
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let id = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "rule:1:1",
            clock.now_millis(),
        )
        .await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(
            notice(&t.db, id).await.status,
            NoticeStatus::Retrying,
            "{}",
            t.label
        );
        worker_at(&t.db, &clock.later_by_millis(60_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(notice(&t.db, id).await.status, NoticeStatus::Sent);
        assert_eq!(sink.count(), 1);
        assert_eq!(attempts_of(&t.db, id).await.len(), 2);
    }
}

#[tokio::test]
async fn an_hourly_limit_of_10_sends_10_per_window_and_loses_none() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        let account = sink_account(
            &t.db,
            "Principal",
            sink.port(),
            AccountSetup {
                hourly_limit: Some(10),
                ..AccountSetup::default()
            },
        )
        .await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let mut ids = Vec::new();
        for i in 0..25 {
            ids.push(
                queue_invoice_email(
                    &t.db,
                    &invoices[0],
                    &account,
                    &format!("manual:{i}"),
                    clock.now_millis(),
                )
                .await,
            );
        }
        let first = worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!((first.sent, sink.count()), (10, 10), "{}", t.label);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let waiting = store::outbox::list_notices(&mut conn, Some(NoticeStatus::Queued), 100)
            .await
            .unwrap();
        assert_eq!(waiting.len(), 15);
        let opening = clock.now_millis() + 3_600_000 + 1;
        assert!(
            waiting.iter().all(|n| n.next_attempt_at == opening),
            "they wait for the window's opening"
        );
        drop(conn);
        // A minute before the window opens, nothing more goes out.
        assert_eq!(
            worker_at(&t.db, &clock.later_by_millis(3_540_000))
                .drain(|_| {})
                .await
                .unwrap()
                .sent,
            0
        );
        let second = worker_at(&t.db, &clock.later_by_millis(3_600_001))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!((second.sent, sink.count()), (10, 20));
        let third = worker_at(&t.db, &clock.later_by_millis(2 * 3_600_002))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!((third.sent, sink.count()), (5, 25));
        for id in ids {
            assert_eq!(notice(&t.db, id).await.status, NoticeStatus::Sent);
        }
    }
}

#[tokio::test]
async fn overflow_goes_to_the_fallback_account_when_the_default_is_exhausted() {
    for t in each_backend().await {
        let main_sink = Sink::start(SinkConfig::default()).await.unwrap();
        let spare_sink = Sink::start(SinkConfig::default()).await.unwrap();
        sink_account(&t.db, "Reserva", spare_sink.port(), AccountSetup::default()).await;
        let account = sink_account(
            &t.db,
            "Principal",
            main_sink.port(),
            AccountSetup {
                daily_limit: Some(4),
                fallback: Some("Reserva".into()),
                ..AccountSetup::default()
            },
        )
        .await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        for i in 0..10 {
            queue_invoice_email(
                &t.db,
                &invoices[0],
                &account,
                &format!("manual:{i}"),
                clock.now_millis(),
            )
            .await;
        }
        let r = worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(r.sent, 10, "{}", t.label);
        assert_eq!((main_sink.count(), spare_sink.count()), (4, 6));
        let mut conn = t.db.pool.acquire().await.unwrap();
        let log = store::log::list_attempts(&mut conn, &LogFilter::default())
            .await
            .unwrap();
        assert_eq!(
            log.iter()
                .filter(|a| a.account.as_deref() == Some("Reserva"))
                .count(),
            6
        );
    }
}

#[tokio::test]
async fn a_paid_invoice_or_a_missing_address_is_skipped_with_the_reason() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&t.db, 2).await;
        let clock = clock_on(T0);
        let paid = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "rule:1:1",
            clock.now_millis(),
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::invoices::mark_invoice_paid(
            &mut conn,
            &invoices[0].external_id,
            "2026-01-04".parse().unwrap(),
            invoices[0].amount,
            0,
        )
        .await
        .unwrap();
        drop(conn);
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, paid).await;
        assert_eq!(
            (n.status, n.last_error.as_deref()),
            (NoticeStatus::Skipped, Some("fatura paga em 04/01/2026"))
        );

        let no_email = queue_invoice_email(
            &t.db,
            &invoices[1],
            &account,
            "rule:2:1",
            clock.now_millis(),
        )
        .await;
        regua::import::import_csv(
            &t.db,
            regua::import::ImportKind::Customers,
            b"external_id,name,document,email,mobile_phone\nC1,Maria Silva,529.982.247-25,,\n",
            &clock,
        )
        .await
        .unwrap();
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let n = notice(&t.db, no_email).await;
        assert_eq!(
            (n.status, n.last_error.as_deref()),
            (NoticeStatus::Skipped, Some("cliente sem e-mail cadastrado"))
        );
        assert_eq!(sink.count(), 0);
    }
}

#[tokio::test]
async fn enqueuing_a_key_twice_is_a_no_op_that_says_so() {
    for t in each_backend().await {
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&t.db, 1).await;
        let clock = clock_on(T0);
        let id = queue_invoice_email(
            &t.db,
            &invoices[0],
            &account,
            "rule:1:1",
            clock.now_millis(),
        )
        .await;
        worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
        let mut conn = t.db.pool.acquire().await.unwrap();
        let again = regua::delivery::enqueue_invoice_email(
            &mut conn,
            invoices[0].id,
            &account,
            regua::layouts::Purpose::ReminderBeforeDue,
            None,
            test_key_named("rule:1:1"),
            "test",
            clock.now_millis(),
        )
        .await
        .unwrap();
        assert_eq!(again, Enqueued::Exists(id, NoticeStatus::Sent));
        drop(conn);
        assert_eq!(
            worker_at(&t.db, &clock)
                .drain(|_| {})
                .await
                .unwrap()
                .claimed,
            0
        );
        assert_eq!(sink.count(), 1);
    }
}

#[tokio::test]
async fn the_folder_transport_writes_each_message_as_an_eml_named_by_its_message_id() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let account = folder_account(&t.db, &dir.path().join("mail")).await;
    let invoices = open_invoices(&t.db, 1).await;
    let clock = clock_on(T0);
    let id = queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "generated:7",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let message_id = notice(&t.db, id).await.message_id;
    assert!(
        message_id.ends_with(".generated.7.regua@provedor.com.br>"),
        "{message_id}"
    );
    let eml = std::fs::read_to_string(
        dir.path()
            .join(format!("mail/{}.eml", message_id.trim_matches(['<', '>']))),
    )
    .unwrap();
    assert!(eml.contains(&format!("Message-ID: {message_id}")));
    assert!(eml.contains("To: maria@exemplo.com.br"));
}

#[tokio::test]
async fn the_stable_message_id_survives_retries() {
    let t = sqlite().await;
    let sink = Sink::start(SinkConfig {
        script: vec![DataReply::Reply(421, "4.4.2 Timeout".into())],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let invoices = open_invoices(&t.db, 1).await;
    let clock = clock_on(T0);
    let id = queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "band:9:2",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    worker_at(&t.db, &clock.later_by_millis(60_000))
        .drain(|_| {})
        .await
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let stored = notice(&t.db, id).await.message_id;
    assert_eq!(got[0].message_id.as_deref(), Some(stored.as_str()));
    assert!(
        stored.ends_with(".band.9.2.regua@provedor.com.br>"),
        "{stored}"
    );
    // Both attempts carried it: the first (421) was logged with the same notice.
    assert_eq!(notice(&t.db, id).await.attempts, 2);
    let _ = Duration::ZERO;
}

#[test]
fn an_account_with_dkim_signs_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (key, dkim) = dkim_key(dir.path());
    let account = bare_smtp_account(Some(dkim));
    let rendered = regua::layouts::RenderedMessage {
        subject: "Sua fatura".into(),
        html: "<p>Olá</p>".into(),
        text: "Olá".into(),
        sms: String::new(),
    };
    let message = regua::delivery::build_message(
        &account,
        "maria@exemplo.com.br",
        "<k.regua@provedor.com.br>",
        &rendered,
        &[],
    )
    .unwrap();
    let text = String::from_utf8(message.formatted()).unwrap();
    let header = text
        .lines()
        .find(|l| l.starts_with("DKIM-Signature:"))
        .expect("signed");
    assert!(
        dkim_verifies(&message.formatted(), &key),
        "an independent verifier (dkimpy) refused the signature"
    );
    for part in [
        "a=rsa-sha256",
        "c=relaxed/relaxed",
        "d=provedor.com.br",
        "s=regua2026",
        "h=from:to:subject:date:message-id:mime-version:content-type;",
        "bh=",
    ] {
        assert!(text.contains(part), "{part} missing from {header}");
    }
    // Content-Type is covered: a relay that changes it breaks the signature; so does one
    // that changes the subject.
    let head_end = text.find("\r\n\r\n").unwrap();
    let tampered = text[..head_end].replacen("multipart/alternative", "multipart/mixed", 1)
        + &text[head_end..];
    assert_ne!(tampered, text);
    assert!(
        !dkim_verifies(tampered.as_bytes(), &key),
        "Content-Type is signed"
    );
    assert!(!dkim_verifies(
        text.replacen("Sua fatura", "Sua f4tura", 1).as_bytes(),
        &key
    ));
    // With the boleto attached (multipart/mixed), the signature verifies too.
    let with_pdf = regua::delivery::build_message(
        &account,
        "maria@exemplo.com.br",
        "<k2.regua@provedor.com.br>",
        &rendered,
        &[("boleto.pdf".to_string(), b"%PDF-1.4 fake".to_vec())],
    )
    .unwrap();
    assert!(dkim_verifies(&with_pdf.formatted(), &key));
    // Without the key file the message cannot be built: a permanent, explained failure.
    let mut broken = account.clone();
    broken.dkim.as_mut().unwrap().key_file = "/nonexistent/dkim.pem".into();
    let err =
        regua::delivery::build_message(&broken, "maria@exemplo.com.br", "<k@p>", &rendered, &[])
            .unwrap_err();
    assert!(err.0.contains("cannot read the DKIM key"), "{}", err.0);
}
