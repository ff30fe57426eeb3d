//! Configurações › Feriados: a year's calendar (national holidays and the ISP's), and the ISP's
//! own holidays to add or remove. Seeing needs the view permission; changing, the dunning one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::domain::format_date;
use crate::dunning::HolidayScope;
use crate::store::{self, parties::ConfigError};

#[derive(Deserialize)]
pub(super) struct YearQuery {
    ano: Option<i16>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct HolidayForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    yearly: Option<String>,
}

async fn page(
    state: &AppState,
    session: &Session,
    year: i16,
    form: &HolidayForm,
    errors: &BTreeMap<&'static str, String>,
    status: StatusCode,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let calendar = store::dunning::calendar(&mut conn).await?;
        let rows: Vec<_> = calendar
            .year(year)
            .into_iter()
            .map(|(d, name, note)| minijinja::context! { date => format_date(d), name, note })
            .collect();
        let own: Vec<_> = calendar
            .isp
            .iter()
            .map(|h| {
                minijinja::context! {
                    id => h.id, date => format_date(h.date), name => h.name.clone(), yearly => h.yearly,
                    scope => match h.scope {
                        HolidayScope::National => "nacional".to_string(),
                        HolidayScope::State => format!("estadual ({})", h.place),
                        HolidayScope::City => format!("municipal ({})", h.place),
                    },
                }
            })
            .collect();
        let mut resp = state.render(
            "holidays.html",
            minijinja::context! {
                title => "Feriados", year, calendar => rows, own, errors,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                can_edit => session.user.role.allows(Permission::ManageDunning),
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::View, None) {
        return r;
    }
    let year = q
        .ano
        .filter(|y| (1900..=2999).contains(y))
        .unwrap_or(state.clock.today().year());
    let form = HolidayForm {
        scope: "city".into(),
        ..HolidayForm::default()
    };
    page(
        &state,
        &session,
        year,
        &form,
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<HolidayForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let year = state.clock.today().year();
    let scope: HolidayScope = form.scope.parse().unwrap_or(HolidayScope::City);
    let now = state.clock.now_millis();
    let holiday = crate::actions::dunning::NewHoliday {
        date: &form.date,
        name: &form.name,
        yearly: form.yearly.is_some(),
        scope,
        place: &form.place,
    };
    let result: anyhow::Result<Result<(), (&'static str, String)>> =
        match crate::actions::dunning::add_holiday(&state.db, &holiday, &session.actor(), now).await
        {
            Ok(_) => Ok(Ok(())),
            Err(ConfigError::Invalid { field: "date", .. }) => {
                Ok(Err(("date", "Data inválida (dd/mm/aaaa).".into())))
            }
            Err(ConfigError::Invalid { field: "name", .. }) => {
                Ok(Err(("name", "Informe o nome do feriado.".into())))
            }
            Err(ConfigError::Invalid { field: "place", .. }) => Ok(Err((
                "place",
                "Informe a UF ou a cidade/UF do feriado.".into(),
            ))),
            Err(ConfigError::Other(e)) => Err(e),
            Err(e) => Ok(Err(("name", e.to_string()))),
        };
    match result {
        Ok(Ok(())) => Redirect::to("/configuracoes/feriados").into_response(),
        Ok(Err((field, msg))) => {
            page(
                &state,
                &session,
                year,
                &form,
                &BTreeMap::from([(field, msg)]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<crate::domain::schedule::HolidayId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    let result =
        crate::actions::dunning::remove_holiday(&state.db, id, &session.actor(), now).await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/feriados").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}
