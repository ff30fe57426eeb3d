//! Configurações › Usuários: the users, a new one (its generated password shown once), and
//! deactivating or reactivating one (a deactivated user's sessions stop at once). Administrators
//! only; every change is audited.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::{Permission, Role};
use super::{AppState, CsrfOnly, Session, internal};
use crate::store::{self, parties::ConfigError};

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct UserForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn page(
    state: &AppState,
    session: &Session,
    form: &UserForm,
    errors: &BTreeMap<&'static str, String>,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let mut conn = match state.db.pool.acquire().await {
        Ok(c) => c,
        Err(e) => return internal(e.into()),
    };
    let users = match store::auth::list_users(&mut conn).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let rows: Vec<_> = users
        .iter()
        .map(|u| minijinja::context! { id => u.id, login => u.login.clone(), name => u.name.clone(), role => u.role.label_pt(), active => u.active })
        .collect();
    let roles: Vec<_> = [Role::Admin, Role::Finance, Role::Support, Role::ReadOnly]
        .iter()
        .map(|r| (r.as_str(), r.label_pt()))
        .collect();
    let mut resp = state.render(
        "users.html",
        minijinja::context! {
            title => "Usuários", users => rows, roles, errors,
            form => minijinja::Value::from(minijinja::value::Serde(form)),
            created => created.map(|(login, password)| minijinja::context! { login, password }),
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    // The page can hold a password: never cached.
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

pub(super) async fn list(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageUsers, None) {
        return r;
    }
    let form = UserForm {
        role: "support".into(),
        ..UserForm::default()
    };
    page(
        &state,
        &session,
        &form,
        &BTreeMap::new(),
        None,
        StatusCode::OK,
    )
    .await
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<UserForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageUsers, Some(&form.csrf)) {
        return r;
    }
    let Ok(role) = form.role.parse::<Role>() else {
        return page(
            &state,
            &session,
            &form,
            &BTreeMap::from([("login", "Escolha um perfil.".to_string())]),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let password = super::auth::new_password();
    let now = state.clock.now_millis();
    let result: anyhow::Result<Result<(), String>> = match crate::actions::access::add_user(
        &state.db,
        &form.login,
        &form.name,
        role,
        &password,
        &session.actor(),
        now,
    )
    .await
    {
        Ok(_) => Ok(Ok(())),
        Err(ConfigError::Duplicate { .. }) => {
            Ok(Err("Já existe um usuário com este login.".into()))
        }
        Err(ConfigError::Invalid { .. }) => Ok(Err(
            "De 3 a 64 letras, números, '.', '_', '-' ou '@'.".into(),
        )),
        Err(ConfigError::Other(e)) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
    };
    match result {
        Ok(Ok(())) => {
            let blank = UserForm {
                role: "support".into(),
                ..UserForm::default()
            };
            page(
                &state,
                &session,
                &blank,
                &BTreeMap::new(),
                Some((form.login.trim().to_string(), password)),
                StatusCode::OK,
            )
            .await
        }
        Ok(Err(msg)) => {
            page(
                &state,
                &session,
                &form,
                &BTreeMap::from([("login", msg)]),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

async fn set_active(
    state: &AppState,
    session: &Session,
    id: crate::domain::auth::UserId,
    csrf: &str,
    active: bool,
) -> Response {
    if let Err(r) = session.allow(state, Permission::ManageUsers, Some(csrf)) {
        return r;
    }
    if id == session.user.id {
        return super::error_page(
            state,
            Some(session),
            StatusCode::CONFLICT,
            "Não alterado",
            "Você não pode desativar o próprio usuário.",
        );
    }
    let now = state.clock.now_millis();
    let result =
        crate::actions::access::set_user_active(&state.db, id, active, &session.actor(), now).await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/usuarios").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn deactivate(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<crate::domain::auth::UserId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_active(&state, &session, id, &form.csrf, false).await
}

pub(super) async fn reactivate(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<crate::domain::auth::UserId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_active(&state, &session, id, &form.csrf, true).await
}
