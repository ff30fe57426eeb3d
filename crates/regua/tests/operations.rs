//! Operations (docs/operations.md): `regua backup` of a live SQLite database while `serve`
//! writes to it, restore, the nightly backup, `regua migrate --check` and `--to postgres://`,
//! the configuration file, a PostgreSQL backup restored.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_live_database_holds_every_row_committed_before_it() {
    let t = sqlite().await;
    let db = t.db.clone();
    open_invoices(&db, 1).await;
    let token = {
        let mut conn = db.pool.acquire().await.unwrap();
        regua::store::auth::insert_api_key(
            &mut conn,
            "erp",
            &[regua::web::auth::Permission::EditBilling],
            0,
        )
        .await
        .unwrap()
        .1
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copia.db");
    let url = t.url.clone();
    let (before, in_copy, written) = {
        let file = file.clone();
        let result = std::sync::Arc::new(std::sync::Mutex::new((0i64, 0i64, 0i64)));
        let out = result.clone();
        let db = db.clone();
        with_server_at(&t.db, "2026-01-05", |addr| async move {
            // A client that never stops: `regua serve` creates a customer for it every few
            // milliseconds, through the API, as an ERP would.
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut n = 0i64;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let body = serde_json::json!({
                            "id": format!("W{n}"),
                            "name": format!("Cliente {n}"),
                            "document": "529.982.247-25",
                        });
                        let (status, reply) = common::http::json_call(
                            addr,
                            "POST",
                            "/api/v1/customers",
                            &token,
                            Some(&body),
                        )
                        .await;
                        assert_eq!(status, 201, "{reply}");
                        n += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                    n
                })
            };
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let count = async || -> i64 {
                let mut conn = db.pool.acquire().await.unwrap();
                sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE external_id LIKE 'W%'")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap()
            };
            let before = count().await;
            assert!(before > 10, "the server writes");
            let out_file = file.clone();
            let backup = tokio::task::spawn_blocking(move || {
                regua_at(
                    &url,
                    "2026-01-05",
                    &["backup", "--output", out_file.to_str().unwrap()],
                    &[],
                )
            })
            .await
            .unwrap();
            assert!(backup.status.success(), "{}", output_text(&backup));
            assert!(
                output_text(&backup).starts_with("backup written to "),
                "{}",
                output_text(&backup)
            );
            // Still writing after the backup: the copy is of an instant, not of the end.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let written = writer.await.unwrap();
            let copy = regua::store::Db::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            let mut conn = copy.pool.acquire().await.unwrap();
            let in_copy: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE external_id LIKE 'W%'")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
            *out.lock().unwrap() = (before, in_copy, written);
        })
        .await;
        result.lock().map(|r| *r).unwrap()
    };
    assert!(
        in_copy >= before && in_copy < written,
        "{before} ≤ {in_copy} < {written}"
    );
    let copy = regua::store::Db::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mut conn = copy.pool.acquire().await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    // Every customer committed before the backup began, with no gap: W0 … W(n-1).
    let highest: i64 = sqlx::query_scalar(
        "SELECT MAX(CAST(substr(external_id, 2) AS INTEGER)) FROM customers WHERE external_id LIKE 'W%'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(highest + 1, in_copy);
    let invoices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(invoices, 1);
    drop(conn);
    // Restore brings a fresh database back to that state (with a confirmation).
    let fresh = format!("sqlite://{}", dir.path().join("restaurado.db").display());
    assert!(
        regua_at(&fresh, "2026-01-05", &["migrate"], &[])
            .status
            .success()
    );
    let ask = regua_at(
        &fresh,
        "2026-01-05",
        &["restore", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(ask.status.code(), Some(2), "{}", output_text(&ask));
    assert!(output_text(&ask).contains("--yes"));
    let done = regua_at(
        &fresh,
        "2026-01-05",
        &["restore", file.to_str().unwrap(), "--yes"],
        &[],
    );
    assert!(done.status.success(), "{}", output_text(&done));
    let restored = regua::store::Db::connect(&fresh).await.unwrap();
    let mut conn = restored.pool.acquire().await.unwrap();
    let customers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE external_id LIKE 'W%'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(customers, in_copy, "the restored database is the backup");
    drop(conn);
    // Never over an existing file.
    let again = regua_at(
        &t.url,
        "2026-01-05",
        &["backup", "--output", file.to_str().unwrap()],
        &[],
    );
    assert!(!again.status.success());
    assert!(
        output_text(&again).contains("exists"),
        "{}",
        output_text(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_check_says_what_is_pending_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let fresh = regua_at(&url, "2026-01-05", &["migrate", "--check"], &[]);
    assert_eq!(fresh.status.code(), Some(1), "{}", output_text(&fresh));
    assert!(
        output_text(&fresh).starts_with("pending 0001_foundation\n"),
        "{}",
        output_text(&fresh)
    );
    assert!(
        regua_at(&url, "2026-01-05", &["migrate"], &[])
            .status
            .success()
    );
    let current = regua_at(&url, "2026-01-05", &["migrate", "--check"], &[]);
    assert_eq!(current.status.code(), Some(0), "{}", output_text(&current));
    // A newer regua migrated this database: this one refuses to touch it.
    let db = regua::store::Db::connect(&url).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("INSERT INTO regua_schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let newer = regua_at(&url, "2026-01-05", &["migrate", "--check"], &[]);
    assert_eq!(newer.status.code(), Some(2));
    assert!(
        output_text(&newer).contains("newer than this regua"),
        "{}",
        output_text(&newer)
    );
    let any = regua_at(&url, "2026-01-05", &["debt", "status"], &[]);
    assert!(!any.status.success());
    assert!(
        output_text(&any).contains("install the newer regua"),
        "{}",
        output_text(&any)
    );
}

/// `regua` with only the variables given: none of the test process's `REGUA_*`.
fn bare(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("REGUA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("REGUA_TODAY", "2026-01-05");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_file_is_read_by_every_command_and_variables_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = d.join("secret.key");
    std::fs::write(&key, format!("{}\n", "5e".repeat(32))).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let backups = d.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let config = d.join("regua.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\ntimezone = \"America/Manaus\"\nsecret_key_file = \"{}\"\n\n[backup]\ndir = \"{}\"\nkeep = 2\n",
            d.join("conf.db").display(),
            key.display(),
            backups.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let check = bare(&["--config", cfg, "config", "check"], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", output_text(&check));
    assert_eq!(output_text(&check), format!("{cfg}: ok\n"));

    // The database of the file, found through REGUA_CONFIG as through --config.
    let migrate = bare(&["migrate"], &[("REGUA_CONFIG", cfg)]);
    assert!(migrate.status.success(), "{}", output_text(&migrate));
    assert!(d.join("conf.db").exists());
    // The master key from secret_key_file: sealing a webhook secret needs it.
    let add = bare(
        &[
            "webhook",
            "add",
            "--url",
            "https://erp.example/hook",
            "--events",
            "invoice.paid",
        ],
        &[("REGUA_CONFIG", cfg)],
    );
    assert!(add.status.success(), "{}", output_text(&add));
    let without_key = bare(
        &[
            "--database",
            &format!("sqlite://{}", d.join("conf.db").display()),
            "webhook",
            "add",
            "--url",
            "https://erp.example/other",
            "--events",
            "invoice.paid",
        ],
        &[("REGUA_CONFIG", "/dev/null")],
    );
    assert!(
        output_text(&without_key).contains("REGUA_SECRET_KEY is needed"),
        "{}",
        output_text(&without_key)
    );
    // A variable overrides the file; a flag overrides both.
    let other = format!("sqlite://{}", d.join("env.db").display());
    assert!(
        bare(
            &["migrate"],
            &[("REGUA_CONFIG", cfg), ("REGUA_DATABASE_URL", &other)]
        )
        .status
        .success()
    );
    assert!(d.join("env.db").exists());
    let flag = format!("sqlite://{}", d.join("flag.db").display());
    assert!(
        bare(
            &["--database", &flag, "migrate"],
            &[("REGUA_CONFIG", cfg), ("REGUA_DATABASE_URL", &other)]
        )
        .status
        .success()
    );
    assert!(d.join("flag.db").exists());

    // The nightly backup: into [backup] dir, keeping the newest two.
    let mut written = Vec::new();
    for _ in 0..3 {
        let b = bare(&["backup"], &[("REGUA_CONFIG", cfg)]);
        assert!(b.status.success(), "{}", output_text(&b));
        written.push(
            output_text(&b)
                .lines()
                .next()
                .unwrap()
                .strip_prefix("backup written to ")
                .unwrap()
                .split(" (")
                .next()
                .unwrap()
                .to_string(),
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    std::fs::write(backups.join("notes.txt"), "not a backup").unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    left.sort();
    let mut expected = written[1..].to_vec();
    expected.push(backups.join("notes.txt").display().to_string());
    expected.sort();
    assert_eq!(
        left, expected,
        "the oldest removed, no -wal or .partial left"
    );
    let kept = regua::store::Db::connect(&format!("sqlite://{}", written[2]))
        .await
        .unwrap();
    assert!(
        regua::store::schema_status(&kept)
            .await
            .unwrap()
            .pending
            .is_empty()
    );

    // A misspelt key: every command refuses, naming it; config check lists each problem.
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\ntimezone = \"America/Manaus\"\n[serve]\nbnid = \"0.0.0.0:80\"\n",
            d.join("conf.db").display()
        ),
    )
    .unwrap();
    let refused = bare(&["migrate"], &[("REGUA_CONFIG", cfg)]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        output_text(&refused).contains(&format!("{cfg}: serve.bnid: ")),
        "{}",
        output_text(&refused)
    );
    assert!(output_text(&refused).contains("unknown field `bnid`"));
    std::fs::write(
        &config,
        "timezone = \"America/Sao_Pablo\"\nsecret_key_file = \"/nonexistent/regua.key\"\n",
    )
    .unwrap();
    let check = bare(&["config", "check", "--config", cfg], &[]);
    assert_eq!(check.status.code(), Some(1));
    let text = output_text(&check);
    assert!(
        text.contains(&format!(
            "{cfg}: timezone: unknown time zone \"America/Sao_Pablo\""
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{cfg}: secret_key_file: cannot read /nonexistent/regua.key"
        )),
        "{text}"
    );
}

/// Every table's row count, as the test counts them itself.
async fn row_counts(db: &regua::store::Db, tables: &[String]) -> Vec<(String, i64)> {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        out.push((t.clone(), n));
    }
    out
}

/// The portal as the demo's subscriber sees it: the list of invoices and each invoice's page,
/// without the per-session CSRF token.
async fn portal_pages(db: &regua::store::Db, document: &str, password: &str) -> Vec<String> {
    let pages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = pages.clone();
    let (document, password) = (document.to_string(), password.to_string());
    with_server_at(db, "2026-11-22", |addr| async move {
        let (cookie, csrf) = common::http::portal_session(addr, &document, &password).await;
        let list = common::http::http(addr, "GET", "/central/faturas", &cookie, "").await;
        assert_eq!(list.status, 200);
        let mut seen = vec![list.body.replace(&csrf, "CSRF")];
        let links: Vec<String> = list
            .body
            .split("href=\"/central/faturas/")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect();
        assert!(!links.is_empty(), "the subscriber has invoices");
        for link in links {
            let page = common::http::http(
                addr,
                "GET",
                &format!("/central/faturas/{link}"),
                &cookie,
                "",
            )
            .await;
            seen.push(format!(
                "{} {}",
                page.status,
                page.body.replace(&csrf, "CSRF")
            ));
        }
        out.lock().unwrap().extend(seen);
    })
    .await;
    pages.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_database_moves_to_postgresql_with_every_row_and_the_same_portal() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["demo", "--customers", "60", "--no-serve"])
        .current_dir(dir.path())
        .env_remove("REGUA_DATABASE_URL")
        .env("REGUA_CONFIG", "/dev/null")
        .env("REGUA_TODAY", "2026-11-22")
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", output_text(&demo));
    let url = format!("sqlite://{}", dir.path().join("regua-demo.db").display());
    let source = regua::store::Db::connect_and_migrate(&url).await.unwrap();
    let (document, password) = regua::demo::reset_subscriber(&source, &clock_on("2026-11-22"))
        .await
        .unwrap();
    let target = postgres().await;

    // Not into SQLite, not from a database of the wrong kind.
    let wrong = regua_at(&url, "2026-11-22", &["migrate", "--to", &url], &[]);
    assert_eq!(wrong.status.code(), Some(2), "{}", output_text(&wrong));

    let out = regua_at(&url, "2026-11-22", &["migrate", "--to", &target.url], &[]);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("copied ") && last.contains("row counts and SHA-256 checksums match"),
        "{text}"
    );
    // Every table of the source, each line TABLE, rows, rows, sha256, ok.
    let mut conn = source.pool.acquire().await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'regua_schema_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let mut listed: Vec<String> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "{l}");
            assert_eq!(f[1], f[2], "{l}");
            assert_eq!(f[3].len(), 64, "{l}");
            assert_eq!(f[4], "ok", "{l}");
            f[0].to_string()
        })
        .collect();
    listed.sort();
    assert_eq!(listed, tables);
    let before = row_counts(&source, &tables).await;
    assert_eq!(before, row_counts(&target.db, &tables).await);
    let customers = before.iter().find(|(t, _)| t == "customers").unwrap().1;
    assert_eq!(customers, 60);
    assert!(before.iter().find(|(t, _)| t == "notices").unwrap().1 > 0);

    // The same portal, on the new engine.
    let on_sqlite = portal_pages(&source, &document, &password).await;
    let on_postgres = portal_pages(&target.db, &document, &password).await;
    assert_eq!(on_sqlite.len(), on_postgres.len());
    for (a, b) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(a, b);
    }

    // The ids go on where they stopped: a new customer is taken.
    import_ok(
        &target.db,
        regua::import::ImportKind::Customers,
        "external_id,name,document,email,mobile_phone\nNOVO1,Cliente Novo,111.444.777-35,novo@exemplo.com.br,\n",
    )
    .await;
    // And a second copy into the same database is refused: it is in use now.
    let again = regua_at(&url, "2026-11-22", &["migrate", "--to", &target.url], &[]);
    assert!(!again.status.success());
    assert!(
        output_text(&again).contains("the target database is in use"),
        "{}",
        output_text(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_backup_restores_into_another_database() {
    let from = postgres().await;
    open_invoices(&from.db, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regua.dump");
    let out = regua_at(
        &from.url,
        "2026-01-05",
        &["backup", "--output", file.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    // Into a database of its own, which another server could be using: replaced whole.
    let to = postgres().await;
    let without = regua_at(
        &to.url,
        "2026-01-05",
        &["restore", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(without.status.code(), Some(2));
    let tables: Vec<String> = ["customers", "contracts", "invoices", "audit_log", "layouts"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        row_counts(&to.db, &tables).await[2],
        ("invoices".to_string(), 0)
    );
    let out = regua_at(
        &to.url,
        "2026-01-05",
        &["restore", file.to_str().unwrap(), "--yes"],
        &[],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let restored = row_counts(&to.db, &tables).await;
    assert_eq!(restored, row_counts(&from.db, &tables).await);
    assert_eq!(restored[2], ("invoices".to_string(), 3));
    // And it is a working database: the next invoice takes the next id.
    let more = regua_at(
        &to.url,
        "2026-01-05",
        &["invoices", "generate", "--contract", "K1", "--months", "1"],
        &[],
    );
    assert!(more.status.success(), "{}", output_text(&more));
}
