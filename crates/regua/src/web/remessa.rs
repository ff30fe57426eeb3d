//! Remessa: for each wallet whose boletos Régua registers, what its next file would carry and
//! the invoices left out (with why); a button that generates the file and downloads it; the
//! history of files, each downloadable again as the same bytes. The rules are
//! `actions::remessa`'s (docs/remessa.md).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::actions::remessa::Outcome;
use crate::domain::WalletId;
use crate::store;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    gerado: Option<i64>,
    #[serde(default)]
    nada: Option<String>,
}

/// `GET /remessa`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let all = store::parties::list_wallets(&mut conn).await?;
        let files = store::remessa::list_files(&mut conn, 50).await?;
        drop(conn);
        let mut wallets = Vec::new();
        for w in all {
            let (entries, write_offs, changes, blocked, why) =
                match crate::actions::remessa::layout_of(&w) {
                    Ok(_) => {
                        let ((e, o, c), blocked) =
                            crate::actions::remessa::pending(&state.db, w.id).await?;
                        (e, o, c, blocked, None)
                    }
                    Err((_, pt)) => (0, 0, 0, Vec::new(), Some(pt)),
                };
            wallets.push(minijinja::context! {
                id => w.id.0, name => w.name, bank => w.bank_code,
                layout => w.registration.as_str().to_uppercase().replace("CNAB", "CNAB "),
                entries, write_offs, changes, why,
                any => entries + write_offs + changes > 0,
                blocked => blocked.iter().map(|b| minijinja::context! {
                    invoice => b.invoice.clone(), reason => b.reason.clone(),
                }).collect::<Vec<_>>(),
            });
        }
        let files: Vec<_> = files
            .iter()
            .map(|f| {
                minijinja::context! {
                    id => f.id, wallet => f.wallet.clone(), sequence => f.sequence,
                    layout => f.layout.to_uppercase().replace("CNAB", "CNAB "), name => f.name.clone(),
                    entries => f.counts.0, write_offs => f.counts.1, changes => f.counts.2,
                    at => state.clock.local_time(f.generated_at, "%d/%m/%Y %H:%M"),
                    by => f.generated_by.clone(),
                }
            })
            .collect();
        let notice = match (q.gerado, q.nada) {
            (Some(id), _) => Some(format!("Remessa gerada (arquivo nº {id}); baixe-a no histórico abaixo e envie ao banco.")),
            (None, Some(_)) => Some("Nada a enviar: nenhuma fatura nova, baixa ou alteração nesta carteira.".to_string()),
            _ => None,
        };
        Ok(state.render(
            "remessa.html",
            minijinja::context! {
                title => "Remessa", wallets, files, notice,
                can_generate => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /remessa/{wallet}/gerar`: the wallet's next file.
pub(super) async fn generate(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(wallet): Path<i64>,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.local_now();
    match crate::actions::remessa::generate(
        &state.db,
        WalletId(wallet),
        now,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(Outcome::Generated(file, _)) => {
            Redirect::to(&format!("/remessa?gerado={}", file.file_id)).into_response()
        }
        Ok(Outcome::Nothing(_)) => Redirect::to("/remessa?nada=1").into_response(),
        Ok(Outcome::NotRegisteredByRegua(_, pt)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Remessa não gerada",
            &format!("Esta carteira não gera remessa: {pt}."),
        ),
        Err(e) => internal(e),
    }
}

/// `GET /remessa/{id}/arquivo`: file N, the same bytes every time.
pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result = async {
        let mut conn = state.db.pool.acquire().await?;
        store::remessa::get_file(&mut conn, id).await
    }
    .await;
    match result {
        Ok(Some((name, content))) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=us-ascii".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            content,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}
