//! Turning a rendered layout into a MIME message: `multipart/alternative` (text, HTML), inside
//! `multipart/mixed` when the boleto PDF is attached, UTF-8 throughout, with the notice's
//! stable Message-ID and, when the account has it, a DKIM signature.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use crate::delivery::SmtpAccount;
use crate::layouts::RenderedMessage;

/// Why a message could not be built: always permanent (retrying builds the same thing).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// Builds the message.
pub fn build_message(
    account: &SmtpAccount,
    to: &str,
    message_id: &str,
    rendered: &RenderedMessage,
    attachments: &[(String, Vec<u8>)],
) -> Result<lettre::Message, BuildError> {
    // Accounts are checked when saved; one stored before that check (or edited in the
    // database) is refused here rather than handed to lettre, which panics on a line break.
    crate::domain::limits::check_line(&account.from_name, crate::domain::limits::MAX_TEXT_CHARS)
        .map_err(|e| {
            BuildError(format!(
                "nome do remetente inválido na conta {}: {e}",
                account.name
            ))
        })?;
    let from = Mailbox::new(
        Some(account.from_name.clone()).filter(|n| !n.is_empty()),
        account
            .from_address
            .as_str()
            .parse()
            .map_err(|e| BuildError(format!("invalid sender address: {e}")))?,
    );
    let to: Mailbox = to
        .parse()
        .map_err(|e| BuildError(format!("invalid recipient address {to:?}: {e}")))?;
    let body = MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
    let builder = lettre::Message::builder()
        .from(from)
        .to(to)
        // The subject is rendered from a template with the customer's data: a line break
        // there would end the header, so each control run becomes a space.
        .subject(crate::domain::limits::header_safe(&rendered.subject))
        .message_id(Some(message_id.to_string()));
    let result = if attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (filename, pdf) in attachments {
            mixed = mixed.singlepart(Attachment::new(header_safe_name(filename)).body(
                pdf.clone(),
                ContentType::parse("application/pdf").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        builder.multipart(mixed)
    };
    let mut message = result.map_err(|e| BuildError(format!("cannot build the message: {e}")))?;
    if let Some(dkim) = &account.dkim {
        let pem = std::fs::read_to_string(&dkim.key_file)
            .map_err(|e| BuildError(format!("cannot read the DKIM key {}: {e}", dkim.key_file)))?;
        let key = super::dkim::SigningKey::from_pem(&pem)
            .map_err(|e| BuildError(format!("invalid DKIM key {}: {e}", dkim.key_file)))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let value = super::dkim::signature(
            &message.formatted(),
            &dkim.domain,
            &dkim.selector,
            &key,
            now,
        )
        .map_err(|e| BuildError(format!("DKIM: {e}")))?;
        // Already folded ASCII built here, not from outside input: inserted as it is.
        message.headers_mut().insert_raw(
            lettre::message::header::HeaderValue::dangerous_new_pre_encoded(
                lettre::message::header::HeaderName::new_from_ascii_str("DKIM-Signature"),
                value.clone(),
                value,
            ),
        );
    }
    Ok(message)
}

/// An attachment's file name as a MIME header can carry it (names are built by
/// `payment::pdf_file_name`; this is the last guard).
fn header_safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || c == '"' || c == '\\' {
                '-'
            } else {
                c
            }
        })
        .collect()
}
