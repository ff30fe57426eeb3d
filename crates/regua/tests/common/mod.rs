//! Test helpers: a fresh database on each engine, a fixed clock, and helpers named after what
//! an operator does.

#![allow(dead_code)]

pub mod dns;
pub mod dovecot;
pub mod history;
pub mod http;
pub mod stub;

use std::sync::atomic::{AtomicU32, Ordering};

use regua::domain::*;
use regua::store::{self, Db};
use sqlx::AssertSqlSafe;

/// The engines every storage test runs against.
pub struct TestDb {
    /// `sqlite` or `postgres`, for assertion messages.
    pub label: &'static str,
    /// The migrated database.
    pub db: Db,
    /// The URL, for running the CLI against the same database.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, migrated SQLite file database.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::connect_and_migrate(&url).await.unwrap();
    TestDb {
        label: "sqlite",
        db,
        url,
        _dir: Some(dir),
    }
}

/// A fresh, migrated database on the PostgreSQL server `scripts/test` started
/// (`REGUA_TEST_POSTGRES_URL`). Fails loudly when there is none, so a run that skipped
/// PostgreSQL cannot pass for one that tested it.
pub async fn postgres() -> TestDb {
    let admin_url = std::env::var("REGUA_TEST_POSTGRES_URL").expect(
        "REGUA_TEST_POSTGRES_URL is not set: run the tests with ./scripts/test, which starts a PostgreSQL server",
    );
    // The clock's nanoseconds too: process ids are reused, and a database left by an earlier
    // run with the same pid would make CREATE DATABASE fail.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "regua_t_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let admin = Db::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin.pool)
        .await
        .unwrap();
    admin.pool.close().await;
    let base = admin_url.rsplit_once('/').unwrap().0;
    let url = format!("{base}/{name}");
    let db = Db::connect_and_migrate(&url).await.unwrap();
    TestDb {
        label: "postgres",
        db,
        url,
        _dir: None,
    }
}

/// One fresh database per engine.
pub async fn each_backend() -> Vec<TestDb> {
    vec![sqlite().await, postgres().await]
}

/// A clock fixed at noon of `date` in São Paulo.
pub fn clock_on(date: &str) -> Clock {
    Clock::at_date(regua::DEFAULT_TIME_ZONE, date.parse().unwrap()).unwrap()
}

/// Creates the wallet "BB" (Banco do Brasil) and the billing method "Boleto BB".
pub async fn add_bb_wallet_and_method(db: &Db) {
    let mut conn = db.pool.acquire().await.unwrap();
    let w = regua::demo::banco_do_brasil_wallet("BB");
    store::parties::insert_wallet(&mut conn, &w, 0)
        .await
        .unwrap();
    store::parties::insert_billing_method(&mut conn, "Boleto BB", "BB", 0)
        .await
        .unwrap();
}

/// Imports CSV text, panicking on failure.
pub async fn import_ok(
    db: &Db,
    kind: regua::import::ImportKind,
    csv: &str,
) -> regua::import::ImportReport {
    regua::import::import_csv(db, kind, csv.as_bytes(), &clock_on("2026-01-05"))
        .await
        .unwrap()
}

/// A customer and a contract with the given due day, ready to generate invoices for.
pub async fn customer_with_contract(db: &Db, due_day: u8, delivery: &str) {
    use regua::import::ImportKind;
    import_ok(db, ImportKind::Customers, "external_id,name,document,email,mobile_phone\nC1,Maria Silva,529.982.247-25,maria@exemplo.com.br,(11) 98765-4321\n").await;
    import_ok(
        db,
        ImportKind::Contracts,
        &format!("external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK1,C1,Fibra 500,\"119,90\",{due_day},{delivery},Boleto BB\n"),
    )
    .await;
}

/// The administrator the page tests log in as: `admin`, password `senha-forte-123`.
pub async fn add_admin(db: &Db) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "admin",
        "Ana Souza",
        regua::web::auth::Role::Admin,
        "senha-forte-123",
        0,
    )
    .await
    .unwrap();
}

/// A master key for sealing test passwords.
pub fn test_key() -> regua::secrets::MasterKey {
    regua::secrets::MasterKey::parse(&"5e".repeat(32)).unwrap()
}

