//! Turning a rendered layout into a MIME message: `multipart/alternative` (text, HTML), inside
//! `multipart/mixed` when the boleto PDF is attached, UTF-8 throughout, with the notice's
//! stable Message-ID and, when the account has it, a DKIM signature.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::SmtpAccount;
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
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_string()));
    let result = if attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (filename, pdf) in attachments {
            mixed = mixed.singlepart(Attachment::new(filename.clone()).body(
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
        let key = lettre::message::dkim::DkimSigningKey::new(
            &pem,
            lettre::message::dkim::DkimSigningAlgorithm::Rsa,
        )
        .map_err(|e| BuildError(format!("invalid DKIM key {}: {e}", dkim.key_file)))?;
        message.sign(&lettre::message::dkim::DkimConfig::default_config(
            dkim.selector.clone(),
            dkim.domain.clone(),
            key,
        ));
    }
    Ok(message)
}
