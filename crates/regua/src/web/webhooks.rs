//! Configurações › Webhooks (docs/webhooks.md): the endpoints (add with a generated secret shown
//! once, rotate, remove) and the latest deliveries with **Reenviar**. For administrators (users
//! and general parameters), like the other integration settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::secrets::Secret;
use crate::store;

type Fields = BTreeMap<String, String>;

fn status_pt(s: &str) -> &'static str {
    match s {
        "pending" => "aguardando nova tentativa",
        "delivered" => "entregue",
        _ => "falhou",
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    secret: Option<String>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let endpoints: Vec<_> = store::webhooks::list_endpoints(&mut conn)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .map(|e| {
                let labels: Vec<&str> = e
                    .events
                    .iter()
                    .map(|x| crate::domain::webhooks::event_label_pt(x))
                    .collect();
                minijinja::context! { id => e.id, url => e.url, events => labels.join(", ") }
            })
            .collect();
        let deliveries: Vec<_> = store::webhooks::list_deliveries(&mut conn, 50)
            .await?
            .into_iter()
            .map(|d| {
                minijinja::context! {
                    id => d.id, endpoint => d.endpoint_id,
                    event => crate::domain::webhooks::event_label_pt(&d.event_type),
                    status => status_pt(&d.status), attempts => d.attempts,
                    last => d.last_error.or(d.last_code.map(|c| format!("HTTP {c}"))).unwrap_or_default(),
                    when => state.clock.local_time(d.created_at, "%d/%m/%Y %H:%M:%S"),
                }
            })
            .collect();
        let mut resp = state.render(
            "webhooks.html",
            minijinja::context! {
                title => "Webhooks", endpoints, deliveries, notice, error, secret,
                events => crate::domain::webhooks::EVENTS
                    .iter()
                    .map(|e| minijinja::context! { code => *e, label => crate::domain::webhooks::event_label_pt(e) })
                    .collect::<Vec<_>>(),
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /configuracoes/webhooks`.
pub(super) async fn show(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.require(&state, Permission::ManageUsers) {
        return r;
    }
    page(&state, &session, StatusCode::OK, None, None, None).await
}

/// `POST /configuracoes/webhooks`: a new endpoint; its secret shown once.
pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    if let Err(r) = session.allow(&state, Permission::ManageUsers, Some(&get("_csrf"))) {
        return r;
    }
    let url = get("url");
    let chosen: Vec<String> = f
        .iter()
        .filter(|(n, _)| n == "evento")
        .map(|(_, v)| v.clone())
        .collect();
    let refuse = async |why: &str| {
        page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(why.to_string()),
            None,
        )
        .await
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return refuse("O endereço começa com https:// (ou http:// numa rede interna).").await;
    }
    let events = match crate::domain::webhooks::parse_events(&chosen.join(",")) {
        Ok(e) => e,
        Err(_) => return refuse("Escolha ao menos um evento.").await,
    };
    let Some(key) = state.key.as_ref() else {
        return refuse("O servidor não tem REGUA_SECRET_KEY para guardar o segredo.").await;
    };
    let secret = crate::domain::webhooks::new_secret();
    match crate::actions::webhooks::add_endpoint(
        &state.db,
        &url,
        &events,
        &Secret::new(secret.clone()),
        key,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(_) => {
            page(
                &state,
                &session,
                StatusCode::OK,
                Some(format!("Endpoint {url} cadastrado.")),
                None,
                Some(secret),
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// `POST /configuracoes/webhooks/remover`, `/rotacionar`, `/reenviar`: by the form's `id`.
pub(super) async fn act(
    State(state): State<Arc<AppState>>,
    session: Session,
    axum::extract::Path(what): axum::extract::Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let csrf = f.get("_csrf").cloned().unwrap_or_default();
    if let Err(r) = session.allow(&state, Permission::ManageUsers, Some(&csrf)) {
        return r;
    }
    let Some(id) = f.get("id").and_then(|i| i.trim().parse::<i64>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = state.clock.now_millis();
    let result: anyhow::Result<Response> = async {
        Ok(match what.as_str() {
            "remover" => {
                crate::actions::webhooks::remove_endpoint(&state.db, id, &session.actor(), now)
                    .await?;
                Redirect::to("/configuracoes/webhooks").into_response()
            }
            "rotacionar" => {
                let Some(key) = state.key.as_ref() else {
                    return Ok(StatusCode::SERVICE_UNAVAILABLE.into_response());
                };
                let secret = crate::domain::webhooks::new_secret();
                crate::actions::webhooks::rotate(
                    &state.db,
                    id,
                    &Secret::new(secret.clone()),
                    key,
                    &session.actor(),
                    now,
                )
                .await?;
                page(
                    &state,
                    &session,
                    StatusCode::OK,
                    Some("Novo segredo gerado; o anterior continua assinando por 24 horas.".into()),
                    None,
                    Some(secret),
                )
                .await
            }
            "reenviar" => {
                let mut conn = state.db.pool.acquire().await?;
                store::webhooks::replay(&mut conn, id, now).await?;
                drop(conn);
                page(
                    &state,
                    &session,
                    StatusCode::OK,
                    Some(format!("A entrega {id} será enviada de novo.")),
                    None,
                    None,
                )
                .await
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        })
    }
    .await;
    result.unwrap_or_else(internal)
}
