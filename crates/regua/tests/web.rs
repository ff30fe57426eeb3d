//! The admin UI over real HTTP (the server on loopback): login, sessions, CSRF, throttling,
//! permissions, the dashboard.

mod common;

use std::net::SocketAddr;

use common::http::*;
use common::*;
use regua::store;
use regua::web::auth::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn add_user(db: &store::Db, login: &str, role: Role, password: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::auth::insert_user(&mut conn, login, "Ana Souza", role, password, 0)
        .await
        .unwrap();
}

/// Logs in through the form; returns the session cookie.
async fn log_in(addr: SocketAddr, login: &str, password: &str) -> Resp {
    let form = http(addr, "GET", "/login", "", "").await;
    assert_eq!(form.status, 200);
    let token = form.cookie("regua_login").expect("login cookie");
    let csrf = form.field("_csrf");
    http(
        addr,
        "POST",
        "/login",
        &format!("regua_login={token}"),
        &format!(
            "_csrf={}&login={}&password={}&next=%2F",
            enc(&csrf),
            enc(login),
            enc(password)
        ),
    )
    .await
}

#[tokio::test]
async fn pages_need_a_session_and_login_sets_a_strict_httponly_cookie() {
    for t in each_backend().await {
        add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
        let label = t.label;
        with_server(&t.db, |addr| async move {
            for path in ["/", "/previsao"] {
                let r = http(addr, "GET", path, "", "").await;
                assert_eq!(r.status, 303, "{label} {path}");
                assert_eq!(
                    r.header("location"),
                    Some(format!("/login?next={path}").as_str())
                );
            }
            let forged = http(addr, "GET", "/", "regua_session=forged", "").await;
            assert_eq!(forged.status, 303);

            let r = log_in(addr, "ana", "senha-forte-1").await;
            assert_eq!(r.status, 303, "{label}: {}", r.body);
            assert_eq!(r.header("location"), Some("/"));
            let set = r
                .cookies()
                .into_iter()
                .find(|c| c.starts_with("regua_session="))
                .unwrap()
                .to_string();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Strict"),
                "{set}"
            );
            let session = format!("regua_session={}", r.cookie("regua_session").unwrap());
            let dash = http(addr, "GET", "/", &session, "").await;
            assert_eq!(dash.status, 200);
            assert!(dash.body.contains("<h1>Painel</h1>"));
            assert!(dash.body.contains("Ana Souza · Financeiro"));
            assert!(
                dash.body
                    .contains("Nenhuma conta de e-mail nos parâmetros financeiros")
            );
            assert_eq!(dash.header("x-frame-options"), Some("DENY"));
            let forecast = http(addr, "GET", "/previsao", &session, "").await;
            assert_eq!(forecast.status, 200);
            assert!(
                forecast.body.contains("Previsão para 08/01/2026"),
                "{}",
                forecast.body
            );

            // Logging out needs the session's CSRF token.
            let no_csrf = http(addr, "POST", "/logout", &session, "").await;
            assert_eq!(no_csrf.status, 403);
            let wrong = http(addr, "POST", "/logout", &session, "_csrf=wrong").await;
            assert_eq!(wrong.status, 403);
            assert_eq!(http(addr, "GET", "/", &session, "").await.status, 200);
            let csrf = dash.field("_csrf");
            let out = http(
                addr,
                "POST",
                "/logout",
                &session,
                &format!("_csrf={}", enc(&csrf)),
            )
            .await;
            assert_eq!(out.status, 303);
            assert_eq!(http(addr, "GET", "/", &session, "").await.status, 303);
        })
        .await;
    }
}

#[tokio::test]
async fn a_login_post_without_its_form_token_is_refused() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Admin, "senha-forte-1").await;
    with_server(&t.db, |addr| async move {
        let r = http(
            addr,
            "POST",
            "/login",
            "",
            "_csrf=x&login=ana&password=senha-forte-1",
        )
        .await;
        assert_eq!(r.status, 403);
        assert!(r.cookie("regua_session").is_none());
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_login() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Admin, "senha-forte-1").await;
    with_server(&t.db, |addr| async move {
        for _ in 0..5 {
            let r = log_in(addr, "ana", "errada").await;
            assert_eq!(r.status, 401);
            assert!(r.body.contains("Login ou senha inválidos."));
        }
        // Sixth try, even with the right password: throttled.
        let r = log_in(addr, "ana", "senha-forte-1").await;
        assert_eq!(r.status, 429);
        assert!(r.body.contains("Muitas tentativas"));
        assert!(r.cookie("regua_session").is_none());
        // An unknown login fails the same way and counts for the address too.
        let r = log_in(addr, "ninguem", "x").await;
        assert_eq!(r.status, 401);
    })
    .await;
}

#[tokio::test]
async fn an_inactive_user_cannot_log_in_and_html_is_escaped() {
    let t = sqlite().await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::auth::insert_user(
        &mut conn,
        "bia",
        "<b>Bia</b>",
        Role::ReadOnly,
        "senha-forte-2",
        0,
    )
    .await
    .unwrap();
    drop(conn);
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let r = log_in(addr, "bia", "senha-forte-2").await;
        let session = format!("regua_session={}", r.cookie("regua_session").unwrap());
        let dash = http(addr, "GET", "/", &session, "").await;
        assert!(
            dash.body
                .contains("&lt;b&gt;Bia&lt;/b&gt; · Somente leitura"),
            "{}",
            dash.body
        );
        let mut conn = db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE users SET active = 0 WHERE login = 'bia'")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            http(addr, "GET", "/", &session, "").await.status,
            303,
            "session ends"
        );
        assert_eq!(log_in(addr, "bia", "senha-forte-2").await.status, 401);
    })
    .await;
}

#[tokio::test]
async fn regua_user_add_prints_a_password_that_logs_in() {
    let t = sqlite().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args([
            "user",
            "add",
            "--login",
            "caio",
            "--role",
            "Atendimento",
            "--name",
            "Caio Lima",
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("user \"caio\" added (Atendimento)\n"),
        "{text}"
    );
    let password = text
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("password: ")
        .unwrap();
    assert_eq!(password.len(), 16);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["user", "add", "--login", "caio", "--role", "root"])
        .env("REGUA_DATABASE_URL", &t.url)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    with_server(&t.db, |addr| async move {
        let r = log_in(addr, "caio", password).await;
        assert_eq!(r.status, 303, "{}", r.body);
        // The printed password is for the first login: the next page is the password change.
        let session = format!("regua_session={}", r.cookie("regua_session").unwrap());
        assert_eq!(
            http(addr, "GET", "/", &session, "")
                .await
                .header("location"),
            Some("/senha")
        );
    })
    .await;
    // Only the hash is stored.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE login = 'caio'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(password));
}

/// Logs in and returns (session cookie header, the dashboard's CSRF token).
async fn session_for(addr: SocketAddr, login: &str, password: &str) -> (String, String) {
    let r = log_in(addr, login, password).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let session = format!("regua_session={}", r.cookie("regua_session").unwrap());
    let dash = http(addr, "GET", "/", &session, "").await;
    (session, dash.field("_csrf"))
}

