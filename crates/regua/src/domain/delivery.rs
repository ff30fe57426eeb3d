//! The records of delivery: e-mail accounts, SMS gateways, notices and their lifecycle,
//! attempts. Plain data (the delivery module sends them; the store keeps them).

use std::fmt;
use std::str::FromStr;

use super::{ContractId, CustomerId, EmailAddress, InvoiceId, LayoutId, Purpose};

id_type!(
    /// Primary key of an e-mail account.
    AccountId,
    /// Primary key of a notice.
    NoticeId,
    /// Primary key of an SMS gateway.
    GatewayId,
    /// Primary key of a temporary suspension.
    SuspensionId,
    /// Primary key of a WhatsApp account.
    WhatsappAccountId,
);

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and command-line name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($s => Ok($name::$variant),)*
                    other => Err(format!(
                        "{other:?} is not one of: {}",
                        [$($s),*].join(", ")
                    )),
                }
            }
        }
    };
}

str_enum!(
    /// How an SMTP connection is secured.
    Security {
        /// Plain text (loopback relays only).
        None = "none",
        /// Plain connection upgraded with STARTTLS (port 587).
        StartTls = "starttls",
        /// TLS from the first byte (port 465).
        Tls = "tls",
    }
);

impl Security {
    /// What the form suggests for a port: STARTTLS for 587, TLS for 465.
    pub fn suggested_for_port(port: u16) -> Option<Security> {
        match port {
            587 => Some(Security::StartTls),
            465 => Some(Security::Tls),
            _ => None,
        }
    }

    /// A pairing that cannot work, refused: port 465 is SMTPS, TLS from the first byte, so a
    /// STARTTLS client waits for a greeting that never comes (RFC 8314 § 3.3). Why, in English
    /// and in Portuguese.
    pub fn refused_with_port(self, port: u16) -> Option<(&'static str, &'static str)> {
        (port == 465 && self == Security::StartTls).then_some((
            "port 465 is implicit TLS (SMTPS): use --security tls, or port 587 with starttls",
            "A porta 465 usa TLS direto (SMTPS): escolha TLS, ou use a porta 587 com STARTTLS.",
        ))
    }
}

str_enum!(
    /// Where an account's messages go.
    Transport {
        /// An SMTP server.
        Smtp = "smtp",
        /// `.eml` files in a folder (the demo's channel).
        File = "file",
    }
);

str_enum!(
    /// A notice's channel.
    Channel {
        /// E-mail (SMTP or file).
        Email = "email",
        /// SMS through an HTTP gateway.
        Sms = "sms",
        /// Push through Firebase.
        Push = "push",
        /// WhatsApp through Meta's Cloud API, with an approved template.
        Whatsapp = "whatsapp",
    }
);

str_enum!(
    /// A notice's lifecycle: `queued → sending (lease) → sent | retrying | dead`, or `skipped`.
    NoticeStatus {
        /// Waiting for its next attempt time.
        Queued = "queued",
        /// Claimed by a worker until its lease expires.
        Sending = "sending",
        /// The server accepted it (250 after DATA).
        Sent = "sent",
        /// A transient failure; waits for its next attempt.
        Retrying = "retrying",
        /// A permanent failure, or too many attempts; needs an operator.
        Dead = "dead",
        /// Not sent on purpose (invoice paid, no e-mail, account disabled); the reason is kept.
        Skipped = "skipped",
    }
);

impl Channel {
    /// The name on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            Channel::Email => "e-mail",
            Channel::Sms => "SMS",
            Channel::Push => "push",
            Channel::Whatsapp => "WhatsApp",
        }
    }

    /// Parses a comma-separated list (`push,sms,email`), as stored and as the settings take it.
    pub fn parse_list(s: &str) -> Result<Vec<Channel>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let c: Channel = part.parse()?;
            if out.contains(&c) {
                return Err(format!("{c} is listed twice"));
            }
            out.push(c);
        }
        Ok(out)
    }

    /// The stored form of a list: `sms,email`.
    pub fn format_list(list: &[Channel]) -> String {
        list.iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl NoticeStatus {
    /// The label on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            NoticeStatus::Queued => "na fila",
            NoticeStatus::Sending => "enviando",
            NoticeStatus::Sent => "enviado",
            NoticeStatus::Retrying => "nova tentativa agendada",
            NoticeStatus::Dead => "falhou",
            NoticeStatus::Skipped => "não enviado",
        }
    }
}

