//! The bulk path: a whole batch of rows per hop to the database, for the work that writes
//! thousands of rows at once (imports, "gerar financeiro", the routine's notices).
//!
//! The rest of the store goes through sqlx's `Any` driver, one statement per call. That costs,
//! per statement, a hand-off between tokio and sqlx's SQLite worker thread (or a round trip to
//! PostgreSQL) and `Any`'s conversion of every bound value: fine for a page or a notice, the
//! bottleneck when a million rows are written (docs/storage.md has the measurements). Here a
//! batch is one hop:
//!
//! - **SQLite**: a connection of its own (rusqlite, on the same file) runs the batch on a
//!   blocking thread, one prepared and cached single-row statement executed for every row.
//!   The transaction holds the process's writer lock ([`Db::begin`]'s), so it never races the
//!   pool's writers, and `BEGIN IMMEDIATE` keeps other processes' writers out.
//! - **PostgreSQL**: one `INSERT … SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], …)` per
//!   [`PG_ROWS`] rows, every column bound as one typed array, on a small pool of native
//!   (non-`Any`) connections.
//!
//! A statement is declared once ([`Insert`]: table, typed columns, the conflict clause, what
//! comes back) and both engines' SQL is derived from it, so the two cannot drift. Single-row
//! statements in the same transaction (an our-number reservation) go through [`Bulk::query`]
//! with `$n` placeholders, which both engines read.

use std::sync::Arc;

use anyhow::Context as _;

use super::{Backend, Db};

/// Rows per PostgreSQL statement: large enough that the round trip is lost in the rows, small
/// enough that a statement's arrays stay a few megabytes (measured with `bench/storage`).
pub const PG_ROWS: usize = 10_000;

/// Rows per hop of [`Bulk::insert_each`]: the hop's cost is lost in this many rows, and their
/// values (about 0.5 KB a row) stay a few megabytes.
pub const CHUNK: usize = PG_ROWS;

/// The type of a bound column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `BIGINT`.
    Int,
    /// `TEXT`.
    Text,
}

impl Ty {
    fn pg_array(self) -> &'static str {
        match self {
            Ty::Int => "BIGINT[]",
            Ty::Text => "TEXT[]",
        }
    }
}

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// `NULL`.
    Null,
}

impl Value {
    /// The integer, or an error naming what it was.
    pub fn int(&self) -> anyhow::Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            other => anyhow::bail!("expected an integer, got {other:?}"),
        }
    }

    /// The text, or an error naming what it was.
    pub fn text(&self) -> anyhow::Result<&str> {
        match self {
            Value::Text(s) => Ok(s),
            other => anyhow::bail!("expected a text, got {other:?}"),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A bulk INSERT (or upsert), declared once for both engines.
#[derive(Debug)]
pub struct Insert {
    /// The table.
    pub table: &'static str,
    /// The bound columns, in the order each row's values come.
    pub columns: &'static [(&'static str, Ty)],
    /// What follows the rows: `ON CONFLICT …` or nothing. Written for both engines.
    pub tail: &'static str,
    /// The columns of `RETURNING`, with their types; empty for none.
    pub returning: &'static [(&'static str, Ty)],
}

impl Insert {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn returning_sql(&self) -> String {
        if self.returning.is_empty() {
            return String::new();
        }
        let cols: Vec<&str> = self.returning.iter().map(|(c, _)| *c).collect();
        format!(" RETURNING {}", cols.join(", "))
    }

    /// The single-row statement with its `RETURNING`: the single-row path runs it through the
    /// `Any` driver on either engine.
    pub fn sqlite_sql(&self) -> String {
        format!("{}{}", self.sqlite_sql_bare(), self.returning_sql())
    }

    /// The single-row statement the SQLite bulk path runs for every row. It has no
    /// `RETURNING`, which SQLite buffers row by row (the generation wrote a third slower with
    /// it): the returned row is made of the new rowid and the row's own values instead (see
    /// [`Insert::returned_from`]).
    fn sqlite_sql_bare(&self) -> String {
        let params: Vec<String> = (1..=self.columns.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}) {}",
            self.table,
            self.column_list(),
            params.join(", "),
            self.tail,
        )
    }

    /// How SQLite's bulk path makes a returned row without `RETURNING`: for each returned
    /// column, `None` for the new rowid (`id`), or the index of the bound column it echoes.
    /// Only an insert that either writes or leaves the row alone (`DO NOTHING`) can say which
    /// row it wrote by its rowid; an upsert that updates cannot.
    fn returned_from(&self) -> anyhow::Result<Vec<Option<usize>>> {
        anyhow::ensure!(
            self.returning.is_empty() || !self.tail.contains("DO UPDATE"),
            "{}: a bulk upsert that updates cannot return rows",
            self.table
        );
        self.returning
            .iter()
            .map(|(name, _)| {
                if *name == "id" {
                    return Ok(None);
                }
                self.columns
                    .iter()
                    .position(|(c, _)| c == name)
                    .map(Some)
                    .with_context(|| format!("{}: {name} is not a bound column", self.table))
            })
            .collect()
    }

    /// The statement PostgreSQL runs per [`PG_ROWS`] rows: one array per column.
    pub fn postgres_sql(&self) -> String {
        let arrays: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, t))| format!("${}::{}", i + 1, t.pg_array()))
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) {}{}",
            self.table,
            self.column_list(),
            arrays.join(", "),
            self.tail,
            self.returning_sql()
        )
    }
}