#[tokio::test]
async fn smtp_settings_need_the_email_permission_keep_the_password_and_send_a_test() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig {
        auth: Some(("cobranca".into(), "s3nh@-do-smtp".into())),
        ..Default::default()
    })
    .await
    .unwrap();
    let port = sink.port();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        // Atendimento has no e-mail permission: 403 on the page and on the posts.
        let (support, support_csrf) = session_for(addr, "caio", "senha-forte-2").await;
        assert_eq!(http(addr, "GET", "/configuracoes/email", &support, "").await.status, 403);
        let form = format!("_csrf={}&name=X&host=h&port=25&security=none&from=a%40b.com", enc(&support_csrf));
        assert_eq!(http(addr, "POST", "/configuracoes/email", &support, &form).await.status, 403);
        assert!(!http(addr, "GET", "/", &support, "").await.body.contains("E-mail SMTP"));

        let (finance, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let page = http(addr, "GET", "/configuracoes/email", &finance, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Nenhuma conta cadastrada."));
        // Bad input: each field named in Portuguese, nothing saved, the password not echoed.
        let bad = http(
            addr,
            "POST",
            "/configuracoes/email",
            &finance,
            &format!("_csrf={}&name=&host=&port=abc&security=starttls&user=cobranca&password=segredo-1&from=nao-e-email", enc(&csrf)),
        )
        .await;
        assert_eq!(bad.status, 422);
        for msg in [
            "Informe um nome para a conta.",
            "Informe o servidor de saída.",
            "A porta é um número de 1 a 65535.",
            "Informe um e-mail de remetente válido.",
        ] {
            assert!(bad.body.contains(msg), "{msg}");
        }
        assert!(!bad.body.contains("segredo-1"));
        // Port 465 is TLS from the first byte: STARTTLS there is refused with the fix.
        let smtps = http(
            addr,
            "POST",
            "/configuracoes/email",
            &finance,
            &format!("_csrf={}&name=Provedor&host=smtp.exemplo.com.br&port=465&security=starttls&from=cobranca%40provedor.com.br", enc(&csrf)),
        )
        .await;
        assert_eq!(smtps.status, 422);
        assert!(smtps.body.contains("A porta 465 usa TLS direto (SMTPS)"), "{}", smtps.body);
        // No CSRF token: refused.
        let forged = http(addr, "POST", "/configuracoes/email", &finance, "name=X&host=h&port=25&security=none&from=a%40b.com").await;
        assert_eq!(forged.status, 403);
        // A good one, with AUTH, as the financial account.
        let ok = http(
            addr,
            "POST",
            "/configuracoes/email",
            &finance,
            &format!(
                "_csrf={}&name=Principal&host=127.0.0.1&port={port}&security=none&user=cobranca&password={}&from=cobranca%40provedor.com.br&from_name=Provedor&test_recipient=&hourly_limit=500&daily_limit=&financial=1",
                enc(&csrf),
                enc("s3nh@-do-smtp")
            ),
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let page = http(addr, "GET", "/configuracoes/email", &finance, "").await;
        assert!(page.body.contains("Principal"));
        assert!(page.body.contains("senha guardada"));
        assert!(page.body.contains("500 / sem limite"));
        assert!(page.body.contains("parâmetros financeiros"));
        assert!(!page.body.contains("s3nh@-do-smtp"), "the password never comes back");
        let dup = http(
            addr,
            "POST",
            "/configuracoes/email",
            &finance,
            &format!("_csrf={}&name=Principal&host=h&port=25&security=none&from=a%40b.com", enc(&csrf)),
        )
        .await;
        assert_eq!(dup.status, 422);
        assert!(dup.body.contains("Já existe uma conta com este nome."));
        // "Enviar teste": delivered through AUTH, the server's answer on the page.
        let mut conn = db.pool.acquire().await.unwrap();
        let account = store::accounts::find_smtp_account(&mut conn, "Principal").await.unwrap().unwrap();
        drop(conn);
        let sent = http(
            addr,
            "POST",
            &format!("/configuracoes/email/{}/teste", account.id.0),
            &finance,
            &format!("_csrf={}&to=ana%40provedor.com.br", enc(&csrf)),
        )
        .await;
        assert_eq!(sent.status, 200);
        assert!(sent.body.contains("Teste enviado para Principal. Resposta do servidor: 250"), "{}", sent.body);
        assert_eq!(sink.count(), 1);
        assert_eq!(sink.received()[0].user.as_deref(), Some("cobranca"));
        assert_eq!(sink.received()[0].to, ["ana@provedor.com.br"]);
        // The audit trail has the change, with the password masked.
        let mut conn = db.pool.acquire().await.unwrap();
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT actor, action, after FROM audit_log ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(rows[0].0, "user: ana");
        assert_eq!(rows[0].1, "smtp.add");
        let after = rows[0].2.as_deref().unwrap();
        assert!(after.contains("\"password\":\"***\"") && !after.contains("s3nh@"), "{after}");
        assert_eq!(rows[1].1, "setting.set");
        let stored: String = sqlx::query_scalar("SELECT password_enc FROM smtp_accounts WHERE name = 'Principal'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert!(!stored.contains("s3nh@"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filters_exports_csv_and_requeues_a_dead_notice() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Support, "senha-forte-1").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-2").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let invoices = open_invoices(&t.db, 2).await;
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let clock = clock_on("2026-01-07");
    let dead = queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "manual:1",
        clock.now_millis(),
    )
    .await;
    sink.push_script([mailsink::DataReply::Reply(
        550,
        "5.1.1 mailbox unavailable".into(),
    )]);
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    queue_invoice_email(
        &t.db,
        &invoices[1],
        &account,
        "manual:2",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let all = http(addr, "GET", "/log", &ana, "").await;
        assert_eq!(all.status, 200);
        assert_eq!(all.body.matches("<tr class=\"").count(), 2, "{}", all.body);
        assert!(all.body.contains("5.1.1 mailbox unavailable"), "{}", all.body);
        let dead_only = http(addr, "GET", "/log?status=dead&customer=C1&account=Principal&channel=email&from=07%2F01%2F2026&to=07%2F01%2F2026", &ana, "").await;
        assert_eq!(dead_only.body.matches("<tr class=\"dead\"").count(), 1, "{}", dead_only.body);
        assert!(dead_only.body.contains("Reenviar"));
        let none = http(addr, "GET", "/log?from=08%2F01%2F2026", &ana, "").await;
        assert!(none.body.contains("Nenhuma tentativa de envio com estes filtros."));
        let bad = http(addr, "GET", "/log?from=32%2F13%2F2026", &ana, "").await;
        assert!(bad.body.contains("Data inicial: use dd/mm/aaaa."));
        let unknown = http(addr, "GET", "/log?customer=NINGUEM", &ana, "").await;
        assert!(unknown.body.contains("Cliente não encontrado: NINGUEM"));
        // CSV: a header and one line per attempt.
        let csv = http(addr, "GET", "/log.csv?status=", &ana, "").await;
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(lines[0], "data_hora,aviso,resultado,codigo,resposta,canal,conta,destinatario,finalidade,causado_por");
        assert_eq!(lines.len(), 3);
        // Somente leitura cannot requeue; Atendimento can, with the form's token.
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-2").await;
        let path = format!("/log/{}/reenviar", dead.0);
        assert_eq!(http(addr, "POST", &path, &leo, &format!("_csrf={}", enc(&leo_csrf))).await.status, 403);
        assert!(!http(addr, "GET", "/log?status=dead", &leo, "").await.body.contains("Reenviar"));
        assert_eq!(http(addr, "POST", &path, &ana, "").await.status, 403);
        let r = http(addr, "POST", &path, &ana, &format!("_csrf={}", enc(&csrf))).await;
        assert_eq!(r.status, 303);
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::outbox::get_notice(&mut conn, dead).await.unwrap().status,
            regua::delivery::NoticeStatus::Queued
        );
        drop(conn);
        let again = http(addr, "POST", &path, &ana, &format!("_csrf={}", enc(&csrf))).await;
        assert_eq!(again.status, 409);
        // Prometheus: one sent, one back in the queue, the latency histogram.
        let m = http(addr, "GET", "/metrics", "", "").await;
        assert_eq!(m.status, 200);
        for line in [
            "regua_notices{status=\"sent\"} 1",
            "regua_notices{status=\"queued\"} 1",
            "regua_notices{status=\"dead\"} 0",
            "regua_queue_depth{account=\"Principal\"} 1",
            "regua_send_duration_seconds_count 1",
            "regua_send_duration_seconds_bucket{le=\"+Inf\"} 1",
        ] {
            assert!(m.body.lines().any(|l| l == line), "{line} in\n{}", m.body);
        }
    })
    .await;
    // With a token, anonymous scrapes are refused.
    with_server_token(&t.db, Some("tok-123"), |addr| async move {
        assert_eq!(http(addr, "GET", "/metrics", "", "").await.status, 401);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-123\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).await.unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    })
    .await;
}

