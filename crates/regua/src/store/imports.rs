//! CSV files uploaded on the *Importar* page, kept between the preview and the confirmation.

use anyhow::Context as _;
use sqlx::{AnyConnection, Row as _};

/// An upload waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedImport {
    /// Its id (the confirmation's address).
    pub id: i64,
    /// What it holds: `customers`, `contracts`, `invoices`, `payments` or `suspensions`.
    pub kind: String,
    /// The encoding the preview read it with (`UTF-8`, `Windows-1252`).
    pub encoding: String,
    /// The file's name as uploaded.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Who uploaded it (the actor's text).
    pub uploaded_by: String,
}

/// Keeps an upload; its id.
pub async fn insert_upload(
    conn: &mut AnyConnection,
    kind: &str,
    encoding: &str,
    name: &str,
    bytes: &[u8],
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<i64> {
    use base64::Engine as _;
    // A day is long enough to confirm: older uploads are forgotten as new ones arrive.
    sqlx::query("DELETE FROM import_uploads WHERE uploaded_at < $1")
        .bind(now_ms - 24 * 3600 * 1000)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(
        "INSERT INTO import_uploads (kind, encoding, name, content, uploaded_at, uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(kind)
    .bind(encoding)
    .bind(name)
    .bind(base64::engine::general_purpose::STANDARD.encode(bytes))
    .bind(now_ms)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await
    .context("cannot keep the uploaded file")?;
    Ok(row.try_get(0)?)
}

/// An upload by id, if still kept.
pub async fn get_upload(conn: &mut AnyConnection, id: i64) -> anyhow::Result<Option<StagedImport>> {
    use base64::Engine as _;
    let Some(row) = sqlx::query(
        "SELECT id, kind, encoding, name, content, uploaded_by FROM import_uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(StagedImport {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        encoding: row.try_get(2)?,
        name: row.try_get(3)?,
        bytes: base64::engine::general_purpose::STANDARD
            .decode(row.try_get::<String, _>(4)?)
            .context("a kept upload")?,
        uploaded_by: row.try_get(5)?,
    }))
}

/// Forgets an upload; false when it was not kept (imported already).
pub async fn delete_upload(conn: &mut AnyConnection, id: i64) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM import_uploads WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0)
}