/// An e-mail account ("E-mail SMTP"). The password is not here: it is read and opened only
/// where a connection is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAccount {
    /// Key.
    pub id: AccountId,
    /// Unique name.
    pub name: String,
    /// SMTP server or folder.
    pub transport: Transport,
    /// Outgoing server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// User for AUTH; `None` means the server needs no authentication.
    pub username: Option<String>,
    /// Whether a password is stored (sealed).
    pub has_password: bool,
    /// Folder of a file account.
    pub folder: Option<String>,
    /// A PEM file with extra certificates to trust (a self-signed server).
    pub ca_file: Option<String>,
    /// Sender address.
    pub from_address: EmailAddress,
    /// Sender name.
    pub from_name: String,
    /// Where "enviar teste" goes by default.
    pub test_recipient: Option<EmailAddress>,
    /// At most this many messages in any rolling hour.
    pub hourly_limit: Option<u32>,
    /// At most this many messages in any rolling 24 hours.
    pub daily_limit: Option<u32>,
    /// The account's default message (a layout), for manual sends.
    pub default_layout_id: Option<LayoutId>,
    /// Where overflow goes when this account's limits are reached.
    pub fallback_account_id: Option<AccountId>,
    /// DKIM selector, domain and private key file, when signing.
    pub dkim: Option<DkimConfig>,
    /// False once removed.
    pub active: bool,
    /// When the account was last changed (ms): a worker opens a new pool when this moves.
    pub revision: i64,
    /// The return path's domain (VERP, docs/bounces.md); empty: the sender's address.
    pub bounce_domain: String,
}

/// DKIM signing settings of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimConfig {
    /// Selector (`selector._domainkey.domain`).
    pub selector: String,
    /// Signing domain.
    pub domain: String,
    /// PEM file with the RSA or Ed25519 private key.
    pub key_file: String,
}

/// A new account, validated.
#[derive(Debug, Clone)]
pub struct NewSmtpAccount {
    /// Unique name.
    pub name: String,
    /// SMTP server or folder.
    pub transport: Transport,
    /// Outgoing server (SMTP).
    pub host: String,
    /// Port (SMTP).
    pub port: u16,
    /// Security (SMTP).
    pub security: Security,
    /// AUTH user and password.
    pub credentials: Option<(String, crate::secrets::Secret)>,
    /// Folder (file).
    pub folder: Option<String>,
    /// Extra trusted certificates (PEM file).
    pub ca_file: Option<String>,
    /// Sender.
    pub from_address: EmailAddress,
    /// Sender name.
    pub from_name: String,
    /// Test recipient.
    pub test_recipient: Option<EmailAddress>,
    /// Hourly limit.
    pub hourly_limit: Option<u32>,
    /// Daily limit.
    pub daily_limit: Option<u32>,
    /// Fallback account's name.
    pub fallback: Option<String>,
    /// DKIM.
    pub dkim: Option<DkimConfig>,
    /// The return path's domain (VERP); empty: off.
    pub bounce_domain: String,
}

