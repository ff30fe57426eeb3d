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
            drop(conn);
            // Closed before anything else touches the file: the last connection to close
            // checkpoints and removes the copy's -wal and -shm, so the backup is one file.
            copy.pool.close().await;
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

/// The nightly backup: a backup into `dir` named `regua-YYYYMMDDTHHMMSSZ.db` (`.dump` on
/// PostgreSQL) after `now`, written under a `.partial` name and renamed once checked, so a
/// backup cut short never counts as one; then only the newest `keep` of Régua's backups in
/// `dir` are kept (files of other names are left alone). Returns the backup and what was removed.
pub async fn backup_into(
    db: &Db,
    url: &str,
    dir: &std::path::Path,
    keep: usize,
    now: jiff::Timestamp,
) -> anyhow::Result<(BackupReport, Vec<std::path::PathBuf>)> {
    anyhow::ensure!(keep >= 1, "--keep must be at least 1");
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let extension = match db.backend {
        Backend::Sqlite => "db",
        Backend::Postgres => "dump",
    };
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let name = format!("{BACKUP_PREFIX}{stamp}.{extension}");
    let partial = dir.join(format!("{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    let done = backup(db, url, &partial).await;
    let report = match done {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let path = dir.join(&name);
    anyhow::ensure!(!path.exists(), "{} exists already", path.display());
    std::fs::rename(&partial, &path)?;
    let mut ours: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_backup_name(p))
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in ours.into_iter().take(excess) {
        std::fs::remove_file(&old)?;
        removed.push(old);
    }
    Ok((
        BackupReport {
            path,
            bytes: report.bytes,
        },
        removed,
    ))
}

const BACKUP_PREFIX: &str = "regua-";

/// `regua-20261207T030000Z.db` or `.dump`: the names [`backup_into`] writes (and prunes).
fn is_backup_name(path: &std::path::Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(rest) = name.strip_prefix(BACKUP_PREFIX) else {
        return false;
    };
    let Some(stamp) = rest
        .strip_suffix(".db")
        .or_else(|| rest.strip_suffix(".dump"))
    else {
        return false;
    };
    stamp.len() == 16
        && stamp.ends_with('Z')
        && stamp.as_bytes()[8] == b'T'
        && stamp
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit())
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
