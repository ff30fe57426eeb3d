//! `regua demo`: the fictitious ISP, and its e-mails written to a folder.

#[test]
fn the_demo_seeds_an_isp_and_writes_its_reminders_to_a_folder_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args([
                "demo",
                "--customers",
                "60",
                "--no-serve",
                "--bind",
                "127.0.0.1:9191",
            ])
            .current_dir(dir.path())
            .env_remove("REGUA_DATABASE_URL")
            .env("REGUA_TODAY", "2026-11-22")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(
        first.contains("Demo criada em sqlite://regua-demo.db: 60 clientes"),
        "{first}"
    );
    let line = first.lines().find(|l| l.starts_with("E-mails: ")).unwrap();
    let sent: usize = line["E-mails: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent > 0, "{first}");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("regua-demo-mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), sent);
    let mut suspensions = 0;
    for f in &files {
        let eml = std::fs::read_to_string(f).unwrap();
        assert!(eml.contains("From: \"Provedor Exemplo\" <cobranca@provedorexemplo.com.br>"));
        // Reminders carry the boleto; the demo's one suspension notice does not.
        if eml
            .lines()
            .any(|l| l.starts_with("Message-ID: <") && l.contains(".suspensao.1.agendada."))
        {
            suspensions += 1;
            assert!(eml.contains("25/11/2026"), "from three days on");
        } else {
            assert!(eml.contains("Content-Type: application/pdf"));
        }
    }
    assert_eq!(suspensions, 1);
    // The messages' portal links follow --bind.
    assert!(
        files.iter().any(|f| std::fs::read_to_string(f)
            .unwrap()
            .replace("=\r\n", "")
            .contains("http://127.0.0.1:9191/central/faturas/")),
        "a reminder links to the portal where the demo listens"
    );
    let second = run();
    assert!(second.contains("E-mails: 0 enviados"), "{second}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("regua-demo-mail"))
            .unwrap()
            .count(),
        sent
    );
}

/// `regua demo` without `--no-serve` serves the UI and prints an admin login that works.
#[test]
fn the_demo_serves_the_web_ui_with_a_printed_login() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["demo", "--customers", "20", "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("REGUA_DATABASE_URL")
        .env("REGUA_TODAY", "2026-11-22")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Interface web: ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no address printed"
        );
    }
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let password = line
        .split("senha: ")
        .nth(1)
        .unwrap()
        .trim_end_matches([')', '\n'])
        .to_string();
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    assert!(get("/health").starts_with("HTTP/1.1 200"));
    let form = get("/login");
    let cookie = form
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: regua_login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = format!("_csrf={cookie}&login=admin&password={password}&next=%2F");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: regua_login={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 303"), "{r}");
    assert!(r.contains("set-cookie: regua_session="), "{r}");
    // The printed subscriber logs in to the Central do Assinante.
    let mut portal = String::new();
    stdout.read_line(&mut portal).unwrap();
    assert!(
        portal.starts_with("Central do Assinante: http://"),
        "{portal}"
    );
    let document = portal
        .split("CPF/CNPJ: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let portal_password = portal
        .split("senha: ")
        .nth(1)
        .unwrap()
        .trim_end_matches([')', '\n'])
        .to_string();
    let form = get("/central/entrar");
    let token = form
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: regua_central_form="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = format!(
        "_csrf={token}&documento={}&senha={portal_password}&next=%2Fcentral%2Ffaturas",
        document.replace('/', "%2F")
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /central/entrar HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: regua_central_form={token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 303"), "{document}: {r}");
    assert!(r.contains("set-cookie: regua_central="), "{r}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The README's first command is `cargo run --release -- demo` at the workspace root, where
/// `mailsink` is a binary too: cargo runs the one binary of the workspace's default members, so
/// they must hold exactly one, `regua`. Read from `cargo metadata` (what cargo itself decides
/// with), which builds nothing.
#[test]
fn cargo_run_at_the_workspace_root_runs_regua() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let defaults: Vec<&str> = m["workspace_default_members"]
        .as_array()
        .expect("cargo reports the default members")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let bins: Vec<&str> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| defaults.contains(&p["id"].as_str().unwrap()))
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["regua"]);
}
