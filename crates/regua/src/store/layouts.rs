//! Layouts and their versions. Writing bumps the version and keeps the old words in
//! `layout_versions`; checking the templates first is the caller's (`actions::layouts`), so
//! nothing invalid is ever stored.

use anyhow::Context as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{Db, is_constraint};
use crate::domain::default_layouts::default_layouts;
use crate::domain::layout::{Layout, LayoutDraft};
use crate::domain::{LayoutId, Purpose};

/// Why a layout could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another layout has this name.
    #[error("a layout named {0:?} already exists")]
    DuplicateName(String),
    /// No such layout.
    #[error("no layout named {0:?}")]
    NotFound(String),
    /// Unexpected failure.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

const COLUMNS: &str = "id, name, purpose, subject, html, text, sms, version, default_of";

fn layout_from_row(r: &AnyRow) -> anyhow::Result<Layout> {
    let purpose = |col: &str| -> anyhow::Result<Option<Purpose>> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| s.parse().map_err(anyhow::Error::msg))
            .transpose()
    };
    Ok(Layout {
        id: LayoutId(r.try_get("id")?),
        name: r.try_get("name")?,
        purpose: purpose("purpose")?.context("layout without purpose")?,
        subject: r.try_get("subject")?,
        html: r.try_get("html")?,
        text: r.try_get("text")?,
        sms: r.try_get("sms")?,
        version: r.try_get("version")?,
        default_of: purpose("default_of")?,
    })
}

/// Installs the built-in layouts that are not in the database yet (by purpose); returns how
/// many. Idempotent and safe to race: a lost race inserts nothing.
pub async fn install_default_layouts(db: &Db) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut installed = 0;
    for d in default_layouts() {
        let row = sqlx::query(
            "INSERT INTO layouts (name, purpose, subject, html, text, version, default_of, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, '', 1, $2, $5, 'regua') ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(d.name)
        .bind(d.purpose.as_str())
        .bind(d.subject)
        .bind(&d.html)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot install the default layouts")?;
        if let Some(row) = row {
            insert_version(
                &mut tx,
                LayoutId(row.try_get(0)?),
                1,
                d.subject,
                &d.html,
                "",
                "",
                now,
                "regua",
            )
            .await?;
            installed += 1;
        }
    }
    tx.commit().await?;
    Ok(installed)
}

#[allow(clippy::too_many_arguments)]
async fn insert_version(
    conn: &mut AnyConnection,
    id: LayoutId,
    version: i64,
    subject: &str,
    html: &str,
    text: &str,
    sms: &str,
    now_ms: i64,
    actor: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO layout_versions (layout_id, version, subject, html, text, sms, saved_at, saved_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.0)
    .bind(version)
    .bind(subject)
    .bind(html)
    .bind(text)
    .bind(sms)
    .bind(now_ms)
    .bind(actor)
    .execute(&mut *conn)
    .await
    .context("cannot record the layout version")?;
    Ok(())
}

/// Every layout, by purpose then name.
pub async fn list_layouts(conn: &mut AnyConnection) -> anyhow::Result<Vec<Layout>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM layouts ORDER BY purpose, name"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(layout_from_row).collect()
}

/// A layout by name.
pub async fn find_layout(conn: &mut AnyConnection, name: &str) -> anyhow::Result<Option<Layout>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM layouts WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(layout_from_row).transpose()
}

/// A layout by id.
pub async fn get_layout(conn: &mut AnyConnection, id: LayoutId) -> anyhow::Result<Layout> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM layouts WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("layout {id}"))?;
    layout_from_row(&row)
}

/// The layout a purpose uses when nothing more specific picks one: the one installed as that
/// purpose's default, else the oldest of that purpose.
pub async fn layout_for_purpose(
    conn: &mut AnyConnection,
    purpose: Purpose,
) -> anyhow::Result<Option<Layout>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM layouts WHERE purpose = $1
         ORDER BY CASE WHEN default_of = $1 THEN 0 ELSE 1 END, id LIMIT 1"
    )))
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(layout_from_row).transpose()
}