#[tokio::test]
async fn the_regua_page_adds_rules_and_bands_with_errors_in_portuguese() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (caio, caio_csrf) = session_for(addr, "caio", "senha-forte-2").await;
        assert_eq!(
            http(addr, "GET", "/configuracoes/regua", &caio, "")
                .await
                .status,
            403
        );
        let form = format!(
            "_csrf={}&method=Boleto+BB&kind=on_due&days=0",
            enc(&caio_csrf)
        );
        assert_eq!(
            http(addr, "POST", "/configuracoes/regua/regras", &caio, &form)
                .await
                .status,
            403
        );

        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let page = http(addr, "GET", "/configuracoes/regua", &ana, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<h3>Boleto BB</h3>"));
        let post = |path: &'static str, body: String| {
            let ana = ana.clone();
            async move { http(addr, "POST", path, &ana, &body).await }
        };
        let c = enc(&csrf);
        let r = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=after_due&days=13&layout="),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let dup = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=after_due&days=13&layout="),
        )
        .await;
        assert_eq!(dup.status, 422);
        assert!(
            dup.body.contains(
                "A forma de cobrança Boleto BB já tem uma regra \"após o vencimento\" de 13 dia(s)."
            ),
            "{}",
            dup.body
        );
        let bad = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=on_due&days=3"),
        )
        .await;
        assert!(bad.body.contains("No vencimento, os dias são 0."));
        let bad = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=before_due&days=0"),
        )
        .await;
        assert!(
            bad.body
                .contains("Antes ou após o vencimento: de 1 a 365 dias.")
        );
        let bad = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=on_due&days=0&layout=Nenhum"),
        )
        .await;
        assert!(bad.body.contains("Layout não encontrado: Nenhum"));
        // A rule's layout is one of its kind: a band's model is refused for "no vencimento".
        let wrong = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=on_due&days=0&layout=Aviso+de+atraso"),
        )
        .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("não é um modelo de \"no vencimento\""), "{}", wrong.body);
        assert_eq!(
            post(
                "/configuracoes/regua/regras",
                "method=Boleto+BB&kind=on_due&days=0".into()
            )
            .await
            .status,
            403
        );

        assert_eq!(
            post(
                "/configuracoes/regua/faixas",
                format!("_csrf={c}&from=1&to=10")
            )
            .await
            .status,
            303
        );
        let overlap = post(
            "/configuracoes/regua/faixas",
            format!("_csrf={c}&from=5&to=20&generation=email_and_letter"),
        )
        .await;
        assert_eq!(overlap.status, 422);
        assert!(overlap.body.contains("Sobrepõe a faixa de 1 a 10 dias."));
        let reversed = post(
            "/configuracoes/regua/faixas",
            format!("_csrf={c}&from=30&to=11"),
        )
        .await;
        assert!(
            reversed
                .body
                .contains("\"Até\" não pode ser menor que \"De\".")
        );
        // A band's model is a band layout: a reminder's layout is refused.
        let wrong = post(
            "/configuracoes/regua/faixas",
            format!("_csrf={c}&from=11&to=30&generation=email_and_letter&layout=Lembrete+ap%C3%B3s+o+vencimento"),
        )
        .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("Escolha um modelo de faixa de atraso."), "{}", wrong.body);
        assert_eq!(
            post(
                "/configuracoes/regua/faixas",
                format!("_csrf={c}&from=11&to=30&generation=email_and_letter")
            )
            .await
            .status,
            303
        );
        // Channels: SMS first, e-mail as fallback; a channel twice is refused, in Portuguese.
        let twice = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=before_due&days=5&layout=&channel1=sms&channel2=sms&channel3=&mode=first"),
        )
        .await;
        assert_eq!(twice.status, 422);
        assert!(twice.body.contains("Um canal aparece duas vezes."), "{}", twice.body);
        let r = post(
            "/configuracoes/regua/regras",
            format!("_csrf={c}&method=Boleto+BB&kind=before_due&days=5&layout=&channel1=sms&channel2=email&channel3=&mode=first"),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let letter_sms = post(
            "/configuracoes/regua/faixas",
            format!("_csrf={c}&from=31&to=60&generation=email_and_letter&channel1=sms&mode=first"),
        )
        .await;
        assert_eq!(letter_sms.status, 422);
        assert!(letter_sms.body.contains("Uma faixa que gera carta é enviada só por e-mail"), "{}", letter_sms.body);
        let r = post(
            "/configuracoes/regua/faixas",
            format!("_csrf={c}&from=31&to=60&generation=email&channel1=sms&channel2=email&mode=all"),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = http(addr, "GET", "/configuracoes/regua", &ana, "").await;
        assert!(
            page.body.contains(
                "<td>Após o vencimento</td><td>13</td><td>Lembrete após o vencimento</td><td>e-mail</td>"
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains("<td>5</td><td>Lembrete antes do vencimento</td><td>SMS, depois e-mail</td>"), "{}", page.body);
        assert!(page.body.contains("<td>31 a 60</td><td>E-mail</td><td>Aviso de atraso</td><td>SMS e e-mail</td>"), "{}", page.body);
        assert!(
            page.body
                .contains("<td>11 a 30</td><td>E-mail e carta (revisão antes do envio)</td>")
        );

        let mut conn = db.pool.acquire().await.unwrap();
        let rule = store::rules::list_send_rules(&mut conn).await.unwrap()[0].id;
        drop(conn);
        let path = format!("/configuracoes/regua/regras/{rule}/remover");
        let r = http(addr, "POST", &path, &ana, &format!("_csrf={c}")).await;
        assert_eq!(r.status, 303);
        assert_eq!(
            http(addr, "POST", &path, &ana, &format!("_csrf={c}"))
                .await
                .status,
            404
        );
        let mut conn = db.pool.acquire().await.unwrap();
        let left = store::rules::list_send_rules(&mut conn).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].days, 13, "the SMS rule (listed first, before the due date) went");
        let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(
            actions,
            ["rule.add", "band.add", "band.add", "rule.add", "band.add", "rule.remove"]
        );
        let trail: String = sqlx::query_scalar(
            "SELECT after FROM audit_log WHERE action = 'rule.add' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail, "Boleto BB before_due 5 sms,email first");
        drop(conn);
        // Routines.
        let bad = http(
            addr,
            "POST",
            "/configuracoes/regua/rotinas",
            &ana,
            &format!("_csrf={c}&name=Manh%C3%A3&time=08%3A00%3A00"),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Marque ao menos um dia da semana."));
        let bad = http(
            addr,
            "POST",
            "/configuracoes/regua/rotinas",
            &ana,
            &format!("_csrf={c}&name=Manh%C3%A3&wd_seg=1&time=25%3A00"),
        )
        .await;
        assert!(bad.body.contains("Horário como 08:00:00."));
        let ok = http(
            addr,
            "POST",
            "/configuracoes/regua/rotinas",
            &ana,
            &format!("_csrf={c}&name=Manh%C3%A3&wd_seg=1&wd_qua=1&wd_sex=1&time=07%3A30%3A00"),
        )
        .await;
        assert_eq!(ok.status, 303);
        let dup = http(
            addr,
            "POST",
            "/configuracoes/regua/rotinas",
            &ana,
            &format!("_csrf={c}&name=Manh%C3%A3&weekdays=all&time=07%3A30%3A00"),
        )
        .await;
        assert!(dup.body.contains("Já existe uma rotina com este nome."));
        let page = http(addr, "GET", "/configuracoes/regua", &ana, "").await;
        assert!(
            page.body
                .contains("<td>Manhã</td><td>seg, qua, sex</td><td>07:30</td><td>não roda</td>"),
            "{}",
            page.body
        );
        let mut conn = db.pool.acquire().await.unwrap();
        let routine = store::dunning::list_routines(&mut conn).await.unwrap()[0].id;
        drop(conn);
        assert_eq!(
            http(
                addr,
                "POST",
                &format!("/configuracoes/regua/rotinas/{routine}/remover"),
                &ana,
                &format!("_csrf={c}")
            )
            .await
            .status,
            303
        );
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::dunning::list_routines(&mut conn)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn the_layout_editor_validates_previews_and_saves_versions() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (caio, _) = session_for(addr, "caio", "senha-forte-2").await;
        assert_eq!(http(addr, "GET", "/configuracoes/layouts", &caio, "").await.status, 403);
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let list = http(addr, "GET", "/configuracoes/layouts", &ana, "").await;
        assert!(list.body.contains("Lembrete antes do vencimento"));
        let mut conn = db.pool.acquire().await.unwrap();
        let layout = store::layouts::find_layout(&mut conn, "Lembrete antes do vencimento").await.unwrap().unwrap();
        drop(conn);
        let path = format!("/configuracoes/layouts/{}", layout.id.0);
        let page = http(addr, "GET", &path, &ana, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Pré-visualização"));
        let c = enc(&csrf);
        let typo = format!("_csrf={c}&subject={}&html={}&text=", enc("Olá {{ cliente.nme }}"), enc("<p>{{ fatura.valor | brl }}</p>"));
        // The live preview's JSON names the problem.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path}/previa HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {ana}\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{typo}",
            typo.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let json: serde_json::Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let p = &json["problems"][0];
        assert_eq!(p["part"], "assunto");
        assert_eq!(p["line"], 1);
        assert!(p["message"].as_str().unwrap().contains("cliente.nome"), "{json}");
        // Saving it is refused with the same message; nothing saved.
        let refused = http(addr, "POST", &path, &ana, &typo).await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("assunto, linha 1, coluna"), "{}", refused.body);
        assert!(refused.body.contains("cliente.nome"));
        assert_eq!(http(addr, "POST", &path, &ana, &typo.replace(&format!("_csrf={c}&"), "")).await.status, 403);
        // A good one: a new version, previewed with the sample data.
        let good = format!("_csrf={c}&subject={}&html={}&text=", enc("Olá {{ cliente.nome }}"), enc("<p>Valor: {{ fatura.valor | brl }}</p>"));
        let preview = http(addr, "POST", &format!("{path}/previa"), &ana, &good).await;
        assert!(preview.body.contains("<span id=\"preview-subject\">Olá Maria"), "{}", preview.body);
        let saved = http(addr, "POST", &path, &ana, &good).await;
        assert_eq!(saved.status, 303);
        let next = saved.header("location").unwrap().to_string();
        let page = http(addr, "GET", &next, &ana, "").await;
        assert!(page.body.contains(&format!("Versão {} salva.", layout.version + 1)), "{}", page.body);
        // The SMS text: its cost on the sample, a warning past one SMS.
        let long_sms = "x".repeat(170);
        let with_sms = format!("{good}&sms={}", enc(&format!("{{{{ cliente.nome }}}}: {long_sms}")));
        let preview = http(addr, "POST", &format!("{path}/previa"), &ana, &with_sms).await;
        assert!(preview.body.contains("caracteres: 2 SMS — passa de uma mensagem, a operadora cobra 2."), "{}", preview.body);
        let short = format!("{good}&sms={}", enc("{{ cliente.nome }}, sua fatura vence amanhã."));
        let preview = http(addr, "POST", &format!("{path}/previa"), &ana, &short).await;
        assert!(preview.body.contains("<span id=\"preview-sms\">Maria"), "{}", preview.body);
        assert!(preview.body.contains("caracteres: 1 SMS."), "{}", preview.body);
        let restored = http(addr, "POST", &format!("{path}/restaurar"), &ana, &format!("_csrf={c}")).await;
        assert_eq!(restored.status, 303);
        let mut conn = db.pool.acquire().await.unwrap();
        let after = store::layouts::find_layout(&mut conn, "Lembrete antes do vencimento").await.unwrap().unwrap();
        assert_eq!(after.version, layout.version + 2);
        assert_eq!(after.subject, layout.subject);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_generate_invoices_and_invoices_send_print_and_get_paid() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::parties::set_setting(
        &mut conn,
        store::accounts::SETTING_FINANCIAL_ACCOUNT,
        "Principal",
    )
    .await
    .unwrap();
    let contract = store::parties::find_contract(&mut conn, "K1")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (caio, caio_csrf) = session_for(addr, "caio", "senha-forte-2").await;
        let list = http(addr, "GET", "/contratos?q=maria", &caio, "").await;
        assert!(
            list.body.contains(">K1</a>") && list.body.contains("Maria Silva"),
            "{}",
            list.body
        );
        assert!(
            !list.body.contains("Gerar financeiro"),
            "Atendimento does not generate"
        );
        let gen_path = format!("/contratos/{}/gerar", contract.id.0);
        assert_eq!(
            http(
                addr,
                "POST",
                &gen_path,
                &caio,
                &format!("_csrf={}&months=2", enc(&caio_csrf))
            )
            .await
            .status,
            403
        );
        assert!(
            http(addr, "GET", "/contratos?q=ninguem", &caio, "")
                .await
                .body
                .contains("Nenhum contrato.")
        );

        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let c = enc(&csrf);
        assert_eq!(
            http(
                addr,
                "POST",
                &gen_path,
                &ana,
                &format!("_csrf={c}&months=99")
            )
            .await
            .status,
            422
        );
        let r = http(
            addr,
            "POST",
            &gen_path,
            &ana,
            &format!("_csrf={c}&months=2"),
        )
        .await;
        assert_eq!(r.status, 303);
        let page = http(addr, "GET", r.header("location").unwrap(), &ana, "").await;
        assert!(
            page.body.contains("2 fatura(s) gerada(s)."),
            "{}",
            page.body
        );
        assert!(page.body.contains("K1/2026-01") && page.body.contains("K1/2026-02"));
        assert!(page.body.contains("10/02/2026") && page.body.contains("R$ 119,90"));
        let mut conn = db.pool.acquire().await.unwrap();
        let jan = store::invoices::find_invoice_by_external_id(&mut conn, "K1/2026-01")
            .await
            .unwrap()
            .unwrap();
        drop(conn);
        // The boleto PDF.
        let pdf = http(
            addr,
            "GET",
            &format!("/faturas/{}/boleto.pdf", jan.id.0),
            &caio,
            "",
        )
        .await;
        assert_eq!(pdf.header("content-type"), Some("application/pdf"));
        assert!(pdf.body.starts_with("%PDF-"));
        assert_eq!(
            http(addr, "GET", "/faturas/999999/boleto.pdf", &caio, "")
                .await
                .status,
            404
        );
        // Atendimento sends it by e-mail now; it reaches the sink through the worker.
        let sent = http(
            addr,
            "POST",
            &format!("/faturas/{}/enviar", jan.id.0),
            &caio,
            &format!("_csrf={}", enc(&caio_csrf)),
        )
        .await;
        assert_eq!(sent.status, 303);
        assert!(
            http(addr, "GET", sent.header("location").unwrap(), &caio, "")
                .await
                .body
                .contains("Fatura K1/2026-01 na fila de envio por e-mail.")
        );
        worker_at(&db, &clock_on("2026-01-07"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 1);
        assert!(
            sink.received()[0]
                .text()
                .contains("filename=\"boleto-K1-2026-01.pdf\"")
        );
        // Marking paid: Financeiro only, once.
        let pay = format!("/faturas/{}/pagar", jan.id.0);
        assert_eq!(
            http(
                addr,
                "POST",
                &pay,
                &caio,
                &format!("_csrf={}", enc(&caio_csrf))
            )
            .await
            .status,
            403
        );
        assert_eq!(
            http(addr, "POST", &pay, &ana, &format!("_csrf={c}"))
                .await
                .status,
            303
        );
        assert_eq!(
            http(addr, "POST", &pay, &ana, &format!("_csrf={c}"))
                .await
                .status,
            409
        );
        let paid = http(addr, "GET", "/faturas?status=paid", &ana, "").await;
        assert!(paid.body.contains("K1/2026-01") && !paid.body.contains("K1/2026-02"));
        let bad = http(addr, "GET", "/faturas?de=99%2F99%2F2026", &ana, "").await;
        assert!(bad.body.contains("Vencimento de: use dd/mm/aaaa."));
        // A paid invoice is not sent.
        assert_eq!(
            http(
                addr,
                "POST",
                &format!("/faturas/{}/enviar", jan.id.0),
                &ana,
                &format!("_csrf={c}")
            )
            .await
            .status,
            422
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_page_shows_contacts_emails_sent_and_the_timeline() {
    let t = sqlite().await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-2").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    let invoices = open_invoices(&t.db, 2).await;
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let clock = clock_on("2026-01-07");
    queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "manual:1",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::dunning::insert_pause(
        &mut conn,
        store::dunning::PauseTarget::Invoice(invoices[1].id),
        jiff::civil::date(2026, 2, 20),
        "promessa de pagamento",
        "user: ana",
        clock.now_millis() + 1000,
    )
    .await
    .unwrap();
    store::invoices::mark_invoice_paid(
        &mut conn,
        "K1/2026-01",
        jiff::civil::date(2026, 1, 9),
        invoices[0].amount,
        0,
    )
    .await
    .unwrap();
    let customer = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    with_server(&t.db, |addr| async move {
        let (leo, _) = session_for(addr, "leo", "senha-forte-2").await;
        let list = http(addr, "GET", "/clientes?q=52998224725", &leo, "").await;
        assert!(list.body.contains("Maria Silva"), "search by document digits");
        assert!(http(addr, "GET", "/clientes?q=ninguem", &leo, "").await.body.contains("Nenhum cliente."));
        let page = http(addr, "GET", &format!("/clientes/{}", customer.id.0), &leo, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("E-mail principal: maria@exemplo.com.br"));
        assert!(page.body.contains("Celular: +55 11 98765-4321"), "{}", page.body);
        assert!(page.body.contains(">K1</a>"));
        // E-mails enviados: the reminder, accepted.
        assert!(page.body.contains("<td>enviado</td><td class=\"wrap\">maria@exemplo.com.br</td><td><a href=\"/faturas/"), "{}", page.body);
        assert!(page.body.contains(">K1/2026-01</a></td><td>Lembrete antes do vencimento</td>"), "{}", page.body);
        // The timeline, newest first: the payment (09/01), the pause, the reminder.
        let tl = page.body.split("<ul class=\"timeline\">").nth(1).unwrap();
        let pay = tl.find("Pagamento da fatura K1/2026-01: R$ 119,90 em 09/01/2026").expect("payment");
        let pause = tl.find("Cobrança da fatura K1/2026-02 pausada até 20/02/2026: promessa de pagamento (usuário ana)").expect("pause");
        let sent = tl.find("Lembrete antes do vencimento: enviado para maria@exemplo.com.br (teste)").expect("reminder");
        assert!(pay < pause && pause < sent, "{tl}");
        assert_eq!(http(addr, "GET", "/clientes/999999", &leo, "").await.status, 404);
    })
    .await;
}

/// Every page and form refuses anonymous access: pages send to the login, posts change nothing.
#[tokio::test]
async fn every_page_and_form_refuses_anonymous_access() {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    let id = invoices[0].id.0;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let gets = [
            "/",
            "/previsao",
            "/clientes",
            "/clientes/1",
            "/contratos",
            "/faturas",
            &format!("/faturas/{id}/boleto.pdf"),
            "/log",
            "/log.csv",
            "/configuracoes/regua",
            "/configuracoes/email",
            "/configuracoes/layouts",
            "/configuracoes/layouts/1",
            "/configuracoes/parametros",
            "/configuracoes/usuarios",
            "/cartas",
            "/cartas/1/carta.pdf",
            "/senha",
            "/configuracoes/feriados",
            "/configuracoes/carteiras",
            "/configuracoes/formas",
            "/configuracoes/central",
            "/configuracoes/notificacoes",
            "/contratos/1/suspensoes",
            "/emissao",
            "/emissao/carne.pdf",
        ];
        for path in gets {
            let r = http(addr, "GET", path, "", "").await;
            assert_eq!(r.status, 303, "GET {path}");
            assert!(
                r.header("location").unwrap().starts_with("/login?next="),
                "GET {path}"
            );
        }
        let posts = [
            "/logout",
            "/contratos/1/gerar",
            &format!("/faturas/{id}/enviar"),
            &format!("/faturas/{id}/pagar"),
            "/configuracoes/layouts/1",
            "/configuracoes/layouts/1/previa",
            "/configuracoes/layouts/1/restaurar",
            "/configuracoes/regua/regras",
            "/configuracoes/regua/regras/1/remover",
            "/configuracoes/regua/faixas",
            "/configuracoes/regua/faixas/1/remover",
            "/log/1/reenviar",
            "/configuracoes/notificacoes",
            "/configuracoes/notificacoes/teste",
            "/contratos/1/suspensoes",
            "/contratos/1/suspensoes/encerrar",
            "/configuracoes/email",
            "/configuracoes/email/1/teste",
            "/configuracoes/email/1/financeiro",
            "/configuracoes/parametros",
            "/configuracoes/usuarios",
            "/configuracoes/usuarios/1/desativar",
            "/configuracoes/usuarios/1/reativar",
            "/cartas/1/aprovar",
            "/cartas/1/rejeitar",
            "/cartas/aprovar-todas",
            "/senha",
            "/configuracoes/feriados",
            "/configuracoes/feriados/1/remover",
            "/faturas/pausar",
            "/configuracoes/carteiras",
            "/configuracoes/carteiras/1/envio",
            "/configuracoes/formas",
            "/configuracoes/central",
            "/emissao/enviar",
        ];
        for path in posts {
            let r = http(addr, "POST", path, "", "_csrf=x&months=1&name=X").await;
            assert_eq!(r.status, 303, "POST {path}");
            assert!(
                r.header("location").unwrap().starts_with("/login"),
                "POST {path}"
            );
        }
        // Public: the login, the static files, /health.
        for path in ["/login", "/static/app.css", "/static/app.js", "/health"] {
            assert_eq!(http(addr, "GET", path, "", "").await.status, 200, "{path}");
        }
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(
        store::outbox::count_notices_by_status(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store::invoices::count_invoices_by_status(&mut conn)
            .await
            .unwrap()
            .0,
        1,
        "still open"
    );
}

/// The SMTP password typed in the UI never reaches a log line, even with every log on.
#[test]
fn the_smtp_password_never_reaches_the_logs() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(sqlite());
    rt.block_on(add_user(&t.db, "ana", Role::Admin, "senha-forte-1"));
    let sink = rt
        .block_on(mailsink::Sink::start(mailsink::SinkConfig {
            auth: Some(("cobranca".into(), "Pw-9f8e7d-nunca-no-log".into())),
            ..Default::default()
        }))
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["serve", "--bind", "127.0.0.1:0", "--no-scheduler"])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("REGUA_LOG", "trace")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0);
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep reading the log while the requests run.
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        rest
    });
    rt.block_on(async {
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let form = format!(
            "_csrf={}&name=Principal&host=127.0.0.1&port={}&security=none&user=cobranca&password={}&from=cobranca%40provedor.com.br&test_recipient=ana%40provedor.com.br&financial=1",
            enc(&csrf),
            sink.port(),
            enc("Pw-9f8e7d-nunca-no-log")
        );
        assert_eq!(http(addr, "POST", "/configuracoes/email", &ana, &form).await.status, 303);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let account = store::accounts::find_smtp_account(&mut conn, "Principal").await.unwrap().unwrap();
        drop(conn);
        let r = http(addr, "POST", &format!("/configuracoes/email/{}/teste", account.id.0), &ana, &format!("_csrf={}", enc(&csrf))).await;
        assert!(r.body.contains("Teste enviado"), "{}", r.body);
    });
    assert_eq!(sink.count(), 1, "the password worked");
    let _ = std::io::stdout().flush();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let log = reader.join().unwrap();
    assert!(log.len() > 1000, "trace logging was on");
    assert!(
        !log.contains("Pw-9f8e7d-nunca-no-log"),
        "the password is in the log"
    );
}

#[tokio::test]
async fn general_parameters_are_for_administrators_and_audited_before_and_after() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "root", Role::Admin, "senha-forte-3").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, _) = session_for(addr, "ana", "senha-forte-1").await;
        assert_eq!(http(addr, "GET", "/configuracoes/parametros", &ana, "").await.status, 403);
        let (root, csrf) = session_for(addr, "root", "senha-forte-3").await;
        let page = http(addr, "GET", "/configuracoes/parametros", &root, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"company_name\" value=\"Provedor\""), "the default");
        assert!(
            page.body.contains("name=\"sending_window_sms\" value=\"seg-sex 08:00-20:00, sab 08:00-14:00\""),
            "the SMS window, the law's hours by default"
        );
        let wide = http(addr, "POST", "/configuracoes/parametros", &root,
            &format!("_csrf={}&company_name=Provedor&sending_window_sms=seg-dom+07%3A00-22%3A00", enc(&csrf))).await;
        assert_eq!(wide.status, 422);
        assert!(wide.body.contains("Mais ampla que a Lei 15.426/2014 (SP), art. 2º"), "{}", wide.body);
        let c = enc(&csrf);
        let base = "company_name=Fibra+J%C3%A1&company_document=&company_phone=&company_site=&company_city=SAO+PAULO&default_delivery_type=email&suspension_notify_method=email&routine_optional_holidays=no";
        let bad = http(addr, "POST", "/configuracoes/parametros", &root,
            &format!("_csrf={c}&{base}&company_email=nao-e-email&portal_url=ftp%3A%2F%2Fx&dunning_window_days=90")).await;
        assert_eq!(bad.status, 422);
        for msg in ["E-mail inválido.", "Um endereço que comece com https://.", "Um número de 0 a 60."] {
            assert!(bad.body.contains(msg), "{msg}");
        }
        let ok = http(addr, "POST", "/configuracoes/parametros", &root,
            &format!("_csrf={c}&{base}&company_email=contato%40fibraja.com.br&portal_url=https%3A%2F%2Fcentral.fibraja.com.br&dunning_window_days=10")).await;
        assert_eq!(ok.status, 303);
        let page = http(addr, "GET", ok.header("location").unwrap(), &root, "").await;
        assert!(page.body.contains("Parâmetros salvos."));
        assert!(page.body.contains("name=\"company_name\" value=\"Fibra Já\""));
        assert_eq!(http(addr, "POST", "/configuracoes/parametros", &root, base).await.status, 403, "no CSRF");
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(store::dunning::window_days(&mut conn).await.unwrap(), 10);
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT actor, entity, before, after FROM audit_log WHERE action = 'setting.set' ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let changed: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        changed,
        [
            "company_name",
            "company_email",
            "portal_url",
            "dunning_window_days"
        ]
    );
    assert_eq!(
        rows[0],
        (
            "user: root".into(),
            "company_name".into(),
            Some("Provedor".into()),
            Some("Fibra Já".into())
        )
    );
    assert_eq!(rows[3].2.as_deref(), Some("7"));
}