/// How a test account talks to the sink.
#[derive(Default)]
pub struct AccountSetup {
    /// STARTTLS with this CA file.
    pub starttls_ca: Option<std::path::PathBuf>,
    /// AUTH user and password.
    pub auth: Option<(String, String)>,
    /// Limits.
    pub hourly_limit: Option<u32>,
    /// Daily limit.
    pub daily_limit: Option<u32>,
    /// Fallback account's name.
    pub fallback: Option<String>,
}

/// Creates an SMTP account named `name` pointing at a mailsink.
pub async fn sink_account(
    db: &Db,
    name: &str,
    port: u16,
    setup: AccountSetup,
) -> regua::delivery::SmtpAccount {
    use regua::delivery::*;
    let mut conn = db.pool.acquire().await.unwrap();
    let a = NewSmtpAccount {
        security: if setup.starttls_ca.is_some() {
            Security::StartTls
        } else {
            Security::None
        },
        credentials: setup.auth.map(|(u, p)| (u, regua::secrets::Secret::new(p))),
        ca_file: setup.starttls_ca.as_ref().map(|p| p.display().to_string()),
        from_name: "Provedor".into(),
        hourly_limit: setup.hourly_limit,
        daily_limit: setup.daily_limit,
        fallback: setup.fallback,
        ..NewSmtpAccount::smtp(
            name,
            if setup.starttls_ca.is_some() {
                "localhost"
            } else {
                "127.0.0.1"
            },
            port,
            EmailAddress::parse("cobranca@provedor.com.br").unwrap(),
        )
    };
    let id = store::accounts::insert_smtp_account(&mut conn, &a, Some(&test_key()), 0)
        .await
        .unwrap();
    store::accounts::get_smtp_account(&mut conn, id)
        .await
        .unwrap()
}

/// Creates the account "Pasta", which writes `.eml` files into `folder`.
pub async fn folder_account(db: &Db, folder: &std::path::Path) -> regua::delivery::SmtpAccount {
    let mut conn = db.pool.acquire().await.unwrap();
    let id = store::accounts::insert_smtp_account(
        &mut conn,
        &regua::delivery::NewSmtpAccount::folder(
            "Pasta",
            &folder.display().to_string(),
            regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap(),
        ),
        None,
        0,
    )
    .await
    .unwrap();
    store::accounts::get_smtp_account(&mut conn, id)
        .await
        .unwrap()
}

/// The BB wallet, one customer (maria@exemplo.com.br) with a contract due on the 10th, and its
/// invoices for the next `months` months as of 2026-01-05; returns them.
pub async fn open_invoices(db: &Db, months: u32) -> Vec<Invoice> {
    add_bb_wallet_and_method(db).await;
    customer_with_contract(db, 10, "email").await;
    regua::invoicing::generate_invoices(db, "K1", months, &clock_on("2026-01-05"))
        .await
        .unwrap()
        .created
}

/// A delivery worker on `db` with a fixed clock and a short lease.
pub fn worker_at(db: &Db, clock: &Clock) -> regua::delivery::Worker {
    regua::delivery::Worker::new(
        db.clone(),
        clock.clone(),
        regua::delivery::WorkerOptions {
            name: "test-worker".into(),
            lease: std::time::Duration::from_secs(60),
            batch: 16,
            concurrency: 4,
            timeout: std::time::Duration::from_secs(10),
        },
        Some(test_key()),
    )
}

/// The notice key a test names: the text of a real key (`band:9:2`) is that key; any other
/// name (`a:1`, `lote:2026/12`) becomes an integration's idempotency key (`api:0:<name>`), the
/// one kind whose text is free.
pub fn test_key_named(name: &str) -> regua::delivery::NoticeKey {
    name.parse()
        .unwrap_or_else(|_| regua::delivery::NoticeKey::ApiIdempotent {
            api_key: regua::domain::auth::ApiKeyId(0),
            idempotency: name.to_string(),
        })
}

/// Queues `invoice`'s e-mail through `account` under the key named `key` ([`test_key_named`]).
pub async fn queue_invoice_email(
    db: &Db,
    invoice: &Invoice,
    account: &regua::delivery::SmtpAccount,
    key: &str,
    now_ms: i64,
) -> regua::delivery::NoticeId {
    let mut conn = db.pool.acquire().await.unwrap();
    match regua::delivery::enqueue_invoice_email(
        &mut conn,
        invoice.id,
        account,
        regua::layouts::Purpose::ReminderBeforeDue,
        None,
        test_key_named(key),
        "test",
        now_ms,
    )
    .await
    .unwrap()
    {
        regua::delivery::Enqueued::New(id) => id,
        other => panic!("{key} was already queued: {other:?}"),
    }
}

