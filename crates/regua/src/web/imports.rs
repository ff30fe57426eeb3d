//! Importar: customers, contracts, invoices, payments and temporary suspensions from the ERP's
//! CSV files, on screen. Upload → the whole file is checked as `regua import` checks it, every
//! bad line listed in Portuguese and nothing written; a good file shows what will be created and
//! updated, and which encoding was used → "Confirmar importação" imports it all or nothing.
//! Windows-1252 and ISO-8859-1 files (what Brazilian ERPs and Excel export) are read as such:
//! detected, or chosen on the form.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::import::{Encoding, ImportError, ImportKind};

/// The most bad lines the page lists (the count says how many there were).
const SHOWN_ERRORS: usize = 200;

/// What the page shows under the form.
#[derive(Default)]
struct Outcome {
    errors: Vec<String>,
    error_count: usize,
    preview: Option<minijinja::Value>,
    done: Option<String>,
}

fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    kind: &str,
    encoding: &str,
    o: Outcome,
) -> Response {
    let kinds: Vec<_> = ImportKind::ALL
        .iter()
        .map(|k| (k.name(), k.label_pt(), k.required_columns().join(",")))
        .collect();
    let mut resp = state.render(
        "imports.html",
        minijinja::context! {
            title => "Importar",
            kinds, kind, encoding,
            errors => o.errors, error_count => o.error_count,
            preview => o.preview, done => o.done,
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    resp
}

/// `GET /importar`
pub(super) async fn show(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.require(&state, Permission::EditBilling) {
        return r;
    }
    page(
        &state,
        &session,
        StatusCode::OK,
        "customers",
        "",
        Outcome::default(),
    )
}

fn bad_rows(rows: &[crate::import::RowError]) -> Outcome {
    Outcome {
        errors: rows.iter().take(SHOWN_ERRORS).map(|r| r.pt()).collect(),
        error_count: rows.len(),
        ..Outcome::default()
    }
}

/// `POST /importar` (multipart: `tipo`, `codificacao`, `arquivo`): the check and the preview.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    session: Session,
    form: Multipart,
) -> Response {
    let fields = match super::MultipartForm::read(form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let text = |name: &str| fields.text(name);
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&text("_csrf"))) {
        return r;
    }
    let (kind_name, encoding_name) = (text("tipo"), text("codificacao"));
    let refuse = |message: String| {
        page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &kind_name,
            &encoding_name,
            Outcome {
                errors: vec![message],
                error_count: 1,
                ..Outcome::default()
            },
        )
    };
    let Some(kind) = ImportKind::from_name(&kind_name) else {
        return refuse("Escolha o que o arquivo contém.".into());
    };
    let encoding = match encoding_name.as_str() {
        "" => None,
        e => match e.parse::<Encoding>() {
            Ok(e) => Some(e),
            Err(_) => return refuse("Codificação desconhecida.".into()),
        },
    };
    let Some((file_name, bytes)) = fields.file("arquivo") else {
        return refuse("Escolha o arquivo CSV.".into());
    };
    let file_name = file_name.unwrap_or_else(|| "arquivo.csv".into());
    let staged = crate::actions::imports::stage(
        &state.db,
        kind,
        &file_name,
        &bytes,
        encoding,
        &session.actor(),
        &state.clock,
    )
    .await;
    match staged {
        Ok((id, report)) => {
            let sample: Vec<_> = report
                .sample
                .iter()
                .map(|(id, exists)| (id.clone(), if *exists { "atualizado" } else { "novo" }))
                .collect();
            let preview = minijinja::context! {
                id, file => file_name, kind => kind.label_pt(),
                created => report.created, updated => report.updated,
                encoding => report.encoding.as_str(),
                detected => encoding.is_none(),
                sample,
            };
            page(
                &state,
                &session,
                StatusCode::OK,
                kind.name(),
                &encoding_name,
                Outcome {
                    preview: Some(preview),
                    ..Outcome::default()
                },
            )
        }
        Err(ImportError::BadRows(rows)) => {
            tracing::info!(user = %session.user.login, kind = kind.name(), bad = rows.len(), "import refused");
            let mut o = bad_rows(&rows);
            o.errors.insert(0, format!("{} linha(s) com problema: nada foi importado. Corrija o arquivo e envie de novo.", rows.len()));
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind.name(),
                &encoding_name,
                o,
            )
        }
        Err(ImportError::Other(e)) => internal(e),
    }
}

/// `POST /importar/{id}/confirmar`: imports the previewed file, all or nothing.
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    match crate::actions::imports::confirm(&state.db, id, &session.actor(), &state.clock).await {
        Ok(Some((kind, report))) => {
            tracing::info!(user = %session.user.login, kind = kind.name(), created = report.created, updated = report.updated, "import confirmed");
            let done = format!(
                "{}: {} novo(s) e {} atualizado(s), lido(s) como {}.",
                kind.label_pt(),
                report.created,
                report.updated,
                report.encoding.as_str()
            );
            page(
                &state,
                &session,
                StatusCode::OK,
                kind.name(),
                "",
                Outcome {
                    done: Some(done),
                    ..Outcome::default()
                },
            )
        }
        Ok(None) => page(
            &state,
            &session,
            StatusCode::NOT_FOUND,
            "customers",
            "",
            Outcome {
                errors: vec![
                    "Este arquivo já foi importado ou a prévia expirou: envie-o de novo.".into(),
                ],
                error_count: 1,
                ..Outcome::default()
            },
        ),
        // The data changed between the preview and the confirmation: checked again, refused.
        Err(ImportError::BadRows(rows)) => {
            let mut o = bad_rows(&rows);
            o.errors.insert(
                0,
                format!("{} linha(s) com problema: nada foi importado.", rows.len()),
            );
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "customers",
                "",
                o,
            )
        }
        Err(ImportError::Other(e)) => internal(e),
    }
}
