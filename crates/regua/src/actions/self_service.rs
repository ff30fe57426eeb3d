//! The subscriber portal's rules (issue #8), shared by its pages (`/central`) and the app's JSON
//! API (`/central/api/v1`): logging in with a CPF/CNPJ, first access and new passwords by a
//! link e-mailed to the address on file, and "enviar por e-mail" of an invoice with its limits.
//!
//! Decisions (docs/portal.md):
//! - The login is the CPF/CNPJ: every customer record with that document shares it, so a
//!   subscriber with several records sees all of their invoices.
//! - The access link goes to the primary e-mail of the document's most recently updated
//!   customer record that has one. Asking for it answers the same whatever happened (no e-mail,
//!   unknown document, too many requests), so the form cannot be used to find out who is a
//!   customer; the log says what happened.
//! - A link is valid for an hour and once; using it voids the document's other links, and
//!   setting a password ends the document's sessions.
//! - "Enviar por e-mail" always goes to the invoice's customer's primary e-mail, never to an
//!   address typed in; only open invoices are sent.

use crate::delivery::{Channel, Enqueued, NewNotice, NoticeId};
use crate::domain::{Clock, Customer, Document, Invoice, InvoiceStatus};
use crate::layouts::Purpose;
use crate::store::{self, Db};
use crate::web::auth;

/// How long an access link is valid.
pub const ACCESS_LINK_TTL_MS: i64 = 60 * 60 * 1000;
/// Access links a document may ask for per hour.
pub const MAX_LINKS_PER_HOUR: i64 = 3;
/// How long a browser session lasts.
pub const WEB_SESSION_TTL_MS: i64 = 8 * 60 * 60 * 1000;
/// How long an app session lasts.
pub const APP_SESSION_TTL_MS: i64 = 90 * 24 * 60 * 60 * 1000;
/// The shortest portal password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Failed logins allowed per document within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_DOCUMENT: i64 = 5;
/// Failed logins allowed per client address within [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
/// The throttling window.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Access-link requests ("primeiro acesso", "esqueci a senha") one client address may make per
/// hour, whatever the documents.
pub const MAX_ACCESS_REQUESTS_PER_CLIENT: i64 = 10;
/// The access-link form answers no sooner than this after the request arrived: a document
/// with an e-mail on file costs more database work than an unknown one (3.6 ms against
/// 1.9 ms), which told a stranger which CPFs are customers. Well above that work, so every
/// answer takes the same time.
pub const ACCESS_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(300);

/// Takes one of a client address's access-link requests for the hour; `false` when it has
/// used them all.
pub async fn reserve_access_request(db: &Db, clock: &Clock, client: &str) -> anyhow::Result<bool> {
    let now = clock.now_millis();
    let limits = crate::actions::logins::LoginLimits {
        since_ms: now - 60 * 60 * 1000,
        per_login: i64::MAX,
        per_client: MAX_ACCESS_REQUESTS_PER_CLIENT,
    };
    Ok(crate::actions::logins::reserve_login_attempt(
        db,
        store::auth::ACCESS_REQUEST_PREFIX,
        client,
        limits,
        now,
    )
    .await?
    .is_some())
}

/// The CPF/CNPJ's digits, if `input` is a valid one (with or without punctuation).
pub fn document_digits(input: &str) -> Option<String> {
    Document::parse(input.trim())
        .ok()
        .map(|d| d.digits().to_string())
}

/// An e-mail address as the portal shows it: the first letter and the domain
/// (`j***@gmail.com`), never more.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// What happened to a request for an access link (the page shows the same answer for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRequest {
    /// Queued to the e-mail on file.
    Sent,
    /// No customer with that document.
    Unknown,
    /// The document's customers have no e-mail.
    NoEmail,
    /// Too many links asked for in the last hour.
    Throttled,
    /// No financial SMTP account to send with.
    NoAccount,
}