impl Insert {
    /// Binds one row's values to a query of the `Any` driver (the single-row path: its SQL is
    /// [`Insert::sqlite_sql`], whose `$n` both engines read). A `NULL` is bound with its
    /// column's type, which PostgreSQL checks.
    pub fn bind_one<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        values: Vec<Value>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for (v, (_, ty)) in values.into_iter().zip(self.columns) {
            q = match (v, ty) {
                (Value::Int(i), _) => q.bind(i),
                (Value::Text(s), _) => q.bind(s),
                (Value::Null, Ty::Int) => q.bind(None::<i64>),
                (Value::Null, Ty::Text) => q.bind(None::<String>),
            };
        }
        q
    }
}

/// What a [`Bulk::insert`] wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// Rows written (inserted or, by an upsert, updated).
    pub count: u64,
    /// The `RETURNING` rows.
    pub returned: Vec<Vec<Value>>,
}

/// The engine-specific part of [`Db`] the bulk path needs: SQLite's idle connection (opened on
/// first use), PostgreSQL's native pool (made on first use).
#[derive(Default)]
pub(crate) struct Engine {
    url: String,
    sqlite: std::sync::Mutex<Option<rusqlite::Connection>>,
    postgres: tokio::sync::OnceCell<sqlx::PgPool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(url: &str) -> Engine {
        Engine {
            url: url.to_string(),
            ..Engine::default()
        }
    }

    /// The SQLite file of the URL (`sqlite://FILE?…`, `sqlite:FILE`).
    fn sqlite_path(&self) -> anyhow::Result<String> {
        let rest = self
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))
            .context("not a SQLite URL")?;
        let path = rest.split('?').next().unwrap_or(rest);
        anyhow::ensure!(
            !path.is_empty() && !path.contains(":memory:"),
            "the bulk path needs a SQLite file, not an in-memory database"
        );
        Ok(path.to_string())
    }

    fn open_sqlite(&self) -> anyhow::Result<rusqlite::Connection> {
        if let Some(conn) = self.sqlite.lock().expect("bulk connection lock").take() {
            return Ok(conn);
        }
        let path = self.sqlite_path()?;
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {path} for a bulk write"))?;
        // The pool's connections' settings (Db::connect), and room for the statements of a
        // batch: each is prepared once per connection.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    async fn postgres(&self) -> anyhow::Result<&sqlx::PgPool> {
        self.postgres
            .get_or_try_init(|| async {
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&self.url)
                    .await
                    .with_context(|| format!("cannot connect to {}", super::redact_url(&self.url)))
            })
            .await
    }
}

/// A bulk write transaction: [`Bulk::insert`] and [`Bulk::query`] each take one hop,
/// [`Bulk::commit`] ends it; dropping it rolls back.
pub struct Bulk {
    inner: Inner,
}

enum Inner {
    Sqlite {
        engine: Arc<Engine>,
        /// `None` only while a batch runs on the blocking thread.
        conn: Option<rusqlite::Connection>,
        _writer: tokio::sync::OwnedMutexGuard<()>,
    },
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// Committed.
    Done,
}

impl Db {
    /// Starts a bulk write transaction (see the module's docs).
    pub async fn bulk(&self) -> anyhow::Result<Bulk> {
        let inner = match self.backend {
            Backend::Sqlite => {
                let writer = self.writer.clone().lock_owned().await;
                let engine = self.engine.clone();
                let conn = tokio::task::spawn_blocking(move || {
                    let conn = engine.open_sqlite()?;
                    conn.execute_batch("BEGIN IMMEDIATE")
                        .context("cannot start a bulk transaction")?;
                    anyhow::Ok(conn)
                })
                .await??;
                Inner::Sqlite {
                    engine: self.engine.clone(),
                    conn: Some(conn),
                    _writer: writer,
                }
            }
            Backend::Postgres => {
                let pool = self.engine.postgres().await?;
                Inner::Postgres(pool.begin().await.context("cannot start a transaction")?)
            }
        };
        Ok(Bulk { inner })
    }
}

