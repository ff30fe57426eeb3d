//! The subscriber portal over real HTTP: first access by e-mailed link, login and its
//! throttling, the invoice list and page, "enviar por e-mail" with its limits and switch, and
//! one subscriber never reaching another's invoices.

mod common;

use common::http::*;
use common::*;
use regua::store;

/// The access link's token in a received message (quoted-printable undone).
fn link_token(message: &str) -> String {
    let text = message.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find("/central/senha/").expect("a link") + "/central/senha/".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Everything the server logs while this test binary runs (installed once, for all threads).
fn logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Captured(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
    .clone()
}

struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn notices_of(db: &store::Db, purpose: &str) -> Vec<(String, String, Option<i64>)> {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query_as(
        "SELECT actor, recipient, invoice_id FROM notices WHERE purpose = $1 ORDER BY id",
    )
    .bind(purpose)
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_access_by_link_then_login_with_throttling() {
    let logs = logs();
    for t in each_backend().await {
        let logs = logs.clone();
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(&t.db, &sink).await;
        let db = t.db.clone();
        let sink_ref = &sink;
        with_server(&t.db, |addr| async move {
            let anon = http(addr, "GET", "/central/faturas", "", "").await;
            assert_eq!(anon.status, 303, "{label}");
            assert_eq!(
                anon.header("location"),
                Some("/central/entrar?next=%2Fcentral%2Ffaturas")
            );
            let r = portal_login(addr, "529.982.247-25", "qualquer-coisa").await;
            assert_eq!(r.status, 401, "{label}: no password yet");

            // Asking for a link answers the same for a customer, a stranger and bad luck.
            let ask = |doc: &'static str| async move {
                let (cookie, csrf) = form_tokens(addr, "/central/acesso").await;
                http(
                    addr,
                    "POST",
                    "/central/acesso",
                    &cookie,
                    &format!("_csrf={}&documento={}", enc(&csrf), enc(doc)),
                )
                .await
            };
            let known = ask("529.982.247-25").await;
            let stranger = ask("390.533.447-05").await;
            assert_eq!((known.status, stranger.status), (200, 200));
            assert_eq!(
                known.body, stranger.body,
                "{label}: the answer does not tell who is a customer"
            );
            assert_eq!(ask("123").await.status, 422);
            let no_csrf = http(addr, "POST", "/central/acesso", "", "documento=52998224725").await;
            assert_eq!(no_csrf.status, 403);

            worker_at(&db, &clock_on("2026-01-07"))
                .drain(|_| {})
                .await
                .unwrap();
            let received = sink_ref.received();
            assert_eq!(
                received.len(),
                1,
                "{label}: one link, to the e-mail on file"
            );
            assert_eq!(received[0].to, ["maria@exemplo.com.br"]);
            let token = link_token(&received[0].text());
            assert!(token.len() >= 32, "{token}");
            let mut conn = db.pool.acquire().await.unwrap();
            let kept: Option<String> = sqlx::query_scalar("SELECT token_plain FROM portal_tokens")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(kept, None, "{label}: the link's text is gone once sent");
            drop(conn);

            let path = format!("/central/senha/{token}");
            let (cookie, csrf) = form_tokens(addr, &path).await;
            let short = http(
                addr,
                "POST",
                &path,
                &cookie,
                &format!("_csrf={}&senha=curta&confirmacao=curta", enc(&csrf)),
            )
            .await;
            assert_eq!(short.status, 422);
            assert!(short.body.contains("pelo menos 8 caracteres"));
            let ok = http(
                addr,
                "POST",
                &path,
                &cookie,
                &format!(
                    "_csrf={}&senha=minha-senha-1&confirmacao=minha-senha-1",
                    enc(&csrf)
                ),
            )
            .await;
            assert_eq!(ok.status, 303, "{label}: {}", ok.body);
            assert_eq!(ok.header("location"), Some("/central/faturas"));
            let session = format!("regua_central={}", ok.cookie("regua_central").unwrap());
            let list = http(addr, "GET", "/central/faturas", &session, "").await;
            assert!(list.body.contains("Maria Silva"), "{}", list.body);
            assert_eq!(
                http(addr, "GET", &path, "", "").await.status,
                410,
                "{label}: a link works once"
            );
            let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
            assert!(
                logged.contains("portal access link requested"),
                "{label}: logging is on"
            );
            assert!(
                !logged.contains(&token),
                "{label}: the link never reaches the log"
            );

            // Login, and its throttling per document.
            let r = portal_login(addr, "52998224725", "minha-senha-1").await;
            assert_eq!(r.status, 303, "{label}: digits work too");
            // The first refused login (before the password existed) counts too: five in all.
            for _ in 0..4 {
                assert_eq!(
                    portal_login(addr, "529.982.247-25", "errada-123")
                        .await
                        .status,
                    401
                );
            }
            let r = portal_login(addr, "529.982.247-25", "minha-senha-1").await;
            assert_eq!(
                r.status, 429,
                "{label}: throttled even with the right password"
            );
            assert!(r.body.contains("Aguarde 15 minutos"));
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_pays_and_emails_only_their_own_invoices() {
    for t in each_backend().await {
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(&t.db, &sink).await;
        set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
        set_portal_password(&t.db, "11222333000181", "senha-do-joao").await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let maria = store::invoices::find_invoice_by_external_id(&mut conn, "K1/2026-01")
            .await
            .unwrap()
            .unwrap();
        let joao = store::invoices::find_invoice_by_external_id(&mut conn, "K2/2026-01")
            .await
            .unwrap()
            .unwrap();
        store::parties::set_setting(
            &mut conn,
            store::settings::SETTING_PORTAL_LIMIT_INVOICE,
            "2",
        )
        .await
        .unwrap();
        drop(conn);
        let db = t.db.clone();
        with_server_at(&t.db, "2026-01-15", |addr| async move {
            let (s, csrf) = portal_session(addr, "529.982.247-25", "senha-da-maria").await;
            let list = http(addr, "GET", "/central/faturas", &s, "").await;
            assert!(list.body.contains("Vencimento 10/01/2026</span> <strong>R$ 119,90</strong> <span class=\"badge\">vencida</span>"), "{label}: {}", list.body);
            assert!(list.body.contains("Vencimento 10/02/2026"));
            assert!(!list.body.contains("R$ 99,90"), "{label}: not João's");

            let page = http(addr, "GET", &format!("/central/faturas/{}", maria.id.0), &s, "").await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains("id=\"digitable-line\">00190."), "{}", page.body);
            assert!(page.body.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""), "the PIX QR code");
            assert!(page.body.contains("br.gov.bcb.pix"), "the copia-e-cola");
            assert!(page.body.contains("id=\"send-email\""));
            let pdf = http(addr, "GET", &format!("/central/faturas/{}/boleto.pdf", maria.id.0), &s, "").await;
            assert_eq!(pdf.header("content-type"), Some("application/pdf"));

            // Someone else's invoice: 404 every way, logged, nothing sent.
            let logs = logs();
            for (method, path) in [
                ("GET", format!("/central/faturas/{}", joao.id.0)),
                ("GET", format!("/central/faturas/{}/boleto.pdf", joao.id.0)),
                ("GET", format!("/central/faturas/{}/enviar", joao.id.0)),
                ("POST", format!("/central/faturas/{}/enviar", joao.id.0)),
                ("GET", "/central/faturas/999999".to_string()),
            ] {
                let r = http(addr, method, &path, &s, &format!("_csrf={}", enc(&csrf))).await;
                assert_eq!(r.status, 404, "{label} {method} {path}");
                assert!(!r.body.contains("Joao"), "{label}");
            }
            let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
            let refused = format!("portal: invoice not found for this subscriber document=\"529***25\" invoice={}", joao.id.0);
            assert!(
                logged.lines().filter(|l| l.contains("WARN") && l.contains("invoice not found for this subscriber") && l.contains(&format!("invoice={}", joao.id.0))).count() >= 4,
                "{label}: each attempt is logged ({refused}): {logged}"
            );

            // "Enviar por e-mail": the masked address, then the notice.
            let confirm = http(addr, "GET", &format!("/central/faturas/{}/enviar", maria.id.0), &s, "").await;
            assert!(confirm.body.contains("<strong id=\"masked-email\">m***@exemplo.com.br</strong>"), "{}", confirm.body);
            assert!(!confirm.body.contains("maria@"), "{label}: never the whole address");
            let send = format!("/central/faturas/{}/enviar", maria.id.0);
            assert_eq!(http(addr, "POST", &send, &s, "").await.status, 403, "{label}: CSRF");
            let r = http(addr, "POST", &send, &s, &format!("_csrf={}", enc(&csrf))).await;
            assert_eq!(r.status, 303, "{label}: {}", r.body);
            let back = http(addr, "GET", r.header("location").unwrap(), &s, "").await;
            assert!(back.body.contains("Enviamos a fatura para m***@exemplo.com.br."));
            // The address comes from the record, never from the URL.
            let forged = http(addr, "GET", &format!("/central/faturas/{}?enviada=golpe%40fraude.com", maria.id.0), &s, "").await;
            assert!(forged.body.contains("Enviamos a fatura para m***@exemplo.com.br."), "{}", forged.body);
            assert!(!forged.body.contains("fraude"), "{label}: nothing from the URL is shown");
            assert_eq!(http(addr, "POST", &send, &s, &format!("_csrf={}", enc(&csrf))).await.status, 303);
            let over = http(addr, "POST", &send, &s, &format!("_csrf={}", enc(&csrf))).await;
            assert_eq!(over.status, 429, "{label}: the invoice's limit of 2");
            assert!(over.body.contains("Esta fatura já foi enviada 2 vez(es) hoje."));

            // The switch off hides the button and refuses the POST.
            let mut conn = db.pool.acquire().await.unwrap();
            store::parties::set_setting(&mut conn, store::settings::SETTING_PORTAL_SEND_EMAIL, "no").await.unwrap();
            drop(conn);
            let feb = store::subscribers::portal_invoices(&mut db.pool.acquire().await.unwrap(), "52998224725", 10).await.unwrap()[0].id.0;
            let page = http(addr, "GET", &format!("/central/faturas/{feb}"), &s, "").await;
            assert!(!page.body.contains("send-email"), "{label}: hidden");
            let r = http(addr, "POST", &format!("/central/faturas/{feb}/enviar"), &s, &format!("_csrf={}", enc(&csrf))).await;
            assert_eq!(r.status, 403, "{label}: refused");
        })
        .await;
        let sent = notices_of(&t.db, "portal_second_copy").await;
        assert_eq!(sent.len(), 2, "{label}: {sent:?}");
        assert!(sent.iter().all(|(actor, to, inv)| actor == "portal: C1"
            && to == "maria@exemplo.com.br"
            && *inv == Some(maria.id.0)));
        let report = worker_at(&t.db, &clock_on("2026-01-15"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(report.sent, 2, "{label}");
        assert!(
            sink.received()
                .iter()
                .all(|m| m.text().contains("boleto-K1-2026-01.pdf"))
        );
    }
}

#[tokio::test]
async fn the_customer_limit_counts_every_invoice_and_no_email_is_explained() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
    set_portal_password(&t.db, "11222333000181", "senha-do-joao").await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::parties::set_setting(
        &mut conn,
        store::settings::SETTING_PORTAL_LIMIT_CUSTOMER,
        "1",
    )
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET email = NULL WHERE external_id = 'C2'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let ids: Vec<i64> = store::subscribers::portal_invoices(&mut conn, "52998224725", 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id.0)
        .collect();
    let joao = store::subscribers::portal_invoices(&mut conn, "11222333000181", 10)
        .await
        .unwrap()[0]
        .id
        .0;
    drop(conn);
    with_server(&t.db, |addr| async move {
        let (s, csrf) = portal_session(addr, "52998224725", "senha-da-maria").await;
        let post = |id: i64| {
            let (s, csrf) = (s.clone(), csrf.clone());
            async move {
                http(
                    addr,
                    "POST",
                    &format!("/central/faturas/{id}/enviar"),
                    &s,
                    &format!("_csrf={}", enc(&csrf)),
                )
                .await
            }
        };
        assert_eq!(post(ids[0]).await.status, 303);
        let over = post(ids[1]).await;
        assert_eq!(
            over.status, 429,
            "the customer's limit of 1 covers the other invoice"
        );
        assert!(over.body.contains("Você já pediu 1 envio(s) hoje"));
        let (j, jcsrf) = portal_session(addr, "11222333000181", "senha-do-joao").await;
        // The invoice page hides the button and says why.
        let invoice_page = http(addr, "GET", &format!("/central/faturas/{joao}"), &j, "").await;
        assert!(
            !invoice_page.body.contains("id=\"send-email\""),
            "{}",
            invoice_page.body
        );
        assert!(
            invoice_page
                .body
                .contains("Não há e-mail cadastrado para você"),
            "{}",
            invoice_page.body
        );
        let page = http(
            addr,
            "GET",
            &format!("/central/faturas/{joao}/enviar"),
            &j,
            "",
        )
        .await;
        assert_eq!(page.status, 409);
        assert!(
            page.body
                .contains("cadastre seu e-mail com nosso atendimento"),
            "{}",
            page.body
        );
        let r = http(
            addr,
            "POST",
            &format!("/central/faturas/{joao}/enviar"),
            &j,
            &format!("_csrf={}", enc(&jcsrf)),
        )
        .await;
        assert_eq!(r.status, 409);
    })
    .await;
    assert_eq!(notices_of(&t.db, "portal_second_copy").await.len(), 1);
}

#[tokio::test]
async fn every_portal_page_and_form_refuses_anonymous_access_and_an_admin_session() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "ana",
        "Ana",
        regua::web::auth::Role::Admin,
        "senha-forte-1",
        0,
    )
    .await
    .unwrap();
    drop(conn);
    with_server(&t.db, |addr| async move {
        let form = http(addr, "GET", "/login", "", "").await;
        let admin = http(
            addr,
            "POST",
            "/login",
            &format!("regua_login={}", form.cookie("regua_login").unwrap()),
            &format!(
                "_csrf={}&login=ana&password=senha-forte-1&next=%2F",
                enc(&form.field("_csrf"))
            ),
        )
        .await;
        let admin = format!("regua_session={}", admin.cookie("regua_session").unwrap());
        for cookie in ["", admin.as_str(), "regua_central=forjado"] {
            for (method, path) in [
                ("GET", "/central/faturas"),
                ("GET", "/central/faturas/1"),
                ("GET", "/central/faturas/1/boleto.pdf"),
                ("GET", "/central/faturas/1/enviar"),
                ("POST", "/central/faturas/1/enviar"),
                ("POST", "/central/sair"),
            ] {
                let r = http(addr, method, path, cookie, "_csrf=x").await;
                assert_eq!(r.status, 303, "{method} {path} with {cookie:?}");
                assert!(
                    r.header("location")
                        .unwrap()
                        .starts_with("/central/entrar?next=")
                );
            }
        }
        // Public: the login, the access form, the copy script.
        for path in ["/central/entrar", "/central/acesso", "/static/central.js"] {
            assert_eq!(http(addr, "GET", path, "", "").await.status, 200, "{path}");
        }
    })
    .await;
    assert!(notices_of(&t.db, "portal_second_copy").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_api_logs_in_lists_sends_and_registers_devices() {
    use serde_json::json;
    for t in each_backend().await {
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(&t.db, &sink).await;
        set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
        set_portal_password(&t.db, "11222333000181", "senha-do-joao").await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let joao = store::invoices::find_invoice_by_external_id(&mut conn, "K2/2026-01")
            .await
            .unwrap()
            .unwrap()
            .id
            .0;
        drop(conn);
        let db = t.db.clone();
        with_server_at(&t.db, "2026-01-15", |addr| async move {
            let (status, body) = json_call(addr, "GET", "/central/api/v1/invoices", "", None).await;
            assert_eq!(
                (status, body["code"].clone()),
                (401, json!("unauthorized")),
                "{label}"
            );
            let (status, body) = json_call(
                addr,
                "POST",
                "/central/api/v1/session",
                "",
                Some(&json!({"document": "529.982.247-25", "password": "errada-123"})),
            )
            .await;
            assert_eq!(
                (status, body["code"].clone()),
                (401, json!("invalid_login"))
            );
            let (status, body) = json_call(
                addr,
                "POST",
                "/central/api/v1/session",
                "",
                Some(&json!({"document": "529.982.247-25", "passwrd": "x"})),
            )
            .await;
            assert_eq!((status, body["field"].clone()), (422, json!("passwrd")));
            let (status, body) = json_call(
                addr,
                "POST",
                "/central/api/v1/session",
                "",
                Some(&json!({"document": "529.982.247-25", "password": "senha-da-maria"})),
            )
            .await;
            assert_eq!(status, 201, "{label}: {body}");
            let token = body["token"].as_str().unwrap().to_string();

            let (status, list) =
                json_call(addr, "GET", "/central/api/v1/invoices", &token, None).await;
            assert_eq!(status, 200);
            let statuses: Vec<&str> = list["invoices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["status"].as_str().unwrap())
                .collect();
            assert_eq!(statuses, ["open", "overdue"], "{label}: latest due first");
            assert_eq!(list["email_available"], true);
            let overdue = list["invoices"][1]["id"].as_i64().unwrap();
            let (_, one) = json_call(
                addr,
                "GET",
                &format!("/central/api/v1/invoices/{overdue}"),
                &token,
                None,
            )
            .await;
            assert!(
                one["digitable_line"]
                    .as_str()
                    .unwrap()
                    .starts_with("00190."),
                "{one}"
            );
            assert!(one["pix_code"].as_str().unwrap().contains("br.gov.bcb.pix"));
            // Someone else's invoice: 404 for reading, the PDF and sending.
            for (method, path) in [
                ("GET", format!("/central/api/v1/invoices/{joao}")),
                ("GET", format!("/central/api/v1/invoices/{joao}/boleto.pdf")),
                ("POST", format!("/central/api/v1/invoices/{joao}/send")),
            ] {
                let (status, body) = json_call(addr, method, &path, &token, None).await;
                assert_eq!(
                    (status, body["code"].clone()),
                    (404, json!("not_found")),
                    "{label} {method} {path}"
                );
            }
            let (status, sent) = json_call(
                addr,
                "POST",
                &format!("/central/api/v1/invoices/{overdue}/send"),
                &token,
                None,
            )
            .await;
            assert_eq!(status, 202, "{label}: {sent}");
            assert_eq!(sent["to"], "m***@exemplo.com.br");

            // Devices: registered, moved, removed only by their owner.
            let (status, _) = json_call(
                addr,
                "POST",
                "/central/api/v1/devices",
                &token,
                Some(&json!({"token": "fcm-abc", "platform": "android"})),
            )
            .await;
            assert_eq!(status, 201);
            let (status, body) = json_call(
                addr,
                "POST",
                "/central/api/v1/devices",
                &token,
                Some(&json!({"token": "fcm-abc", "platform": "tijolo"})),
            )
            .await;
            assert_eq!((status, body["field"].clone()), (422, json!("platform")));
            let (_, joao_login) = json_call(
                addr,
                "POST",
                "/central/api/v1/session",
                "",
                Some(&json!({"document": "11222333000181", "password": "senha-do-joao"})),
            )
            .await;
            let joao_token = joao_login["token"].as_str().unwrap();
            let (status, _) = json_call(
                addr,
                "DELETE",
                "/central/api/v1/devices/fcm-abc",
                joao_token,
                None,
            )
            .await;
            assert_eq!(status, 404, "{label}: not João's device");
            let mut conn = db.pool.acquire().await.unwrap();
            assert_eq!(
                store::subscribers::devices_of(&mut conn, "52998224725")
                    .await
                    .unwrap(),
                ["fcm-abc"]
            );
            drop(conn);
            let (status, _) = json_call(
                addr,
                "DELETE",
                "/central/api/v1/devices/fcm-abc",
                &token,
                None,
            )
            .await;
            assert_eq!(status, 204);

            let (status, _) =
                json_call(addr, "DELETE", "/central/api/v1/session", &token, None).await;
            assert_eq!(status, 204);
            let (status, _) =
                json_call(addr, "GET", "/central/api/v1/invoices", &token, None).await;
            assert_eq!(status, 401, "{label}: logged out");
            // A browser session's cookie token is no app token.
            let (status, _) = json_call(
                addr,
                "GET",
                "/central/api/v1/invoices",
                "regua_central=x",
                None,
            )
            .await;
            assert_eq!(status, 401);
        })
        .await;
        let sent = notices_of(&t.db, "portal_second_copy").await;
        assert_eq!(sent.len(), 1, "{label}");
    }
}

#[tokio::test]
async fn regua_portal_password_sets_a_password_that_logs_in() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    let run = |document: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args([
                "portal",
                "password",
                "--document",
                document,
                "--password-env",
                "SENHA",
            ])
            .env("REGUA_DATABASE_URL", &t.url)
            .env("SENHA", "senha-migrada-1")
            .output()
            .unwrap()
    };
    let stranger = run("390.533.447-05");
    assert_eq!(stranger.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("no customer has the document"));
    assert_eq!(run("123").status.code(), Some(2));
    let ok = run("529.982.247-25");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    with_server(&t.db, |addr| async move {
        assert_eq!(
            portal_login(addr, "52998224725", "senha-migrada-1")
                .await
                .status,
            303
        );
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let (action, entity): (String, String) =
        sqlx::query_as("SELECT action, entity FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        (action.as_str(), entity.as_str()),
        ("portal.password", "portal:529***25")
    );
}

/// Subscribers failing behind one address (a shared NAT) do not lock the ISP's staff out of the
/// admin UI from that address, nor the other way round: the per-address counters are apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_and_admin_failures_are_counted_apart_per_address() {
    use regua::actions::self_service::{Login, login};
    let t = sqlite().await;
    let clock = clock_on("2026-01-07");
    let since = clock.now_millis() - 3_600_000;
    let ip = "203.0.113.9";
    // 20 wrong portal passwords over 5 documents (4 each, under the per-document limit).
    let docs = [
        "529.982.247-25",
        "111.444.777-35",
        "11.222.333/0001-81",
        "453.178.287-91",
        "935.411.347-80",
    ];
    for d in docs {
        for _ in 0..4 {
            assert_eq!(
                login(&t.db, &clock, d, "errada", ip).await.unwrap(),
                Login::Invalid
            );
        }
    }
    assert_eq!(
        login(&t.db, &clock, "529.982.247-25", "errada", ip)
            .await
            .unwrap(),
        Login::Throttled,
        "the portal's own limit per address holds"
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert_eq!(
        store::auth::login_failures_since(&mut conn, "admin", ip, since)
            .await
            .unwrap(),
        (0, 0),
        "the admin UI from the same address is not throttled"
    );
    for _ in 0..3 {
        store::auth::record_login_failure(&mut conn, "admin", ip, clock.now_millis())
            .await
            .unwrap();
    }
    assert_eq!(
        store::auth::login_failures_since(&mut conn, "admin", ip, since)
            .await
            .unwrap(),
        (3, 3)
    );
    assert_eq!(
        store::auth::login_failures_since(&mut conn, "portal:52998224725", ip, since)
            .await
            .unwrap(),
        (4, 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_form_takes_the_same_time_for_anyone_and_limits_each_address() {
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    with_server(&t.db, |addr| async move {
        let ask = |doc: &'static str| async move {
            let (cookie, csrf) = form_tokens(addr, "/central/acesso").await;
            let started = std::time::Instant::now();
            let r = http(
                addr,
                "POST",
                "/central/acesso",
                &cookie,
                &format!("_csrf={}&documento={}", enc(&csrf), enc(doc)),
            )
            .await;
            (r, started.elapsed())
        };
        let (mut known, mut stranger) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let (r, took) = ask("529.982.247-25").await;
            assert_eq!(r.status, 200);
            known.push(took);
            let (r, took) = ask("390.533.447-05").await;
            assert_eq!(r.status, 200);
            stranger.push(took);
        }
        // Every answer waits for the floor: the work behind it no longer shows.
        for took in known.iter().chain(&stranger) {
            assert!(
                *took >= regua::actions::self_service::ACCESS_ANSWER_FLOOR,
                "{took:?}"
            );
        }
        let median = |v: &mut Vec<std::time::Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let (k, s) = (median(&mut known), median(&mut stranger));
        assert!(
            k.abs_diff(s) < std::time::Duration::from_millis(40),
            "{k:?} vs {s:?}"
        );
        // Ten requests an hour from one address, whatever the documents.
        let (r, _) = ask("111.444.777-35").await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.body.contains("Muitas solicitações"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_impatient_clicks_on_one_confirmation_queue_one_message() {
    for t in each_backend().await {
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(&t.db, &sink).await;
        set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
        let invoice = store::subscribers::portal_invoices(
            &mut t.db.pool.acquire().await.unwrap(),
            "52998224725",
            10,
        )
        .await
        .unwrap()[0]
            .id
            .0;
        with_server(&t.db, |addr| async move {
            let (s, _) = portal_session(addr, "529.982.247-25", "senha-da-maria").await;
            let confirm = http(
                addr,
                "GET",
                &format!("/central/faturas/{invoice}/enviar"),
                &s,
                "",
            )
            .await;
            let form = format!(
                "_csrf={}&pedido={}",
                enc(&confirm.field("_csrf")),
                enc(&confirm.field("pedido"))
            );
            let path = format!("/central/faturas/{invoice}/enviar");
            let clicks = (0..5).map(|_| http(addr, "POST", &path, &s, &form));
            let statuses: Vec<u16> = futures_util::future::join_all(clicks)
                .await
                .iter()
                .map(|r| r.status)
                .collect();
            assert_eq!(
                statuses, [303; 5],
                "{label}: each click is answered as sent"
            );
            // A new confirmation is a new request.
            let again = http(
                addr,
                "GET",
                &format!("/central/faturas/{invoice}/enviar"),
                &s,
                "",
            )
            .await;
            assert_ne!(again.field("pedido"), confirm.field("pedido"));
        })
        .await;
        assert_eq!(
            notices_of(&t.db, "portal_second_copy").await.len(),
            1,
            "{label}"
        );
    }
}