#[tokio::test]
async fn administrators_add_deactivate_and_reactivate_users() {
    let t = sqlite().await;
    add_user(&t.db, "root", Role::Admin, "senha-forte-3").await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, _) = session_for(addr, "ana", "senha-forte-1").await;
        assert_eq!(
            http(addr, "GET", "/configuracoes/usuarios", &ana, "")
                .await
                .status,
            403
        );
        let (root, csrf) = session_for(addr, "root", "senha-forte-3").await;
        let c = enc(&csrf);
        let made = http(
            addr,
            "POST",
            "/configuracoes/usuarios",
            &root,
            &format!("_csrf={c}&login=bia&name=Bia+Reis&role=support"),
        )
        .await;
        assert_eq!(made.status, 200);
        assert_eq!(made.header("cache-control"), Some("no-store"));
        let marker = "<code id=\"new-password\">";
        let start = made.body.find(marker).expect("the password, once") + marker.len();
        let password = made.body[start..].split('<').next().unwrap().to_string();
        assert_eq!(password.len(), 16);
        assert!(
            !http(addr, "GET", "/configuracoes/usuarios", &root, "")
                .await
                .body
                .contains(&password),
            "shown once"
        );
        let dup = http(
            addr,
            "POST",
            "/configuracoes/usuarios",
            &root,
            &format!("_csrf={c}&login=bia&name=&role=support"),
        )
        .await;
        assert!(dup.body.contains("Já existe um usuário com este login."));
        let bad = http(
            addr,
            "POST",
            "/configuracoes/usuarios",
            &root,
            &format!("_csrf={c}&login=a+b&name=&role=support"),
        )
        .await;
        assert_eq!(bad.status, 422);
        // Bia logs in with the one-time password: nothing but choosing her own until she does.
        let r = log_in(addr, "bia", &password).await;
        let bia = format!("regua_session={}", r.cookie("regua_session").unwrap());
        let blocked = http(addr, "GET", "/faturas", &bia, "").await;
        assert_eq!(
            (blocked.status, blocked.header("location")),
            (303, Some("/senha"))
        );
        let form = http(addr, "GET", "/senha", &bia, "").await;
        assert!(
            form.body
                .contains("a senha provisória vale só para o primeiro acesso")
        );
        let bcsrf = enc(&form.field("_csrf"));
        let pw = enc(&password);
        for (body, msg) in [
            (
                format!(
                    "_csrf={bcsrf}&current=errada&new=nova-senha-da-bia&confirm=nova-senha-da-bia"
                ),
                "A senha atual não confere.",
            ),
            (
                format!("_csrf={bcsrf}&current={pw}&new=curta&confirm=curta"),
                "A nova senha precisa de 10 caracteres ou mais.",
            ),
            (
                format!(
                    "_csrf={bcsrf}&current={pw}&new=nova-senha-da-bia&confirm=outra-senha-da-bia"
                ),
                "As duas novas senhas não são iguais.",
            ),
        ] {
            let r = http(addr, "POST", "/senha", &bia, &body).await;
            assert_eq!(r.status, 422);
            assert!(r.body.contains(msg), "{msg}");
        }
        let changed = http(
            addr,
            "POST",
            "/senha",
            &bia,
            &format!("_csrf={bcsrf}&current={pw}&new=nova-senha-da-bia&confirm=nova-senha-da-bia"),
        )
        .await;
        assert_eq!(changed.status, 303);
        assert_eq!(
            http(addr, "GET", "/", &bia, "").await.status,
            200,
            "the session goes on"
        );
        assert_eq!(
            log_in(addr, "bia", &password).await.status,
            401,
            "the one-time password is gone"
        );
        let password = "nova-senha-da-bia".to_string();
        // Deactivated, her session ends at once; reactivated, she logs in again.
        let mut conn = db.pool.acquire().await.unwrap();
        let users = store::auth::list_users(&mut conn).await.unwrap();
        drop(conn);
        let bia_id = users.iter().find(|u| u.login == "bia").unwrap().id;
        let root_id = users.iter().find(|u| u.login == "root").unwrap().id;
        let off = http(
            addr,
            "POST",
            &format!("/configuracoes/usuarios/{bia_id}/desativar"),
            &root,
            &format!("_csrf={c}"),
        )
        .await;
        assert_eq!(off.status, 303);
        assert_eq!(http(addr, "GET", "/", &bia, "").await.status, 303);
        assert_eq!(log_in(addr, "bia", &password).await.status, 401);
        let on = http(
            addr,
            "POST",
            &format!("/configuracoes/usuarios/{bia_id}/reativar"),
            &root,
            &format!("_csrf={c}"),
        )
        .await;
        assert_eq!(on.status, 303);
        assert_eq!(log_in(addr, "bia", &password).await.status, 303);
        let own = http(
            addr,
            "POST",
            &format!("/configuracoes/usuarios/{root_id}/desativar"),
            &root,
            &format!("_csrf={c}"),
        )
        .await;
        assert_eq!(own.status, 409);
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "user.add",
            "user.password",
            "user.deactivate",
            "user.activate"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_are_reviewed_in_the_ui() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-2").await;
    open_invoices(&t.db, 2).await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::parties::set_setting(
        &mut conn,
        store::accounts::SETTING_FINANCIAL_ACCOUNT,
        "Principal",
    )
    .await
    .unwrap();
    store::dunning::insert_band(&mut conn, 1, 10, None, true, 0)
        .await
        .unwrap();
    drop(conn);
    let run = |d: jiff::civil::Date| regua::dunning::RunRequest {
        date: d,
        dry_run: false,
        routine: None,
        trigger: regua::dunning::Trigger::Manual,
        actor: "test".into(),
        emission: None,
        detail: false,
    };
    let jan12 = jiff::civil::date(2026, 1, 12);
    regua::dunning::run(&t.db, &clock_on("2026-01-12"), &run(jan12))
        .await
        .unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-2").await;
        let list = http(addr, "GET", "/cartas", &leo, "").await;
        assert!(
            list.body
                .contains("<td>K1/2026-01</td><td>Maria Silva</td><td>1 a 10 dias</td>"),
            "{}",
            list.body
        );
        assert!(
            !list.body.contains("Aprovar"),
            "Somente leitura sees, does not decide"
        );
        let mut conn = db.pool.acquire().await.unwrap();
        let letter = store::dunning::list_letter_reviews(&mut conn, Some("pending"))
            .await
            .unwrap()[0]
            .id;
        drop(conn);
        let pdf = http(
            addr,
            "GET",
            &format!("/cartas/{letter}/carta.pdf"),
            &leo,
            "",
        )
        .await;
        assert!(pdf.body.starts_with("%PDF-"));
        assert_eq!(
            http(
                addr,
                "POST",
                &format!("/cartas/{letter}/aprovar"),
                &leo,
                &format!("_csrf={}", enc(&leo_csrf))
            )
            .await
            .status,
            403
        );
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let c = enc(&csrf);
        let ok = http(
            addr,
            "POST",
            "/cartas/aprovar-todas",
            &ana,
            &format!("_csrf={c}"),
        )
        .await;
        assert_eq!(ok.status, 303);
        let page = http(addr, "GET", ok.header("location").unwrap(), &ana, "").await;
        assert!(
            page.body
                .contains("1 carta(s) aprovada(s) e na fila de envio.")
        );
        assert!(page.body.contains("Nenhuma carta esperando revisão."));
        assert_eq!(
            http(
                addr,
                "POST",
                &format!("/cartas/{letter}/aprovar"),
                &ana,
                &format!("_csrf={c}")
            )
            .await
            .status,
            404,
            "decided already"
        );
    })
    .await;
    worker_at(&t.db, &clock_on("2026-01-12"))
        .drain(|_| {})
        .await
        .unwrap();
    assert_eq!(sink.count(), 1);
    assert!(
        sink.received()[0]
            .text()
            .contains("filename=\"carta-cobranca-K1-2026-01.pdf\"")
    );
    // February's letter is rejected: nothing goes out for it.
    let feb12 = jiff::civil::date(2026, 2, 12);
    regua::dunning::run(&t.db, &clock_on("2026-02-12"), &run(feb12))
        .await
        .unwrap();
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let mut conn = db.pool.acquire().await.unwrap();
        let letter = store::dunning::list_letter_reviews(&mut conn, Some("pending"))
            .await
            .unwrap()[0]
            .id;
        drop(conn);
        let r = http(
            addr,
            "POST",
            &format!("/cartas/{letter}/rejeitar"),
            &ana,
            &format!("_csrf={}", enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 303);
        assert!(
            http(addr, "GET", "/cartas", &ana, "")
                .await
                .body
                .contains("Nenhuma carta esperando revisão.")
        );
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(actions, ["letter.approve", "letter.reject"]);
}

