//! Outbound webhooks against a real HTTP receiver that checks Standard Webhooks signatures with
//! its own code (`tests/support/webhook_receiver.py`, Python's hmac): an event written with its
//! fact arrives signed; a receiver that is down gets it later, once; a rotated secret signs next
//! to the old one; the suspension clock's `contract.restore_due` arrives with the payment.

mod common;

use common::*;
use regua::domain::Money;
use regua::store::{self, Db};

fn cli(url: &str, args: &[&str]) -> std::process::Output {
    cli_on(url, "2026-01-05", args)
}

fn cli_on(url: &str, today: &str, args: &[&str]) -> std::process::Output {
    regua_at(url, today, args, &[])
}

fn out(o: &std::process::Output) -> String {
    output_text(o)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The receiver, stopped on drop.
struct Receiver(std::process::Child);

impl Receiver {
    fn start(port: u16, log: &std::path::Path, secrets: &[&str]) -> Receiver {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/webhook_receiver.py");
        let child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(log)
            .args(secrets)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the receiver did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Receiver(child)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn received(log: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn pay(db: &Db, contract: &str, nth: usize, on: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    let k = store::parties::find_contract_by_external_id(&mut conn, contract)
        .await
        .unwrap()
        .unwrap();
    let mut invoices = store::invoices::list_invoices_of_contract(&mut conn, k.id)
        .await
        .unwrap();
    invoices.sort_by_key(|i| i.due_date);
    drop(conn);
    regua::actions::payments::record_payment(
        db,
        invoices[nth].id,
        &regua::actions::payments::Payment {
            paid_on: on.parse().unwrap(),
            amount: Money::from_cents(11990),
        },
        &regua::domain::Actor::Cli("ana".into()),
        clock_on(on).now_millis(),
    )
    .await
    .unwrap();
}

async fn deliver(db: &Db, date: &str) -> regua::webhooks::PassReport {
    regua::webhooks::deliver_due(db, &clock_on(date), Some(&test_key()), "test")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_and_a_receiver_that_was_down_gets_them_later_once() {
    for t in each_backend().await {
        let db = &t.db;
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("received.jsonl");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/regua");

        // Bad input named; nothing added.
        let bad = cli(
            &t.url,
            &["webhook", "add", "--url", &url, "--events", "invoice.payed"],
        );
        assert_eq!(bad.status.code(), Some(2));
        assert!(
            out(&bad).starts_with("--events: \"invoice.payed\" is not an event"),
            "{}",
            out(&bad)
        );
        let add = cli(
            &t.url,
            &[
                "webhook",
                "add",
                "--url",
                &url,
                "--events",
                "invoice.paid,contract.restore_due",
            ],
        );
        assert!(add.status.success(), "{label}: {}", out(&add));
        let secret = out(&add)
            .lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .unwrap()
            .to_string();
        assert!(secret.starts_with("whsec_"));
        assert!(!out(&cli(&t.url, &["webhook", "list"])).contains(&secret));

        // The receiver is down: the payment's event waits and is tried again.
        pay(db, "K1", 0, "2026-01-06").await;
        let r = deliver(db, "2026-01-06").await;
        assert_eq!((r.delivered, r.retrying), (0, 1), "{label}");
        let receiver = Receiver::start(port, &log, &[&secret]);
        assert_eq!(
            deliver(db, "2026-01-06").await.delivered,
            0,
            "not due again yet"
        );
        assert_eq!(deliver(db, "2026-01-07").await.delivered, 1, "{label}");
        assert_eq!(deliver(db, "2026-01-08").await.delivered, 0, "once");
        let got = received(&log);
        assert_eq!(got.len(), 1, "{label}: {got:?}");
        assert_eq!(got[0]["valid"], true, "the signature checks out");
        assert_eq!(got[0]["type"], "invoice.paid");
        assert_eq!(got[0]["data"]["contract"], "K1");
        assert_eq!(got[0]["data"]["customer"], "C1");
        assert_eq!(got[0]["data"]["paid_on"], "2026-01-06");
        assert_eq!(got[0]["data"]["amount_cents"], 11990);

        // A rotation: the new secret and the old one both sign for a day.
        let rotated = cli_on(&t.url, "2026-01-08", &["webhook", "rotate", "1"]);
        assert!(rotated.status.success(), "{}", out(&rotated));
        pay(db, "K1", 1, "2026-01-08").await;
        assert_eq!(deliver(db, "2026-01-08").await.delivered, 1);
        let got = received(&log);
        assert_eq!(
            (got[1]["valid"].clone(), got[1]["signatures"].clone()),
            (true.into(), 2.into())
        );
        drop(receiver);

        // A receiver with a wrong secret refuses: the delivery is retried, not lost.
        let wrong = Receiver::start(port, &log, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        pay(db, "K2", 0, "2026-01-09").await;
        let r = deliver(db, "2026-01-09").await;
        assert_eq!((r.delivered, r.retrying), (0, 1), "{label}");
        drop(wrong);
        let deliveries = out(&cli(&t.url, &["webhook", "deliveries"]));
        assert!(
            deliveries.contains("invoice.paid") && deliveries.contains("\tpending\t1\tHTTP 401"),
            "{deliveries}"
        );
        let id = deliveries
            .lines()
            .nth(1)
            .unwrap()
            .split('\t')
            .next()
            .unwrap()
            .to_string();
        assert!(cli(&t.url, &["webhook", "replay", &id]).status.success());

        // Messages: notice.sent with the records' external ids.
        let add = cli(
            &t.url,
            &[
                "webhook",
                "add",
                "--url",
                &url,
                "--events",
                "notice.sent,notice.failed",
            ],
        );
        assert!(add.status.success(), "{}", out(&add));
        // A customer with an open invoice (the others were paid above).
        import_ok(
            db,
            regua::import::ImportKind::Customers,
            "external_id,name,document,email,mobile_phone\nC9,Bia Reis,111.444.777-35,bia@exemplo.com.br,\n",
        )
        .await;
        import_ok(
            db,
            regua::import::ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK9,C9,Fibra 300,\"99,90\",25,email,Boleto BB\n",
        )
        .await;
        regua::invoicing::generate_invoices(db, "K9", 1, &clock_on("2026-01-05"))
            .await
            .unwrap();
        let (account, invoice) = {
            let mut conn = db.pool.acquire().await.unwrap();
            let account = store::accounts::financial_account(&mut conn)
                .await
                .unwrap()
                .unwrap();
            let k = store::parties::find_contract_by_external_id(&mut conn, "K9")
                .await
                .unwrap()
                .unwrap();
            let invoice = store::invoices::list_invoices_of_contract(&mut conn, k.id)
                .await
                .unwrap()
                .remove(0);
            (account, invoice)
        };
        queue_invoice_email(
            db,
            &invoice,
            &account,
            "a:1",
            clock_on("2026-01-09").now_millis(),
        )
        .await;
        worker_at(db, &clock_on("2026-01-09"))
            .drain(|_| {})
            .await
            .unwrap();
        let payload: String = {
            let mut conn = db.pool.acquire().await.unwrap();

            sqlx::query_scalar(
                "SELECT payload FROM webhook_deliveries WHERE event_type = 'notice.sent'",
            )
            .fetch_one(&mut *conn)
            .await
            .unwrap()
        };
        let body: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(body["data"]["customer"], "C9", "{label}: {body}");
        assert_eq!(body["data"]["channel"], "email");
        assert_eq!(body["data"]["recipient"], "bia@exemplo.com.br");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_manages_endpoints_and_replays_a_delivery_on_the_page() {
    let t = sqlite().await;
    let db = &t.db;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(db, &sink).await;
    {
        let mut conn = db.pool.acquire().await.unwrap();
        store::auth::insert_user(
            &mut conn,
            "admin",
            "Ana",
            regua::web::auth::Role::Admin,
            "senha-forte-123",
            0,
        )
        .await
        .unwrap();
    }
    let db2 = db.clone();
    with_server(db, |addr| async move {
        let session = common::http::staff_session(addr, "admin", "senha-forte-123").await;
        let page = common::http::http(addr, "GET", "/configuracoes/webhooks", &session, "").await;
        let csrf = page.field("_csrf");
        let bad = common::http::http(
            addr,
            "POST",
            "/configuracoes/webhooks",
            &session,
            &format!("_csrf={}&url=ftp%3A%2F%2Fx&evento=invoice.paid", common::http::enc(&csrf)),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("O endereço começa com https://"), "{}", bad.body);
        let ok = common::http::http(
            addr,
            "POST",
            "/configuracoes/webhooks",
            &session,
            &format!(
                "_csrf={}&url=http%3A%2F%2F127.0.0.1%3A9%2Frede&evento=invoice.paid&evento=contract.restore_due",
                common::http::enc(&csrf)
            ),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(ok.body.contains("whsec_"), "the secret is shown once");
        let again = common::http::http(addr, "GET", "/configuracoes/webhooks", &session, "").await;
        assert!(!again.body.contains("whsec_"), "and only once");
        assert!(again.body.contains("Fatura paga, Restabelecimento devido"));
        // A delivery, failed against a closed port, replayed from the page.
        pay(&db2, "K1", 0, "2026-01-06").await;
        deliver(&db2, "2026-01-06").await;
        let list = common::http::http(addr, "GET", "/configuracoes/webhooks", &session, "").await;
        assert!(list.body.contains("aguardando nova tentativa"), "{}", list.body);
        let replay = common::http::http(
            addr,
            "POST",
            "/configuracoes/webhooks/reenviar",
            &session,
            &format!("_csrf={}&id=1", common::http::enc(&csrf)),
        )
        .await;
        assert!(replay.body.contains("A entrega 1 será enviada de novo."), "{}", replay.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posting_process_killed_mid_delivery_loses_nothing() {
    for t in each_backend().await {
        let db = &t.db;
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("received.jsonl");
        // A receiver that takes the request and never answers: the post hangs.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/regua");
        let add = cli(
            &t.url,
            &["webhook", "add", "--url", &url, "--events", "invoice.paid"],
        );
        assert!(add.status.success(), "{}", out(&add));
        let secret = out(&add)
            .lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .unwrap()
            .to_string();
        pay(db, "K1", 0, "2026-01-06").await;
        let (got, accepted) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let (stream, _) = silent.accept().unwrap();
            got.send(()).unwrap();
            // Hold the connection until the posting process is gone.
            std::thread::sleep(std::time::Duration::from_secs(2));
            drop(stream);
            drop(silent);
        });
        let mut drain = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["webhook", "drain"])
            .env("REGUA_DATABASE_URL", &t.url)
            .env("REGUA_TODAY", "2026-01-06")
            .env("REGUA_SECRET_KEY", "5e".repeat(32))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        accepted
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the drain posted");
        // kill -9 while the request is in flight.
        drain.kill().unwrap();
        drain.wait().unwrap();
        holder.join().unwrap();
        let status: (String, i64) = {
            let mut conn = db.pool.acquire().await.unwrap();
            sqlx::query_as("SELECT status, attempts FROM webhook_deliveries")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        };
        assert_eq!(
            status,
            ("pending".to_string(), 1),
            "{label}: leased, not lost"
        );
        // The receiver is back; once the lease lapses, the next drain posts it, once.
        let _receiver = Receiver::start(port, &log, &[&secret]);
        let next = cli_on(&t.url, "2026-01-07", &["webhook", "drain"]);
        assert!(
            out(&next).starts_with("1 delivered"),
            "{label}: {}",
            out(&next)
        );
        let again = cli_on(&t.url, "2026-01-08", &["webhook", "drain"]);
        assert!(out(&again).starts_with("0 delivered"), "{}", out(&again));
        let got = received(&log);
        assert_eq!(got.len(), 1, "{label}: {got:?}");
        assert_eq!(got[0]["valid"], true);
    }
}