/// Runs the server on a free loopback port while `f` talks to it, then stops it.
pub async fn with_server<F, Fut>(db: &Db, f: F)
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    with_server_token(db, None, f).await
}

/// [`with_server`] with `/metrics` behind a bearer token.
pub async fn with_server_token<F, Fut>(db: &Db, metrics_token: Option<&str>, f: F)
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    serve_on(db, "2026-01-07", metrics_token, f).await
}

/// [`with_server`] with the server's clock at noon of another date.
pub async fn with_server_at<F, Fut>(db: &Db, date: &str, f: F)
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    serve_on(db, date, None, f).await
}

async fn serve_on<F, Fut>(db: &Db, date: &str, metrics_token: Option<&str>, f: F)
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = regua::server::serve(
        db.clone(),
        clock_on(date),
        Some(test_key()),
        regua::server::ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            worker: None,
            scheduler_tick: None,
            secure_cookies: false,
            // Tests scrape /metrics: open unless a token is given.
            metrics: regua::web::MetricsAccess::from_options(
                metrics_token.map(str::to_string),
                true,
            ),
            bounce_poll: None,
            bounce_smtp: None,
        },
        move |addr| {
            let _ = tx.send(addr);
        },
        async move {
            let _ = stopped.await;
        },
    );
    let client = async move {
        let addr = rx.await.unwrap();
        f(addr).await;
        let _ = stop.send(());
    };
    let (served, ()) = tokio::join!(server, client);
    served.unwrap();
}