#[tokio::test]
async fn an_invoice_pause_is_set_from_the_invoices_page() {
    let t = sqlite().await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-3").await;
    open_invoices(&t.db, 1).await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-3").await;
        assert!(
            !http(addr, "GET", "/faturas", &leo, "")
                .await
                .body
                .contains("pause-form")
        );
        let body = |c: &str, until: &str, reason: &str| {
            format!(
                "_csrf={}&invoice=K1%2F2026-01&until={}&reason={}",
                enc(c),
                enc(until),
                enc(reason)
            )
        };
        assert_eq!(
            http(
                addr,
                "POST",
                "/faturas/pausar",
                &leo,
                &body(&leo_csrf, "2026-01-20", "x")
            )
            .await
            .status,
            403
        );
        let (caio, csrf) = session_for(addr, "caio", "senha-forte-2").await;
        let past = http(
            addr,
            "POST",
            "/faturas/pausar",
            &caio,
            &body(&csrf, "2026-01-06", "promessa"),
        )
        .await;
        assert!(past.body.contains("A data final da pausa já passou."));
        let no_reason = http(
            addr,
            "POST",
            "/faturas/pausar",
            &caio,
            &body(&csrf, "20/01/2026", " "),
        )
        .await;
        assert!(no_reason.body.contains("Informe o motivo"));
        let ok = http(
            addr,
            "POST",
            "/faturas/pausar",
            &caio,
            &body(&csrf, "20/01/2026", "promessa de pagamento"),
        )
        .await;
        assert_eq!(ok.status, 303);
        let page = http(addr, "GET", ok.header("location").unwrap(), &caio, "").await;
        assert!(page.body.contains("Cobrança da fatura K1/2026-01 pausada."));
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    let pauses = store::dunning::list_pauses(&mut conn, jiff::civil::date(2026, 1, 7))
        .await
        .unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0].until, jiff::civil::date(2026, 1, 20));
    assert_eq!(pauses[0].set_by, "user: caio");
}

