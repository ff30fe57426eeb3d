//! The admin UI over real HTTP (the server on loopback): login, sessions, CSRF, throttling,
//! permissions, the dashboard.

mod common;

use std::net::SocketAddr;

use common::*;
use regua::store;
use regua::web::auth::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().iter().find_map(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// A hidden field's value in the page.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

async fn http(addr: SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: regua\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(form);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn add_user(db: &store::Db, login: &str, role: Role, password: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::insert_user(&mut conn, login, "Ana Souza", role, password, 0)
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
                forecast.body.contains("Previsão para 08&#x2f;01&#x2f;2026"),
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
    store::insert_user(
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
                .contains("&lt;b&gt;Bia&lt;&#x2f;b&gt; · Somente leitura"),
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
