//! Database access for SQLite (the embedded default) and PostgreSQL, through one code path:
//! sqlx's `Any` driver, one set of migrations, and SQL in the subset both engines share
//! (`$n` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`). Functions here are small and
//! named after what they do; they take a connection or transaction and the caller owns the
//! transaction.
//!
//! One module per kind of record, and a call names it (`store::outbox::claim_due_notices`):
//! `accounts` (e-mail accounts, the financial account), `outbox` (notices: the one writer,
//! claims, settling), `log` (attempts, the send ledger's counts, dashboards), `audit`, `auth`
//! (users, sessions, API keys, login throttling), `parties` (customers, contracts, wallets,
//! billing methods, the company profile), `invoices`, `rules` (send rules), `dunning` (bands,
//! routines, holidays, runs, letters, leases), `channels` (SMS gateways, suspensions, push),
//! `portal`, `layouts`, `settings`. The store imports only `domain` (and `secrets`); see
//! docs/architecture.md.

/// A notice status (or a set of them) as SQL writes it: the one place the status values
/// appear in a query, each the text of its `NoticeStatus` (a test checks). A macro so the
/// queries stay `&'static str` literals (`concat!`).
macro_rules! status_sql {
    (queued) => {
        "'queued'"
    };
    (sending) => {
        "'sending'"
    };
    (sent) => {
        "'sent'"
    };
    (dead) => {
        "'dead'"
    };
    (skipped) => {
        "'skipped'"
    };
    // Waiting for their next attempt time.
    (waiting) => {
        "('queued', 'retrying')"
    };
    // Not finished: waiting or leased.
    (pending) => {
        "('queued', 'sending', 'retrying')"
    };
    // Failed attempts (an attempt's outcome).
    (failed) => {
        "('retrying', 'dead')"
    };
    // Finished without being sent: what an operator may queue again.
    (given_up) => {
        "('dead', 'skipped')"
    };
}

/// Bound parameters a bulk statement carries (its rows are written by [`values_rows`]). Both
/// engines take more (SQLite 32 766, PostgreSQL 65 535); this many keeps a statement's text
/// and its prepared form small (measured with `regua bench`'s `cnab` stage).
pub(crate) const MAX_BIND: usize = 1024;

pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod bank_returns;
pub mod bounces;
pub mod bulk;
pub mod channels;
pub mod copy;
pub mod debt;
pub mod dunning;
pub mod imports;
pub mod invoices;
pub mod layouts;
pub mod log;
mod migrate;
pub mod outbox;
pub mod pacing;
pub mod parties;
pub mod pix;
pub mod remessa;
pub mod rules;
pub mod settings;
pub mod subscribers;
pub mod webhooks;
pub mod whatsapp;

pub use migrate::{MIGRATIONS, SchemaStatus, migrate, schema_status};

use std::str::FromStr;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://regua.db";

/// Which engine a URL points at; a few statements (locks, claims) differ per engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A connection pool and the engine behind it.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool; any sqlx executor call takes `&db.pool`.
    pub pool: AnyPool,
    /// The engine.
    pub backend: Backend,
    /// Serialises this process's SQLite write transactions (see [`Db::begin`]).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// What the bulk path needs of each engine (`store::bulk`).
    engine: std::sync::Arc<bulk::Engine>,
}

/// A write transaction on either engine. On SQLite it also holds the process's writer lock
/// (see [`Db::begin`]). It dereferences to the connection, so `&mut tx` and `&mut *tx` work
/// wherever a connection does; `commit` ends it, dropping it rolls back.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }
}