/// Whether `s` reads as a domain name (the return path's): labels of letters, digits and
/// hyphens, at least two, no empty one.
pub fn is_domain_name(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && s.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl NewSmtpAccount {
    /// The account as the audit trail records it: every field, the password masked.
    pub fn audit_json(&self) -> String {
        serde_json::json!({
            "name": self.name, "transport": self.transport.to_string(), "host": self.host,
            "port": self.port, "security": self.security.as_str(),
            "user": self.credentials.as_ref().map(|(u, _)| u.clone()),
            "password": self.credentials.as_ref().map(|_| "***"),
            "folder": self.folder, "from": self.from_address.as_str(),
            "hourly_limit": self.hourly_limit, "daily_limit": self.daily_limit,
            "fallback": self.fallback, "bounce_domain": self.bounce_domain,
        })
        .to_string()
    }

    /// An account writing `.eml` files into `folder`, with no limits.
    pub fn folder(name: &str, folder: &str, from: EmailAddress) -> NewSmtpAccount {
        NewSmtpAccount {
            transport: Transport::File,
            host: String::new(),
            port: 0,
            security: Security::None,
            folder: Some(folder.to_string()),
            ..NewSmtpAccount::smtp(name, "", 0, from)
        }
    }

    /// An SMTP account on `host:port` without TLS, authentication or limits; set the other
    /// fields on the result.
    pub fn smtp(name: &str, host: &str, port: u16, from: EmailAddress) -> NewSmtpAccount {
        NewSmtpAccount {
            name: name.to_string(),
            transport: Transport::Smtp,
            host: host.to_string(),
            port,
            security: Security::None,
            credentials: None,
            folder: None,
            ca_file: None,
            from_address: from,
            from_name: String::new(),
            test_recipient: None,
            hourly_limit: None,
            daily_limit: None,
            fallback: None,
            dkim: None,
            bounce_domain: String::new(),
        }
    }
}

/// A notice to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    /// Its identity.
    pub dedup_key: super::NoticeKey,
    /// Channel.
    pub channel: Channel,
    /// The e-mail account that sends it (also for a notice whose fallback is e-mail).
    pub account_id: Option<AccountId>,
    /// The SMS gateway that sends it (also for a notice whose fallback is SMS).
    pub gateway_id: Option<GatewayId>,
    /// The suspension it tells of.
    pub suspension_id: Option<SuspensionId>,
    /// The channels to try next, in order, when `channel` cannot reach the customer.
    pub fallback: Vec<Channel>,
    /// The address (or phone, device) at enqueue time; re-checked before sending.
    pub recipient: String,
    /// What it is.
    pub purpose: Purpose,
    /// The layout to render.
    pub layout_id: LayoutId,
    /// The customer it is about.
    pub customer_id: Option<CustomerId>,
    /// The contract it is about.
    pub contract_id: Option<ContractId>,
    /// The invoice it is about.
    pub invoice_id: Option<InvoiceId>,
    /// Attach the invoice's boleto PDF.
    pub attach_boleto: bool,
    /// Attach the collection letter (PDF) of an overdue band.
    pub attach_letter: bool,
    /// Who caused it: `routine: NAME`, `user: LOGIN`, `portal: CUSTOMER`, `api: KEY`, `cli: USER`.
    pub actor: String,
}

impl NewNotice {
    /// A notice with its identity, channel, purpose, layout and cause, and nothing else yet:
    /// no account or gateway, no fallback, no recipient, about no customer, contract, invoice
    /// or suspension, no attachment. Callers add what theirs has with `..NewNotice::new(…)`.
    pub fn new(
        dedup_key: super::NoticeKey,
        channel: Channel,
        purpose: Purpose,
        layout_id: LayoutId,
        actor: impl Into<String>,
    ) -> NewNotice {
        NewNotice {
            dedup_key,
            channel,
            account_id: None,
            gateway_id: None,
            suspension_id: None,
            fallback: Vec::new(),
            recipient: String::new(),
            purpose,
            layout_id,
            customer_id: None,
            contract_id: None,
            invoice_id: None,
            attach_boleto: false,
            attach_letter: false,
            actor: actor.into(),
        }
    }
}

