//! `GET|POST /api/v1/rules` and `GET|POST /api/v1/bands`: the régua's send rules and overdue
//! bands with the channels they go by (docs/dunning.md "Channels"), for an integrator that
//! configures Régua from its own system. Permission `dunning`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiClient, ApiError, parse_json, respond};
use crate::domain::rules::{ChannelPlan, RuleKind};
use crate::store;
use crate::store::parties::ConfigError;
use crate::web::AppState;
use crate::web::auth::Permission;

/// A send rule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rule {
    /// Its id.
    pub id: i64,
    /// The billing method's name.
    pub method: String,
    /// `before_due`, `on_due` or `after_due`.
    pub kind: String,
    /// Days from the due date.
    pub days: u16,
    /// The layout's name.
    pub layout: String,
    /// The channels in order: `email`, `sms`, `push`.
    pub channels: Vec<String>,
    /// `first` or `all`.
    pub mode: String,
}

/// An overdue band as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Band {
    /// Its id.
    pub id: i64,
    /// First day overdue.
    pub from_days: u16,
    /// Last day overdue.
    pub to_days: u16,
    /// The layout's name.
    pub layout: String,
    /// A collection letter goes with it (reviewed first).
    pub letter: bool,
    /// The channels in order.
    pub channels: Vec<String>,
    /// `first` or `all`.
    pub mode: String,
}

/// A new rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleInput {
    /// The billing method's name.
    method: String,
    /// `before_due`, `on_due` or `after_due`.
    kind: String,
    /// Days from the due date (0 for on_due).
    #[serde(default)]
    days: u16,
    /// The layout's name (default: the kind's).
    layout: Option<String>,
    /// The channels in order (default `["email"]`).
    channels: Option<Vec<String>>,
    /// `first` (default) or `all`.
    mode: Option<String>,
}

/// A new band.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BandInput {
    /// First day overdue (≥ 1).
    from_days: u16,
    /// Last day overdue.
    to_days: u16,
    /// The layout's name (default: the bands').
    layout: Option<String>,
    /// A collection letter goes with it (e-mail only).
    #[serde(default)]
    letter: bool,
    /// The channels in order (default `["email"]`).
    channels: Option<Vec<String>>,
    /// `first` (default) or `all`.
    mode: Option<String>,
}

fn plan_of(channels: &Option<Vec<String>>, mode: &Option<String>) -> Result<ChannelPlan, ApiError> {
    let list = channels
        .as_ref()
        .map_or("email".to_string(), |c| c.join(","));
    let mode = mode.as_deref().unwrap_or("first");
    if mode.parse::<crate::domain::rules::ChannelMode>().is_err() {
        return Err(ApiError::invalid("mode", "Use first ou all."));
    }
    ChannelPlan::parse(&list, mode).map_err(|_| {
        ApiError::invalid(
            "channels",
            "Informe os canais em ordem, sem repetir: email, sms, push.",
        )
    })
}

fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Other(e) => ApiError::internal(e),
        ConfigError::Unknown { what, name, .. } => ApiError::invalid(
            if what == "layout" { "layout" } else { "method" },
            format!("Não encontrado: {name}."),
        ),
        ConfigError::Invalid { field, reason } => ApiError::invalid(field, reason),
        ConfigError::Duplicate { .. } => ApiError::invalid("days", "Regra repetida."),
    }
}

async fn rules_list(state: &AppState) -> anyhow::Result<Vec<Rule>> {
    let mut conn = state.db.pool.acquire().await?;
    let methods = store::parties::list_billing_methods(&mut conn).await?;
    let layouts = store::layouts::list_layouts(&mut conn).await?;
    Ok(store::rules::list_send_rules(&mut conn)
        .await?
        .into_iter()
        .map(|r| Rule {
            id: r.id.0,
            method: methods
                .iter()
                .find(|m| m.id == r.method)
                .map_or(String::new(), |m| m.name.clone()),
            kind: r.kind.as_str().into(),
            days: r.days,
            layout: layouts
                .iter()
                .find(|l| l.id == r.layout)
                .map_or(String::new(), |l| l.name.clone()),
            channels: r
                .channels
                .channels
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            mode: r.channels.mode.as_str().into(),
        })
        .collect())
}

