//! Emissão › Cartas: the collection letters of `email_and_letter` bands waiting for review —
//! preview each PDF, approve (the e-mail goes out with the letter and the boleto) or reject, one
//! by one or all. Seeing needs the view permission; deciding, the dunning one. Audited.

use crate::domain::rules::LetterId;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::store;

#[derive(Deserialize)]
pub(super) struct Done {
    aprovadas: Option<usize>,
    rejeitada: Option<String>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::View, None) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let bands = store::dunning::list_bands(&mut conn).await?;
        let mut rows = Vec::new();
        for l in store::dunning::list_letter_reviews(&mut conn, Some("pending")).await? {
            let inv = store::invoices::get_invoice(&mut conn, l.invoice).await?;
            let customer = store::parties::get_customer(&mut conn, inv.customer_id).await?;
            rows.push(minijinja::context! {
                id => l.id, invoice => inv.external_id, customer => customer.name,
                band => bands.iter().find(|b| b.id.0 == l.band).map_or(String::new(), |b| format!("{} a {} dias", b.from_days, b.to_days)),
            });
        }
        let notice = match (done.aprovadas, done.rejeitada) {
            (Some(n), _) => Some(format!("{n} carta(s) aprovada(s) e na fila de envio.")),
            (_, Some(_)) => Some("Carta rejeitada: nada será enviado nesta faixa.".to_string()),
            _ => None,
        };
        Ok(state.render(
            "letters.html",
            minijinja::context! {
                title => "Cartas de cobrança", letters => rows, notice,
                can_decide => session.user.role.allows(Permission::ManageDunning),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

pub(super) async fn pdf(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<LetterId>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::View, None) {
        return r;
    }
    let result: anyhow::Result<Option<Vec<u8>>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(letter) = store::dunning::list_letter_reviews(&mut conn, None)
            .await?
            .into_iter()
            .find(|l| l.id == id)
        else {
            return Ok(None);
        };
        Ok(Some(
            crate::dunning::letter_pdf(&mut conn, &letter, state.clock.today()).await?,
        ))
    }
    .await;
    match result {
        Ok(Some(pdf)) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// Approves the pending letters given (all of them with `None`); how many.
async fn approve(
    state: &AppState,
    session: &Session,
    only: Option<LetterId>,
) -> anyhow::Result<usize> {
    let actor = session.actor();
    let ids = only.map(|id| [id]);
    let which = match &ids {
        Some(one) => crate::actions::dunning::Letters::Ids(one),
        None => crate::actions::dunning::Letters::All,
    };
    let by = actor.to_string();
    Ok(
        match crate::actions::dunning::approve_letters(
            &state.db,
            which,
            &by,
            &actor,
            state.clock.now_millis(),
        )
        .await?
        {
            crate::actions::dunning::Approval::Approved(n) => n,
            crate::actions::dunning::Approval::NotPending(_) => 0,
        },
    )
}

fn approved(n: usize) -> Response {
    Redirect::to(&format!("/cartas?aprovadas={n}")).into_response()
}

pub(super) async fn approve_one(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<LetterId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    match approve(&state, &session, Some(id)).await {
        Ok(0) => StatusCode::NOT_FOUND.into_response(),
        Ok(n) => approved(n),
        Err(e) => internal(e),
    }
}

pub(super) async fn approve_all(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    match approve(&state, &session, None).await {
        Ok(n) => approved(n),
        Err(e) => internal(e),
    }
}

pub(super) async fn reject(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<LetterId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let actor = session.actor();
    let result = crate::actions::dunning::reject_letters(
        &state.db,
        &[id],
        &actor.to_string(),
        &actor,
        state.clock.now_millis(),
    )
    .await
    .map(|done| done == crate::actions::dunning::Approval::Approved(1));
    match result {
        Ok(true) => Redirect::to("/cartas?rejeitada=1").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}