/// Queues an access link (first access or new password) for `document` (digits).
pub async fn request_access(
    db: &Db,
    clock: &Clock,
    document: &str,
) -> anyhow::Result<AccessRequest> {
    let now = clock.now_millis();
    let mut tx = db.begin().await?;
    let customers = store::subscribers::customers_with_document(&mut tx, document).await?;
    if customers.is_empty() {
        return Ok(AccessRequest::Unknown);
    }
    let Some((customer, email)) = customers
        .iter()
        .find_map(|c| c.email.as_ref().map(|e| (c, e.as_str().to_string())))
    else {
        return Ok(AccessRequest::NoEmail);
    };
    if store::subscribers::portal_tokens_since(&mut tx, document, now - 60 * 60 * 1000).await?
        >= MAX_LINKS_PER_HOUR
    {
        return Ok(AccessRequest::Throttled);
    }
    let Some(account) = store::accounts::financial_account(&mut tx).await? else {
        return Ok(AccessRequest::NoAccount);
    };
    let layout = store::layouts::layout_for_purpose(&mut tx, Purpose::PortalAccess)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no portal_access layout"))?;
    let (token_id, _token) =
        store::subscribers::create_portal_token(&mut tx, document, now, ACCESS_LINK_TTL_MS).await?;
    let enqueued = store::outbox::enqueue_notice(
        &mut tx,
        &NewNotice {
            account_id: Some(account.id),
            recipient: email,
            customer_id: Some(customer.id),
            ..NewNotice::new(
                crate::delivery::NoticeKey::PortalAccess { token: token_id },
                Channel::Email,
                Purpose::PortalAccess,
                layout.id,
                actor(customer),
            )
        },
        &account.from_address,
        now,
    )
    .await?;
    let (Enqueued::New(notice) | Enqueued::Exists(notice, _)) = enqueued;
    store::subscribers::set_token_notice(&mut tx, token_id, notice.0).await?;
    tx.commit().await?;
    Ok(AccessRequest::Sent)
}

/// Who a portal request is recorded as: `portal: <customer code>`.
pub fn actor(customer: &Customer) -> String {
    crate::domain::Actor::Portal(customer.external_id.clone()).to_string()
}

/// The outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The document (digits) logged in.
    Ok(String),
    /// Wrong document or password.
    Invalid,
    /// Too many failures lately.
    Throttled,
}

/// A hash of a random password, verified against when the document has no password, so the
/// answer takes as long either way.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::new_password()));

/// Checks a CPF/CNPJ and password, throttled per document and per client address.
pub async fn login(
    db: &Db,
    clock: &Clock,
    document_input: &str,
    password: &str,
    client: &str,
) -> anyhow::Result<Login> {
    let now = clock.now_millis();
    let document = document_digits(document_input);
    let key = format!(
        "{}{}",
        store::auth::PORTAL_LOGIN_PREFIX,
        document.as_deref().unwrap_or(document_input.trim())
    );
    let limits = crate::actions::logins::LoginLimits {
        since_ms: now - THROTTLE_WINDOW_MS,
        per_login: MAX_FAILURES_PER_DOCUMENT,
        per_client: MAX_FAILURES_PER_CLIENT,
    };
    let Some(slot) =
        crate::actions::logins::reserve_login_attempt(db, &key, client, limits, now).await?
    else {
        tracing::warn!(login = %key, %client, "portal login throttled");
        return Ok(Login::Throttled);
    };
    let mut conn = db.pool.acquire().await?;
    let hash = match &document {
        Some(d) => store::subscribers::portal_password_hash(&mut conn, d).await?,
        None => None,
    };
    let ok = auth::verify_password(password, hash.as_deref().unwrap_or(DUMMY_HASH.as_str()));
    match document {
        Some(d) if ok && hash.is_some() => {
            store::auth::release_login_attempt(&mut conn, slot).await?;
            tracing::info!(document = %masked_document(&d), "portal login");
            Ok(Login::Ok(d))
        }
        _ => {
            tracing::warn!(%client, "portal login failed");
            Ok(Login::Invalid)
        }
    }
}

/// A document for the logs: the first three and the last two digits.
pub fn masked_document(digits: &str) -> String {
    if digits.len() < 6 {
        return "***".into();
    }
    format!("{}***{}", &digits[..3], &digits[digits.len() - 2..])
}

/// Why a new password was refused (pt-BR, for the page).
pub fn password_problem(password: &str, confirmation: &str) -> Option<&'static str> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        Some("A senha precisa ter pelo menos 8 caracteres.")
    } else if password != confirmation {
        Some("A confirmação não é igual à senha.")
    } else {
        None
    }
}

/// Sets the password of the link's document, using the link: the document, or `None` when the
/// link is unknown, used or expired.
pub async fn set_password_with_link(
    db: &Db,
    clock: &Clock,
    token: &str,
    password: &str,
) -> anyhow::Result<Option<String>> {
    let now = clock.now_millis();
    let hash = auth::hash_password(password);
    let mut tx = db.begin().await?;
    let Some(document) = store::subscribers::use_portal_token(&mut tx, token, now).await? else {
        return Ok(None);
    };
    store::subscribers::set_portal_password(&mut tx, &document, &hash, now).await?;
    tx.commit().await?;
    tracing::info!(document = %masked_document(&document), "portal password set by link");
    Ok(Some(document))
}

