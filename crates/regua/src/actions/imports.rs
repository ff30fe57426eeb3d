//! CSV imports from the *Importar* page: the file is checked (every row, nothing written) and
//! kept; on confirmation it is imported, all or nothing, exactly as `regua import` does, and
//! the import is audited with who confirmed it and what it created and updated.

use crate::domain::Actor;
use crate::import::{Encoding, ImportError, ImportKind, ImportReport};
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Checks a file as [`crate::import::preview_csv`] and, when it is good, keeps it for the
/// confirmation; the kept upload's id and the preview.
pub async fn stage(
    db: &Db,
    kind: ImportKind,
    name: &str,
    bytes: &[u8],
    encoding: Option<Encoding>,
    actor: &Actor,
    clock: &crate::domain::Clock,
) -> Result<(i64, ImportReport), ImportError> {
    let report = crate::import::preview_csv(db, kind, bytes, encoding, clock).await?;
    let id = in_transaction(db, async |tx| {
        store::imports::insert_upload(
            tx,
            kind.name(),
            report.encoding.as_str(),
            name,
            bytes,
            &actor.to_string(),
            clock.now_millis(),
        )
        .await
    })
    .await?;
    Ok((id, report))
}

/// Imports a kept upload with the encoding its preview used, forgets it, and audits
/// `import.KIND` with the counts; `Ok(None)` when there is no such upload (imported already).
pub async fn confirm(
    db: &Db,
    upload: i64,
    actor: &Actor,
    clock: &crate::domain::Clock,
) -> Result<Option<(ImportKind, ImportReport)>, ImportError> {
    let staged = {
        let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
        store::imports::get_upload(&mut conn, upload).await?
    };
    let Some(staged) = staged else {
        return Ok(None);
    };
    let kind = ImportKind::from_name(&staged.kind)
        .ok_or_else(|| anyhow::anyhow!("kept upload of unknown kind {:?}", staged.kind))?;
    let encoding = staged.encoding.parse::<Encoding>().ok();
    let report = crate::import::import_csv_as(db, kind, &staged.bytes, encoding, clock).await?;
    in_transaction(db, async |tx| {
        store::imports::delete_upload(tx, upload).await?;
        Audit::of(
            &format!("import.{}", kind.name()),
            format!("file:{}", staged.name),
        )
        .after(
            serde_json::json!({
                "created": report.created, "updated": report.updated,
                "encoding": report.encoding.as_str(),
            })
            .to_string(),
        )
        .write(tx, actor, clock.now_millis())
        .await
    })
    .await?;
    Ok(Some((kind, report)))
}
