//! `regua migrate --to postgres://…`: every table of a SQLite database copied into a
//! PostgreSQL one, then verified table by table — the same number of rows and the same SHA-256
//! over the rows in key order, read back from the target (docs/operations.md).
//!
//! The schema is one set of migrations for both engines with two column types, TEXT and BIGINT
//! (migrations/0001_foundation.sql), so a value is an integer, a text or NULL on both sides and
//! the checksum is the same function of the same values. The target is migrated by this binary
//! first, so both sides have the same tables and columns; its defaults (layouts, pacing rules)
//! are replaced by the source's rows. The copy is one transaction on the target: a copy that
//! fails, or does not verify, leaves it as it was.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use sha2::Digest as _;
use sqlx::{AssertSqlSafe, Row as _};

use super::{Backend, Db};

/// One table's copy: rows and checksum on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: String,
    /// Rows read from the source.
    pub source_rows: u64,
    /// Rows read back from the target.
    pub target_rows: u64,
    /// SHA-256 (hex) of the source's rows in key order.
    pub source_sha256: String,
    /// SHA-256 (hex) of the target's rows, read back in the same order.
    pub target_sha256: String,
}

impl TableCopy {
    /// Whether the target holds exactly the source's rows.
    pub fn verified(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sha256 == self.target_sha256
    }
}

/// Tables that make a target "in use": the copy refuses a database holding any of their rows.
const IN_USE: &[&str] = &["customers", "invoices", "notices", "users", "audit_log"];

/// Rows per INSERT: PostgreSQL takes at most 65 535 parameters in one statement.
const MAX_PARAMS: usize = 60_000;

#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// (name, integer?) in the source's order.
    columns: Vec<(String, bool)>,
    /// The primary key's columns, or every column when there is none.
    order: Vec<String>,
    parents: BTreeSet<String>,
}

/// Copies every table of `source` (SQLite) into `target` (PostgreSQL, migrated by this binary
/// and holding no customers, invoices, notices, users or audit rows), verifies each, and
/// commits only when all verify. `progress` is told each table as it is done.
pub async fn copy_database(
    source: &Db,
    target: &Db,
    mut progress: impl FnMut(&TableCopy),
) -> anyhow::Result<Vec<TableCopy>> {
    anyhow::ensure!(
        source.backend == Backend::Sqlite && target.backend == Backend::Postgres,
        "the copy goes from a SQLite database to a PostgreSQL one"
    );
    let source_status = super::schema_status(source).await?;
    let target_status = super::schema_status(target).await?;
    anyhow::ensure!(
        source_status.pending.is_empty() && target_status.pending.is_empty(),
        "both databases must be migrated to this binary's schema first"
    );
    // One read transaction on the source: every table as of one instant.
    let mut src = source.pool.begin().await?;
    let tables = sqlite_tables(&mut src).await?;
    let mut dst = target.begin().await?;
    for name in IN_USE {
        let n: i64 = sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM {name}")))
            .fetch_one(&mut *dst)
            .await?
            .try_get(0)?;
        anyhow::ensure!(
            n == 0,
            "the target database is in use ({n} row(s) in {name}): copy into a new, empty database"
        );
    }
    let target_columns = postgres_columns(&mut dst).await?;
    for t in &tables {
        let theirs = target_columns
            .get(&t.name)
            .with_context(|| format!("the target has no table {}", t.name))?;
        let ours: BTreeSet<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        let theirs: BTreeSet<&str> = theirs.iter().map(String::as_str).collect();
        anyhow::ensure!(
            ours == theirs,
            "table {}: the columns differ between the databases ({ours:?} / {theirs:?})",
            t.name
        );
    }
    // Children first out, parents first in.
    for t in tables.iter().rev() {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", t.name)))
            .execute(&mut *dst)
            .await
            .with_context(|| format!("cannot empty {} in the target", t.name))?;
    }
    let mut report = Vec::with_capacity(tables.len());
    for t in &tables {
        let (source_rows, source_sha256) = copy_table(&mut src, &mut dst, t).await?;
        let (target_rows, target_sha256) = checksum_target(&mut dst, t).await?;
        let copy = TableCopy {
            table: t.name.clone(),
            source_rows,
            target_rows,
            source_sha256,
            target_sha256,
        };
        progress(&copy);
        report.push(copy);
        if t.columns.iter().any(|(c, int)| c == "id" && *int) {
            // Inserted ids do not move an identity's sequence: the next row would collide.
            sqlx::query(AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
                t.name
            )))
            .execute(&mut *dst)
            .await
            .with_context(|| format!("cannot advance {}'s id sequence", t.name))?;
        }
    }
    if let Some(bad) = report.iter().find(|c| !c.verified()) {
        anyhow::bail!(
            "table {} did not verify ({} rows {} → {} rows {}): nothing was committed",
            bad.table,
            bad.source_rows,
            &bad.source_sha256[..12],
            bad.target_rows,
            &bad.target_sha256[..12]
        );
    }
    dst.commit().await?;
    src.rollback().await?;
    Ok(report)
}