/// Why "enviar por e-mail" cannot be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// The ISP has "envia e-mail aplicativo" off.
    Disabled,
    /// No default SMTP account in the financial parameters.
    NoAccount,
    /// The customer has no e-mail on file.
    NoEmail,
    /// The invoice is not open.
    NotOpen,
    /// The invoice's daily limit is reached.
    InvoiceLimit(u32),
    /// The customer's daily limit is reached.
    CustomerLimit(u32),
}

impl SendRefusal {
    /// The message the subscriber reads.
    pub fn message_pt(self) -> String {
        match self {
            SendRefusal::Disabled | SendRefusal::NoAccount => {
                "O envio por e-mail não está disponível.".into()
            }
            SendRefusal::NoEmail => {
                "Não há e-mail cadastrado para você: cadastre seu e-mail com nosso atendimento."
                    .into()
            }
            SendRefusal::NotOpen => "Esta fatura não está em aberto.".into(),
            SendRefusal::InvoiceLimit(n) => format!(
                "Esta fatura já foi enviada {n} vez(es) hoje. Você pode pedir de novo amanhã."
            ),
            SendRefusal::CustomerLimit(n) => format!(
                "Você já pediu {n} envio(s) hoje, o limite do dia. Você pode pedir de novo amanhã."
            ),
        }
    }

    /// The HTTP status the pages and the app's API answer with.
    pub fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            SendRefusal::Disabled | SendRefusal::NoAccount => StatusCode::FORBIDDEN,
            SendRefusal::InvoiceLimit(_) | SendRefusal::CustomerLimit(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            SendRefusal::NoEmail | SendRefusal::NotOpen => StatusCode::CONFLICT,
        }
    }

    /// The code the app's API answers with.
    pub fn code(self) -> &'static str {
        match self {
            SendRefusal::Disabled | SendRefusal::NoAccount => "disabled",
            SendRefusal::NoEmail => "no_email",
            SendRefusal::NotOpen => "not_open",
            SendRefusal::InvoiceLimit(_) => "invoice_limit",
            SendRefusal::CustomerLimit(_) => "customer_limit",
        }
    }
}

/// Whether the portal offers "enviar por e-mail" at all: the setting is on and the financial
/// parameters have an account.
pub async fn email_offered(conn: &mut sqlx::AnyConnection) -> anyhow::Result<bool> {
    Ok(store::settings::portal_settings(conn).await?.send_email
        && store::accounts::financial_account(conn).await?.is_some())
}

/// An invoice that may be e-mailed now.
#[derive(Debug, Clone)]
pub struct SendCheck {
    /// The invoice's customer, whose primary e-mail it goes to.
    pub customer: Customer,
    /// That address, masked.
    pub masked: String,
    /// The invoice's portal requests so far today.
    pub requests_today: i64,
}

/// Checks that `invoice` may be e-mailed now, or says why not.
pub async fn check_send(
    conn: &mut sqlx::AnyConnection,
    clock: &Clock,
    invoice: &Invoice,
) -> anyhow::Result<Result<SendCheck, SendRefusal>> {
    let settings = store::settings::portal_settings(conn).await?;
    if !settings.send_email {
        return Ok(Err(SendRefusal::Disabled));
    }
    if store::accounts::financial_account(conn).await?.is_none() {
        return Ok(Err(SendRefusal::NoAccount));
    }
    if invoice.status != InvoiceStatus::Open {
        return Ok(Err(SendRefusal::NotOpen));
    }
    let customer = store::parties::get_customer(conn, invoice.customer_id).await?;
    let Some(email) = customer.email.as_ref().map(|e| e.as_str().to_string()) else {
        return Ok(Err(SendRefusal::NoEmail));
    };
    let (by_invoice, by_customer) = store::subscribers::portal_requests_since(
        conn,
        invoice.id,
        customer.id,
        clock.start_of_day_ms(clock.today())?,
    )
    .await?;
    if by_invoice >= i64::from(settings.limit_per_invoice) {
        return Ok(Err(SendRefusal::InvoiceLimit(settings.limit_per_invoice)));
    }
    if by_customer >= i64::from(settings.limit_per_customer) {
        return Ok(Err(SendRefusal::CustomerLimit(settings.limit_per_customer)));
    }
    Ok(Ok(SendCheck {
        customer,
        masked: mask_email(&email),
        requests_today: by_invoice,
    }))
}