async fn bands_list(state: &AppState) -> anyhow::Result<Vec<Band>> {
    let mut conn = state.db.pool.acquire().await?;
    let layouts = store::layouts::list_layouts(&mut conn).await?;
    Ok(store::dunning::list_bands(&mut conn)
        .await?
        .into_iter()
        .map(|b| Band {
            id: b.id.0,
            from_days: b.from_days,
            to_days: b.to_days,
            layout: layouts
                .iter()
                .find(|l| l.id == b.layout)
                .map_or(String::new(), |l| l.name.clone()),
            letter: b.letter,
            channels: b
                .channels
                .channels
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            mode: b.channels.mode.as_str().into(),
        })
        .collect())
}

/// Lists the send rules.
#[utoipa::path(
    get,
    path = "/rules",
    summary = "Send rules and their channels (permission dunning)",
    responses((status = 200, description = "the rules", body = Vec<Rule>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody))
)]
pub(super) async fn rules(State(state): State<Arc<AppState>>, client: ApiClient) -> Response {
    respond(
        async {
            client.require(Permission::ManageDunning)?;
            Ok((
                StatusCode::OK,
                json!({ "rules": rules_list(&state).await? }),
            ))
        }
        .await,
    )
}

/// Adds a send rule.
#[utoipa::path(
    post,
    path = "/rules",
    summary = "Add a send rule (permission dunning)",
    request_body = RuleInput,
    responses((status = 201, description = "the rule", body = Rule), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn add_rule(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    body: Bytes,
) -> Response {
    respond(
        async {
            client.require(Permission::ManageDunning)?;
            let b: RuleInput = parse_json(&body)?;
            let kind: RuleKind = b
                .kind
                .parse()
                .map_err(|_| ApiError::invalid("kind", "Use before_due, on_due ou after_due."))?;
            let plan = plan_of(&b.channels, &b.mode)?;
            let id = crate::actions::dunning::add_rule(
                &state.db,
                &b.method,
                kind,
                b.days,
                b.layout.as_deref(),
                &plan,
                &client.actor(),
                state.clock.now_millis(),
            )
            .await
            .map_err(config_error)?;
            let rule = rules_list(&state)
                .await?
                .into_iter()
                .find(|r| r.id == id.0)
                .ok_or_else(|| ApiError::not_found("Regra"))?;
            Ok((
                StatusCode::CREATED,
                serde_json::to_value(rule).map_err(anyhow::Error::from)?,
            ))
        }
        .await,
    )
}

/// Lists the overdue bands.
#[utoipa::path(
    get,
    path = "/bands",
    summary = "Overdue bands and their channels (permission dunning)",
    responses((status = 200, description = "the bands", body = Vec<Band>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody))
)]
pub(super) async fn bands(State(state): State<Arc<AppState>>, client: ApiClient) -> Response {
    respond(
        async {
            client.require(Permission::ManageDunning)?;
            Ok((
                StatusCode::OK,
                json!({ "bands": bands_list(&state).await? }),
            ))
        }
        .await,
    )
}

/// Adds an overdue band.
#[utoipa::path(
    post,
    path = "/bands",
    summary = "Add an overdue band (permission dunning)",
    request_body = BandInput,
    responses((status = 201, description = "the band", body = Band), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid (overlapping days, a letter band on another channel)", body = super::schema::ErrorBody))
)]
pub(super) async fn add_band(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    body: Bytes,
) -> Response {
    respond(
        async {
            client.require(Permission::ManageDunning)?;
            let b: BandInput = parse_json(&body)?;
            let plan = plan_of(&b.channels, &b.mode)?;
            let id = crate::actions::dunning::add_band(
                &state.db,
                (b.from_days, b.to_days),
                b.layout.as_deref(),
                b.letter,
                &plan,
                &client.actor(),
                state.clock.now_millis(),
            )
            .await
            .map_err(config_error)?;
            let band = bands_list(&state)
                .await?
                .into_iter()
                .find(|x| x.id == id.0)
                .ok_or_else(|| ApiError::not_found("Faixa"))?;
            Ok((
                StatusCode::CREATED,
                serde_json::to_value(band).map_err(anyhow::Error::from)?,
            ))
        }
        .await,
    )
}
