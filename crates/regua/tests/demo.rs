//! `regua demo`: the fictitious ISP, and its e-mails written to a folder.

#[test]
fn the_demo_seeds_an_isp_and_writes_its_reminders_to_a_folder_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["demo", "--customers", "60"])
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
    for f in &files {
        let eml = std::fs::read_to_string(f).unwrap();
        assert!(eml.contains("From: \"Provedor Exemplo\" <cobranca@provedorexemplo.com.br>"));
        assert!(eml.contains("Content-Type: application/pdf"));
    }
    let second = run();
    assert!(second.contains("E-mails: 0 enviados"), "{second}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("regua-demo-mail"))
            .unwrap()
            .count(),
        sent
    );
}