/// Queues the invoice's second copy to its customer's e-mail on file, boleto attached: the
/// notice and the masked address, or why not. The caller has checked the invoice belongs to
/// the logged-in document.
pub async fn send_second_copy(
    db: &Db,
    clock: &Clock,
    invoice: &Invoice,
    request: Option<&str>,
) -> anyhow::Result<Result<(NoticeId, String), SendRefusal>> {
    let now = clock.now_millis();
    // A request id that is not ours to trust (too long, odd characters) is ignored: the
    // request is then counted like one without an id.
    let request = request.filter(|r| {
        (16..=64).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let request_key = request.map(|r| crate::delivery::NoticeKey::PortalRequest {
        invoice: invoice.id,
        request: r.to_string(),
    });
    let mut tx = db.begin().await?;
    if let Some(key) = &request_key {
        // The same form sent again (a double click): the message it queued, nothing new.
        if let Some((notice, _)) = store::outbox::notice_by_dedup_key(&mut tx, key).await? {
            let customer = store::parties::get_customer(&mut tx, invoice.customer_id).await?;
            tx.commit().await?;
            return Ok(Ok((notice, mask_email(&customer.email_or_empty()))));
        }
    }
    let SendCheck {
        customer,
        masked,
        requests_today,
    } = match check_send(&mut tx, clock, invoice).await? {
        Ok(ok) => ok,
        Err(refusal) => {
            tracing::info!(
                invoice = invoice.id.0,
                code = refusal.code(),
                "portal send refused"
            );
            return Ok(Err(refusal));
        }
    };
    let account = store::accounts::financial_account(&mut tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the financial account vanished"))?;
    let layout = store::layouts::layout_for_purpose(&mut tx, Purpose::PortalSecondCopy)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no portal_second_copy layout"))?;
    // The form's request id: however often one confirmation is submitted, one message. The
    // app's API has no form: its n-th request of the day is its key.
    let key = request_key.unwrap_or(crate::delivery::NoticeKey::PortalDaily {
        invoice: invoice.id,
        date: clock.today(),
        n: requests_today + 1,
    });
    let enqueued = crate::delivery::enqueue_invoice_email(
        &mut tx,
        invoice.id,
        &account,
        Purpose::PortalSecondCopy,
        Some(layout.id),
        key,
        &actor(&customer),
        now,
    )
    .await?;
    tx.commit().await?;
    let (Enqueued::New(notice) | Enqueued::Exists(notice, _)) = enqueued;
    tracing::info!(
        invoice = invoice.id.0,
        notice = notice.0,
        "portal second copy queued"
    );
    Ok(Ok((notice, masked)))
}

/// An invoice's status as the subscriber reads it: (code, label).
pub fn status_pt(invoice: &Invoice, today: jiff::civil::Date) -> (&'static str, String) {
    match &invoice.status {
        InvoiceStatus::Open if invoice.due_date < today => ("overdue", "vencida".into()),
        InvoiceStatus::Open => ("open", "em aberto".into()),
        InvoiceStatus::Paid { paid_on, .. } => (
            "paid",
            format!("paga em {}", crate::domain::format_date(*paid_on)),
        ),
        InvoiceStatus::Cancelled => ("cancelled", "cancelada".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_address_shows_the_first_letter_and_the_domain_only() {
        assert_eq!(mask_email("joana.silva@gmail.com"), "j***@gmail.com");
        assert_eq!(mask_email("x@provedor.com.br"), "x***@provedor.com.br");
        for address in ["maria.souza@exemplo.com.br", "ab@c.io", "Zé@exemplo.com"] {
            let masked = mask_email(address);
            let (local, domain) = address.split_once('@').unwrap();
            assert_eq!(
                masked,
                format!("{}***@{domain}", local.chars().next().unwrap())
            );
            let rest: String = local.chars().skip(1).collect();
            assert!(rest.is_empty() || !masked.contains(&rest), "{masked}");
        }
        assert_eq!(mask_email("sem-arroba"), "***");
    }

    #[test]
    fn documents_are_digits_and_logged_masked() {
        assert_eq!(
            document_digits("529.982.247-25").as_deref(),
            Some("52998224725")
        );
        assert_eq!(document_digits("111.111.111-11"), None);
        assert_eq!(masked_document("52998224725"), "529***25");
    }

    #[test]
    fn passwords_need_eight_characters_and_a_matching_confirmation() {
        assert!(password_problem("curta", "curta").is_some());
        assert_eq!(
            password_problem("senha-boa-1", "senha-boa-2"),
            Some("A confirmação não é igual à senha.")
        );
        assert_eq!(password_problem("senha-boa-1", "senha-boa-1"), None);
    }
}