/// The source's tables (not SQLite's own, not the migrations' ledger), parents before children.
async fn sqlite_tables(conn: &mut sqlx::AnyConnection) -> anyhow::Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'regua_schema_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let mut tables = BTreeMap::new();
    for name in names {
        let info = sqlx::query(AssertSqlSafe(format!(
            "SELECT name, type, pk FROM pragma_table_info('{name}') ORDER BY cid"
        )))
        .fetch_all(&mut *conn)
        .await?;
        let mut columns = Vec::new();
        let mut pk = Vec::new();
        for r in &info {
            let column: String = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let in_pk: i64 = r.try_get(2)?;
            let kind = kind.to_ascii_uppercase();
            anyhow::ensure!(
                kind.contains("INT") || kind == "TEXT",
                "table {name}, column {column}: type {kind} is neither TEXT nor BIGINT"
            );
            if in_pk > 0 {
                pk.push((in_pk, column.clone()));
            }
            columns.push((column, kind.contains("INT")));
        }
        pk.sort();
        let order = if pk.is_empty() {
            columns.iter().map(|(c, _)| c.clone()).collect()
        } else {
            pk.into_iter().map(|(_, c)| c).collect()
        };
        let parents = sqlx::query(AssertSqlSafe(format!(
            "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list('{name}')"
        )))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<BTreeSet<_>, _>>()?;
        tables.insert(
            name.clone(),
            Table {
                name,
                columns,
                order,
                parents,
            },
        );
    }
    // Topological order; a table referring to itself is its own parent and does not wait.
    let mut ordered: Vec<Table> = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .values()
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| p == &t.name || placed.contains(p) || !tables.contains_key(p))
            })
            .map(|t| t.name.clone())
            .collect();
        anyhow::ensure!(!ready.is_empty(), "the foreign keys form a cycle");
        for name in ready {
            placed.insert(name.clone());
            ordered.extend(tables.remove(&name));
        }
    }
    Ok(ordered)
}

async fn postgres_columns(
    conn: &mut sqlx::AnyConnection,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(out)
}

/// A value as both engines hold it.
#[derive(Debug, Clone)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

fn hash_value(h: &mut sha2::Sha256, v: &Value) {
    match v {
        Value::Null => h.update([0u8]),
        Value::Int(i) => {
            h.update([1u8]);
            h.update(i.to_be_bytes());
        }
        Value::Text(s) => {
            h.update([2u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

fn read_row(row: &sqlx::any::AnyRow, t: &Table) -> anyhow::Result<Vec<Value>> {
    t.columns
        .iter()
        .enumerate()
        .map(|(i, (column, int))| {
            let v = if *int {
                row.try_get::<Option<i64>, _>(i)
                    .map(|v| v.map_or(Value::Null, Value::Int))
            } else {
                row.try_get::<Option<String>, _>(i)
                    .map(|v| v.map_or(Value::Null, Value::Text))
            };
            v.with_context(|| format!("table {}, column {column}", t.name))
        })
        .collect()
}

fn select_sql(t: &Table, backend: Backend) -> String {
    let columns: Vec<String> = t.columns.iter().map(|(c, _)| quoted(c)).collect();
    let order: Vec<String> = t
        .order
        .iter()
        .map(|c| {
            let text = t.columns.iter().any(|(n, int)| n == c && !int);
            // Byte order on both sides: PostgreSQL's default collation sorts text otherwise.
            if text && backend == Backend::Postgres {
                format!("{} COLLATE \"C\"", quoted(c))
            } else {
                quoted(c)
            }
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        quoted(&t.name),
        order.join(", ")
    )
}

async fn copy_table(
    src: &mut sqlx::AnyConnection,
    dst: &mut sqlx::AnyConnection,
    t: &Table,
) -> anyhow::Result<(u64, String)> {
    use futures_util::TryStreamExt as _;
    let per_batch = (MAX_PARAMS / t.columns.len().max(1)).clamp(1, 1000);
    let mut hash = sha2::Sha256::new();
    let mut rows = 0u64;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_batch);
    let sql = select_sql(t, Backend::Sqlite);
    let mut stream = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *src);
    while let Some(row) = stream.try_next().await? {
        let values = read_row(&row, t)?;
        for v in &values {
            hash_value(&mut hash, v);
        }
        rows += 1;
        batch.push(values);
        if batch.len() == per_batch {
            insert_batch(dst, t, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert_batch(dst, t, &batch).await?;
    }
    Ok((rows, hex(&hash.finalize())))
}

async fn insert_batch(
    dst: &mut sqlx::AnyConnection,
    t: &Table,
    batch: &[Vec<Value>],
) -> anyhow::Result<()> {
    let n = t.columns.len();
    let placeholders: Vec<String> = (0..batch.len())
        .map(|r| {
            let row: Vec<String> = (0..n).map(|c| format!("${}", r * n + c + 1)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let columns: Vec<String> = t.columns.iter().map(|(c, _)| quoted(c)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quoted(&t.name),
        columns.join(", "),
        placeholders.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for row in batch {
        for (v, (_, int)) in row.iter().zip(&t.columns) {
            q = match (v, int) {
                (Value::Null, true) => q.bind(None::<i64>),
                (Value::Null, false) => q.bind(None::<String>),
                (Value::Int(i), _) => q.bind(*i),
                (Value::Text(s), _) => q.bind(s.clone()),
            };
        }
    }
    q.execute(&mut *dst)
        .await
        .with_context(|| format!("cannot insert into {} in the target", t.name))?;
    Ok(())
}

async fn checksum_target(
    dst: &mut sqlx::AnyConnection,
    t: &Table,
) -> anyhow::Result<(u64, String)> {
    use futures_util::TryStreamExt as _;
    let mut hash = sha2::Sha256::new();
    let mut rows = 0u64;
    let sql = select_sql(t, Backend::Postgres);
    let mut stream = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *dst);
    while let Some(row) = stream.try_next().await? {
        for v in read_row(&row, t)? {
            hash_value(&mut hash, &v);
        }
        rows += 1;
    }
    Ok((rows, hex(&hash.finalize())))
}

/// An identifier in double quotes (both engines): a column named like a keyword stays a column.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