impl Db {
    /// Connects to `url` (`sqlite://FILE`, `sqlite::memory:`, `postgres://…`), creating a SQLite
    /// file if it does not exist. Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "database URL must start with sqlite:// or postgres:// (got {:?})",
                redact_url(url)
            );
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact_url(&url)))?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer (Db::begin queues them in-process); WAL lets the web pages'
            // readers run beside it. 8 rather than 4 made no measurable difference in bench/web
            // (a request holds a connection only per statement); it leaves room for the pages.
            .max_connections(if backend == Backend::Sqlite { 8 } else { 10 })
            // A connection comes back from a failed transaction still inside it when the
            // COMMIT or ROLLBACK itself failed (a full disk, a read-only file system: SQLite
            // may have rolled back on its own, and sqlx's count of open transactions then
            // stays at 1). Pooled again, every later `BEGIN IMMEDIATE` on it failed ("non-zero
            // transaction depth") until the process restarted. Such a connection is closed
            // instead; the ping first lets a rollback queued by a dropped transaction finish.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection as _;
                    // The common case costs nothing: no transaction open.
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    if conn.ping().await.is_err() || conn.is_in_transaction() {
                        tracing::warn!(
                            "database connection left inside a failed transaction; closing it"
                        );
                        return Ok(false);
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to {}", redact_url(&url)))?;
        Ok(Db {
            pool,
            backend,
            writer: Default::default(),
            engine: std::sync::Arc::new(bulk::Engine::new(&url)),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn connect_and_migrate(url: &str) -> anyhow::Result<Db> {
        let db = Db::connect(url).await?;
        migrate(&db).await?;
        Ok(db)
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails with `SQLITE_BUSY`
    /// when another writer got in between, instead of waiting its turn. Writers of this process
    /// also queue on an in-process lock first: SQLite's busy handler waits by sleeping (1 ms,
    /// 2 ms, … 100 ms), so eight concurrent writers polling it managed a few dozen commits a
    /// second where a queue manages thousands.
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        let writer = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        Ok(Tx {
            inner: tx.context("cannot start a transaction")?,
            _writer: writer,
        })
    }
}

impl Db {
    /// Whether the database takes a write now: a one-row upsert in its own transaction (the
    /// `leases` row `health`). `/health` answers with it, so a full disk or a read-only file
    /// system shows there instead of only as failing writes.
    pub async fn check_writable(&self, now_ms: i64) -> anyhow::Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO leases (name, owner, until) VALUES ('health', 'health', $1)
             ON CONFLICT (name) DO UPDATE SET until = excluded.until",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .context("cannot write the health row")?;
        tx.commit().await.context("cannot commit the health row")?;
        Ok(())
    }
}

/// The `VALUES` rows of a bulk insert: `rows` tuples of `width` parameters, numbered from
/// `first` on PostgreSQL (`($1, $2), ($3, $4)`), positional on SQLite (`(?, ?), (?, ?)`), whose
/// lookup of numbered parameters grows with their count (a statement of 2 000 of them took
/// seconds).
pub(crate) fn values_rows(
    conn: &sqlx::AnyConnection,
    rows: usize,
    width: usize,
    first: usize,
) -> String {
    let numbered = conn.backend_name() != "SQLite";
    let mut out = String::with_capacity(rows * width * 6);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            if numbered {
                out.push_str(&format!("${n}"));
            } else {
                out.push('?');
            }
            n += 1;
        }
        out.push(')');
    }
    out
}

/// Integer ids as a comma-separated SQL list, for `IN (…)`: integers only, so nothing a user
/// typed can reach the SQL text.
pub(crate) fn id_list(ids: impl Iterator<Item = i64>) -> String {
    ids.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// Runs `sql`, whose `{ids}` is replaced by the id list, and maps each row; no query at all for
/// an empty list (where `IN ()` would be a syntax error).
pub(crate) async fn fetch_by_ids<T>(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    ids: &[i64],
    from_row: fn(&sqlx::any::AnyRow) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = sql.replace("{ids}", &id_list(ids.iter().copied()));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A database URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// Whether an error is the violation of the named unique/check constraint (both engines put the
/// constraint's name, or for SQLite the columns, in the message).
pub fn is_constraint(err: &sqlx::Error, name: &str) -> bool {
    match err {
        sqlx::Error::Database(e) => e.constraint() == Some(name) || e.message().contains(name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}

#[cfg(test)]
mod status_sql_tests {
    use crate::domain::delivery::NoticeStatus::{self, *};

    fn sql(statuses: &[NoticeStatus]) -> String {
        let quoted: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
        if statuses.len() == 1 {
            quoted[0].clone()
        } else {
            format!("({})", quoted.join(", "))
        }
    }

    #[test]
    fn the_sql_status_values_are_the_notice_statuses() {
        assert_eq!(status_sql!(queued), sql(&[Queued]));
        assert_eq!(status_sql!(sending), sql(&[Sending]));
        assert_eq!(status_sql!(sent), sql(&[Sent]));
        assert_eq!(status_sql!(dead), sql(&[Dead]));
        assert_eq!(status_sql!(skipped), sql(&[Skipped]));
        assert_eq!(status_sql!(waiting), sql(&[Queued, Retrying]));
        assert_eq!(status_sql!(pending), sql(&[Queued, Sending, Retrying]));
        assert_eq!(status_sql!(failed), sql(&[Retrying, Dead]));
        assert_eq!(status_sql!(given_up), sql(&[Dead, Skipped]));
    }
}
