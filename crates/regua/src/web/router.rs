//! The admin UI's routes (every page, form and asset), and the headers every page carries.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;

/// Every route of the admin UI, with the security headers on each response.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(super::dashboard::dashboard))
        .route(
            "/login",
            get(super::login::login_form).post(super::login::login),
        )
        .route("/logout", post(super::login::logout))
        .route(
            "/senha",
            get(super::login::password_form).post(super::login::change_password),
        )
        .route("/previsao", get(super::dashboard::forecast))
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
        .route(
            "/clientes/{id}/contato",
            post(super::customers::save_contact),
        )
        .route(
            "/clientes/{id}/whatsapp/liberar",
            post(super::customers::clear_whatsapp_block),
        )
        .route("/contratos", get(super::billing::contracts))
        .route("/contratos/{id}/gerar", post(super::billing::generate))
        .route(
            "/contratos/{id}/editar",
            post(super::customers::save_contract),
        )
        .route(
            "/contratos/{id}/suspensoes",
            get(super::suspensions::show).post(super::suspensions::create),
        )
        .route(
            "/contratos/{id}/suspensoes/encerrar",
            post(super::suspensions::end),
        )
        .route(
            "/configuracoes/webhooks",
            get(super::webhooks::show).post(super::webhooks::add),
        )
        .route("/configuracoes/webhooks/{what}", post(super::webhooks::act))
        .route("/inadimplencia", get(super::debt::show))
        .route("/inadimplencia.csv", get(super::debt::csv))
        .route("/resultados", get(super::analytics::show))
        .route("/resultados.csv", get(super::analytics::csv))
        .route("/faturas", get(super::billing::invoices))
        .route("/faturas/{id}", get(super::bank_returns::invoice))
        .route("/webhooks/pix", post(super::pix_webhook::receive))
        .route("/webhooks/pix/pix", post(super::pix_webhook::receive))
        .route(
            "/webhooks/whatsapp",
            get(super::whatsapp_webhook::verify).post(super::whatsapp_webhook::receive),
        )
        .route(
            "/webhooks/sms/{gateway}",
            post(super::whatsapp_webhook::sms_receipt),
        )
        .route(
            "/retorno-bancario",
            get(super::bank_returns::show)
                .post(super::bank_returns::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    super::bank_returns::MAX_UPLOAD,
                )),
        )
        .route(
            "/retorno-bancario/{upload}/confirmar",
            post(super::bank_returns::confirm),
        )
        .route("/faturas/{id}/boleto.pdf", get(super::billing::boleto_pdf))
        .route("/faturas/{id}/enviar", post(super::billing::send_now))
        .route("/faturas/{id}/pagar", post(super::billing::mark_paid))
        .route("/remessa", get(super::remessa::show))
        .route("/remessa/{wallet}/gerar", post(super::remessa::generate))
        .route("/remessa/{id}/arquivo", get(super::remessa::download))
        .route(
            "/faturas/{id}/registro-resolvido",
            post(super::bank_returns::resolve),
        )
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
            "/configuracoes/carteiras/{id}/condicoes",
            post(super::wallets::save_terms),
        )
        .route(
            "/configuracoes/formas",
            get(super::wallets::methods).post(super::wallets::add_method),
        )
        .route(
            "/configuracoes/formas/{id}/confirmacao",
            post(super::wallets::switch_confirm),
        )
        .route("/central", get(super::central::home))
        .route(
            "/central/entrar",
            get(super::central::login_form).post(super::central::login),
        )
        .route("/central/sair", post(super::central::logout))
        .route(
            "/central/acesso",
            get(super::central::access_form).post(super::central::request_access),
        )
        .route(
            "/central/senha/{token}",
            get(super::central::password_form).post(super::central::set_password),
        )
        .route("/central/faturas", get(super::central::invoices))
        .route("/central/desbloqueio", post(super::central::trust_unlock))
        .route("/central/faturas/{id}", get(super::central::invoice))
        .route(
            "/central/faturas/{id}/boleto.pdf",
            get(super::central::boleto_pdf),
        )
        .route(
            "/central/faturas/{id}/enviar",
            get(super::central::send_confirm).post(super::central::send),
        )
        .route("/static/central.js", get(super::central::js))
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
            "/configuracoes/email/{id}",
            get(super::smtp::edit).post(super::smtp::update),
        )
        .route(
            "/configuracoes/email/{id}/remover",
            post(super::smtp::remove),
        )
        .route("/configuracoes/sms-push", get(super::channels::show))
        .route(
            "/configuracoes/whatsapp",
            get(super::whatsapp::show).post(super::whatsapp::add),
        )
        .route(
            "/configuracoes/whatsapp/remover",
            post(super::whatsapp::remove),
        )
        .route("/configuracoes/whatsapp/modelo", post(super::whatsapp::map))
        .route(
            "/configuracoes/whatsapp/modelo/remover",
            post(super::whatsapp::unmap),
        )
        .route("/configuracoes/whatsapp/teste", post(super::whatsapp::test))
        .route(
            "/configuracoes/whatsapp/liberar",
            post(super::whatsapp::unblock),
        )
        .route("/emails-invalidos", get(super::suppressions::show))
        .route(
            "/emails-invalidos/caixas/{id}/ler",
            post(super::suppressions::read_now),
        )
        .route(
            "/emails-invalidos/caixas",
            post(super::suppressions::add_mailbox),
        )
        .route(
            "/emails-invalidos/caixas/{id}/remover",
            post(super::suppressions::remove_mailbox),
        )
        .route(
            "/emails-invalidos/liberar",
            post(super::suppressions::clear),
        )
        .route(
            "/importar",
            get(super::imports::show).post(super::imports::upload),
        )
        .route("/importar/{id}/confirmar", post(super::imports::confirm))
        .route(
            "/emissao/faixas",
            get(super::emission::bands).post(super::emission::send_bands),
        )
        .route(
            "/configuracoes/carteiras/{id}/dados",
            post(super::wallets::save_wallet),
        )
        .route(
            "/configuracoes/formas/{id}",
            post(super::wallets::save_method),
        )
        .route("/configuracoes/sms", post(super::channels::add))
        .route(
            "/configuracoes/sms/{id}",
            get(super::channels::edit).post(super::channels::update),
        )
        .route(
            "/configuracoes/sms/{id}/remover",
            post(super::channels::remove),
        )
        .route("/configuracoes/push", post(super::channels::configure_push))
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