/// A stored notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Key.
    pub id: NoticeId,
    /// Identity.
    pub dedup_key: String,
    /// Channel.
    pub channel: Channel,
    /// Sending account.
    pub account_id: Option<AccountId>,
    /// Sending SMS gateway.
    pub gateway_id: Option<GatewayId>,
    /// The suspension it tells of.
    pub suspension_id: Option<SuspensionId>,
    /// The channels still to try when `channel` cannot reach the customer.
    pub fallback: Vec<Channel>,
    /// Recipient.
    pub recipient: String,
    /// What it is.
    pub purpose: Purpose,
    /// Layout.
    pub layout_id: LayoutId,
    /// The layout version it was (last) rendered with.
    pub layout_version: Option<i64>,
    /// About which customer.
    pub customer_id: Option<CustomerId>,
    /// About which contract.
    pub contract_id: Option<ContractId>,
    /// About which invoice.
    pub invoice_id: Option<InvoiceId>,
    /// Attach the boleto.
    pub attach_boleto: bool,
    /// Attach the band's collection letter.
    pub attach_letter: bool,
    /// Who caused it.
    pub actor: String,
    /// Where it is in its lifecycle.
    pub status: NoticeStatus,
    /// Attempts made (claims).
    pub attempts: u32,
    /// When it is due (ms).
    pub next_attempt_at: i64,
    /// Why it is retrying, dead or skipped.
    pub last_error: Option<String>,
    /// Its stable Message-ID.
    pub message_id: String,
    /// When it was enqueued (ms).
    pub created_at: i64,
    /// When the server accepted it (ms).
    pub sent_at: Option<i64>,
}

/// What enqueuing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new notice.
    New(NoticeId),
    /// The dedup key exists: nothing was added ("already queued/sent").
    Exists(NoticeId, NoticeStatus),
}

/// The outcome of one attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When (ms).
    pub attempted_at: i64,
    /// The notice.
    pub notice_id: NoticeId,
    /// Its dedup key.
    pub dedup_key: String,
    /// Channel.
    pub channel: Channel,
    /// What it went through: the e-mail account's name, the SMS gateway's, or `Firebase` for
    /// push (an SMS notice's e-mail fallback account is not it).
    pub account: Option<String>,
    /// Recipient.
    pub recipient: String,
    /// Server reply code.
    pub reply_code: Option<u16>,
    /// Server reply text or the reason.
    pub reply_text: String,
    /// `sent`, `retrying`, `dead` or `skipped`.
    pub outcome: NoticeStatus,
    /// How long the attempt took.
    pub duration_ms: i64,
    /// Who caused the notice.
    pub actor: String,
    /// The notice's purpose.
    pub purpose: Purpose,
    /// The invoice, if any.
    pub invoice_id: Option<InvoiceId>,
    /// The invoice's external id (its number on screen), if any.
    pub invoice: Option<String>,
    /// The customer, if any.
    pub customer_id: Option<CustomerId>,
    /// For a sent attempt, the bounce read back for its notice (`hard 5.1.1`), if any.
    pub bounce: Option<String>,
    /// For a sent attempt, the furthest receipt the provider posted (`delivered`, `read`,
    /// `failed`), if any.
    pub receipt: Option<String>,
}

/// An SMS gateway: any provider's HTTP API. The headers (which carry the provider's credentials)
/// are not here: they are opened only where a request is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsGateway {
    /// Key.
    pub id: GatewayId,
    /// Unique name.
    pub name: String,
    /// `GET`, `POST` or `PUT`.
    pub method: String,
    /// The URL; may carry `{{telefone}}` and `{{mensagem}}` (percent-encoded there).
    pub url: String,
    /// The headers' names (their values are sealed).
    pub header_names: Vec<String>,
    /// The body template with `{{telefone}}`, `{{telefone_digitos}}` and `{{mensagem}}`.
    pub body_template: String,
    /// Text the reply's body must contain to count as accepted (besides a 2xx status).
    pub success_contains: Option<String>,
    /// At most this many messages in any rolling hour.
    pub hourly_limit: Option<u32>,
    /// At most this many messages in any rolling 24 hours.
    pub daily_limit: Option<u32>,
    /// False once removed.
    pub active: bool,
    /// When it was last changed (ms): a worker reopens its secrets when this moves.
    pub revision: i64,
    /// Where its reply's JSON carries the message id (`id`, `messages.0.id`), so delivery
    /// receipts find the notice; empty without receipts (docs/suspension.md "Delivery receipts").
    pub reply_id_path: String,
}

