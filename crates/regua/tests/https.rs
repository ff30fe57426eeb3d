//! HTTPS through the reverse-proxy configurations Régua ships (`packaging/nginx/regua.conf`,
//! `packaging/caddy/Caddyfile`, docs/https.md), each run by the real server from Debian's
//! packages (`scripts/test` installs nginx-light and caddy) with certificates made here by
//! `openssl`: the admin's login, the portal's login and a PIX webhook POST work over HTTPS with
//! `Secure` cookies; the PIX webhook refuses a caller without the PSP's client certificate (or
//! with another CA's), and the main host does not answer it at all.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The test's certificates: a CA for the server, a PSP chain for the webhook's client, and a
/// stranger's client certificate from a CA the proxy does not trust.
struct Certs {
    ca: PathBuf,
    server_crt: PathBuf,
    server_key: PathBuf,
    psp_ca: PathBuf,
    client_crt: PathBuf,
    client_key: PathBuf,
    stranger_crt: PathBuf,
    stranger_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

fn make_leaf(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

fn certs(dir: &Path) -> Certs {
    make_ca(dir, "test-ca");
    make_leaf(
        dir,
        "test-ca",
        "server",
        "subjectAltName=DNS:regua.test,DNS:pix.regua.test\nextendedKeyUsage=serverAuth\n",
    );
    make_ca(dir, "psp-ca");
    make_leaf(dir, "psp-ca", "psp-client", "extendedKeyUsage=clientAuth\n");
    make_ca(dir, "other-ca");
    make_leaf(dir, "other-ca", "stranger", "extendedKeyUsage=clientAuth\n");
    Certs {
        ca: dir.join("test-ca.crt"),
        server_crt: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        psp_ca: dir.join("psp-ca.crt"),
        client_crt: dir.join("psp-client.crt"),
        client_key: dir.join("psp-client.key"),
        stranger_crt: dir.join("stranger.crt"),
        stranger_key: dir.join("stranger.key"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTPS request by curl: (status, response headers, body). `client`: a client certificate
/// and key. Cookies go through `jar`.
struct Curl<'a> {
    certs: &'a Certs,
    port: u16,
    jar: PathBuf,
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Curl<'_> {
    async fn call(
        &self,
        host: &str,
        method: &str,
        path: &str,
        form: Option<&str>,
        client: Option<(&Path, &Path)>,
        json: Option<&str>,
    ) -> Reply {
        let dir = self.jar.parent().unwrap();
        let body = dir.join("body");
        let headers = dir.join("headers");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "--cacert"])
            .arg(&self.certs.ca)
            .args([
                "--resolve",
                &format!("{host}:{}:127.0.0.1", self.port),
                "-o",
            ])
            .arg(&body)
            .arg("-D")
            .arg(&headers)
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(["-w", "%{http_code}"]);
        if let Some(f) = form {
            cmd.args(["--data", f]);
        }
        if let Some(j) = json {
            cmd.args(["-H", "Content-Type: application/json", "--data", j]);
        }
        if let Some((crt, key)) = client {
            cmd.arg("--cert").arg(crt).arg("--key").arg(key);
        }
        cmd.arg(format!("https://{host}:{}{path}", self.port));
        // Off the server's task: the server answers on this very task (with_server_at).
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("curl (scripts/test installs it)");
        let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Reply {
            status: code.parse().unwrap_or(0),
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: std::fs::read_to_string(&body).unwrap_or_default(),
        }
    }
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html:?}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn set_cookies(headers: &str) -> Vec<String> {
    headers
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// Runs `exercise` against Régua behind the proxy `start` launches (given the upstream port,
/// the HTTPS port and the folder), on a fresh SQLite database.
async fn through_proxy(
    proxy: &str,
    start: impl FnOnce(u16, u16, &Path, &Certs) -> std::process::Child,
) {
    let t = sqlite().await;
    let invoices = open_invoices(&t.db, 1).await;
    set_portal_password(&t.db, "52998224725", "senha-da-maria").await;
    add_admin(&t.db).await;
    let secret = regua::actions::pix::add_psp(
        &t.db,
        "efi",
        &regua::domain::Actor::Cli("operador".into()),
        0,
    )
    .await
    .unwrap();
    let txid = regua::payment::pix_txid(invoices[0].id);
    let dir = tempfile::tempdir().unwrap();
    let certs = certs(dir.path());

    let db = t.db.clone();
    let proxy = proxy.to_string();
    with_server_at(&t.db, "2026-01-12", |addr| async move {
        let port = free_port();
        let _proxy = KillOnDrop(start(addr.port(), port, dir.path(), &certs));
        // Until the proxy answers.
        let curl = Curl {
            certs: &certs,
            port,
            jar: dir.path().join("jar"),
        };
        let mut up = false;
        for _ in 0..100 {
            if curl
                .call("regua.test", "GET", "/health", None, None, None)
                .await
                .status
                == 200
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            up,
            "{proxy} did not come up: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        // The admin: the login form, then the session — every cookie Secure.
        let form = curl
            .call("regua.test", "GET", "/login", None, None, None)
            .await;
        assert_eq!(form.status, 200, "{proxy}: {}", form.headers);
        let cookies = set_cookies(&form.headers);
        assert!(!cookies.is_empty(), "{proxy}");
        assert!(
            cookies.iter().all(|c| c.ends_with("; Secure")),
            "{proxy}: {cookies:?}"
        );
        let login = curl
            .call(
                "regua.test",
                "POST",
                "/login",
                Some(&format!(
                    "_csrf={}&login=admin&password=senha-forte-123&next=%2F",
                    field(&form.body, "_csrf")
                )),
                None,
                None,
            )
            .await;
        assert_eq!(login.status, 303, "{proxy}: {}", login.body);
        let session: Vec<String> = set_cookies(&login.headers)
            .into_iter()
            .filter(|c| c.starts_with("regua_session="))
            .collect();
        assert_eq!(session.len(), 1, "{proxy}: {}", login.headers);
        assert!(session[0].contains("HttpOnly") && session[0].ends_with("; Secure"));
        let home = curl
            .call("regua.test", "GET", "/faturas", None, None, None)
            .await;
        assert_eq!(home.status, 200, "{proxy}");
        assert!(home.body.contains("Maria Silva"), "{proxy}");

        // The portal: the subscriber logs in and sees the invoice.
        let form = curl
            .call("regua.test", "GET", "/central/entrar", None, None, None)
            .await;
        assert_eq!(form.status, 200, "{proxy}: {}", form.headers);
        let login = curl
            .call(
                "regua.test",
                "POST",
                "/central/entrar",
                Some(&format!(
                    "_csrf={}&documento=529.982.247-25&senha=senha-da-maria&next=%2Fcentral",
                    field(&form.body, "_csrf")
                )),
                None,
                None,
            )
            .await;
        assert_eq!(login.status, 303, "{proxy}: {}", login.body);
        assert!(
            set_cookies(&login.headers)
                .iter()
                .any(|c| c.starts_with("regua_central=") && c.ends_with("; Secure")),
            "{proxy}: {}",
            login.headers
        );
        let portal = curl
            .call("regua.test", "GET", "/central/faturas", None, None, None)
            .await;
        assert_eq!(portal.status, 200, "{proxy}");
        assert!(portal.body.contains("119,90"), "{proxy}: {}", portal.body);

        // The PIX webhook: only with the PSP's certificate, only on its own host.
        let body = serde_json::json!({"pix": [{
            "endToEndId": "E18236120202601121300s0123456789",
            "txid": txid,
            "valor": "119.90",
            "horario": "2026-01-12T13:00:00.000-03:00"
        }]})
        .to_string();
        let path = format!("/webhooks/pix?hmac={secret}");
        let no_cert = curl
            .call("pix.regua.test", "POST", &path, None, None, Some(&body))
            .await;
        assert_ne!(no_cert.status, 200, "{proxy}: no client certificate");
        let stranger = curl
            .call(
                "pix.regua.test",
                "POST",
                &path,
                None,
                Some((&certs.stranger_crt, &certs.stranger_key)),
                Some(&body),
            )
            .await;
        assert_ne!(stranger.status, 200, "{proxy}: another CA's certificate");
        let main_host = curl
            .call(
                "regua.test",
                "POST",
                &path,
                None,
                Some((&certs.client_crt, &certs.client_key)),
                Some(&body),
            )
            .await;
        assert_eq!(
            main_host.status, 403,
            "{proxy}: the main host does not answer it"
        );
        {
            let mut conn = db.pool.acquire().await.unwrap();
            assert!(
                regua::store::pix::list_payments(&mut conn, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{proxy}: nothing recorded from the refused calls"
            );
        }
        let paid = curl
            .call(
                "pix.regua.test",
                "POST",
                &path,
                None,
                Some((&certs.client_crt, &certs.client_key)),
                Some(&body),
            )
            .await;
        assert_eq!(paid.status, 200, "{proxy}: {}", paid.body);
        assert!(paid.body.contains("\"new\":1"), "{proxy}: {}", paid.body);
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            regua::store::pix::list_payments(&mut conn, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

/// The proxy, stopped when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replace_all(mut text: String, pairs: &[(&str, String)]) -> String {
    for (from, to) in pairs {
        assert!(text.contains(from), "the shipped file has {from:?}");
        text = text.replace(from, to);
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nginx_configuration_serves_https_and_requires_the_psp_certificate() {
    through_proxy("nginx", |upstream, port, dir, c| {
        let site = replace_all(
            include_str!("../../../packaging/nginx/regua.conf").to_string(),
            &[
                ("    listen [::]:80;\n", String::new()),
                ("    listen [::]:443 ssl;\n", String::new()),
                ("listen 80;", format!("listen 127.0.0.1:{};", free_port())),
                ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
                ("server 127.0.0.1:8080;", format!("server 127.0.0.1:{upstream};")),
                (
                    "/etc/letsencrypt/live/regua.provedor.com.br/fullchain.pem",
                    c.server_crt.display().to_string(),
                ),
                (
                    "/etc/letsencrypt/live/regua.provedor.com.br/privkey.pem",
                    c.server_key.display().to_string(),
                ),
                (
                    "/etc/letsencrypt/live/pix.regua.provedor.com.br/fullchain.pem",
                    c.server_crt.display().to_string(),
                ),
                (
                    "/etc/letsencrypt/live/pix.regua.provedor.com.br/privkey.pem",
                    c.server_key.display().to_string(),
                ),
                ("/etc/regua/psp-chain.crt", c.psp_ca.display().to_string()),
                ("pix.regua.provedor.com.br", "pix.regua.test".into()),
                ("regua.provedor.com.br", "regua.test".into()),
            ],
        );
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/nginx-body;\n  proxy_temp_path {d}/nginx-proxy;\n  fastcgi_temp_path {d}/nginx-fastcgi;\n  uwsgi_temp_path {d}/nginx-uwsgi;\n  scgi_temp_path {d}/nginx-scgi;\n  include {d}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|n| Path::new(n).exists())
            .unwrap_or("nginx");
        // The server's own prefix, configuration and error log: nothing of the system's.
        let run = |test: bool| {
            let mut cmd = Command::new(nginx);
            if test {
                cmd.arg("-t");
            }
            cmd.arg("-e")
                .arg(dir.join("error.log"))
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"));
            cmd
        };
        let check = run(true)
            .output()
            .expect("nginx (scripts/test installs nginx-light)");
        assert!(
            check.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        run(false)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_caddy_configuration_serves_https_and_requires_the_psp_certificate() {
    through_proxy("caddy", |upstream, port, dir, c| {
        let crt = c.server_crt.display();
        let key = c.server_key.display();
        let site = replace_all(
            include_str!("../../../packaging/caddy/Caddyfile").to_string(),
            &[
                ("reverse_proxy 127.0.0.1:8080", format!("reverse_proxy 127.0.0.1:{upstream}")),
                ("/etc/regua/psp-chain.crt", c.psp_ca.display().to_string()),
                (
                    "pix.regua.provedor.com.br {\n\ttls {",
                    format!("https://pix.regua.test:{port} {{\n\ttls {crt} {key} {{"),
                ),
                (
                    "regua.provedor.com.br {\n",
                    format!("https://regua.test:{port} {{\n\ttls {crt} {key}\n"),
                ),
            ],
        );
        // What the test adds: no admin endpoint, no redirect listener on :80, state in the
        // test's folder.
        let global = format!(
            "{{\n\tadmin off\n\tauto_https disable_redirects\n\thttp_port {}\n\tstorage file_system {}/caddy\n\tskip_install_trust\n}}\n\n",
            free_port(),
            dir.display()
        );
        std::fs::write(dir.join("Caddyfile"), format!("{global}{site}")).unwrap();
        let check = Command::new("caddy")
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .output()
            .expect("caddy (scripts/test installs it)");
        assert!(
            check.status.success(),
            "caddy validate: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    })
    .await;
}
