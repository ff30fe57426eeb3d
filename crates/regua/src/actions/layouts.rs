//! Saving a layout from the editor or `regua layout save`: the templates checked first
//! (nothing invalid is ever stored), then the new version and its audit row together.

use crate::domain::Actor;
use crate::layouts::{Layout, LayoutDraft, Part, Problem, check_layout, default_layout};
use crate::store::layouts::WriteError;
use crate::store::{self, Db};

use super::Audit;

/// Why a layout could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The templates have problems; nothing was saved.
    #[error("layout has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
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

impl From<WriteError> for LayoutError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::DuplicateName(n) => LayoutError::DuplicateName(n),
            WriteError::NotFound(n) => LayoutError::NotFound(n),
            WriteError::Other(e) => LayoutError::Other(e),
        }
    }
}

impl LayoutError {
    /// The message for the editor's screen, in Portuguese.
    pub fn message_pt(&self) -> String {
        match self {
            LayoutError::Invalid(problems) => problems
                .iter()
                .map(|p| format!("{}: {p}", p.part.label_pt()))
                .collect::<Vec<_>>()
                .join("\n"),
            LayoutError::DuplicateName(n) => format!("já existe um layout chamado \"{n}\""),
            LayoutError::NotFound(n) => format!("não existe layout chamado \"{n}\""),
            LayoutError::Other(_) => "erro inesperado ao salvar o layout; tente novamente".into(),
        }
    }
}

/// Saves a layout: creates it when `existing` is `None`, else writes a new version of that
/// layout (which may rename it), audited `layout.save`. Validates first; an invalid draft
/// changes nothing.
pub async fn save_layout(
    db: &Db,
    existing: Option<&str>,
    draft: &LayoutDraft,
    actor: &Actor,
    now_ms: i64,
) -> Result<Layout, LayoutError> {
    if draft.name.trim().is_empty() {
        return Err(LayoutError::Invalid(vec![Problem {
            part: Part::Subject,
            line: 1,
            column: 1,
            message: "o nome do layout é obrigatório".into(),
        }]));
    }
    let mut problems = check_layout(&draft.subject, &draft.html, &draft.text);
    problems.extend(crate::layouts::check_sms(&draft.sms));
    problems.extend(crate::layouts::check_required(
        draft.purpose,
        &draft.html,
        &draft.text,
    ));
    if !problems.is_empty() {
        return Err(LayoutError::Invalid(problems));
    }
    let who = actor.to_string();
    let mut tx = db.begin().await?;
    let layout = store::layouts::write_layout(&mut tx, existing, draft, &who, now_ms).await?;
    let version = layout.version;
    let mut audit = Audit::of("layout.save", format!("layout:{}", layout.name))
        .after(format!("version {version}"));
    audit.before = (version > 1).then(|| format!("version {}", version - 1));
    audit.write(&mut tx, actor, now_ms).await?;
    tx.commit()
        .await
        .map_err(|e| anyhow::Error::new(e).context("cannot save the layout"))?;
    tracing::info!(layout = %layout.name, version, actor = %who, "layout saved");
    Ok(layout)
}

/// "Restaurar padrão": writes the built-in words of the layout's purpose as a new version.
pub async fn restore_default_layout(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> Result<Layout, LayoutError> {
    let layout = {
        let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
        store::layouts::find_layout(&mut conn, name)
            .await?
            .ok_or_else(|| LayoutError::NotFound(name.to_string()))?
    };
    let d = default_layout(layout.default_of.unwrap_or(layout.purpose));
    let draft = LayoutDraft {
        name: layout.name.clone(),
        purpose: d.purpose,
        subject: d.subject.to_string(),
        html: d.html,
        text: String::new(),
        sms: String::new(),
    };
    save_layout(db, Some(&layout.name), &draft, actor, now_ms).await
}