#[tokio::test]
async fn the_holidays_page_shows_the_year_and_manages_the_isps_own() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-3").await;
    with_server(&t.db, |addr| async move {
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-3").await;
        let page = http(addr, "GET", "/configuracoes/feriados?ano=2026", &leo, "").await;
        assert!(
            page.body.contains(
                "<td>20/11/2026</td><td>Dia Nacional de Zumbi e da Consciência Negra</td>"
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains(
            "<td>16/02/2026</td><td>Carnaval (segunda-feira)</td><td>ponto facultativo</td>"
        ));
        assert!(!page.body.contains("holiday-form"));
        let form = |c: &str, date: &str, place: &str| {
            format!(
                "_csrf={}&date={}&name=Anivers%C3%A1rio&scope=city&place={}&yearly=1",
                enc(c),
                enc(date),
                enc(place)
            )
        };
        assert_eq!(
            http(
                addr,
                "POST",
                "/configuracoes/feriados",
                &leo,
                &form(&leo_csrf, "14/07/2020", "Campinas/SP")
            )
            .await
            .status,
            403
        );
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let bad = http(
            addr,
            "POST",
            "/configuracoes/feriados",
            &ana,
            &form(&csrf, "31/02/2026", "Campinas/SP"),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Data inválida (dd/mm/aaaa)."));
        let no_place = http(
            addr,
            "POST",
            "/configuracoes/feriados",
            &ana,
            &form(&csrf, "14/07/2020", ""),
        )
        .await;
        assert!(
            no_place
                .body
                .contains("Informe a UF ou a cidade/UF do feriado.")
        );
        assert_eq!(
            http(
                addr,
                "POST",
                "/configuracoes/feriados",
                &ana,
                &form(&csrf, "14/07/2020", "Campinas/SP")
            )
            .await
            .status,
            303
        );
        let page = http(addr, "GET", "/configuracoes/feriados?ano=2027", &ana, "").await;
        assert!(
            page.body
                .contains("<td>14/07/2027</td><td>Aniversário</td><td>municipal</td>"),
            "yearly"
        );
        assert!(page.body.contains("municipal (Campinas/SP)"));
        let r = http(
            addr,
            "POST",
            "/configuracoes/feriados/1/remover",
            &ana,
            &format!("_csrf={}", enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 303);
        assert!(
            http(addr, "GET", "/configuracoes/feriados", &ana, "")
                .await
                .body
                .contains("Nenhum feriado cadastrado pelo provedor.")
        );
    })
    .await;
}

#[tokio::test]
async fn wallets_and_billing_methods_are_added_with_the_gateway_warning() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-3").await;
    {
        let mut conn = t.db.pool.acquire().await.unwrap();
        store::rules::insert_send_rule(
            &mut conn,
            "Boleto BB",
            regua::dunning::RuleKind::BeforeDue,
            3,
            None,
            0,
        )
        .await
        .unwrap();
    }
    let db = t.db.clone();
    let db2 = t.db.clone();
    with_server(&t.db, |addr| async move {
        let db = db2;
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-3").await;
        let page = http(addr, "GET", "/configuracoes/carteiras", &leo, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<td>BB</td><td>001 · "), "{}", page.body);
        assert!(!page.body.contains("wallet-form"), "read-only sees no form");
        let form = |c: &str, name: &str, agency: &str, kind: &str| {
            format!(
                "_csrf={}&name={}&bank=341&agency={agency}&account=12345-6&wallet=109&agreement=123456&kind={kind}&send_on_generate=1&pix_key=",
                enc(c),
                enc(name)
            )
        };
        let r = http(addr, "POST", "/configuracoes/carteiras", &leo, &form(&leo_csrf, "Asaas", "1234", "gateway")).await;
        assert_eq!(r.status, 403);
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let bad = http(addr, "POST", "/configuracoes/carteiras", &ana, &form(&csrf, "Asaas", "12a4", "gateway")).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Somente números."), "{}", bad.body);
        assert!(bad.body.contains("name=\"name\" value=\"Asaas\""), "the form is kept");
        let dup = http(addr, "POST", "/configuracoes/carteiras", &ana, &form(&csrf, "BB", "1234", "bank")).await;
        assert_eq!(dup.status, 422);
        assert!(dup.body.contains("Já existe uma carteira com esse nome."));
        let ok = http(addr, "POST", "/configuracoes/carteiras", &ana, &form(&csrf, "Asaas", "1234", "gateway")).await;
        assert_eq!(ok.status, 303);
        let page = http(addr, "GET", "/configuracoes/carteiras", &ana, "").await;
        assert!(page.body.contains("<td>Asaas</td><td>341 · "));
        assert_eq!(
            page.body.matches("class=\"warning\" role=\"alert\"").count(),
            1,
            "the gateway wallet that sends on generation carries the warning"
        );
        assert!(page.body.contains("verifique se o próprio gateway já envia o boleto"));
        let mut conn = db.pool.acquire().await.unwrap();
        let asaas = store::parties::list_wallets(&mut conn).await.unwrap().into_iter().find(|w| w.name == "Asaas").unwrap();
        drop(conn);
        assert!(asaas.send_on_generate);
        let off = http(addr, "POST", &format!("/configuracoes/carteiras/{}/envio", asaas.id.0), &ana, &format!("_csrf={}&on=0", enc(&csrf))).await;
        assert_eq!(off.status, 303);
        let page = http(addr, "GET", "/configuracoes/carteiras", &ana, "").await;
        assert!(!page.body.contains("role=\"alert\""), "switched off, no warning");
        assert_eq!(
            http(addr, "POST", "/configuracoes/carteiras/999/envio", &ana, &format!("_csrf={}&on=1", enc(&csrf))).await.status,
            404
        );

        let page = http(addr, "GET", "/configuracoes/formas", &leo, "").await;
        assert!(page.body.contains("<td>Boleto BB</td><td>BB</td>"), "{}", page.body);
        assert!(page.body.contains("3 dia(s) antes do vencimento"), "the method's rules");
        let m = |name: &str, wallet: &str| format!("_csrf={}&name={}&wallet={}", enc(&csrf), enc(name), enc(wallet));
        let unknown = http(addr, "POST", "/configuracoes/formas", &ana, &m("Boleto Asaas", "Nenhuma")).await;
        assert_eq!(unknown.status, 422);
        assert!(unknown.body.contains("Escolha uma carteira cadastrada."));
        let dup = http(addr, "POST", "/configuracoes/formas", &ana, &m("Boleto BB", "BB")).await;
        assert!(dup.body.contains("Já existe uma forma de cobrança com esse nome."));
        assert_eq!(http(addr, "POST", "/configuracoes/formas", &ana, &m("Boleto Asaas", "Asaas")).await.status, 303);
        let page = http(addr, "GET", "/configuracoes/formas", &ana, "").await;
        assert!(page.body.contains("<td>Boleto Asaas</td><td>Asaas</td>"));
        assert_eq!(http(addr, "POST", "/configuracoes/formas", &ana, "name=X&wallet=BB").await.status, 403, "no CSRF");
        // "Pagamento confirmado": off until switched on; a viewer cannot switch it.
        let mut conn = db.pool.acquire().await.unwrap();
        let bb = store::parties::list_billing_methods(&mut conn).await.unwrap().into_iter().find(|m| m.name == "Boleto BB").unwrap();
        drop(conn);
        assert!(!bb.confirm_payment);
        let cell = format!("<td id=\"confirm-{}\">não", bb.id.0);
        assert!(page.body.contains(&cell), "{}", page.body);
        let switch = format!("/configuracoes/formas/{}/confirmacao", bb.id.0);
        assert_eq!(http(addr, "POST", &switch, &leo, &format!("_csrf={}&on=1", enc(&leo_csrf))).await.status, 403);
        assert_eq!(http(addr, "POST", &switch, &ana, &format!("_csrf={}&on=1", enc(&csrf))).await.status, 303);
        let page = http(addr, "GET", "/configuracoes/formas", &ana, "").await;
        assert!(page.body.contains(&format!("<td id=\"confirm-{}\">sim", bb.id.0)), "{}", page.body);
        assert_eq!(
            http(addr, "POST", "/configuracoes/formas/999/confirmacao", &ana, &format!("_csrf={}&on=1", enc(&csrf))).await.status,
            404
        );
        // Registration and terms: a consumer wallet above the caps is refused with the law's
        // reason and nothing changes; within them, or marked business-only, it is saved.
        let terms_path = format!("/configuracoes/carteiras/{}/condicoes", asaas.id.0);
        let terms = |fine: &str, interest: &str, business: bool| {
            format!(
                "_csrf={}&registration=cnab400&fine={}&interest={}&discount=&discount_days=&write_off_days=30{}",
                enc(&csrf),
                enc(fine),
                enc(interest),
                if business { "&business_only=1" } else { "" }
            )
        };
        assert_eq!(http(addr, "POST", &terms_path, &leo, &terms("2", "1", false)).await.status, 403);
        let refused = http(addr, "POST", &terms_path, &ana, &terms("3", "1", false)).await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("A multa de 3% passa do limite de 2% para consumidores (Código de Defesa do Consumidor, art. 52, § 1º)"), "{}", refused.body);
        let bad = http(addr, "POST", &terms_path, &ana, &terms("dois", "1", false)).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Multa: informe um percentual"), "{}", bad.body);
        assert_eq!(http(addr, "POST", &terms_path, &ana, &terms("2", "1", false)).await.status, 303);
        let page = http(addr, "GET", "/configuracoes/carteiras", &ana, "").await;
        assert!(
            page.body.contains("Remessa CNAB 400 · multa 2,00% · juros 1,00% ao mês · baixa 30 dia(s) após o vencimento"),
            "{}",
            page.body
        );
        assert_eq!(http(addr, "POST", &terms_path, &ana, &terms("3", "1,5", true)).await.status, 303);
        assert_eq!(
            http(addr, "POST", "/configuracoes/carteiras/999/condicoes", &ana, &terms("2", "1", false)).await.status,
            404
        );
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit_log ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let actions: Vec<&str> = actions
        .iter()
        .filter(|(a, _)| a == "user: ana")
        .map(|(_, b)| b.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "wallet.add",
            "wallet.send_on_generate",
            "method.add",
            "method.confirm_payment",
            "wallet.terms",
            "wallet.terms"
        ]
    );
    assert_eq!(
        store::parties::list_billing_methods(&mut conn)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_portal_settings_switch_the_email_button_and_set_the_daily_limits() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "bia", Role::Support, "senha-forte-2").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (bia, _) = session_for(addr, "bia", "senha-forte-2").await;
        assert_eq!(http(addr, "GET", "/configuracoes/central", &bia, "").await.status, 403);
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let page = http(addr, "GET", "/configuracoes/central", &ana, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<option value=\"no\" selected>Não</option>"), "off by default");
        assert!(page.body.contains("Nenhuma conta SMTP padrão nos Parâmetros financeiros"));
        let c = enc(&csrf);
        let bad = http(addr, "POST", "/configuracoes/central", &ana,
            &format!("_csrf={c}&portal_send_email=yes&portal_daily_limit_per_invoice=0&portal_daily_limit_per_customer=10")).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Um número de 1 a 100."));
        let ok = http(addr, "POST", "/configuracoes/central", &ana,
            &format!("_csrf={c}&portal_send_email=yes&portal_daily_limit_per_invoice=2&portal_daily_limit_per_customer=10")).await;
        assert_eq!(ok.status, 303);
        assert_eq!(ok.header("location"), Some("/configuracoes/central?salvo=1"));
        let dash = http(addr, "GET", "/", &ana, "").await;
        assert!(dash.body.contains("id=\"portal-hidden\""), "the dashboard warns the button is hidden");
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(
        store::settings::portal_settings(&mut conn).await.unwrap(),
        store::settings::PortalSettings {
            send_email: true,
            limit_per_invoice: 2,
            limit_per_customer: 10
        }
    );
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'setting.set' AND actor = 'user: ana'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(n, 2, "the two values that changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emission_emails_the_email_ones_once_and_prints_a_carne_of_the_printed_ones() {
    use regua::import::ImportKind;
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    import_ok(&t.db, ImportKind::Customers, "external_id,name,document,email,mobile_phone\nC2,Joao Souza,111.444.777-35,joao@exemplo.com.br,\n").await;
    import_ok(
        &t.db,
        ImportKind::Contracts,
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK2,C2,Fibra 300,\"99,90\",20,printed,Boleto BB\n",
    )
    .await;
    for k in ["K1", "K2"] {
        regua::invoicing::generate_invoices(&t.db, k, 2, &clock_on("2026-01-05"))
            .await
            .unwrap();
    }
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "leo", Role::ReadOnly, "senha-forte-3").await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let db = t.db.clone();
    let db2 = t.db.clone();
    with_server(&t.db, |addr| async move {
        let db = db2;
        let (leo, leo_csrf) = session_for(addr, "leo", "senha-forte-3").await;
        let page = http(addr, "GET", "/emissao", &leo, "").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains("4 fatura(s) em aberto · R$ 439,60 · 2 por e-mail · 2 impressa(s)"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("emission-send"),
            "read-only does not send"
        );
        assert_eq!(
            http(
                addr,
                "POST",
                "/emissao/enviar",
                &leo,
                &format!("_csrf={}", enc(&leo_csrf))
            )
            .await
            .status,
            403
        );
        let printed = http(
            addr,
            "GET",
            "/emissao?entrega=printed&de=01%2F01%2F2026&ate=28%2F02%2F2026",
            &leo,
            "",
        )
        .await;
        assert!(
            printed.body.contains("2 fatura(s) em aberto"),
            "{}",
            printed.body
        );
        let feb = http(
            addr,
            "GET",
            "/emissao?de=01%2F02%2F2026&ate=28%2F02%2F2026&forma=Boleto+BB",
            &leo,
            "",
        )
        .await;
        assert!(
            feb.body
                .contains("2 fatura(s) em aberto · R$ 219,80 · 1 por e-mail · 1 impressa(s)"),
            "{}",
            feb.body
        );
        let bad = http(addr, "GET", "/emissao?de=31%2F02%2F2026", &leo, "").await;
        assert!(bad.body.contains("Vencimento de: use dd/mm/aaaa."));
        let nobody = http(addr, "GET", "/emissao?cliente=C9", &leo, "").await;
        assert!(nobody.body.contains("Cliente não encontrado: C9"));

        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let page = http(addr, "GET", "/emissao", &ana, "").await;
        assert!(
            page.body
                .contains("Defina a conta de e-mail dos parâmetros financeiros"),
            "no financial account yet"
        );
        let mut conn = db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Principal",
        )
        .await
        .unwrap();
        drop(conn);
        let send = format!(
            "_csrf={}&de=&ate=&emissao_de=&emissao_ate=&forma=&cliente=&entrega=",
            enc(&csrf)
        );
        let r = http(addr, "POST", "/emissao/enviar", &ana, &send).await;
        assert_eq!(r.status, 303);
        let back = r.header("location").unwrap().to_string();
        assert!(back.ends_with("enfileiradas=2&repetidas=0"), "{back}");
        assert!(
            http(addr, "GET", &back, &ana, "")
                .await
                .body
                .contains("2 e-mail(s) na fila de envio.")
        );
        let again = http(addr, "POST", "/emissao/enviar", &ana, &send).await;
        assert!(
            again
                .header("location")
                .unwrap()
                .ends_with("enfileiradas=0&repetidas=2"),
            "nothing twice the same day"
        );

        let carne = http(addr, "GET", "/emissao/carne.pdf", &leo, "").await;
        assert_eq!(carne.status, 200);
        assert_eq!(carne.header("content-type"), Some("application/pdf"));
        assert!(
            carne
                .header("content-disposition")
                .unwrap()
                .starts_with("attachment; filename=\"carne-")
        );
        let pages =
            carne.body.matches("/Type /Page").count() - carne.body.matches("/Type /Pages").count();
        assert_eq!(pages, 2, "one page per printed invoice");
        assert!(
            carne.body.contains("(K2/2026-01) Tj") && carne.body.contains("(K2/2026-02) Tj"),
            "the printed contract's boletos"
        );
        assert!(!carne.body.contains("(K1/"), "only the printed ones");
        let none = http(addr, "GET", "/emissao/carne.pdf?cliente=C1", &leo, "").await;
        assert_eq!(none.status, 422);
        assert!(
            none.body
                .contains("Nenhuma fatura impressa em aberto com estes filtros.")
        );
    })
    .await;
    let report = worker_at(&db, &clock_on("2026-01-07"))
        .drain(|_| {})
        .await
        .unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let received = sink.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|m| m.to == ["maria@exemplo.com.br"]));
    assert!(
        received
            .iter()
            .all(|m| m.text().contains("application/pdf"))
    );
}

