//! The pages: login, logout, the dashboard and tomorrow's forecast.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{self, Permission};
use super::{AppState, LOGIN_COOKIE, SESSION_COOKIE, SESSION_TTL_MS, Session, cookie, internal};
use crate::domain::format_date;
use crate::store;

/// Failed logins allowed per login within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failed logins allowed per client address within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
/// The throttling window: 15 minutes.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60_000;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/senha", get(password_form).post(change_password))
        .route("/previsao", get(forecast))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/metrics", get(super::metrics::metrics))
        .route("/cartas", get(super::letters::list))
        .route("/cartas/{id}/carta.pdf", get(super::letters::pdf))
        .route("/cartas/{id}/aprovar", post(super::letters::approve_one))
        .route("/cartas/{id}/rejeitar", post(super::letters::reject))
        .route("/cartas/aprovar-todas", post(super::letters::approve_all))
        .route("/clientes", get(super::customers::list))
        .route("/clientes/{id}", get(super::customers::show))
        .route("/contratos", get(super::billing::contracts))
        .route("/contratos/{id}/gerar", post(super::billing::generate))
        .route(
            "/contratos/{id}/suspensoes",
            get(super::suspensions::show).post(super::suspensions::create),
        )
        .route(
            "/contratos/{id}/suspensoes/encerrar",
            post(super::suspensions::end),
        )
        .route("/faturas", get(super::billing::invoices))
        .route("/faturas/{id}/boleto.pdf", get(super::billing::boleto_pdf))
        .route("/faturas/{id}/enviar", post(super::billing::send_now))
        .route("/faturas/{id}/pagar", post(super::billing::mark_paid))
        .route("/faturas/pausar", post(super::billing::pause))
        .route("/configuracoes/layouts", get(super::layouts::list))
        .route(
            "/configuracoes/layouts/{id}",
            get(super::layouts::edit).post(super::layouts::save),
        )
        .route(
            "/configuracoes/layouts/{id}/previa",
            post(super::layouts::preview),
        )
        .route(
            "/configuracoes/layouts/{id}/restaurar",
            post(super::layouts::restore),
        )
        .route(
            "/configuracoes/parametros",
            get(super::settings::show_general).post(super::settings::save_general),
        )
        .route(
            "/configuracoes/notificacoes",
            get(super::settings::show_notifications).post(super::settings::save_notifications),
        )
        .route(
            "/configuracoes/notificacoes/teste",
            post(super::settings::test_notification),
        )
        .route(
            "/configuracoes/central",
            get(super::settings::show_portal).post(super::settings::save_portal),
        )
        .route(
            "/configuracoes/usuarios",
            get(super::users::list).post(super::users::create),
        )
        .route(
            "/configuracoes/usuarios/{id}/desativar",
            post(super::users::deactivate),
        )
        .route(
            "/configuracoes/usuarios/{id}/reativar",
            post(super::users::reactivate),
        )
        .route(
            "/configuracoes/feriados",
            get(super::holidays::show).post(super::holidays::add),
        )
        .route(
            "/configuracoes/feriados/{id}/remover",
            post(super::holidays::remove),
        )
        .route("/configuracoes/regua", get(super::dunning::show))
        .route(
            "/configuracoes/regua/regras",
            post(super::dunning::add_rule),
        )
        .route(
            "/configuracoes/regua/regras/{id}/remover",
            post(super::dunning::remove_rule),
        )
        .route(
            "/configuracoes/regua/faixas",
            post(super::dunning::add_band),
        )
        .route(
            "/configuracoes/regua/rotinas",
            post(super::dunning::add_routine),
        )
        .route(
            "/configuracoes/regua/rotinas/{id}/remover",
            post(super::dunning::remove_routine),
        )
        .route(
            "/configuracoes/regua/faixas/{id}/remover",
            post(super::dunning::remove_band),
        )
        .route(
            "/configuracoes/carteiras",
            get(super::wallets::wallets).post(super::wallets::add_wallet),
        )
        .route(
            "/configuracoes/carteiras/{id}/envio",
            post(super::wallets::switch_send),
        )
        .route(
            "/configuracoes/formas",
            get(super::wallets::methods).post(super::wallets::add_method),
        )
        .route("/central", get(super::portal::home))
        .route(
            "/central/entrar",
            get(super::portal::login_form).post(super::portal::login),
        )
        .route("/central/sair", post(super::portal::logout))
        .route(
            "/central/acesso",
            get(super::portal::access_form).post(super::portal::request_access),
        )
        .route(
            "/central/senha/{token}",
            get(super::portal::password_form).post(super::portal::set_password),
        )
        .route("/central/faturas", get(super::portal::invoices))
        .route("/central/faturas/{id}", get(super::portal::invoice))
        .route(
            "/central/faturas/{id}/boleto.pdf",
            get(super::portal::boleto_pdf),
        )
        .route(
            "/central/faturas/{id}/enviar",
            get(super::portal::send_confirm).post(super::portal::send),
        )
        .route("/static/central.js", get(super::portal::js))
        .route("/emissao", get(super::emission::show))
        .route("/emissao/enviar", post(super::emission::send))
        .route("/emissao/carne.pdf", get(super::emission::carne))
        .route("/log", get(super::log::list))
        .route("/log.csv", get(super::log::csv))
        .route("/log/{id}/reenviar", post(super::log::requeue))
        .route(
            "/configuracoes/email",
            get(super::smtp::list).post(super::smtp::create),
        )
        .route("/configuracoes/email/{id}/teste", post(super::smtp::test))
        .route(
            "/configuracoes/email/{id}/financeiro",
            post(super::smtp::financial),
        )
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers every page carries: no framing, no MIME sniffing, scripts and styles from here only.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    resp
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("templates/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("templates/app.js"),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct NextQuery {
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

async fn login_form(State(state): State<Arc<AppState>>, Query(q): Query<NextQuery>) -> Response {
    login_page(&state, StatusCode::OK, None, "", &q.next)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
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
    let client = super::client_of(Some(peer));
    let now = state.clock.now_millis();
    let result: anyhow::Result<Response> = async {
        let limits = store::auth::LoginLimits {
            since_ms: now - THROTTLE_WINDOW_MS,
            per_login: MAX_FAILURES_PER_LOGIN,
            per_client: MAX_FAILURES_PER_CLIENT,
        };
        let slot = store::auth::reserve_login_attempt(&state.db, &form.login, &client, limits, now)
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

async fn password_form(State(state): State<Arc<AppState>>, session: Session) -> Response {
    password_page(&state, &session, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct PasswordForm {
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

async fn change_password(
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
        let mut tx = state.db.begin().await?;
        let now = state.clock.now_millis();
        store::auth::change_own_password(&mut tx, session.user.id, &form.new, &session.token, now)
            .await?;
        store::audit::record(
            &mut tx,
            &session.actor().to_string(),
            "user.password",
            &format!("user:{}", session.user.login),
            None,
            Some("***"),
            now,
        )
        .await?;
        tx.commit().await?;
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
struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

async fn logout(
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

async fn dashboard(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(resp) = session.require(&state, Permission::View) {
        return resp;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let clock = &state.clock;
        let midnight = clock.start_of_day_ms(clock.today())?;
        let today = store::log::dashboard_counts(&mut conn, midnight).await?;
        let routines = store::dunning::list_routines(&mut conn).await?;
        let runs: Vec<_> = store::dunning::list_runs(&mut conn, 5)
            .await?
            .into_iter()
            .map(|r| {
                minijinja::context! {
                    date => format_date(r.date),
                    routine => r.routine_id
                        .and_then(|id| routines.iter().find(|x| x.id == id))
                        .map_or("manual".to_string(), |x| x.name.clone()),
                    trigger => if r.trigger == "schedule" { "agendada" } else { "manual" },
                    status_pt => if r.status == "completed" { "concluída" } else { "falhou" },
                    status => r.status,
                    error => r.error,
                    planned => r.planned,
                    enqueued => r.enqueued,
                    skipped => r.skipped,
                }
            })
            .collect();
        // Which server's scheduler runs the routines (its lease), or that none does now.
        let lease_ms = i64::try_from(crate::dunning::LEASE.as_millis()).unwrap_or(0);
        let scheduler = match store::dunning::lease_holder(&mut conn, crate::dunning::LEASE_NAME).await? {
            Some((owner, until)) if until > clock.now_millis() => minijinja::context! {
                text => format!(
                    "As rotinas rodam no servidor {owner} (último sinal às {}).",
                    clock.local_time(until - lease_ms, "%H:%M de %d/%m/%Y")
                ),
                alert => false,
            },
            Some((owner, until)) => minijinja::context! {
                text => format!(
                    "Nenhum servidor executa as rotinas agora: o último ({owner}) deu sinal às {}. Verifique se o regua serve está rodando.",
                    clock.local_time(until - lease_ms, "%H:%M de %d/%m/%Y")
                ),
                alert => true,
            },
            None => minijinja::context! {
                text => "Nenhum servidor executa as rotinas agora: elas rodam dentro do regua serve (sem --no-scheduler).",
                alert => true,
            },
        };
        let financial = store::accounts::financial_account(&mut conn).await?;
        let mut accounts = Vec::new();
        for a in store::accounts::list_smtp_accounts(&mut conn).await? {
            if !a.active {
                continue;
            }
            let used = store::dunning::account_usage(&mut conn, a.id, clock.now_millis()).await?;
            let limits = crate::domain::send_limits::SendLimits {
                hourly: a.hourly_limit,
                daily: a.daily_limit,
            };
            accounts.push(minijinja::context! {
                name => a.name,
                financial => financial.as_ref().is_some_and(|f| f.id == a.id),
                hour => used.hour,
                day => used.day,
                hourly_limit => a.hourly_limit,
                daily_limit => a.daily_limit,
                near => limits.near(used),
            });
        }
        Ok(state.render(
            "dashboard.html",
            minijinja::context! {
                title => "Painel",
                today => minijinja::context! {
                    queued => today.queued,
                    sent => today.sent,
                    failed => today.failed,
                },
                dead => today.dead,
                runs,
                scheduler,
                accounts,
                financial => financial.is_some(),
                portal_hidden => financial.is_none() && store::settings::portal_settings(&mut conn).await?.send_email,
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(error = format!("{e:#}"), "dashboard failed");
        super::error_page(
            &state,
            Some(&session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Erro",
            "Não foi possível montar o painel.",
        )
    })
}

async fn forecast(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(resp) = session.require(&state, Permission::View) {
        return resp;
    }
    let Ok(tomorrow) = state.clock.today().tomorrow() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let req = crate::dunning::RunRequest {
        date: tomorrow,
        dry_run: true,
        routine: None,
        trigger: crate::dunning::Trigger::Manual,
        actor: session.actor().to_string(),
        emission: None,
        detail: false,
    };
    match crate::dunning::run(&state.db, &state.clock, &req).await {
        Ok(report) => state.render(
            "forecast.html",
            minijinja::context! {
                title => "Previsão",
                date => format_date(tomorrow),
                planned => report.planned,
                causes => report.by_cause.iter().map(|(c, n)| (c.clone(), *n)).collect::<Vec<_>>(),
                reasons => report.by_reason.iter().map(|(r, n)| (r.to_string(), *n)).collect::<Vec<_>>(),
                accounts => minijinja::Value::from(minijinja::value::Serde(&report.accounts)),
                warnings => report.warnings,
                ..session.ctx()
            },
        ),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "forecast failed");
            super::error_page(
                &state,
                Some(&session),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Erro",
                "Não foi possível calcular a previsão.",
            )
        }
    }
}