/// The BB wallet with a PIX key; Maria (C1, CPF 529.982.247-25) with two invoices from
/// 10/01/2026; João (C2, CNPJ 11.222.333/0001-81) with one; a financial account to the sink.
pub async fn portal_isp(db: &Db, sink: &mailsink::Sink) {
    open_invoices(db, 2).await;
    import_ok(
        db,
        regua::import::ImportKind::Customers,
        "external_id,name,document,email,mobile_phone\nC2,Joao Souza ME,11.222.333/0001-81,joao@empresa.com.br,\n",
    )
    .await;
    import_ok(
        db,
        regua::import::ImportKind::Contracts,
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK2,C2,Fibra 300,\"99,90\",20,email,Boleto BB\n",
    )
    .await;
    regua::invoicing::generate_invoices(db, "K2", 1, &clock_on("2026-01-05"))
        .await
        .unwrap();
    sink_account(db, "Principal", sink.port(), AccountSetup::default()).await;
    let mut conn = db.pool.acquire().await.unwrap();
    store::parties::set_setting(
        &mut conn,
        store::accounts::SETTING_FINANCIAL_ACCOUNT,
        "Principal",
    )
    .await
    .unwrap();
    store::parties::set_setting(&mut conn, store::settings::SETTING_PORTAL_SEND_EMAIL, "yes")
        .await
        .unwrap();
    sqlx::query("UPDATE wallets SET pix_key = 'financeiro@provedor.com.br'")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// Sets a document's portal password directly (what the link flow does), for tests that start
/// logged in.
pub async fn set_portal_password(db: &Db, document: &str, password: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::subscribers::set_portal_password(
        &mut conn,
        document,
        &regua::web::auth::hash_password(password),
        0,
    )
    .await
    .unwrap();
}

/// Whether dkimpy (Debian's python3-dkim, which `scripts/test` installs), an implementation
/// independent of Régua's, verifies the DKIM signature of `message` signed with the private
/// key at `key` (its public half standing in for the selector's DNS record).
pub fn dkim_verifies(message: &[u8], key: &std::path::Path) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("signed.eml");
    std::fs::write(&eml, message).unwrap();
    let public = std::process::Command::new("openssl")
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
    assert!(public.status.success());
    use base64::Engine as _;
    let public = base64::engine::general_purpose::STANDARD.encode(public.stdout);
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/dkim_verify.py"
        ))
        .arg(&eml)
        .arg(public)
        .output()
        .expect("python3 with dkimpy (scripts/test installs python3-dkim)");
    if !out.status.success() {
        eprintln!("dkimpy: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    out.status.success()
}

/// An SMTP account as the message builder sees it (not stored): "Principal", from
/// cobranca@provedor.com.br as "Provedor", with `dkim` if given.
pub fn bare_smtp_account(
    dkim: Option<regua::delivery::DkimConfig>,
) -> regua::delivery::SmtpAccount {
    regua::delivery::SmtpAccount {
        id: regua::delivery::AccountId(1),
        name: "Principal".into(),
        transport: regua::delivery::Transport::Smtp,
        host: "127.0.0.1".into(),
        port: 25,
        security: regua::delivery::Security::None,
        username: None,
        has_password: false,
        folder: None,
        ca_file: None,
        from_address: regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap(),
        from_name: "Provedor".into(),
        test_recipient: None,
        hourly_limit: None,
        daily_limit: None,
        default_layout_id: None,
        fallback_account_id: None,
        dkim,
        active: true,
        revision: 0,
        bounce_domain: String::new(),
    }
}

/// A new 2048-bit RSA key (PKCS#1 PEM, made by openssl) in `dir`, and the DKIM configuration
/// that signs with it as `regua2026._domainkey.provedor.com.br`.
pub fn dkim_key(dir: &std::path::Path) -> (std::path::PathBuf, regua::delivery::DkimConfig) {
    let key = dir.join("dkim.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let dkim = regua::delivery::DkimConfig {
        selector: "regua2026".into(),
        domain: "provedor.com.br".into(),
        key_file: key.display().to_string(),
    };
    (key, dkim)
}

/// A Banco do Brasil CNAB 400 (CBR643) return file: one type-7 detail per `(invoice our
/// number as printed, occurrence, paid cents)`.
pub fn bb_return(records: &[(String, &str, i64)]) -> Vec<u8> {
    let mut lines = Vec::new();
    let mut header = vec![b' '; 400];
    header[0] = b'0';
    header[76..79].copy_from_slice(b"001");
    lines.push(header);
    for (our_number, occurrence, paid) in records {
        let mut l = vec![b' '; 400];
        l[0] = b'7';
        let digits: String = our_number.chars().filter(char::is_ascii_digit).collect();
        l[63..80].copy_from_slice(format!("{digits:0>17}").as_bytes());
        l[108..110].copy_from_slice(occurrence.as_bytes());
        l[110..116].copy_from_slice(b"120126"); // paid on 12/01/2026
        l[175..181].copy_from_slice(b"130126"); // credited on 13/01/2026
        l[152..165].copy_from_slice(format!("{:013}", 11990).as_bytes());
        l[181..188].copy_from_slice(b"0000250");
        l[253..266].copy_from_slice(format!("{paid:013}").as_bytes());
        for (a, b) in [(241, 253), (267, 279)] {
            l[a - 1..b].fill(b'0');
        }
        lines.push(l);
    }
    let mut trailer = vec![b' '; 400];
    trailer[0] = b'9';
    lines.push(trailer);
    lines.join(&b"\r\n"[..])
}

/// The message with quoted-printable undone (soft breaks and `=XX` bytes).
pub fn quoted_printable_decoded(message: &str) -> String {
    let raw = message.replace("=\r\n", "").replace("=\n", "");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs the real `regua` binary on the database at `url`; its output.
pub fn regua_cli(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(args)
        .env("REGUA_DATABASE_URL", url)
        .output()
        .unwrap()
}

/// An SMS gateway posting `{"to", "text"}` JSON to `url`, without credentials, success when
/// the reply says "ok" (the tests' stub HTTP server answers so).
pub async fn plain_sms_gateway(db: &Db, name: &str, url: &str) {
    let g = regua::delivery::sms::GatewayInput {
        name: name.into(),
        url: url.into(),
        method: "POST".into(),
        headers: vec![],
        body: Some(r#"{"to":"{{telefone_digitos}}","text":"{{mensagem}}"}"#.into()),
        success_contains: Some("\"ok\"".into()),
        hourly_limit: None,
        daily_limit: None,
    }
    .check(&|_| None)
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    store::channels::insert_sms_gateway(&mut conn, &g, Some(&test_key()), 0)
        .await
        .unwrap();
}

/// Runs the real `regua` binary on the database at `url` as if on `today` (REGUA_TODAY), with
/// the tests' master key, as the operator `ana`, with `envs` added; its output.
pub fn regua_at(
    url: &str,
    today: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.args(args)
        .env("REGUA_DATABASE_URL", url)
        .env("REGUA_TODAY", today)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("USER", "ana");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A command's stdout followed by its stderr, as text.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
