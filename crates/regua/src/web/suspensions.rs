//! Contratos › Suspensões: a contract's temporary suspensions, a new one, and ending the running
//! (or withdrawing the upcoming) one. Seeing needs the view permission; changing, the billing
//! one. The rules are `crate::suspension`'s, shared with the CLI, the API and the import; every
//! change is in the audit trail.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::{ContractId, format_date, parse_date};
use crate::store;
use crate::suspension::{Ended, SuspendError, SuspendRequest, Suspended};

/// The new-suspension form, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct SuspensionForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// `?ok=…` after a change.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    ok: Option<String>,
}

async fn page(
    state: &AppState,
    session: &Session,
    id: i64,
    form: &SuspensionForm,
    (notice, error): (Option<&str>, Option<&str>),
    status: StatusCode,
) -> Response {
    let result: anyhow::Result<Option<Response>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(contract) = store::parties::get_contract(&mut conn, ContractId(id)).await else {
            return Ok(None);
        };
        let customer = store::parties::get_customer(&mut conn, contract.customer_id).await?;
        let today = state.clock.today();
        let list = store::channels::suspensions_of_contract(&mut conn, contract.id).await?;
        let current = list
            .iter()
            .find(|s| s.cancelled_at.is_none() && s.ends_on >= today)
            .map(|s| {
                let (from, to) = (format_date(s.starts_on), format_date(s.ends_on));
                if s.starts_on > today {
                    format!("Cancelar a suspensão agendada de {from} a {to}")
                } else {
                    format!("Encerrar a suspensão de {from} a {to} (o serviço volta hoje)")
                }
            });
        let rows: Vec<_> = list
            .iter()
            .map(|s| {
                let situation = match (s.cancelled_at, s.starts_on > today, s.ends_on < today) {
                    (Some(at), _, _) => {
                        let on = jiff::Timestamp::from_millisecond(at)
                            .map(|t| t.to_zoned(state.clock.time_zone().clone()).date());
                        if on.is_ok_and(|d| d < s.starts_on) {
                            "cancelada antes do início"
                        } else {
                            "encerrada antes do fim"
                        }
                    }
                    (None, true, _) => "agendada",
                    (None, false, true) => "encerrada",
                    (None, false, false) => "em curso",
                };
                minijinja::context! {
                    from => format_date(s.starts_on), to => format_date(s.ends_on),
                    reason => s.reason.clone(), by => s.requested_by.clone(), situation,
                }
            })
            .collect();
        let mut resp = state.render(
            "suspensions.html",
            minijinja::context! {
                title => format!("Suspensões — contrato {}", contract.external_id),
                id, contract => contract.external_id, customer => customer.name,
                status => contract.status.label_pt(), suspensions => rows, current,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                notice, error,
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(Some(resp))
    }
    .await;
    match result {
        Ok(Some(r)) => r,
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /contratos/{id}/suspensoes`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let notice = match done.ok.as_deref() {
        Some("nova") => Some("Suspensão registrada; o cliente será avisado."),
        Some("existente") => Some("Esta suspensão já estava registrada; nada mudou."),
        Some("encerrada") => {
            Some("Suspensão encerrada; o serviço volta hoje e o cliente será avisado.")
        }
        Some("cancelada") => Some("Suspensão agendada cancelada."),
        Some("cancelada_aviso") => {
            Some("Suspensão agendada cancelada; o cliente será avisado do cancelamento.")
        }
        _ => None,
    };
    page(
        &state,
        &session,
        id,
        &SuspensionForm::default(),
        (notice, None),
        StatusCode::OK,
    )
    .await
}

async fn contract_ext(state: &AppState, id: i64) -> anyhow::Result<Option<String>> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(store::parties::get_contract(&mut conn, ContractId(id))
        .await
        .ok()
        .map(|c| c.external_id))
}

/// `POST /contratos/{id}/suspensoes`: a new suspension.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<SuspensionForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let refuse = async |msg: &str| {
        page(
            &state,
            &session,
            id,
            &form,
            (None, Some(msg)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    };
    let (from, to) = match (parse_date(&form.from), parse_date(&form.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(_), _) => return refuse("Início: informe uma data (dd/mm/aaaa).").await,
        (_, Err(_)) => return refuse("Fim: informe uma data (dd/mm/aaaa).").await,
    };
    let contract = match contract_ext(&state, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(e),
    };
    let actor = session.actor().to_string();
    let req = SuspendRequest {
        contract,
        from,
        to,
        reason: form.reason.clone(),
        actor: actor.clone(),
    };
    let result: anyhow::Result<Result<&str, SuspendError>> =
        match crate::actions::suspensions::start_suspension(
            &state.db,
            &req,
            state.clock.today(),
            state.clock.now_millis(),
        )
        .await
        {
            Ok(Suspended::New(_)) => Ok(Ok("nova")),
            Ok(Suspended::Exists(_)) => Ok(Ok("existente")),
            Err(SuspendError::Other(e)) => Err(e),
            Err(e) => Ok(Err(e)),
        };
    match result {
        Ok(Ok(outcome)) => {
            Redirect::to(&format!("/contratos/{id}/suspensoes?ok={outcome}")).into_response()
        }
        Ok(Err(e)) => refuse(&e.message_pt()).await,
        Err(e) => internal(e),
    }
}

/// The end form: the CSRF token alone.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EndForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /contratos/{id}/suspensoes/encerrar`: ends the running suspension today, or cancels
/// the upcoming one.
pub(super) async fn end(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<EndForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let contract = match contract_ext(&state, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(e),
    };
    let result: anyhow::Result<Result<&str, SuspendError>> =
        match crate::actions::suspensions::end_suspension(
            &state.db,
            &contract,
            state.clock.today(),
            &session.actor(),
            state.clock.now_millis(),
        )
        .await
        {
            Ok(Ended::Restored(_)) => Ok(Ok("encerrada")),
            Ok(Ended::Withdrawn { notified: true, .. }) => Ok(Ok("cancelada_aviso")),
            Ok(Ended::Withdrawn { .. }) => Ok(Ok("cancelada")),
            Err(SuspendError::Other(e)) => Err(e),
            Err(e) => Ok(Err(e)),
        };
    match result {
        Ok(Ok(outcome)) => {
            Redirect::to(&format!("/contratos/{id}/suspensoes?ok={outcome}")).into_response()
        }
        Ok(Err(e)) => {
            page(
                &state,
                &session,
                id,
                &SuspensionForm::default(),
                (None, Some(&e.message_pt())),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}
