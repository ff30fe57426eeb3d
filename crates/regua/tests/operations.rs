//! Operations: `regua backup` of a live SQLite database while it is written to, and `regua
//! migrate --check` (pending migrations; a database newer than the binary refused).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_live_database_holds_every_row_committed_before_it() {
    let t = sqlite().await;
    let db = t.db.clone();
    open_invoices(&db, 1).await;
    // A writer that never stops: an audit row every few milliseconds.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut tx = db.begin().await.unwrap();
                regua::store::audit::record(
                    &mut tx,
                    "test",
                    "tick",
                    &format!("tick:{n}"),
                    None,
                    None,
                    n,
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before: i64 = {
        let mut conn = db.pool.acquire().await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tick'")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    };
    assert!(before > 10, "the writer runs");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copia.db");
    let out = regua_at(
        &t.url,
        "2026-01-05",
        &["backup", "--output", file.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).starts_with("backup written to "),
        "{}",
        output_text(&out)
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.await.unwrap();
    let copy = regua::store::Db::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mut conn = copy.pool.acquire().await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let in_copy: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tick'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(
        in_copy >= before && in_copy <= written,
        "{before} ≤ {in_copy} ≤ {written}"
    );
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
    let ticks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tick'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(ticks, in_copy, "the restored database is the backup");
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