/// Reads a returned row's columns as their declared types.
fn sqlite_row(row: &rusqlite::Row<'_>, types: &[Ty]) -> rusqlite::Result<Vec<Value>> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(match t {
                Ty::Int => Value::from(row.get::<_, Option<i64>>(i)?),
                Ty::Text => Value::from(row.get::<_, Option<String>>(i)?),
            })
        })
        .collect()
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn pg_row(row: &sqlx::postgres::PgRow, types: &[Ty]) -> anyhow::Result<Vec<Value>> {
    use sqlx::Row as _;
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(match t {
                Ty::Int => Value::from(row.try_get::<Option<i64>, _>(i)?),
                Ty::Text => Value::from(row.try_get::<Option<String>, _>(i)?),
            })
        })
        .collect()
}

impl Bulk {
    /// Runs `f` on the SQLite connection on a blocking thread: one hop.
    async fn on_sqlite<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let Inner::Sqlite { conn, .. } = &mut self.inner else {
            unreachable!("on_sqlite on PostgreSQL")
        };
        let c = conn.take().context("the bulk transaction failed before")?;
        let (c, result) = tokio::task::spawn_blocking(move || {
            let r = f(&c);
            (c, r)
        })
        .await?;
        // After an error the connection stays, still inside the transaction: dropping the
        // Bulk closes it, which rolls back.
        *conn = Some(c);
        result
    }

    /// Inserts `rows` (each `insert.columns.len()` values, in order): how many were written,
    /// and the `RETURNING` rows of those written (a row left alone by `ON CONFLICT … DO
    /// NOTHING` returns nothing, so match them by a key column).
    pub async fn insert(
        &mut self,
        insert: &'static Insert,
        rows: Vec<Vec<Value>>,
    ) -> anyhow::Result<Written> {
        let width = insert.columns.len();
        if let Some(bad) = rows.iter().find(|r| r.len() != width) {
            anyhow::bail!(
                "{}: a row of {} values for {width} columns",
                insert.table,
                bad.len()
            );
        }
        if rows.is_empty() {
            return Ok(Written::default());
        }
        match &mut self.inner {
            Inner::Sqlite { .. } => {
                let from = insert.returned_from()?;
                self.on_sqlite(move |conn| {
                    let mut stmt = conn.prepare_cached(&insert.sqlite_sql_bare())?;
                    let mut out = Written::default();
                    for row in rows {
                        let written = stmt
                            .execute(rusqlite::params_from_iter(row.iter()))
                            .with_context(|| format!("cannot write to {}", insert.table))?;
                        out.count += written as u64;
                        if written == 1 && !from.is_empty() {
                            let id = conn.last_insert_rowid();
                            let mut row = row;
                            out.returned.push(
                                from.iter()
                                    .map(|f| match f {
                                        None => Value::Int(id),
                                        Some(i) => std::mem::replace(&mut row[*i], Value::Null),
                                    })
                                    .collect(),
                            );
                        }
                    }
                    Ok(out)
                })
                .await
            }
            Inner::Done => anyhow::bail!("the bulk transaction is over"),
            Inner::Postgres(tx) => {
                let sql = insert.postgres_sql();
                let types: Vec<Ty> = insert.returning.iter().map(|(_, t)| *t).collect();
                let mut out = Written::default();
                for chunk in rows.chunks(PG_ROWS) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                    for (c, (name, ty)) in insert.columns.iter().enumerate() {
                        q = match ty {
                            Ty::Int => q.bind(
                                chunk
                                    .iter()
                                    .map(|r| match &r[c] {
                                        Value::Int(i) => Ok(Some(*i)),
                                        Value::Null => Ok(None),
                                        Value::Text(_) => {
                                            anyhow::bail!(
                                                "{}.{name}: a text for a BIGINT",
                                                insert.table
                                            )
                                        }
                                    })
                                    .collect::<anyhow::Result<Vec<Option<i64>>>>()?,
                            ),
                            Ty::Text => q.bind(
                                chunk
                                    .iter()
                                    .map(|r| match &r[c] {
                                        Value::Text(s) => Ok(Some(s.clone())),
                                        Value::Null => Ok(None),
                                        Value::Int(_) => {
                                            anyhow::bail!(
                                                "{}.{name}: an integer for a TEXT",
                                                insert.table
                                            )
                                        }
                                    })
                                    .collect::<anyhow::Result<Vec<Option<String>>>>()?,
                            ),
                        };
                    }
                    if types.is_empty() {
                        out.count += q
                            .execute(&mut **tx)
                            .await
                            .with_context(|| format!("cannot write to {}", insert.table))?
                            .rows_affected();
                        continue;
                    }
                    let returned = q
                        .fetch_all(&mut **tx)
                        .await
                        .with_context(|| format!("cannot write to {}", insert.table))?;
                    for r in &returned {
                        out.returned.push(pg_row(r, &types)?);
                        out.count += 1;
                    }
                }
                Ok(out)
            }
        }
    }

    /// [`Bulk::insert`] of `items`, each turned into its row by `row`, [`CHUNK`] rows per hop
    /// (so a million rows never sit in memory as values at once).
    pub async fn insert_each<T>(
        &mut self,
        insert: &'static Insert,
        items: &[T],
        row: impl Fn(&T) -> anyhow::Result<Vec<Value>>,
    ) -> anyhow::Result<Written> {
        let mut out = Written::default();
        for chunk in items.chunks(CHUNK) {
            let rows = chunk.iter().map(&row).collect::<anyhow::Result<Vec<_>>>()?;
            let w = self.insert(insert, rows).await?;
            out.count += w.count;
            out.returned.extend(w.returned);
        }
        Ok(out)
    }

    /// Runs one statement (`$n` placeholders, which both engines read) in the transaction and
    /// returns its rows, read as `returns`.
    pub async fn query(
        &mut self,
        sql: impl Into<String>,
        params: Vec<Value>,
        returns: &'static [Ty],
    ) -> anyhow::Result<Vec<Vec<Value>>> {
        let sql: String = sql.into();
        match &mut self.inner {
            Inner::Sqlite { .. } => {
                self.on_sqlite(move |conn| {
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let mut q = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                    let mut out = Vec::new();
                    while let Some(r) = q.next()? {
                        out.push(sqlite_row(r, returns)?);
                    }
                    Ok(out)
                })
                .await
            }
            Inner::Done => anyhow::bail!("the bulk transaction is over"),
            Inner::Postgres(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for p in params {
                    q = match p {
                        Value::Int(i) => q.bind(i),
                        Value::Text(s) => q.bind(s),
                        Value::Null => q.bind(None::<String>),
                    };
                }
                q.fetch_all(&mut **tx)
                    .await?
                    .iter()
                    .map(|r| pg_row(r, returns))
                    .collect()
            }
        }
    }

    /// Commits; the SQLite connection goes back for the next bulk write.
    pub async fn commit(mut self) -> anyhow::Result<()> {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Sqlite {
                engine,
                conn,
                _writer,
            } => {
                let conn = conn.context("the bulk transaction failed before")?;
                let conn = tokio::task::spawn_blocking(move || {
                    conn.execute_batch("COMMIT")
                        .context("cannot commit the bulk transaction")?;
                    anyhow::Ok(conn)
                })
                .await??;
                *engine.sqlite.lock().expect("bulk connection lock") = Some(conn);
                drop(_writer);
                Ok(())
            }
            Inner::Postgres(tx) => Ok(tx.commit().await?),
            Inner::Done => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ITEMS: Insert = Insert {
        table: "items",
        columns: &[("key", Ty::Text), ("n", Ty::Int)],
        tail: "ON CONFLICT (key) DO NOTHING",
        returning: &[("id", Ty::Int), ("key", Ty::Text)],
    };

    #[test]
    fn both_engines_statements_come_from_one_declaration() {
        assert_eq!(
            ITEMS.sqlite_sql(),
            "INSERT INTO items (key, n) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING id, key"
        );
        assert_eq!(
            ITEMS.sqlite_sql_bare(),
            "INSERT INTO items (key, n) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
        );
        assert_eq!(
            ITEMS.postgres_sql(),
            "INSERT INTO items (key, n) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[]) ON CONFLICT (key) DO NOTHING RETURNING id, key"
        );
    }

    #[test]
    fn sqlite_returns_the_rowid_and_echoes_bound_columns_but_not_for_an_updating_upsert() {
        assert_eq!(ITEMS.returned_from().unwrap(), vec![None, Some(0)]);
        static UPDATES: Insert = Insert {
            tail: "ON CONFLICT (key) DO UPDATE SET n = excluded.n",
            ..ITEMS
        };
        assert!(UPDATES.returned_from().is_err());
        static QUIET: Insert = Insert {
            returning: &[],
            ..UPDATES
        };
        assert_eq!(QUIET.returned_from().unwrap(), Vec::<Option<usize>>::new());
        static UNKNOWN: Insert = Insert {
            returning: &[("other", Ty::Int)],
            ..ITEMS
        };
        assert!(UNKNOWN.returned_from().is_err());
    }
}
