//! The admin UI in a real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs). Screenshots go to
//! `target/browser-artifacts/`.

mod common;

use std::time::Duration;

use common::*;
use fantoccini::{ClientBuilder, Locator};
use regua::store;
use regua::web::auth::Role;

/// A chromedriver on a free port, stopped on drop.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run the tests with ./scripts/test, which installs chromium-driver");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }

    async fn client(&self, profile: &std::path::Path) -> fantoccini::Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user every test logs in as: Ana Souza, Financeiro.
async fn add_ana(db: &store::Db) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana Souza",
        Role::Finance,
        "senha-forte-1",
        0,
    )
    .await
    .unwrap();
}

/// Fills and submits the login form on the current page.
async fn submit_login(c: &fantoccini::Client, login: &str, password: &str) {
    let form = c.form(Locator::Css("form[action='/login']")).await.unwrap();
    form.set_by_name("login", login).await.unwrap();
    form.set_by_name("password", password).await.unwrap();
    form.submit().await.unwrap();
}

/// A Banco do Brasil wallet (e-mailing on generation if asked), its billing method, Ana,
/// customer C1 with contract K1 (by e-mail), and an SMTP sink as the financial account.
async fn isp_with_sink(db: &store::Db, send_on_generate: bool) -> mailsink::Sink {
    let mut conn = db.pool.acquire().await.unwrap();
    let wallet = regua::domain::NewWallet {
        send_on_generate,
        ..regua::demo::banco_do_brasil_wallet("BB")
    };
    store::parties::insert_wallet(&mut conn, &wallet, 0)
        .await
        .unwrap();
    store::parties::insert_billing_method(&mut conn, "Boleto BB", "BB", 0)
        .await
        .unwrap();
    drop(conn);
    add_ana(db).await;
    customer_with_contract(db, 10, "email").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
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
    sink
}

/// Logs in as Ana and opens Contratos.
async fn ana_on_contracts(c: &fantoccini::Client, addr: std::net::SocketAddr) {
    c.goto(&format!("http://{addr}/login")).await.unwrap();
    submit_login(c, "ana", "senha-forte-1").await;
    c.wait()
        .for_element(Locator::Css("form.logout"))
        .await
        .unwrap();
    menu(c, "Clientes", "Contratos").await;
}

/// The text of the element `id` once it contains `want`: after a form is submitted the old page
/// may still be there (with an element of that id) or be replaced mid-read (a stale element).
async fn text_once(c: &fantoccini::Client, id: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Id(id)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(want) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("#{id} never said {want:?}; last: {last:?}")
}

