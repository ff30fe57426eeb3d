//! Logging in and out, and changing one's password: the login form with its own CSRF cookie,
//! the throttle, the session cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{self};
use super::{AppState, LOGIN_COOKIE, SESSION_COOKIE, SESSION_TTL_MS, Session, cookie, internal};
use crate::store;

/// Failed logins allowed per login within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failed logins allowed per client address within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
/// The throttling window: 15 minutes.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60_000;

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    login: &str,
    next: &str,
) -> Response {
    let token = auth::new_token();
    let mut resp = state.render(
        "login.html",
        minijinja::context! {
            title => "Entrar",
            csrf => token.clone(),
            error,
            login,
            next => super::safe_next(next),
        },
    );
    *resp.status_mut() = status;
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(LOGIN_COOKIE, &token, "/login", 3600),
    );
    resp
}

pub(super) async fn login_form(
    State(state): State<Arc<AppState>>,
    Query(q): Query<NextQuery>,
) -> Response {
    login_page(&state, StatusCode::OK, None, "", &q.next)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // The login form's own CSRF token: the cookie set with the form must come back with it.
    let cookie_token = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !auth::same_secret(&cookie_token, &form.csrf) {
        tracing::warn!("login form without a valid CSRF token refused");
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("O formulário expirou. Tente de novo."),
            &form.login,
            &form.next,
        );
    }
    let client = super::client_of(peer, &headers);
    let now = state.clock.now_millis();
    let result: anyhow::Result<Response> = async {
        let limits = crate::actions::logins::LoginLimits {
            since_ms: now - THROTTLE_WINDOW_MS,
            per_login: MAX_FAILURES_PER_LOGIN,
            per_client: MAX_FAILURES_PER_CLIENT,
        };
        let slot = crate::actions::logins::reserve_login_attempt(
            &state.db,
            &form.login,
            &client,
            limits,
            now,
        )
        .await?;
        let mut conn = state.db.pool.acquire().await?;
        let Some(slot) = slot else {
            tracing::warn!(login = %form.login, %client, "login throttled");
            return Ok(login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Muitas tentativas sem sucesso. Aguarde 15 minutos e tente de novo."),
                &form.login,
                &form.next,
            ));
        };
        let user = store::auth::user_for_login(&mut conn, &form.login).await?;
        // Verify even for an unknown login, so the answer takes as long either way.
        let hash = user
            .as_ref()
            .map_or(DUMMY_HASH.as_str(), |(_, h)| h.as_str());
        let ok = auth::verify_password(&form.password, hash);
        match user {
            Some((user, _)) if ok && user.active => {
                store::auth::release_login_attempt(&mut conn, slot).await?;
                let (token, _csrf) =
                    store::auth::create_session(&mut conn, user.id, now, SESSION_TTL_MS).await?;
                tracing::info!(user = %user.login, "logged in");
                let mut resp = Redirect::to(super::safe_next(&form.next)).into_response();
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    state.cookie(SESSION_COOKIE, &token, "/", SESSION_TTL_MS / 1000),
                );
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    state.cookie(LOGIN_COOKIE, "", "/login", 0),
                );
                Ok(resp)
            }
            _ => {
                tracing::warn!(login = %form.login, %client, "login failed");
                Ok(login_page(
                    &state,
                    StatusCode::UNAUTHORIZED,
                    Some("Login ou senha inválidos."),
                    &form.login,
                    &form.next,
                ))
            }
        }
    }
    .await;
    result.unwrap_or_else(internal)
}

/// A hash of a random password, verified against when the login is unknown.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::new_password()));

fn password_page(
    state: &AppState,
    session: &Session,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let mut resp = state.render(
        "password.html",
        minijinja::context! {
            title => "Trocar a senha",
            forced => session.user.must_change_password,
            error,
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    resp
}

pub(super) async fn password_form(
    State(state): State<Arc<AppState>>,
    session: Session,
) -> Response {
    password_page(&state, &session, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// Minimum length of a password a person chooses.
pub const MIN_PASSWORD_CHARS: usize = 10;

pub(super) async fn change_password(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(r) = session.check_csrf(&state, &form.csrf) {
        return r;
    }
    let result: anyhow::Result<Result<(), &'static str>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some((_, hash)) = store::auth::user_for_login(&mut conn, &session.user.login).await?
        else {
            return Ok(Err("Usuário não encontrado."));
        };
        if !auth::verify_password(&form.current, &hash) {
            return Ok(Err("A senha atual não confere."));
        }
        if form.new.chars().count() < MIN_PASSWORD_CHARS {
            return Ok(Err("A nova senha precisa de 10 caracteres ou mais."));
        }
        if form.new != form.confirm {
            return Ok(Err("As duas novas senhas não são iguais."));
        }
        if form.new == form.current {
            return Ok(Err("A nova senha precisa ser diferente da atual."));
        }
        drop(conn);
        crate::actions::access::change_own_password(
            &state.db,
            (session.user.id, &session.user.login),
            &form.new,
            &session.token,
            state.clock.now_millis(),
        )
        .await?;
        Ok(Ok(()))
    }
    .await;
    match result {
        Ok(Ok(())) => Redirect::to("/").into_response(),
        Ok(Err(msg)) => password_page(
            &state,
            &session,
            Some(msg),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(resp) = session.check_csrf(&state, &form.csrf) {
        return resp;
    }
    if let Ok(mut conn) = state.db.pool.acquire().await
        && let Err(e) = store::auth::delete_session(&mut conn, &session.token).await
    {
        tracing::error!(error = format!("{e:#}"), "cannot end the session");
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, state.cookie(SESSION_COOKIE, "", "/", 0));
    resp
}