/// A layout as it was at `version` (for re-rendering exactly what a notice was sent with).
pub async fn get_layout_version(
    conn: &mut AnyConnection,
    id: LayoutId,
    version: i64,
) -> anyhow::Result<Layout> {
    let current = get_layout(conn, id).await?;
    if current.version == version {
        return Ok(current);
    }
    let row = sqlx::query(
        "SELECT subject, html, text, sms FROM layout_versions WHERE layout_id = $1 AND version = $2",
    )
    .bind(id.0)
    .bind(version)
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("layout {id} version {version}"))?;
    Ok(Layout {
        subject: row.try_get(0)?,
        html: row.try_get(1)?,
        text: row.try_get(2)?,
        sms: row.try_get(3)?,
        version,
        ..current
    })
}

/// Writes a (checked) layout in the caller's transaction: creates it when `existing` is
/// `None`, else a new version of that layout (which may rename it), keeping the words in
/// `layout_versions`. The layout as stored now.
pub async fn write_layout(
    conn: &mut AnyConnection,
    existing: Option<&str>,
    draft: &LayoutDraft,
    actor: &str,
    now_ms: i64,
) -> Result<Layout, WriteError> {
    let name = draft.name.trim();
    let result = match existing {
        None => sqlx::query(
            "INSERT INTO layouts (name, purpose, subject, html, text, sms, version, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $8, 1, $6, $7) RETURNING id, version",
        )
        .bind(name)
        .bind(draft.purpose.as_str())
        .bind(&draft.subject)
        .bind(&draft.html)
        .bind(&draft.text)
        .bind(now_ms)
        .bind(actor)
        .bind(&draft.sms)
        .fetch_optional(&mut *conn)
        .await,
        Some(old) => sqlx::query(
            "UPDATE layouts SET name = $1, purpose = $2, subject = $3, html = $4, text = $5, sms = $9,
             version = version + 1, updated_at = $6, updated_by = $7 WHERE name = $8 RETURNING id, version",
        )
        .bind(name)
        .bind(draft.purpose.as_str())
        .bind(&draft.subject)
        .bind(&draft.html)
        .bind(&draft.text)
        .bind(now_ms)
        .bind(actor)
        .bind(old)
        .bind(&draft.sms)
        .fetch_optional(&mut *conn)
        .await,
    };
    let row = match result {
        Ok(Some(row)) => row,
        Ok(None) => return Err(WriteError::NotFound(existing.unwrap_or(name).to_string())),
        Err(e) if is_constraint(&e, "layouts_name_key") || is_constraint(&e, "layouts.name") => {
            return Err(WriteError::DuplicateName(name.to_string()));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("cannot save the layout")
                .into());
        }
    };
    let id = LayoutId(row.try_get(0).context("layout id")?);
    let version: i64 = row.try_get(1).context("layout version")?;
    insert_version(
        conn,
        id,
        version,
        &draft.subject,
        &draft.html,
        &draft.text,
        &draft.sms,
        now_ms,
        actor,
    )
    .await?;
    Ok(get_layout(conn, id).await?)
}

/// The layout a rule or band sends: the one named, or the one installed for `purpose`.
pub(crate) async fn layout_named_or_default(
    conn: &mut AnyConnection,
    name: Option<&str>,
    purpose: Purpose,
) -> Result<LayoutId, super::parties::ConfigError> {
    match name {
        Some(name) => {
            let layout = find_layout(conn, name).await?.ok_or_else(|| {
                super::parties::ConfigError::Unknown {
                    what: "layout",
                    name: name.to_string(),
                    known: String::new(),
                }
            })?;
            // A layout is written for its purpose's variables and moment: a band's model in a
            // "before due" rule would greet a subscriber who owes nothing yet with overdue text.
            if layout.purpose != purpose {
                return Err(super::parties::ConfigError::Invalid {
                    field: "layout",
                    reason: format!(
                        "{name:?} is a {} layout; this needs a {purpose} one",
                        layout.purpose
                    ),
                });
            }
            Ok(layout.id)
        }
        None => Ok(layout_for_purpose(conn, purpose)
            .await?
            .map(|l| l.id)
            .with_context(|| format!("no default layout for {purpose}"))?),
    }
}