/// `/metrics` keeps the settled part of the delivery log's histogram and reads only what came
/// after; the totals stay those of a full scan, an attempt recorded late (older than one after
/// it) included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_histogram_reads_only_new_attempts_and_counts_each_once() {
    use regua::web::metrics::{BOUNDS_MS, HistogramCache};
    for t in each_backend().await {
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        let invoices = open_invoices(&t.db, 6).await;
        let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
        let cache = HistogramCache::default();
        let minute = 60_000;
        let db = &t.db;
        let send = async |i: usize, clock: &regua::domain::Clock| {
            queue_invoice_email(
                db,
                &invoices[i],
                &account,
                &format!("m:{i}"),
                clock.now_millis(),
            )
            .await;
            worker_at(db, clock).drain(|_| {}).await.unwrap();
        };
        let last_id = async || -> i64 {
            let mut conn = db.pool.acquire().await.unwrap();
            sqlx::query_scalar("SELECT MAX(id) FROM delivery_attempts")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        };
        let scrape = async |now: i64, count: i64| {
            let mut conn = db.pool.acquire().await.unwrap();
            let got = cache.read(&mut conn, now).await.unwrap();
            let full = store::log::send_duration_histogram(&mut conn, &BOUNDS_MS, 0, None)
                .await
                .unwrap();
            assert_eq!(got, full, "{}", t.label);
            assert_eq!(got.count, count, "{}", t.label);
        };
        let t0 = clock_on("2026-01-07");
        send(0, &t0).await;
        send(1, &t0).await;
        scrape(t0.now_millis(), 2).await;
        assert_eq!(
            cache.settled_up_to().await,
            0,
            "{}: too recent to keep",
            t.label
        );
        let t1 = t0.later_by_millis(20 * minute);
        scrape(t1.now_millis(), 2).await;
        let second = last_id().await;
        assert_eq!(cache.settled_up_to().await, second, "{}", t.label);
        // One sent now, then one whose row is written after it but started 20 minutes before
        // (a slow batch): the mark waits for the newer one to settle, so neither is lost or
        // counted twice.
        send(2, &t1).await;
        send(3, &t0).await;
        scrape(t1.now_millis() + minute, 4).await;
        assert_eq!(cache.settled_up_to().await, second, "{}", t.label);
        scrape(t1.now_millis() + 20 * minute, 4).await;
        assert_eq!(cache.settled_up_to().await, last_id().await, "{}", t.label);
        send(4, &t1.later_by_millis(30 * minute)).await;
        scrape(t1.now_millis() + 31 * minute, 5).await;
        assert_eq!(sink.count(), 5);
        // And through the endpoint, on either engine.
        let label = t.label;
        with_server(db, |addr| async move {
            let m = http(addr, "GET", "/metrics", "", "").await;
            assert_eq!(m.status, 200, "{label}: {}", m.body);
            for line in [
                "regua_notices{status=\"sent\"} 5",
                "regua_send_duration_seconds_count 5",
                "regua_send_duration_seconds_bucket{le=\"+Inf\"} 5",
            ] {
                assert!(
                    m.body.lines().any(|l| l == line),
                    "{label}: {line} in\n{}",
                    m.body
                );
            }
        })
        .await;
    }
}

