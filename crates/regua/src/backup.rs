//! `regua backup` and `regua restore` (docs/operations.md). Backup: a consistent copy of a live
//! database. SQLite: `VACUUM
//! INTO` a new file — one read transaction, so the copy is the database as of one instant while
//! `serve` and the workers keep writing (WAL) — then `PRAGMA integrity_check` on the copy.
//! PostgreSQL: `pg_dump --format=custom`, the tool its operators already use.

use anyhow::Context as _;

use crate::store::{Backend, Db};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies the database at `url` (`db` connected to it) to `output`, which must not exist.
pub async fn backup(db: &Db, url: &str, output: &std::path::Path) -> anyhow::Result<BackupReport> {
    anyhow::ensure!(
        !output.exists(),
        "{} exists: choose a new file (a backup never overwrites one)",
        output.display()
    );
    match db.backend {
        Backend::Sqlite => {
            let target = output
                .to_str()
                .context("the output path is not valid UTF-8")?
                .replace('\'', "''");
            let mut conn = db.pool.acquire().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
                .execute(&mut *conn)
                .await
                .context("VACUUM INTO failed")?;
            drop(conn);
            // The copy is checked as a database of its own.
            let copy = Db::connect(&format!("sqlite://{}", output.display())).await?;
            let mut conn = copy.pool.acquire().await?;
            let check: String = sqlx::Row::try_get(
                &sqlx::query("PRAGMA integrity_check")
                    .fetch_one(&mut *conn)
                    .await?,
                0,
            )?;
            anyhow::ensure!(
                check == "ok",
                "the copy fails PRAGMA integrity_check: {check}"
            );
        }
        Backend::Postgres => {
            let status = std::process::Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(output)
                .arg(url)
                .status()
                .context("cannot run pg_dump (install postgresql-client)")?;
            anyhow::ensure!(status.success(), "pg_dump failed: {status}");
        }
    }
    Ok(BackupReport {
        path: output.to_path_buf(),
        bytes: std::fs::metadata(output)?.len(),
    })
}

/// Brings the database at `url` back to the backup `file`. SQLite: the backup must pass
/// `PRAGMA integrity_check`; it is copied over the database file (Régua must be stopped: the
/// copy replaces the file under any process that has it open), its `-wal`/`-shm` removed.
/// PostgreSQL: `pg_restore --clean --if-exists --no-owner` into the database.
pub async fn restore(url: &str, file: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(file.exists(), "{} does not exist", file.display());
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        anyhow::ensure!(
            !path.is_empty() && !path.contains(":memory:"),
            "not a SQLite file: {url}"
        );
        let backup = Db::connect(&format!("sqlite://{}?mode=ro", file.display())).await?;
        let mut conn = backup.pool.acquire().await?;
        let check: String = sqlx::Row::try_get(
            &sqlx::query("PRAGMA integrity_check")
                .fetch_one(&mut *conn)
                .await?,
            0,
        )?;
        anyhow::ensure!(
            check == "ok",
            "the backup fails PRAGMA integrity_check: {check}"
        );
        drop(conn);
        backup.pool.close().await;
        // Write beside the target, then rename: a crash never leaves half a database.
        let tmp = format!("{path}.restoring");
        std::fs::copy(file, &tmp).with_context(|| format!("cannot write {tmp}"))?;
        for side in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{side}"));
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {path}"))?;
        Ok(())
    } else {
        let status = std::process::Command::new("pg_restore")
            .args(["--clean", "--if-exists", "--no-owner", "--dbname", url])
            .arg(file)
            .status()
            .context("cannot run pg_restore (install postgresql-client)")?;
        anyhow::ensure!(status.success(), "pg_restore failed: {status}");
        Ok(())
    }
}