/// How an SMS gateway's delivery receipts are read (`POST /webhooks/sms/{gateway}`): where the
/// posted JSON carries the message id and the status, and which status values mean delivered and
/// failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipts {
    /// Path to the message id in the gateway's reply to a send.
    pub reply_id_path: String,
    /// Path to the message id in a receipt.
    pub id_path: String,
    /// Path to the status in a receipt.
    pub status_path: String,
    /// Status values that mean delivered (compared without case).
    pub delivered: Vec<String>,
    /// Status values that mean failed.
    pub failed: Vec<String>,
}

/// The value at a dotted path (`messages.0.id`; `$.messages[0].id` is read the same) in JSON, as
/// text: a string as is, a number as written; `None` when absent or not a scalar.
pub fn json_at(json: &serde_json::Value, path: &str) -> Option<String> {
    let path = path.trim().trim_start_matches('$').trim_start_matches('.');
    let normal = path.replace('[', ".").replace(']', "");
    let mut v = json;
    for part in normal.split('.').filter(|p| !p.is_empty()) {
        v = match v {
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            serde_json::Value::Object(o) => o.get(part)?,
            _ => return None,
        };
    }
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a gateway keeps sealed with the master key: its headers (`Authorization: Bearer …`) and
/// the values of the `${VAR}`s its URL and body name (a key some providers take in the query
/// string), which stay `${VAR}` in the stored templates and in listings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GatewaySecrets {
    /// `Name: value` headers.
    pub headers: Vec<(String, String)>,
    /// `${VAR}` values of the URL and body.
    pub vars: std::collections::BTreeMap<String, String>,
}

impl GatewaySecrets {
    /// Nothing to seal.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.vars.is_empty()
    }
}

/// A new SMS gateway, validated.
#[derive(Debug, Clone)]
pub struct NewSmsGateway {
    /// Unique name.
    pub name: String,
    /// `GET`, `POST` or `PUT`.
    pub method: String,
    /// URL template.
    pub url: String,
    /// What is sealed at rest: the headers and the `${VAR}` values of the URL and body.
    pub secrets: GatewaySecrets,
    /// Body template.
    pub body_template: String,
    /// Text a successful reply contains.
    pub success_contains: Option<String>,
    /// Hourly limit.
    pub hourly_limit: Option<u32>,
    /// Daily limit.
    pub daily_limit: Option<u32>,
}

impl NewSmsGateway {
    /// The gateway as the audit trail records it: header values masked.
    pub fn audit_json(&self) -> String {
        serde_json::json!({
            "name": self.name, "method": self.method, "url": self.url,
            "headers": self.secrets.headers.iter().map(|(n, _)| format!("{n}: ***")).collect::<Vec<_>>(),
            "variables": self.secrets.vars.keys().collect::<Vec<_>>(),
            "body": self.body_template, "success_contains": self.success_contains,
            "hourly_limit": self.hourly_limit, "daily_limit": self.daily_limit,
        })
        .to_string()
    }
}

/// The Firebase configuration as stored (the private key stays sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Firebase project.
    pub project_id: String,
    /// The service account (`iss` of the JWT).
    pub client_email: String,
    /// The key's id (`kid` of the JWT).
    pub private_key_id: String,
    /// Where the JWT is exchanged for an access token.
    pub token_uri: String,
    /// The FCM base address (`https://fcm.googleapis.com`).
    pub fcm_url: String,
    /// When it was saved (ms): a worker rebuilds its client when this changes.
    pub updated_at: i64,
}

/// A temporary suspension of a contract, both dates inclusive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suspension {
    /// Key.
    pub id: SuspensionId,
    /// The contract.
    pub contract_id: crate::domain::ContractId,
    /// First day without service.
    pub starts_on: jiff::civil::Date,
    /// Last day without service; it is restored the day after.
    pub ends_on: jiff::civil::Date,
    /// Why (the customer's words, or the operator's).
    pub reason: String,
    /// Who asked: `user: LOGIN`, `api: KEY`, `cli: USER`, `import: FILE`.
    pub requested_by: String,
    /// When it was recorded (ms).
    pub created_at: i64,
    /// When it was withdrawn (ms), if it was.
    pub cancelled_at: Option<i64>,
}