/// The dashboard says which server's scheduler runs the routines, and warns when none does
/// (never started, or its lease lapsed: the server died).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_tells_which_server_runs_the_routines_or_that_none_does() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Support, "senha-forte-1").await;
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, _) = session_for(addr, "ana", "senha-forte-1").await;
        let line = async || {
            let dash = http(addr, "GET", "/", &ana, "").await;
            let start = dash.body.find("id=\"scheduler\">").expect("the scheduler line");
            let rest = &dash.body[start + "id=\"scheduler\">".len()..];
            let alert = dash.body[..start].ends_with("class=\"error\" ");
            (rest[..rest.find("</p>").unwrap()].to_string(), alert)
        };
        assert_eq!(
            line().await,
            (
                "Nenhum servidor executa as rotinas agora: elas rodam dentro do regua serve (sem --no-scheduler).".to_string(),
                true
            )
        );
        // The server's clock is noon of 07/01/2026; a lease taken then by another server.
        let now = clock_on("2026-01-07").now_millis();
        let lease = i64::try_from(regua::dunning::LEASE.as_millis()).unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::dunning::take_lease(&mut conn, regua::dunning::LEASE_NAME, "srv-1:42", now, now + lease)
                .await
                .unwrap()
        );
        assert_eq!(
            line().await,
            (
                "As rotinas rodam no servidor srv-1:42 (último sinal às 12:00 de 07/01/2026).".to_string(),
                false
            )
        );
        // Its last renewal an hour ago: lapsed.
        sqlx::query("UPDATE leases SET until = $1")
            .bind(now - 3_600_000 + lease)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            line().await,
            (
                "Nenhum servidor executa as rotinas agora: o último (srv-1:42) deu sinal às 11:00 de 07/01/2026. Verifique se o regua serve está rodando.".to_string(),
                true
            )
        );
    })
    .await;
}

#[tokio::test]
async fn the_invoice_page_lists_its_collection_history() {
    let t = sqlite().await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    let invoices = open_invoices(&t.db, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let account = folder_account(&t.db, dir.path()).await;
    let clock = clock_on("2026-01-06");
    queue_invoice_email(
        &t.db,
        &invoices[0],
        &account,
        "band:1:9",
        clock.now_millis(),
    )
    .await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let id = invoices[0].id.0;
    let customer = invoices[0].customer_id.0;
    let ext = invoices[0].external_id.clone();
    with_server(&t.db, |addr| async move {
        let (ana, _) = session_for(addr, "ana", "senha-forte-1").await;
        let page = http(addr, "GET", &format!("/faturas/{id}"), &ana, "").await;
        assert_eq!(page.status, 200);
        let at = page
            .body
            .find("id=\"collection-history\"")
            .expect("the history table");
        let table = &page.body[at..page.body[at..].find("</table>").unwrap() + at];
        assert!(
            table.contains("<td>Lembrete antes do vencimento</td><td>e-mail</td>"),
            "{table}"
        );
        assert!(table.contains("<td>teste</td><td>enviado ("), "{table}");
        // The log names the invoice and filters by it.
        let log = http(
            addr,
            "GET",
            &format!("/log?invoice={}", enc(&ext)),
            &ana,
            "",
        )
        .await;
        assert!(
            log.body
                .contains(&format!("<a href=\"/faturas/{id}\">{ext}</a>")),
            "{}",
            log.body
        );
        let none = http(addr, "GET", "/log?invoice=NAO-EXISTE", &ana, "").await;
        assert!(
            none.body.contains("Fatura não encontrada: NAO-EXISTE"),
            "{}",
            none.body
        );
        // The customer's "E-mails enviados" names it too.
        let page = http(addr, "GET", &format!("/clientes/{customer}"), &ana, "").await;
        assert!(
            page.body
                .contains(&format!("<a href=\"/faturas/{id}\">{ext}</a>")),
            "{}",
            page.body
        );
    })
    .await;
}

#[tokio::test]
async fn a_generation_asked_on_a_page_names_the_user_in_the_history() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    let dir = tempfile::tempdir().unwrap();
    let account = folder_account(&t.db, dir.path()).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::parties::set_setting(
        &mut conn,
        store::accounts::SETTING_FINANCIAL_ACCOUNT,
        &account.name,
    )
    .await
    .unwrap();
    sqlx::query("UPDATE wallets SET send_on_generate = 1")
        .execute(&mut *conn)
        .await
        .unwrap();
    let contract = store::parties::find_contract(&mut conn, "K1")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let r = http(
            addr,
            "POST",
            &format!("/contratos/{}/gerar", contract.id.0),
            &ana,
            &format!("_csrf={}&months=1", enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let mut conn = db.pool.acquire().await.unwrap();
        let actors: Vec<String> =
            sqlx::query_scalar("SELECT actor FROM notices WHERE purpose = 'invoice_generated'")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(actors, ["user: ana"]);
    })
    .await;
}

#[tokio::test]
async fn the_customer_page_edits_the_contact_and_keeps_the_trail() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    add_user(&t.db, "ana", Role::Finance, "senha-forte-1").await;
    add_user(&t.db, "caio", Role::Support, "senha-forte-2").await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let c = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let db = t.db.clone();
    with_server(&t.db, |addr| async move {
        let path = format!("/clientes/{}/contato", c.id.0);
        let form = |csrf: &str, email: &str, zip: &str| {
            format!(
                "_csrf={}&name=Maria+Souza&email={}&mobile_phone=11987654321&address_street=Rua+Nova&address_number=5&address_complement=&address_district=Centro&address_zip={}&address_city=Santos&address_state=SP",
                enc(csrf),
                enc(email),
                enc(zip)
            )
        };
        let (caio, caio_csrf) = session_for(addr, "caio", "senha-forte-2").await;
        assert_eq!(http(addr, "POST", &path, &caio, &form(&caio_csrf, "m@x.com", "11010000")).await.status, 403);
        let (ana, csrf) = session_for(addr, "ana", "senha-forte-1").await;
        let bad = http(addr, "POST", &path, &ana, &form(&csrf, "nao-e-email", "11010000")).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("E-mail principal inválido."), "{}", bad.body);
        let bad = http(addr, "POST", &path, &ana, &form(&csrf, "maria@nova.com.br", "123")).await;
        assert!(bad.body.contains("CEP inválido (8 dígitos)."), "{}", bad.body);
        let ok = http(addr, "POST", &path, &ana, &form(&csrf, "maria@nova.com.br", "11010-000")).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let page = http(addr, "GET", &format!("/clientes/{}", c.id.0), &ana, "").await;
        assert!(page.body.contains("E-mail principal: maria@nova.com.br"));
        assert!(page.body.contains("Endereço: Rua Nova, 5 - Centro - Santos/SP - CEP 11010-000"), "{}", page.body);
        let mut conn = db.pool.acquire().await.unwrap();
        let trail: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT actor, action, before, after FROM audit_log WHERE action = 'customer.update'",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(trail.len(), 1, "only the saved change: {trail:?}");
        assert_eq!(trail[0].0, "user: ana");
        assert!(trail[0].2.as_deref().unwrap().contains("maria@exemplo.com.br"));
        assert!(trail[0].3.as_deref().unwrap().contains("maria@nova.com.br"));
    })
    .await;
}