/// Opens the menu group `group` and follows its link `item`.
async fn menu(c: &fantoccini::Client, group: &str, item: &str) {
    c.find(Locator::XPath(&format!("//nav//summary[text()='{group}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::LinkText(item))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn artifacts() -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_see_the_dashboard_and_log_out() {
    let t = sqlite().await;
    add_ana(&t.db).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        let base = format!("http://{addr}");
        // Anonymous: the dashboard sends the browser to the login.
        c.goto(&format!("{base}/")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/login");
        // A wrong password: the error in Portuguese, the login kept.
        let form = c.form(Locator::Css("form[action='/login']")).await.unwrap();
        form.set_by_name("login", "ana").await.unwrap();
        form.set_by_name("password", "errada").await.unwrap();
        form.submit().await.unwrap();
        let error = c.wait().for_element(Locator::Css(".error")).await.unwrap();
        assert_eq!(error.text().await.unwrap(), "Login ou senha inválidos.");
        // The right one: the dashboard.
        let form = c.form(Locator::Css("form[action='/login']")).await.unwrap();
        form.set_by_name("password", "senha-forte-1").await.unwrap();
        form.submit().await.unwrap();
        c.wait().for_element(Locator::Css(".cards")).await.unwrap();
        let h1 = c.find(Locator::Css("main h1")).await.unwrap();
        assert_eq!(h1.text().await.unwrap(), "Painel");
        assert_eq!(
            c.find(Locator::Css(".who"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "Ana Souza · Financeiro"
        );
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(artifacts().join("dashboard.png"), png).unwrap();
        // Tomorrow's forecast, then out.
        c.find(Locator::LinkText("Ver a previsão de envios de amanhã"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let h1 = c
            .wait()
            .for_element(Locator::XPath(
                "//main/h1[starts-with(., 'Previsão para ')]",
            ))
            .await
            .unwrap();
        assert!(h1.text().await.unwrap().starts_with("Previsão para "));
        c.find(Locator::Css("form.logout button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("form[action='/login']"))
            .await
            .unwrap();
        c.goto(&format!("{base}/")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/login");
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_an_smtp_account_and_send_the_test_message() {
    let t = sqlite().await;
    add_ana(&t.db).await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let sink_port = sink.port();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/configuracoes/email"))
            .await
            .unwrap();
        // The login sends the browser back to the page it asked for.
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Id("smtp-form"))
            .await
            .unwrap();
        let h1 = c.find(Locator::Css("main h1")).await.unwrap();
        assert_eq!(h1.text().await.unwrap(), "E-mail SMTP");
        // A typo first: the error next to the field.
        let form = c.form(Locator::Id("smtp-form")).await.unwrap();
        form.set_by_name("name", "Principal").await.unwrap();
        form.set_by_name("host", "127.0.0.1").await.unwrap();
        form.set_by_name("port", &sink_port.to_string())
            .await
            .unwrap();
        form.set_by_name("security", "none").await.unwrap();
        form.set_by_name("from", "cobranca-provedor").await.unwrap();
        form.submit_direct().await.unwrap();
        let err = c
            .wait()
            .for_element(Locator::Css(".invalid .error"))
            .await
            .unwrap();
        assert_eq!(
            err.text().await.unwrap(),
            "Informe um e-mail de remetente válido."
        );
        let form = c.form(Locator::Id("smtp-form")).await.unwrap();
        form.set_by_name("from", "cobranca@provedor.com.br")
            .await
            .unwrap();
        form.set_by_name("test_recipient", "ana@provedor.com.br")
            .await
            .unwrap();
        form.submit_direct().await.unwrap();
        c.wait()
            .for_element(Locator::XPath(
                "//td[starts-with(normalize-space(.), 'Principal')]",
            ))
            .await
            .unwrap();
        c.find(Locator::XPath("//button[text()='Enviar teste']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let status = c.wait().for_element(Locator::Css("p.ok")).await.unwrap();
        assert!(
            status
                .text()
                .await
                .unwrap()
                .starts_with("Teste enviado para Principal.")
        );
        assert_eq!(sink.count(), 1);
        assert_eq!(sink.received()[0].to, ["ana@provedor.com.br"]);
        std::fs::write(artifacts().join("smtp.png"), c.screenshot().await.unwrap()).unwrap();
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_send_rule() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    add_ana(&t.db).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        menu(&c, "Cobrança", "Régua de cobrança").await;
        c.wait()
            .for_element(Locator::Css("form.rule-form"))
            .await
            .unwrap();
        let form = c.form(Locator::Css("form.rule-form")).await.unwrap();
        form.set_by_name("kind", "after_due").await.unwrap();
        form.set_by_name("days", "13").await.unwrap();
        form.submit_direct().await.unwrap();
        let cell = c
            .wait()
            .for_element(Locator::XPath(
                "//section[@class='method']//td[text()='Após o vencimento']",
            ))
            .await
            .unwrap();
        assert_eq!(cell.text().await.unwrap(), "Após o vencimento");
        let mut conn = db.pool.acquire().await.unwrap();
        let rules = store::rules::list_send_rules(&mut conn).await.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].kind, rules[0].days),
            (regua::dunning::RuleKind::AfterDue, 13)
        );
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_typo_is_shown_while_typing_and_refused_on_save() {
    let t = sqlite().await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana Souza",
        Role::Finance,
        "senha-forte-1",
        0,
    )
    .await
    .unwrap();
    let layout = store::layouts::find_layout(&mut conn, "Vencimento hoje")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!(
            "http://{addr}/configuracoes/layouts/{}",
            layout.id.0
        ))
        .await
        .unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        let subject = c
            .wait()
            .for_element(Locator::Css("input[name=subject]"))
            .await
            .unwrap();
        subject.clear().await.unwrap();
        subject
            .send_keys("Sua fatura vence hoje, {{ cliente.nme }}")
            .await
            .unwrap();
        // The live check, without saving.
        let problem = c
            .wait()
            .for_element(Locator::Css("#problems li"))
            .await
            .unwrap();
        let text = problem.text().await.unwrap();
        assert!(text.starts_with("assunto, linha 1, coluna"), "{text}");
        assert!(text.contains("cliente.nome"), "{text}");
        std::fs::write(
            artifacts().join("layout-typo.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        // Saving is refused with the same message, on the page the server sends back (the old
        // document is marked so the wait cannot pick its list up).
        c.execute("document.body.dataset.old = '1'", vec![])
            .await
            .unwrap();
        c.find(Locator::Css("button[value=save]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let problem = c
            .wait()
            .for_element(Locator::Css("body:not([data-old]) ul.problems li"))
            .await
            .unwrap();
        assert!(problem.text().await.unwrap().contains("cliente.nome"));
        c.close().await.unwrap();
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let after = store::layouts::find_layout(&mut conn, "Vencimento hoje")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, layout.version, "nothing saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_invoices_and_find_the_message_in_the_log() {
    let t = sqlite().await;
    let sink = isp_with_sink(&t.db, true).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        ana_on_contracts(&c, addr).await;
        c.wait()
            .for_element(Locator::Css("form[action$='/gerar']"))
            .await
            .unwrap();
        let form = c
            .form(Locator::Css("form[action$='/gerar']"))
            .await
            .unwrap();
        form.set_by_name("months", "2").await.unwrap();
        form.submit_direct().await.unwrap();
        let notice = c.wait().for_element(Locator::Css("p.ok")).await.unwrap();
        assert_eq!(notice.text().await.unwrap(), "2 fatura(s) gerada(s).");
        // The worker (here, the test) delivers the generation's message.
        worker_at(&db, &clock_on("2026-01-07"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 1);
        menu(&c, "Envio", "Log de envios").await;
        let row = c
            .wait()
            .for_element(Locator::XPath(
                "//table[@class='log']//tr[td[text()='Fatura gerada']]",
            ))
            .await
            .unwrap();
        let text = row.text().await.unwrap();
        assert!(
            text.contains("enviado") && text.contains("maria@exemplo.com.br"),
            "{text}"
        );
        c.find(Locator::LinkText("Painel"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Css(".cards")).await.unwrap();
        std::fs::write(
            artifacts().join("dashboard-after-sending.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.close().await.unwrap();
    })
    .await;
}

/// Contratos › suspensões: schedule a temporary suspension with the page's date fields; the
/// customer gets the "scheduled" e-mail; cancel it with its button and the customer is told of
/// the cancellation, at the real SMTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_a_suspension_then_cancel_it_and_the_customer_is_told() {
    let t = sqlite().await;
    let sink = isp_with_sink(&t.db, false).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        ana_on_contracts(&c, addr).await;
        c.wait()
            .for_element(Locator::Css("a[href$='/suspensoes']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let form = c.form(Locator::Css("#suspension-form")).await.unwrap();
        form.set_by_name("from", "2026-01-10").await.unwrap();
        form.set_by_name("to", "2026-01-20").await.unwrap();
        form.set_by_name("reason", "Viagem").await.unwrap();
        form.submit().await.unwrap();
        let notice = c.wait().for_element(Locator::Css("p.ok")).await.unwrap();
        assert_eq!(
            notice.text().await.unwrap(),
            "Suspensão registrada; o cliente será avisado."
        );
        let worker = worker_at(&db, &clock_on("2026-01-07"));
        worker.drain(|_| {}).await.unwrap();
        assert_eq!(sink.count(), 1);
        let button = c.find(Locator::Css("#end-form button")).await.unwrap();
        assert_eq!(
            button.text().await.unwrap(),
            "Cancelar a suspensão agendada de 10/01/2026 a 20/01/2026"
        );
        button.click().await.unwrap();
        // The page before had a notice too: wait for the new page's one.
        let notice = c
            .wait()
            .for_element(Locator::XPath(
                "//p[@class='ok' and contains(., 'cancelamento')]",
            ))
            .await
            .unwrap();
        assert_eq!(
            notice.text().await.unwrap(),
            "Suspensão agendada cancelada; o cliente será avisado do cancelamento."
        );
        let row = c.find(Locator::Css("tbody tr")).await.unwrap();
        assert!(
            row.text()
                .await
                .unwrap()
                .contains("cancelada antes do início"),
            "{}",
            row.text().await.unwrap()
        );
        worker.drain(|_| {}).await.unwrap();
        let got: Vec<String> = sink
            .received()
            .iter()
            .map(|m| m.message_id.clone().unwrap())
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains(".agendada.") && got[1].contains(".cancelada."),
            "{got:?}"
        );
        assert_eq!(sink.received()[1].to, ["maria@exemplo.com.br"]);
        std::fs::write(
            artifacts().join("suspension-cancelled.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.close().await.unwrap();
    })
    .await;
}

/// Central do Assinante: a subscriber logs in, opens the overdue invoice, copies the PIX code
/// (its QR code, screenshotted, scans back as the same code) and e-mails the invoice to
/// themself; the message reaches the SMTP server with the boleto attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_copies_the_pix_code_and_emails_the_overdue_invoice() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server_at(&t.db, "2026-01-15", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/central/faturas"))
            .await
            .unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/central/entrar");
        let form = c.form(Locator::Id("portal-login")).await.unwrap();
        form.set_by_name("documento", "529.982.247-25")
            .await
            .unwrap();
        form.set_by_name("senha", "senha-da-maria").await.unwrap();
        form.submit().await.unwrap();
        let overdue = c
            .wait()
            .for_element(Locator::Css("#open-invoices li.overdue a"))
            .await
            .unwrap();
        assert!(overdue.text().await.unwrap().contains("vencida"));
        overdue.click().await.unwrap();
        let code = c.wait().for_element(Locator::Id("pix-code")).await.unwrap();
        let pix = code.prop("value").await.unwrap().unwrap();
        assert!(pix.contains("br.gov.bcb.pix"), "{pix}");
        // The QR code as the browser draws it scans back as the copia-e-cola.
        let qr = c.find(Locator::Id("pix-qr")).await.unwrap();
        let png = qr.screenshot().await.unwrap();
        let file = artifacts().join("portal-pix-qr.png");
        std::fs::write(&file, png).unwrap();
        let scanned = std::process::Command::new("zbarimg")
            .args(["--quiet", "--raw"])
            .arg(&file)
            .output()
            .expect("zbarimg (zbar-tools) must be installed: run ./scripts/test");
        assert_eq!(String::from_utf8_lossy(&scanned.stdout).trim(), pix);
        // "Copiar código PIX".
        c.find(Locator::Css("button[data-copy='pix-code']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let status = c
            .wait()
            .for_element(Locator::XPath(
                "//p[@id='copy-status' and normalize-space(.)!='']",
            ))
            .await
            .unwrap();
        assert_eq!(status.text().await.unwrap(), "Código PIX copiado!");
        assert_eq!(
            status.attr("data-copied").await.unwrap().as_deref(),
            Some(pix.as_str())
        );
        std::fs::write(
            artifacts().join("portal-invoice.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        // "Enviar por e-mail": the masked address, then confirmed.
        c.find(Locator::Id("send-email"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let masked = c
            .wait()
            .for_element(Locator::Id("masked-email"))
            .await
            .unwrap();
        assert_eq!(masked.text().await.unwrap(), "m***@exemplo.com.br");
        c.form(Locator::Id("confirm-send"))
            .await
            .unwrap()
            .submit()
            .await
            .unwrap();
        let sent = c
            .wait()
            .for_element(Locator::Id("sent-notice"))
            .await
            .unwrap();
        assert_eq!(
            sent.text().await.unwrap(),
            "Enviamos a fatura para m***@exemplo.com.br."
        );
        c.close().await.unwrap();
    })
    .await;
    let report = worker_at(&db, &clock_on("2026-01-15"))
        .drain(|_| {})
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, ["maria@exemplo.com.br"]);
    let text = received[0].text();
    assert!(text.contains("Content-Type: application/pdf"), "{text}");
    assert!(text.contains("boleto-K1-2026-01.pdf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_a_return_file_on_retorno_bancario_and_see_the_invoice_paid() {
    let t = sqlite().await;
    let _sink = isp_with_sink(&t.db, false).await;
    let invoices = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-05"))
        .await
        .unwrap()
        .created;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
    drop(conn);
    let our_number = regua::payment::printed_our_number((&invoices[0]).into(), &wallet).unwrap();
    let refused = regua::payment::printed_our_number((&invoices[1]).into(), &wallet).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("CBR643.RET");
    std::fs::write(
        &file,
        bb_return(&[(our_number, "06", 11990), (refused, "03", 0)]),
    )
    .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let id = invoices[0].id.0;
    let refused_id = invoices[1].id.0;
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        menu(&c, "Cobrança", "Retorno bancário").await;
        let input = c
            .wait()
            .for_element(Locator::Css("#return-form input[type=file]"))
            .await
            .unwrap();
        input.send_keys(&file.display().to_string()).await.unwrap();
        c.find(Locator::Css("#return-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The preview: one payment, nothing changed yet.
        let preview = c
            .wait()
            .for_element(Locator::Css("#preview"))
            .await
            .unwrap();
        let text = preview.text().await.unwrap();
        assert!(text.contains("Pagas 1"), "{text}");
        assert!(text.contains("CBR643.RET"), "{text}");
        std::fs::write(
            artifacts().join("retorno-previa.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.find(Locator::Css("#confirm-return"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let notice = c.wait().for_element(Locator::Css(".notice")).await.unwrap();
        assert!(
            notice
                .text()
                .await
                .unwrap()
                .starts_with("Arquivo importado")
        );
        // The invoice is paid, the bank's event on its timeline.
        c.goto(&format!("http://{addr}/faturas/{id}"))
            .await
            .unwrap();
        let status = c
            .wait()
            .for_element(Locator::Css("#invoice-status"))
            .await
            .unwrap();
        assert_eq!(
            status.text().await.unwrap(),
            "Paga em 12/01/2026 (R$ 119,90)"
        );
        let events = c
            .find(Locator::Css("#bank-events"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(events.contains("06 · Liquidação"), "{events}");
        assert!(events.contains("Paga"), "{events}");

        // The refused registration: on the dashboard, linked to its invoice, where someone
        // says what was done and the flag clears.
        c.goto(&format!("http://{addr}/")).await.unwrap();
        c.wait()
            .for_element(Locator::Css("#rejections a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let registration = c
            .wait()
            .for_element(Locator::Css("#registration"))
            .await
            .unwrap();
        let text = registration.text().await.unwrap();
        assert!(
            text.starts_with("Registro rejeitado: 03: Comando recusado"),
            "{text}"
        );
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with(&format!("/faturas/{refused_id}"))
        );
        c.find(Locator::Css("#resolve-rejection textarea"))
            .await
            .unwrap()
            .send_keys("Endereço corrigido e boleto reenviado ao banco")
            .await
            .unwrap();
        c.find(Locator::Css("#resolve-rejection button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::XPath(
                "//td[@id='registration'][starts-with(., 'Rejeição resolvida')]",
            ))
            .await
            .unwrap();
        assert!(c.find(Locator::Css("#resolve-rejection")).await.is_err());
        c.goto(&format!("http://{addr}/")).await.unwrap();
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        assert!(c.find(Locator::Css("#rejections")).await.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_a_remessa_on_its_page_download_it_and_see_the_invoices_sent() {
    let t = sqlite().await;
    let _sink = isp_with_sink(&t.db, false).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
    store::parties::update_wallet_terms(
        &mut conn,
        wallet.id,
        regua::domain::charges::Registration::Cnab240,
        &regua::domain::charges::Terms::default(),
    )
    .await
    .unwrap();
    sqlx::query(
        "UPDATE customers SET address_street = 'Rua das Flores', address_number = '10',
            address_district = 'Centro', address_zip = '01001000', address_city = 'São Paulo',
            address_state = 'SP'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let invoices = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-05"))
        .await
        .unwrap()
        .created;
    let id = invoices[0].id.0;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        // Before: the invoice is pending.
        c.goto(&format!("http://{addr}/faturas/{id}"))
            .await
            .unwrap();
        let state = c
            .wait()
            .for_element(Locator::Css("#registration"))
            .await
            .unwrap();
        assert!(state.text().await.unwrap().starts_with("Pendente"));
        menu(&c, "Cobrança", "Remessa").await;
        let entries = match c
            .wait()
            .for_element(Locator::Css("section.wallet td.entries"))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("{e}: {}", c.source().await.unwrap()),
        };
        assert_eq!(entries.text().await.unwrap(), "2");
        c.find(Locator::Css("button.generate"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let notice = c
            .wait()
            .for_element(Locator::Css("#remessa-notice"))
            .await
            .unwrap();
        assert!(notice.text().await.unwrap().starts_with("Remessa gerada"));
        std::fs::write(
            artifacts().join("remessa.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        // The download: the file itself, lines of 240 characters, NSA 1.
        let link = c.find(Locator::Css("a.download")).await.unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        let text = c
            .execute_async(
                "const [u, done] = arguments; fetch(u).then(r => r.text()).then(done);",
                vec![serde_json::json!(href)],
            )
            .await
            .unwrap();
        let text = text.as_str().unwrap().to_string();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 10, "{text}");
        assert!(lines.iter().all(|l| l.len() == 240));
        assert_eq!(&lines[0][157..163], "000001");
        // Nothing left to send; the invoice says where it went.
        assert!(c.find(Locator::Css("button.generate")).await.is_err());
        c.goto(&format!("http://{addr}/faturas/{id}"))
            .await
            .unwrap();
        let state = c
            .wait()
            .for_element(Locator::Css("#registration"))
            .await
            .unwrap();
        assert_eq!(
            state.text().await.unwrap(),
            "Enviada na remessa 1 (aguardando o banco)"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_an_smtp_accounts_password_and_limits() {
    let t = sqlite().await;
    add_ana(&t.db).await;
    // The server takes only the new password: the test passes only if the edit replaced it.
    let sink = mailsink::Sink::start(mailsink::SinkConfig {
        auth: Some(("cobranca".into(), "senha-nova-1".into())),
        ..mailsink::SinkConfig::default()
    })
    .await
    .unwrap();
    let account = sink_account(
        &t.db,
        "Principal",
        sink.port(),
        AccountSetup {
            auth: Some(("cobranca".into(), "senha-velha-1".into())),
            ..AccountSetup::default()
        },
    )
    .await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/configuracoes/email"))
            .await
            .unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::LinkText("Editar ou remover"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        if c.wait()
            .for_element(Locator::XPath("//h1[text()='Conta Principal']"))
            .await
            .is_err()
        {
            panic!("{}", c.source().await.unwrap());
        }
        let form = c.form(Locator::Id("smtp-form")).await.unwrap();
        let password = c
            .find(Locator::Css("#smtp-form input[name=password]"))
            .await
            .unwrap();
        assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
        form.set_by_name("password", "senha-nova-1").await.unwrap();
        form.set_by_name("hourly_limit", "1").await.unwrap();
        form.set_by_name("test_recipient", "ana@provedor.com.br")
            .await
            .unwrap();
        std::fs::write(
            artifacts().join("smtp-edit.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        form.submit_direct().await.unwrap();
        let saved = c.wait().for_element(Locator::Css("p.ok")).await.unwrap();
        assert_eq!(saved.text().await.unwrap(), "Alterações salvas.");
        let row = c
            .find(Locator::XPath(
                "//tr[td[starts-with(normalize-space(.), 'Principal')]]",
            ))
            .await
            .unwrap();
        let text = row.text().await.unwrap();
        assert!(text.contains("1 / sem limite"), "{text}");
        assert!(!c.source().await.unwrap().contains("senha-nova-1"));
        c.find(Locator::XPath("//button[text()='Enviar teste']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The saved page has a `p.ok` too: wait for the test's answer, not the page before it.
        let status = c
            .wait()
            .for_element(Locator::XPath(
                "//p[@class='ok' and not(starts-with(normalize-space(.), 'Alterações salvas'))]",
            ))
            .await
            .unwrap();
        assert!(
            status
                .text()
                .await
                .unwrap()
                .starts_with("Teste enviado para Principal."),
            "the new password authenticated"
        );
        assert_eq!(sink.count(), 1);
        // A second test within the hour: the limit of 1 holds it, and the page says so.
        c.find(Locator::XPath("//button[text()='Enviar teste']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let held = c.wait().for_element(Locator::Css("p.error")).await.unwrap();
        let held = held.text().await.unwrap();
        assert!(
            held.contains("atingiu o limite de envios (1 por hora)"),
            "{held}"
        );
        assert_eq!(sink.count(), 1);
        c.close().await.unwrap();
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    let trail: Vec<String> =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'smtp.update'")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(trail, ["user: ana"]);
    let stored = store::accounts::get_smtp_account(&mut conn, account.id)
        .await
        .unwrap();
    assert_eq!(stored.hourly_limit, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_customers_email_and_a_contracts_delivery_type() {
    let t = sqlite().await;
    let _sink = isp_with_sink(&t.db, false).await;
    let before = regua::invoicing::generate_invoices(&t.db, "K1", 1, &clock_on("2026-01-05"))
        .await
        .unwrap()
        .created;
    assert_eq!(before.len(), 1);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/clientes/1")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::XPath("//summary[text()='Editar contato']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let form = c.form(Locator::Id("contact-form")).await.unwrap();
        form.set_by_name("email", "maria.nova@exemplo.com.br")
            .await
            .unwrap();
        form.submit_direct().await.unwrap();
        c.wait()
            .for_element(Locator::XPath(
                "//*[contains(text(), 'maria.nova@exemplo.com.br')]",
            ))
            .await
            .unwrap();
        c.find(Locator::XPath("//summary[text()='Editar contrato K1']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let form = c.form(Locator::Id("contract-K1")).await.unwrap();
        form.set_by_name("delivery_type", "printed").await.unwrap();
        form.set_by_name("due_day", "20").await.unwrap();
        std::fs::write(
            artifacts().join("contract-edit.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        form.submit_direct().await.unwrap();
        let saved = c
            .wait()
            .for_element(Locator::Id("contract-saved"))
            .await
            .unwrap();
        assert!(
            saved
                .text()
                .await
                .unwrap()
                .starts_with("Contrato K1 salvo."),
        );
        let row = c
            .find(Locator::XPath("//section[@id='contratos']//tbody/tr"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(row.contains("dia 20") && row.contains("Impresso"), "{row}");
        c.close().await.unwrap();
    })
    .await;
    // The next invoice follows the contract; the one generated before does not change.
    let next = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-06"))
        .await
        .unwrap()
        .created;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delivery_type, regua::domain::DeliveryType::Printed);
    assert_eq!(next[0].due_date.day(), 20);
    let mut conn = t.db.pool.acquire().await.unwrap();
    let old = store::invoices::get_invoice(&mut conn, before[0].id)
        .await
        .unwrap();
    assert_eq!(old.delivery_type, regua::domain::DeliveryType::Email);
    assert_eq!(old.due_date, before[0].due_date);
    let customer = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        customer.email.unwrap().as_str(),
        "maria.nova@exemplo.com.br"
    );
    let trail: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor FROM audit_log WHERE action IN ('customer.update', 'contract.update') ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        trail,
        [
            ("customer.update".to_string(), "user: ana".to_string()),
            ("contract.update".to_string(), "user: ana".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_the_bands_with_filters_from_the_page() {
    let t = sqlite().await;
    let sink = isp_with_sink(&t.db, false).await;
    // A second customer, overdue too, that the customer filter leaves out.
    use regua::import::ImportKind;
    import_ok(
        &t.db,
        ImportKind::Customers,
        "external_id,name,document,email,mobile_phone\nC2,João Souza,111.444.777-35,joao@exemplo.com.br,\n",
    )
    .await;
    import_ok(
        &t.db,
        ImportKind::Contracts,
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK2,C2,Fibra 300,\"99,90\",10,email,Boleto BB\n",
    )
    .await;
    for k in ["K1", "K2"] {
        regua::invoicing::generate_invoices(&t.db, k, 1, &clock_on("2026-01-05"))
            .await
            .unwrap();
    }
    let actor = regua::domain::Actor::Cli("ana".into());
    regua::actions::dunning::add_band(&t.db, (1, 10), None, false, &Default::default(), &actor, 0)
        .await
        .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    // Five days after the due date (10/01/2026): both invoices are in the 1–10 band.
    with_server_at(&t.db, "2026-01-15", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/emissao")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Id("to-bands"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Id("band-filters"))
            .await
            .unwrap();
        let form = c.form(Locator::Id("band-filters")).await.unwrap();
        form.set_by_name("cliente", "C1").await.unwrap();
        form.set_by_name("de", "01/01/2026").await.unwrap();
        form.set_by_name("ate", "31/01/2026").await.unwrap();
        form.set_by_name("forma", "Boleto BB").await.unwrap();
        form.submit().await.unwrap();
        text_once(&c, "band-causes", "Faixa de 1 a 10 dias de atraso 1").await;
        let button = c.find(Locator::Css("#bands-send button")).await.unwrap();
        assert_eq!(
            button.text().await.unwrap(),
            "Confirmar o envio de 1 aviso(s)"
        );
        std::fs::write(
            artifacts().join("emission-bands.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        assert_eq!(sink.count(), 0, "the preview sends nothing");
        button.click().await.unwrap();
        let sent = c
            .wait()
            .for_element(Locator::Id("bands-sent"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            sent.starts_with("1 aviso(s) de faixa na fila de envio"),
            "{sent}"
        );
        c.close().await.unwrap();
    })
    .await;
    // The band's notice, with the band's layout, for C1 only; caused by Ana.
    let mut conn = db.pool.acquire().await.unwrap();
    let notices: Vec<(String, String, String)> =
        sqlx::query_as("SELECT n.dedup_key, n.purpose, n.actor FROM notices n ORDER BY n.id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].0.starts_with("band:"), "{notices:?}");
    assert_eq!(notices[0].1, "overdue_band");
    assert_eq!(notices[0].2, "user: ana (emissão manual)");
    let customer: String = sqlx::query_scalar(
        "SELECT c.external_id FROM notices n JOIN customers c ON c.id = n.customer_id",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(customer, "C1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collection_letter_is_a_letter() {
    let t = sqlite().await;
    let _sink = isp_with_sink(&t.db, false).await;
    // The customer's postal address and the company's profile.
    import_ok(
        &t.db,
        regua::import::ImportKind::Customers,
        "external_id,name,document,email,mobile_phone,address_street,address_number,address_complement,address_district,address_zip,address_city,address_state\n\
         C1,Maria Silva,529.982.247-25,maria@exemplo.com.br,(11) 98765-4321,Rua das Flores,120,apto 3,Centro,13015-100,Campinas,SP\n",
    )
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    for (k, v) in [
        ("company_name", "Provedor Exemplo"),
        ("company_document", "12.345.678/0001-95"),
        (
            "company_address",
            "Av. Brasil, 500 - Centro - Campinas/SP - CEP 13010-000",
        ),
        ("company_city", "Campinas"),
        ("company_phone", "(19) 4000-1234"),
    ] {
        store::parties::set_setting(&mut conn, k, v).await.unwrap();
    }
    store::dunning::insert_band(&mut conn, 1, 10, None, true, 0)
        .await
        .unwrap();
    drop(conn);
    regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-05"))
        .await
        .unwrap();
    let req = regua::dunning::RunRequest {
        date: jiff::civil::date(2026, 1, 15),
        dry_run: false,
        routine: None,
        trigger: regua::dunning::Trigger::Manual,
        actor: "test".into(),
        emission: None,
        detail: false,
    };
    regua::dunning::run(&t.db, &clock_on("2026-01-15"), &req)
        .await
        .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server_at(&t.db, "2026-01-15", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/cartas")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        let link = c
            .wait()
            .for_element(Locator::Css("a[href$='/carta.pdf']"))
            .await
            .unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        // The PDF with the browser's own session.
        let cookie = c
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|k| format!("{}={}", k.name(), k.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let pdf = reqwest::Client::new()
            .get(format!("http://{addr}{href}"))
            .header("Cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(pdf.status(), 200);
        let bytes = pdf.bytes().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carta.pdf");
        std::fs::write(&file, &bytes).unwrap();
        std::fs::copy(&file, artifacts().join("carta.pdf")).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-layout"])
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils, installed by scripts/test)");
        let text = String::from_utf8_lossy(&out.stdout);
        for expected in [
            "Provedor Exemplo",
            "CNPJ 12.345.678/0001-95",
            "Av. Brasil, 500",
            "Maria Silva",
            "Rua das Flores, 120",
            "Campinas/SP - CEP 13015-100",
            "Campinas, 15 de janeiro de 2026",
            "K1/2026-01",
            "10/01/2026",
            "Total em aberto",
            "Atenciosamente",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} in the letter:\n{text}"
            );
        }
        for absent in ["mensagem automática", "Central do Assinante", "http"] {
            assert!(!text.contains(absent), "{absent:?} is e-mail only:\n{text}");
        }
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_a_windows_1252_customers_file_on_importar() {
    let t = sqlite().await;
    add_ana(&t.db).await;
    let dir = tempfile::tempdir().unwrap();
    // What Excel saves: Windows-1252, semicolons.
    let good = dir.path().join("clientes.csv");
    let (text, _, _) = encoding_rs::WINDOWS_1252.encode(
        "external_id;name;document;email;mobile_phone\n\
         C1;João Conceição;529.982.247-25;joao@exemplo.com.br;(11) 98765-4321\n\
         C2;Lúcia Araújo;111.444.777-35;lucia@exemplo.com.br;\n",
    );
    std::fs::write(&good, &text).unwrap();
    let bad = dir.path().join("clientes-ruim.csv");
    let (text, _, _) = encoding_rs::WINDOWS_1252.encode(
        "external_id;name;document;email;mobile_phone\n\
         C3;Mário Sérgio;529.982.247-25;mario@exemplo.com.br;\n\
         C4;Inês Brandão;123.456.789-00;ines@exemplo;\n",
    );
    std::fs::write(&bad, &text).unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        menu(&c, "Clientes", "Importar").await;
        let upload = async |path: &std::path::Path| {
            let input = c
                .wait()
                .for_element(Locator::Css("#import-form input[name=arquivo]"))
                .await
                .unwrap();
            input.send_keys(&path.display().to_string()).await.unwrap();
            c.find(Locator::Css("#import-form button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        };
        // The bad file: each bad line named, in Portuguese; nothing imported.
        upload(&bad).await;
        let errors = c
            .wait()
            .for_element(Locator::Id("import-errors"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            errors.contains("2 linha(s) com problema: nada foi importado."),
            "{errors}"
        );
        assert!(
            errors.contains("Linha 3, coluna document: não é um CPF ou CNPJ válido."),
            "{errors}"
        );
        assert!(
            errors.contains("Linha 3, coluna email: e-mail inválido."),
            "{errors}"
        );
        std::fs::write(
            artifacts().join("import-errors.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        // The good file: a preview, then the import.
        upload(&good).await;
        let preview = c
            .wait()
            .for_element(Locator::Id("import-preview"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(preview.contains("2 novo(s) e 0 atualizado(s)"), "{preview}");
        assert!(
            preview.contains("lido como Windows-1252 (detectado)"),
            "{preview}"
        );
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::parties::count_customers(&mut conn).await.unwrap(),
            0,
            "a preview writes nothing"
        );
        drop(conn);
        std::fs::write(
            artifacts().join("import-preview.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.find(Locator::Css("#import-confirm button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let done = c
            .wait()
            .for_element(Locator::Id("import-done"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            done,
            "Clientes: 2 novo(s) e 0 atualizado(s), lido(s) como Windows-1252."
        );
        c.close().await.unwrap();
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let c1 = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c1.name, "João Conceição");
    let c2 = store::parties::find_customer_by_external_id(&mut conn, "C2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.name, "Lúcia Araújo");
    assert!(
        store::parties::find_customer_by_external_id(&mut conn, "C3")
            .await
            .unwrap()
            .is_none(),
        "the bad file imported nothing"
    );
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT action, actor FROM audit_log WHERE action LIKE 'import.%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [("import.customers".to_string(), "user: ana".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_page_shows_its_collection_history_with_who_caused_each() {
    use common::http::{enc, http, portal_session};
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    add_ana(&t.db).await;
    set_portal_password(&t.db, "52998224725", "senha-do-assinante-1").await;
    let actor = regua::domain::Actor::Cli("ana".into());
    regua::actions::dunning::add_rule(
        &t.db,
        "Boleto BB",
        regua::dunning::RuleKind::BeforeDue,
        3,
        None,
        &Default::default(),
        &actor,
        0,
    )
    .await
    .unwrap();
    regua::actions::dunning::add_band(&t.db, (1, 10), None, false, &Default::default(), &actor, 0)
        .await
        .unwrap();
    // The rule three days before the due date (10/01), the band two days after: each by the
    // morning routine.
    for day in ["2026-01-07", "2026-01-12"] {
        let clock = clock_on(day);
        let req = regua::dunning::RunRequest {
            date: clock.today(),
            dry_run: false,
            routine: None,
            trigger: regua::dunning::Trigger::Manual,
            actor: "routine: Manhã".into(),
            emission: None,
            detail: false,
        };
        regua::dunning::run(&t.db, &clock, &req).await.unwrap();
    }
    let mut conn = t.db.pool.acquire().await.unwrap();
    let invoice: i64 = sqlx::query_scalar(
        "SELECT i.id FROM invoices i JOIN contracts k ON k.id = i.contract_id WHERE k.external_id = 'K1' ORDER BY i.due_date LIMIT 1",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server_at(&t.db, "2026-01-12", |addr| async move {
        // The subscriber asks for a second copy in the Central do Assinante.
        let (s, csrf) = portal_session(addr, "52998224725", "senha-do-assinante-1").await;
        let r = http(
            addr,
            "POST",
            &format!("/central/faturas/{invoice}/enviar"),
            &s,
            &format!("_csrf={}", enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/faturas/{invoice}"))
            .await
            .unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        let table = c
            .wait()
            .for_element(Locator::Id("collection-history"))
            .await
            .unwrap();
        let rows: Vec<String> = {
            let mut out = Vec::new();
            for tr in table.find_all(Locator::Css("tbody tr")).await.unwrap() {
                out.push(tr.text().await.unwrap());
            }
            out
        };
        std::fs::write(
            artifacts().join("invoice-history.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        let find = |needle: &str| rows.iter().find(|r| r.contains(needle)).cloned();
        let rule = find("Lembrete antes do vencimento").unwrap_or_else(|| panic!("{rows:#?}"));
        assert!(rule.contains("rotina Manhã"), "{rule}");
        let band = find("Aviso de atraso").unwrap_or_else(|| panic!("{rows:#?}"));
        assert!(band.contains("rotina Manhã"), "{band}");
        let copy = find("Segunda via").unwrap_or_else(|| panic!("{rows:#?}"));
        assert!(copy.contains("Central do Assinante"), "{copy}");
        for r in &rows {
            assert!(!r.contains("routine:") && !r.contains("portal:"), "{r}");
        }
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_and_customer_tables_fit_1280_pixels() {
    let t = sqlite().await;
    let clock = clock_on("2026-03-20");
    regua::demo::seed(&t.db, 40, &clock).await.unwrap();
    let mail = tempfile::tempdir().unwrap();
    regua::demo::send_demo_mail(&t.db, &clock, mail.path())
        .await
        .unwrap();
    add_ana(&t.db).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server_at(&t.db, "2026-03-20", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        for (path, shot) in [
            ("/log", "log.png"),
            ("/clientes", "customers.png"),
            ("/clientes/1", "customer.png"),
            ("/faturas", "invoices.png"),
            ("/contratos", "contracts.png"),
        ] {
            c.goto(&format!("http://{addr}{path}")).await.unwrap();
            c.wait().for_element(Locator::Css("main h1")).await.unwrap();
            let widths = c
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth, document.querySelectorAll('main table tbody tr').length];",
                    vec![],
                )
                .await
                .unwrap();
            let w: Vec<i64> = serde_json::from_value(widths).unwrap();
            assert!(w[2] > 0, "{path}: the table has rows");
            assert!(
                w[0] <= w[1],
                "{path}: the page is {} px wide in a {} px window",
                w[0],
                w[1]
            );
            std::fs::write(artifacts().join(shot), c.screenshot().await.unwrap()).unwrap();
        }
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_layout_in_the_visual_mode() {
    let t = sqlite().await;
    add_ana(&t.db).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let layout = store::layouts::find_layout(&mut conn, "Lembrete antes do vencimento")
        .await
        .unwrap()
        .unwrap();
    let band = store::layouts::find_layout(&mut conn, "Aviso de atraso")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let (frame_top, _) = layout.html.split_once("<!-- conteudo -->").unwrap();
    let (_, frame_bottom) = layout.html.split_once("<!-- /conteudo -->").unwrap();
    let (frame_top, frame_bottom) = (frame_top.to_string(), frame_bottom.to_string());
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    let id = layout.id.0;
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/configuracoes/layouts/{id}"))
            .await
            .unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Id("mode-visual"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let body = c.find(Locator::Id("visual-body")).await.unwrap();
        if !body.is_displayed().await.unwrap() {
            let dbg = c
                .execute(
                    "const t = document.querySelector('textarea[name=html]').value; const a = t.indexOf('<!-- conteudo -->') + 17; const b = t.indexOf('<!-- /conteudo -->'); const d = document.createElement('div'); d.innerHTML = t.slice(a, b); return [t.slice(a, b), d.innerHTML];",
                    vec![],
                )
                .await
                .unwrap();
            panic!("{dbg:#}");
        }
        assert!(
            !c.find(Locator::Css("textarea[name=html]"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap(),
            "the raw HTML is one click away, not in the way"
        );
        // The caret at the end of the first paragraph; type, then pick a variable.
        body.click().await.unwrap();
        c.execute(
            "const p = document.querySelector('#visual-body p:nth-of-type(2)');\
             const r = document.createRange(); r.selectNodeContents(p); r.collapse(false);\
             const s = getSelection(); s.removeAllRanges(); s.addRange(r);\
             document.getElementById('visual-body').dispatchEvent(new MouseEvent('mouseup'));",
            vec![],
        )
        .await
        .unwrap();
        body.send_keys(" Valor: ").await.unwrap();
        c.find(Locator::Id("var-picker"))
            .await
            .unwrap()
            .select_by_value("fatura.valor")
            .await
            .unwrap();
        // A heading, from the toolbar, on a new line.
        body.send_keys("\u{E007}Pague em dia").await.unwrap();
        c.find(Locator::Css("button[data-cmd=h2]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The live preview renders the edit with the sample data.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let frame = c
                .find(Locator::Id("preview-html"))
                .await
                .unwrap()
                .attr("srcdoc")
                .await
                .unwrap()
                .unwrap_or_default();
            if frame.contains("Valor: R$") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no live preview: {frame:.300}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::fs::write(
            artifacts().join("layout-visual.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.find(Locator::Css("button[value=save]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("p.ok"))
            .await
            .unwrap();
        // The band's model has template loops between table rows: the visual mode declines.
        c.goto(&format!("http://{addr}/configuracoes/layouts/{}", band.id.0))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Id("mode-visual"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let note = c.find(Locator::Id("visual-note")).await.unwrap();
        assert!(
            note.text().await.unwrap().contains("edite-o no modo HTML"),
            "{}",
            note.text().await.unwrap()
        );
        assert!(
            c.find(Locator::Css("textarea[name=html]"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        );
        c.close().await.unwrap();
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    let saved = store::layouts::find_layout(&mut conn, "Lembrete antes do vencimento")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.version, layout.version + 1);
    assert!(
        saved.html.contains("Valor: {{ fatura.valor }}"),
        "{}",
        saved.html
    );
    assert!(saved.html.contains("<h2>Pague em dia"), "{}", saved.html);
    assert!(
        saved.html.starts_with(&frame_top),
        "the frame above is untouched"
    );
    assert!(
        saved.html.ends_with(&frame_bottom),
        "the frame below is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_fixes_an_address_from_the_invalid_emails_list() {
    let t = sqlite().await;
    let sink = isp_with_sink(&t.db, false).await;
    let invoices = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock_on("2026-01-05"))
        .await
        .unwrap()
        .created;
    let mut conn = t.db.pool.acquire().await.unwrap();
    sqlx::query("UPDATE smtp_accounts SET bounce_domain = 'retorno.provedor.com.br'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let account = store::accounts::find_smtp_account(&mut conn, "Principal")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let clock = clock_on("2026-01-06");
    queue_invoice_email(&t.db, &invoices[0], &account, "k1", clock.now_millis()).await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    assert_eq!(sink.count(), 1);
    // The receiving server bounces it: the DSN comes back to the return path.
    let rp = sink.received()[0].from.clone();
    let dsn = format!(
        "From: MAILER-DAEMON@mx.exemplo.com.br\nTo: {rp}\nSubject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.exemplo.com.br\n\n\
         Final-Recipient: rfc822; maria@exemplo.com.br\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--B--\n"
    );
    regua::actions::bounces::ingest(&t.db, dsn.as_bytes(), &test_key(), clock.now_millis())
        .await
        .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let first_invoice = invoices[0].id.0;
    with_server_at(&t.db, "2026-01-06", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        menu(&c, "Envio", "E-mails inválidos").await;
        let row = c
            .wait()
            .for_element(Locator::Css("#suppressions tbody tr"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(row.contains("maria@exemplo.com.br"), "{row}");
        assert!(row.contains("Devolvido: endereço inexistente"), "{row}");
        assert!(row.contains("5.1.1"), "{row}");
        std::fs::write(
            artifacts().join("invalid-emails.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        // The log and the invoice's history say the message came back.
        for page in ["/log".to_string(), format!("/faturas/{first_invoice}")] {
            c.goto(&format!("http://{addr}{page}")).await.unwrap();
            let body = c
                .wait()
                .for_element(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                body.contains("enviado — devolvido: endereço inexistente (5.1.1)"),
                "{page}: {body}"
            );
        }
        menu(&c, "Envio", "E-mails inválidos").await;
        c.wait()
            .for_element(Locator::XPath("//a[contains(text(), 'Maria Silva')]"))
            .await
            .unwrap();
        c.find(Locator::XPath("//a[contains(text(), 'Maria Silva')]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let warning = c
            .wait()
            .for_element(Locator::Id("suppressed"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(warning.contains("não recebe mais mensagens"), "{warning}");
        c.find(Locator::XPath("//summary[text()='Editar contato']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let form = c.form(Locator::Id("contact-form")).await.unwrap();
        form.set_by_name("email", "maria.silva@exemplo.com.br")
            .await
            .unwrap();
        form.submit_direct().await.unwrap();
        c.wait()
            .for_element(Locator::XPath(
                "//*[contains(text(), 'maria.silva@exemplo.com.br')]",
            ))
            .await
            .unwrap();
        assert!(
            c.find(Locator::Id("suppressed")).await.is_err(),
            "the warning is gone"
        );
        menu(&c, "Envio", "E-mails inválidos").await;
        c.wait()
            .for_element(Locator::XPath("//p[text()='Nenhum e-mail suprimido.']"))
            .await
            .unwrap();
        c.close().await.unwrap();
    })
    .await;
    // The next notice goes out, to the fixed address.
    queue_invoice_email(&t.db, &invoices[1], &account, "k2", clock.now_millis()).await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    assert_eq!(sink.count(), 2);
    assert_eq!(sink.received()[1].to, ["maria.silva@exemplo.com.br"]);
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
            ("suppression.clear".to_string(), "user: ana".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_whatsapp_map_a_template_send_the_test_and_see_it_read() {
    let t = sqlite().await;
    let _sink = isp_with_sink(&t.db, false).await;
    let api = mailsink::cloudapi::CloudApi::start().await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let api = &api;
    with_server(&t.db, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/configuracoes/whatsapp"))
            .await
            .unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Id("account-form"))
            .await
            .unwrap();
        // The account: a missing id first, named next to its field.
        let form = c.form(Locator::Id("account-form")).await.unwrap();
        for (k, v) in [
            ("name", "Oficial"),
            ("business_account_id", mailsink::cloudapi::WABA_ID),
            ("token", mailsink::cloudapi::TOKEN),
            ("app_secret", mailsink::cloudapi::APP_SECRET),
            ("verify_token", "verifica-123"),
            ("api_url", &api.api_url()),
        ] {
            form.set_by_name(k, v).await.unwrap();
        }
        form.submit_direct().await.unwrap();
        let err = c
            .wait()
            .for_element(Locator::Css(".invalid .error"))
            .await
            .unwrap();
        assert_eq!(
            err.text().await.unwrap(),
            "O ID do número de telefone é um número (WhatsApp Manager)."
        );
        let form = c.form(Locator::Id("account-form")).await.unwrap();
        for (k, v) in [
            ("phone_number_id", mailsink::cloudapi::PHONE_NUMBER_ID),
            ("token", mailsink::cloudapi::TOKEN),
            ("app_secret", mailsink::cloudapi::APP_SECRET),
            ("verify_token", "verifica-123"),
        ] {
            form.set_by_name(k, v).await.unwrap();
        }
        form.submit_direct().await.unwrap();
        text_once(&c, "notice", "Conta do WhatsApp salva.").await;
        let page = c.source().await.unwrap();
        assert!(
            !page.contains(mailsink::cloudapi::TOKEN)
                && !page.contains(mailsink::cloudapi::APP_SECRET)
        );

        // The templates Meta lists, then a mapping that does not match, then one that does.
        c.find(Locator::LinkText("Ver templates"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::XPath("//td[text()='lembrete_fatura']"))
            .await
            .unwrap();
        let form = c.form(Locator::Id("mapping-form")).await.unwrap();
        form.set_by_name("layout", "Vencimento hoje").await.unwrap();
        form.set_by_name("template", "lembrete_fatura")
            .await
            .unwrap();
        form.set_by_name("params", "cliente.nome, fatura.valor")
            .await
            .unwrap();
        c.find(Locator::Css("#mapping-form input[name='document']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        form.submit_direct().await.unwrap();
        text_once(&c, "mapping-error", "tem 3 parâmetro(s) no corpo").await;
        let form = c.form(Locator::Id("mapping-form")).await.unwrap();
        form.set_by_name("params", "cliente.nome, fatura.valor, fatura.vencimento")
            .await
            .unwrap();
        form.submit_direct().await.unwrap();
        text_once(&c, "notice", "Template do modelo salvo.").await;

        // The test: Meta's answer on the page; then Meta posts "read" and the log says so.
        let form = c.form(Locator::Id("test-form")).await.unwrap();
        form.set_by_name("to", "(11) 98765-4321").await.unwrap();
        form.submit_direct().await.unwrap();
        let answer = text_once(&c, "test-answer", "Resposta da Meta").await;
        assert!(
            answer.starts_with("Enviado para +5511987654321. Resposta da Meta: 200"),
            "{answer}"
        );
        assert!(answer.contains("wamid."), "{answer}");
        assert_eq!(api.sent().len(), 1);
        assert!(api.media()[0].bytes.starts_with(b"%PDF-"));
        assert_eq!(api.post_statuses(addr, "delivered", 1_767_780_000).await, 1);
        assert_eq!(api.post_statuses(addr, "read", 1_767_780_030).await, 1);
        c.goto(&format!("http://{addr}/log")).await.unwrap();
        c.wait()
            .for_element(Locator::XPath("//td[contains(., 'enviado — lida')]"))
            .await
            .unwrap();
        std::fs::write(
            artifacts().join("whatsapp-log.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.goto(&format!("http://{addr}/configuracoes/whatsapp"))
            .await
            .unwrap();
        std::fs::write(
            artifacts().join("whatsapp.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_suspended_for_debt_gets_a_trust_unlock_once_per_period() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
    {
        let mut conn = t.db.pool.acquire().await.unwrap();
        for (k, v) in [("debt_clock", "yes"), ("trust_unlock_days", "3")] {
            store::parties::set_setting(&mut conn, k, v).await.unwrap();
        }
    }
    // Maria's January invoice unpaid: notified on the 22nd, suspended on 07/02.
    let run = async |date: &str| {
        regua::debt::run_day(&t.db, &clock_on(date), date.parse().unwrap(), false, "test")
            .await
            .unwrap()
    };
    run("2026-01-20").await;
    worker_at(&t.db, &clock_on("2026-01-22"))
        .drain(|_| {})
        .await
        .unwrap();
    run("2026-01-22").await;
    run("2026-02-06").await;
    regua::debt::confirm(&t.db, &clock_on("2026-02-07"), "K1", "suspended", "test")
        .await
        .unwrap()
        .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let db = t.db.clone();
    with_server_at(&t.db, "2026-02-08", |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/central/faturas")).await.unwrap();
        let form = c.form(Locator::Id("portal-login")).await.unwrap();
        form.set_by_name("documento", "529.982.247-25").await.unwrap();
        form.set_by_name("senha", "senha-da-maria").await.unwrap();
        form.submit().await.unwrap();
        let section = c.wait().for_element(Locator::Id("trust-K1")).await.unwrap();
        assert!(section.text().await.unwrap().contains("suspenso por falta de pagamento"));
        std::fs::write(artifacts().join("portal-trust.png"), c.screenshot().await.unwrap()).unwrap();
        c.find(Locator::Css("#trust-form-K1 button")).await.unwrap().click().await.unwrap();
        c.wait()
            .for_element(Locator::XPath("//h1[text()='Desbloqueio de confiança concedido']"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(page.contains("fica liberado até 11/02/2026"), "{page}");
        // The same request again (the old page, resubmitted): refused with the reason.
        c.goto(&format!("http://{addr}/central/faturas")).await.unwrap();
        let on_trust = c.wait().for_element(Locator::Id("trust-K1")).await.unwrap();
        assert!(on_trust.text().await.unwrap().contains("liberado em confiança até 11/02/2026"));
        let csrf = c
            .find(Locator::Css("input[name='_csrf']"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .unwrap();
        // A form as the earlier page had it, posted from the browser.
        c.execute(
            &format!(
                "const f = document.createElement('form'); f.method = 'post'; f.action = '/central/desbloqueio'; f.id = 'again';
                 for (const [k, v] of [['_csrf', '{csrf}'], ['contrato', 'K1']]) {{ const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }}
                 document.body.appendChild(f); f.submit();"
            ),
            vec![],
        )
        .await
        .unwrap();
        c.wait()
            .for_element(Locator::XPath("//h1[text()='Desbloqueio de confiança não disponível']"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        assert!(
            page.contains("Você já usou o desbloqueio de confiança em 08/02/2026; o próximo pode ser pedido a partir de 10/03/2026."),
            "{page}"
        );
        c.close().await.unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        let kinds: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE action = 'contract.trust_unlock'")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(kinds.len(), 1, "granted once");
    })
    .await;
}

/// Cobrança › Resultados da cobrança on a generated history: the SVG charts draw one line per
/// due month, and each table's CSV export holds the numbers the table shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn see_the_results_of_the_regua_in_charts_and_export_the_tables() {
    let t = sqlite().await;
    common::history::history(&t.db).await;
    add_ana(&t.db).await;
    let today = common::history::HISTORY_TODAY;
    regua::analytics::refresh(
        &t.db,
        &clock_on(today),
        "2026-01-01".parse().unwrap(),
        today.parse().unwrap(),
        "test",
    )
    .await
    .unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    with_server_at(&t.db, today, |addr| async move {
        let c = driver.client(profile.path()).await;
        c.goto(&format!("http://{addr}/login")).await.unwrap();
        submit_login(&c, "ana", "senha-forte-1").await;
        c.wait()
            .for_element(Locator::Css("form.logout"))
            .await
            .unwrap();
        menu(&c, "Cobrança", "Resultados da cobrança").await;
        let h1 = c.wait().for_element(Locator::Css("main h1")).await.unwrap();
        assert_eq!(h1.text().await.unwrap(), "Resultados da cobrança");
        assert!(
            text_once(&c, "correlation", "correlação, não causa")
                .await
                .contains("taxa base")
        );
        // February to April.
        let query = "de=2026-02-01&ate=2026-04-30";
        c.goto(&format!("http://{addr}/resultados?{query}"))
            .await
            .unwrap();
        let lines = c
            .wait()
            .for_element(Locator::Css("#chart-curves"))
            .await
            .unwrap()
            .find_all(Locator::Css("polyline.series"))
            .await
            .unwrap();
        let mut months = Vec::new();
        for l in &lines {
            months.push(l.attr("data-name").await.unwrap().unwrap());
            let points = l.attr("points").await.unwrap().unwrap();
            assert_eq!(points.split(' ').count(), 101, "−10 … +90");
        }
        assert_eq!(months, ["2026-02", "2026-03", "2026-04"]);
        assert!(
            !c.find_all(Locator::Css("#chart-steps rect.bar"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            c.find_all(Locator::Css("#chart-rate rect.bar"))
                .await
                .unwrap()
                .len(),
            3
        );
        std::fs::write(
            artifacts().join("resultados.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        let curves = c.find(Locator::Css("#chart-curves")).await.unwrap();
        let png = curves.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(artifacts().join("resultados-curvas.png"), png).unwrap();
        // Each table's CSV, fetched with the browser's session, holds the table's numbers.
        let session = c
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|k| format!("{}={}", k.name(), k.value()))
            .collect::<Vec<_>>()
            .join("; ");
        for (table, id) in [
            ("etapas", "table-steps"),
            ("curvas", "table-curves"),
            ("faixas", "table-bands"),
        ] {
            let mut shown: Vec<Vec<String>> = Vec::new();
            for row in c
                .find_all(Locator::Css(&format!("#{id} tbody tr")))
                .await
                .unwrap()
            {
                let mut cells = Vec::new();
                for td in row.find_all(Locator::Css("td")).await.unwrap() {
                    // The band table is folded away: read the cells' text content.
                    cells.push(td.prop("textContent").await.unwrap().unwrap_or_default());
                }
                shown.push(cells);
            }
            assert!(shown.len() >= 3, "{table}: {shown:?}");
            let reply = reqwest::Client::new()
                .get(format!(
                    "http://{addr}/resultados.csv?tabela={table}&{query}"
                ))
                .header("Cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200, "{table}");
            let body = reply.text().await.unwrap();
            let mut reader = csv::Reader::from_reader(body.as_bytes());
            let exported: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect();
            assert_eq!(exported, shown, "{table}");
        }
    })
    .await;
}
