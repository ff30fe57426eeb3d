//! Bounce classification (#24): what a message returned to Régua says about the address it
//! was sent to — a hard bounce (the address or its domain does not exist), a soft one (this
//! delivery failed, the address may be fine), an abuse complaint, or no bounce at all (an
//! auto-reply, a delivery report). Pure: bytes in, [`Bounce`] out; nothing is read from or
//! written to the database. The rules and their sources are in docs/bounces.md.
//!
//! The order of reading: an ARF complaint report (RFC 5965); an RFC 3464 delivery-status
//! report; Amazon SES's JSON notification; an RFC 3834 auto-reply; otherwise the text that
//! precedes the returned copy of our message, as the MTAs that do not follow RFC 3464 write it
//! (qmail, Exchange, Yahoo, Gmail's and older Postfix/Exim/Sendmail texts).

use std::fmt;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::secrets::MasterKey;

pub mod imap;
pub mod listener;

/// Above this share of the day's messages bouncing (2 %), the dashboard shows the account's
/// rate in red. The issue's figure, a common senders' rule of thumb: no provider publishes a
/// bounce threshold (docs/bounces.md).
pub const BOUNCE_ALERT_BASIS_POINTS: i64 = 200;
/// Above this share drawing a spam complaint (0.3 %), in red: Google's email sender guidelines
/// (in force since February 2024) ask bulk senders to keep the spam rate reported in Postmaster
/// Tools below 0.3 %.
pub const COMPLAINT_ALERT_BASIS_POINTS: i64 = 30;

/// `part` of `whole` in basis points (hundredths of a percent), rounded down; 0 of nothing.
pub fn basis_points(part: i64, whole: i64) -> i64 {
    if whole <= 0 { 0 } else { part * 10_000 / whole }
}

/// A rate in basis points as Brazilians read a percentage: `1,25 %`.
pub fn percent_pt(bp: i64) -> String {
    format!("{},{:02} %", bp / 100, bp % 100)
}

/// The local part's prefix of a return path (VERP).
pub const RETURN_PATH_PREFIX: &str = "bounces+";

/// The tag that proves a return path was made by this installation: 16 hex digits of an
/// HMAC-SHA256 of the notice id under the master key.
fn tag(notice: i64, key: &MasterKey) -> String {
    key.mac("verp", notice.to_string().as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The return path (MAIL FROM) of notice `notice`: `bounces+<notice>.<tag>@<domain>`. A bounce
/// is sent to it, so it names its notice without guessing, and the tag makes a forged one
/// worthless.
pub fn return_path(notice: i64, domain: &str, key: &MasterKey) -> String {
    format!("{RETURN_PATH_PREFIX}{notice}.{}@{domain}", tag(notice, key))
}

/// The notice a return path names, when its tag is right; `None` for any other address.
pub fn notice_in(address: &str, key: &MasterKey) -> Option<i64> {
    let local = address.trim().trim_matches(['<', '>']).split('@').next()?;
    let rest = local.get(RETURN_PATH_PREFIX.len()..)?;
    if !local[..RETURN_PATH_PREFIX.len()].eq_ignore_ascii_case(RETURN_PATH_PREFIX) {
        return None;
    }
    let (id, given) = rest.split_once('.')?;
    let id: i64 = id.parse().ok()?;
    // Constant-time enough: both are 16 hex digits of a MAC the sender cannot compute.
    (given.eq_ignore_ascii_case(&tag(id, key))).then_some(id)
}

/// [`classify`], and the notice from the return path the bounce was sent to (its `To`,
/// `Delivered-To`, `X-Original-To`, `Envelope-To`, or the returned copy's `Return-Path`) when
/// `key` verifies its tag.
pub fn classify_with_key(raw: &[u8], key: Option<&MasterKey>) -> Bounce {
    let mut b = classify(raw);
    if let Some(key) = key {
        let text = String::from_utf8_lossy(raw);
        b.notice = addresses(&text)
            .into_iter()
            .filter(|a| a.to_lowercase().starts_with(RETURN_PATH_PREFIX))
            .find_map(|a| notice_in(&a, key));
    }
    b
}

/// What a returned message means for the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    /// The mailbox or the domain does not exist: stop writing to it.
    Hard,
    /// This delivery failed; the address may be good (full mailbox, a block, a time-out).
    Soft,
    /// The recipient reported the message as abuse.
    Complaint,
    /// An auto-reply, a delivery report, an ordinary message.
    NotABounce,
}

impl fmt::Display for BounceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BounceKind::Hard => "hard",
            BounceKind::Soft => "soft",
            BounceKind::Complaint => "complaint",
            BounceKind::NotABounce => "not_a_bounce",
        })
    }
}

/// A returned message, read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bounce {
    /// The address that failed (or complained, or auto-replied), lower-cased.
    pub recipient: Option<String>,
    /// What it means.
    pub kind: BounceKind,
    /// The RFC 3463 enhanced status code, when the message states one.
    pub status: Option<String>,
    /// Régua's notice id, from the return path or the returned copy's Message-ID, when present.
    pub notice: Option<i64>,
    /// The server's words (diagnostic), for the log; not part of the `--json` output.
    #[serde(skip)]
    pub diagnostic: String,
}

/// Reads a returned message (any line ends).
pub fn classify(raw: &[u8]) -> Bounce {
    let normalized = normalize_line_ends(raw);
    let Some(message) = MessageParser::default().parse(&normalized) else {
        return Bounce {
            recipient: None,
            kind: BounceKind::NotABounce,
            status: None,
            notice: None,
            diagnostic: String::new(),
        };
    };
    let mut b = read(&message);
    b.recipient = b
        .recipient
        .map(|r| r.trim().trim_matches(['<', '>']).to_lowercase());
    b
}

/// CRLF and bare CR become LF, so every rule reads one kind of line end.
fn normalize_line_ends(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.push(b'\n');
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn read(m: &Message<'_>) -> Bounce {
    let mut none = Bounce {
        recipient: None,
        kind: BounceKind::NotABounce,
        status: None,
        notice: None,
        diagnostic: String::new(),
    };
    // 1. ARF.
    if let Some(report) = part_text(m, "message", "feedback-report") {
        let fields = fields(&report);
        let kind = field(&fields, "feedback-type")
            .unwrap_or_default()
            .to_lowercase();
        let recipient = field(&fields, "original-rcpt-to")
            .map(|v| strip_type(&v))
            .or_else(|| returned_header(m, "To").and_then(|t| first_address(&t)));
        return Bounce {
            recipient,
            kind: if kind.contains("abuse") {
                BounceKind::Complaint
            } else {
                BounceKind::NotABounce
            },
            ..none
        };
    }
    // 2. RFC 3464.
    if let Some(report) = part_text(m, "message", "delivery-status")
        .or_else(|| part_text(m, "message", "global-delivery-status"))
        && let Some(b) = read_dsn(m, &report)
    {
        return b;
    }
    // A bounce forwarded whole (a filter, a helpdesk): read the bounce inside.
    for p in &m.parts {
        if let PartType::Message(inner) = &p.body
            && (part_text(inner, "message", "delivery-status").is_some()
                || part_text(inner, "message", "feedback-report").is_some())
        {
            return read(inner);
        }
    }
    let body = error_text(m);
    // Hotmail's complaint format: the reported message attached, its recipient in a header.
    let subject = m.subject().unwrap_or_default().to_lowercase();
    if subject.contains("complaint about message") {
        return Bounce {
            recipient: returned_header(m, "X-HmXmrOriginalRecipient")
                .or_else(|| returned_header(m, "To").and_then(|t| first_address(&t))),
            kind: BounceKind::Complaint,
            ..none
        };
    }
    // 3. Amazon SES's JSON.
    if let Some(b) = read_ses(&body) {
        return b;
    }
    // 4. Auto-replies.
    let auto = header(m, "Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"))
        || header(m, "X-Autoreply").is_some()
        || header(m, "X-Autorespond").is_some()
        || [
            "auto:",
            "automatic reply",
            "out of office",
            "autoreply",
            "auto-reply",
            "vacation",
            "abwesenheit",
            "fuera de la oficina",
            "resposta automática",
            "réponse automatique",
        ]
        .iter()
        .any(|w| subject.contains(w));
    let looks_bounced = is_bounce_subject(&subject) || is_bounce_sender(m);
    if auto && !looks_bounced {
        none.recipient = m
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .map(str::to_string);
        return none;
    }
    if !looks_bounced && !mentions_failure(&body) {
        return none;
    }
    // 5. The text of a non-standard bounce.
    let recipient = text_recipient(&body)
        .or_else(|| header(m, "X-Failed-Recipients").and_then(|v| first_address(&v)))
        .or_else(|| returned_header(m, "To").and_then(|t| first_address(&t)));
    let status = status_in(&body);
    let kind = kind_of(status.as_deref(), &body);
    Bounce {
        recipient,
        kind,
        status,
        notice: None,
        diagnostic: first_lines(&body, 6),
    }
}

/// A DSN's recipient block: the first with an Action other than delivered (or the first).
fn read_dsn(m: &Message<'_>, report: &str) -> Option<Bounce> {
    let blocks: Vec<Vec<(String, String)>> = report
        .split("\n\n")
        .map(fields)
        .filter(|f| !f.is_empty())
        .collect();
    let recipients: Vec<&Vec<(String, String)>> = blocks
        .iter()
        .filter(|b| {
            field(b, "final-recipient").is_some() || field(b, "original-recipient").is_some()
        })
        .collect();
    let block = recipients
        .iter()
        .find(|b| {
            !field(b, "action").is_some_and(|a| {
                let a = a.to_lowercase();
                a.contains("delivered") || a.contains("relayed") || a.contains("expanded")
            })
        })
        .or(recipients.first())?;
    let action = field(block, "action").unwrap_or_default().to_lowercase();
    let recipient = field(block, "final-recipient")
        .or_else(|| field(block, "original-recipient"))
        .map(|v| strip_type(&v))
        .and_then(|r| {
            // A local delivery (`|/usr/bin/program user@host …`) names the address inside.
            if r.contains(char::is_whitespace) || r.starts_with('|') {
                first_address(&r)
            } else {
                Some(r).filter(|r| r.contains('@'))
            }
        })
        .or_else(|| header(m, "X-Failed-Recipients").and_then(|v| first_address(&v)))
        .or_else(|| text_recipient(&error_text(m)));
    if action.contains("delivered") || action.contains("relayed") || action.contains("expanded") {
        return Some(Bounce {
            recipient,
            kind: BounceKind::NotABounce,
            status: None,
            notice: None,
            diagnostic: String::new(),
        });
    }
    let diagnostic = field(block, "diagnostic-code")
        .map(|d| strip_type(&d))
        .unwrap_or_default();
    let text = error_text(m);
    let stated = field(block, "status").and_then(|s| status_in(&s));
    // A generic X.0.0 gives way to a specific code of the same class in the diagnostic.
    let status = match (&stated, status_in(&diagnostic)) {
        (Some(s), Some(d))
            if s.ends_with(".0.0") && d.starts_with(&s[..1]) && !d.ends_with(".0.0") =>
        {
            Some(d)
        }
        (Some(s), _) => Some(s.clone()),
        (None, d) => d.or_else(|| status_in(&text)),
    };
    let words = format!("{diagnostic}\n{text}");
    Some(Bounce {
        recipient,
        kind: kind_of(status.as_deref(), &words),
        status,
        notice: None,
        diagnostic,
    })
}

/// Amazon SES's bounce or complaint notification, when the body is its JSON.
fn read_ses(body: &str) -> Option<Bounce> {
    read_ses_json(body).or_else(|| read_ses_text(body))
}

/// SES's JSON cut by a mail system's line length (a `!` and a line break every ~990
/// characters): the type and the first recipient read from the text.
fn read_ses_text(body: &str) -> Option<Bounce> {
    let joined: String = body.replace("!\n", "").replace('\n', "");
    let value_after = |key: &str| {
        let i = joined.find(key)? + key.len();
        let rest = &joined[i..];
        let end = rest.find('"')?;
        Some(rest[..end].to_string())
    };
    let kind = value_after("\"notificationType\":\"")?;
    let (recipient, kind) = match kind.as_str() {
        "Complaint" => (
            value_after("\"complainedRecipients\":[{\"emailAddress\":\""),
            BounceKind::Complaint,
        ),
        "Bounce" => (
            value_after("\"emailAddress\":\""),
            if value_after("\"bounceType\":\"").as_deref() == Some("Permanent") {
                BounceKind::Hard
            } else {
                BounceKind::Soft
            },
        ),
        _ => return None,
    };
    Some(Bounce {
        recipient,
        kind,
        status: value_after("\"status\":\"").and_then(|s| status_in(&s)),
        notice: None,
        diagnostic: String::new(),
    })
}

fn read_ses_json(body: &str) -> Option<Bounce> {
    let start = body.find('{')?;
    let json: serde_json::Value =
        serde_json::from_str(body[start..].trim())
            .ok()
            .or_else(|| {
                let end = body.rfind('}')?;
                serde_json::from_str(&body[start..=end]).ok()
            })?;
    let kind = json
        .get("notificationType")
        .or_else(|| json.get("eventType"))?
        .as_str()?;
    let (recipient, status, diagnostic, class) = match kind {
        "Bounce" => {
            let b = json.get("bounce")?;
            let r = b.get("bouncedRecipients")?.get(0)?;
            (
                r.get("emailAddress")?.as_str().map(str::to_string),
                r.get("status").and_then(|s| s.as_str()).and_then(status_in),
                r.get("diagnosticCode")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string(),
                b.get("bounceType")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        }
        "Complaint" => {
            let c = json.get("complaint")?;
            let r = c.get("complainedRecipients")?.get(0)?;
            return Some(Bounce {
                recipient: r.get("emailAddress")?.as_str().map(str::to_string),
                kind: BounceKind::Complaint,
                status: None,
                notice: None,
                diagnostic: String::new(),
            });
        }
        "Delivery" => {
            return Some(Bounce {
                recipient: json
                    .pointer("/delivery/recipients/0")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                kind: BounceKind::NotABounce,
                status: None,
                notice: None,
                diagnostic: String::new(),
            });
        }
        _ => return None,
    };
    let status = status.or_else(|| status_in(&diagnostic));
    let kind = if class == "Transient" {
        BounceKind::Soft
    } else {
        kind_of(status.as_deref(), &diagnostic)
    };
    Some(Bounce {
        recipient,
        kind,
        status,
        notice: None,
        diagnostic,
    })
}

/// Hard only when the address or its domain does not exist (Sisimai's hard-bounce rule):
/// a 4.x.x is soft; a refusal of our sender (after MAIL FROM) is soft; the status codes that
/// name a bad mailbox or domain are hard; otherwise the server's words decide.
fn kind_of(status: Option<&str>, words: &str) -> BounceKind {
    // Words split over lines ("Unknown\nRecipient") read as one phrase.
    let w = words
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let sender_refused = [
        "after mail from",
        "sender address rejected",
        "sender domain",
        "sender rejected",
        "sender verify failed",
        "sender unknown",
    ];
    // The mailbox exists (full, too big, disabled) or we were refused (blocks, policies).
    let exists = [
        "mailbox full",
        "mailbox is full",
        "quota",
        "insufficient",
        "too large",
        "too big",
        "size limit",
        "disabled",
        "suspended",
        "inactive",
        "frozen",
        "locked",
        "blocked",
        "blacklist",
        "block list",
        "blocklist",
        "spam",
        "rate limit",
        "too many",
        "temporarily",
        "reputation",
        "dmarc",
        "relay access denied",
        "relaying denied",
        "virus",
        ", try again",
    ];
    let hard_words = [
        "user unknown",
        "unknown user",
        "no such user",
        "no such recipient",
        "unknown recipient",
        "recipient unknown",
        "does not exist",
        "doesn't exist",
        "not exist",
        "no mailbox",
        "mailbox not found",
        "mailbox unavailable",
        "invalid recipient",
        "invalid mailbox",
        "recipient address rejected",
        "no such account",
        "unrouteable address",
        "no such domain",
        "domain not found",
        "host not found",
        "host unknown",
        "name or service not known",
        "nxdomain",
        "unknown host",
        "bad destination",
        "not our customer",
        "user not found",
        "recipient not found",
        "no such person",
        "is not a valid mailbox",
        "unknown address",
        "address unknown",
        "unknown local part",
        "unknown or illegal alias",
        "has moved",
        "no longer available",
        "does not accept mail",
        "null mx",
        "no valid recipients",
        "invalid address",
        "no account by that name",
        "sorry, no mailbox here",
        "user is unknown",
        "undeliverable address",
        "address not found",
        "couldn't be found",
        "could not be found",
        "not recognized",
        "invalid final delivery userid",
        "mx record",
        "mx or srv record",
        "doesn't have a",
        "does not have a",
        "unknown alias",
        "no such mailbox",
        "account has been deleted",
        "account is unavailable",
        "not a valid user",
        "recipient rejected",
        "bad recipient",
        "unknown mailbox",
        "mailbox unknown",
        "no such e-mail",
        "no such email",
        "not a known user",
        "illegal alias",
        "isn't in my list of allowed rcpthosts",
        "address is invalid",
        "invalid user",
        "not listed in",
    ];
    let class = status.and_then(|s| s.split('.').next());
    if class == Some("4") {
        return BounceKind::Soft;
    }
    if sender_refused.iter().any(|s| w.contains(s)) {
        return BounceKind::Soft;
    }
    if let Some(s) = status {
        let mut parts = s.split('.').skip(1);
        // 5.1.1 bad mailbox, 5.1.2 bad system, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10 null MX,
        // 5.4.4 unable to route.
        match (parts.next(), parts.next()) {
            (Some("1"), Some("1" | "2" | "3" | "6" | "10")) | (Some("4"), Some("4")) => {
                return BounceKind::Hard;
            }
            // Security and policy (5.7.x): we were refused, whatever else the text says.
            (Some("7"), _) => return BounceKind::Soft,
            _ => {}
        }
    }
    if hard_words.iter().any(|h| w.contains(h)) && !exists.iter().any(|s| w.contains(s)) {
        return BounceKind::Hard;
    }
    BounceKind::Soft
}

/// The first RFC 3463 code in `text` (`5.1.1`, `#5.1.1`, `550-5.1.1`).
fn status_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 4 < b.len() {
        let starts = matches!(b[i], b'2' | b'4' | b'5')
            && b[i + 1] == b'.'
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'));
        if starts {
            let rest = &text[i + 2..];
            let sub: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !sub.is_empty() && sub.len() <= 3 && rest[sub.len()..].starts_with('.') {
                let det: String = rest[sub.len() + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let after = rest[sub.len() + 1 + det.len()..].chars().next();
                if !det.is_empty()
                    && det.len() <= 3
                    && !after.is_some_and(|c| c.is_ascii_digit() || c == '.')
                {
                    return Some(format!("{}.{sub}.{det}", b[i] as char));
                }
            }
        }
        i += 1;
    }
    None
}

/// `name: value` fields (folded lines joined), names lower-cased.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// `rfc822; a@b` → `a@b`.
fn strip_type(v: &str) -> String {
    match v.split_once(';') {
        Some((t, rest)) if !t.contains('@') && t.len() < 12 => rest.trim().to_string(),
        _ => v.trim().to_string(),
    }
}

fn header(m: &Message<'_>, name: &str) -> Option<String> {
    m.header_raw(name).map(|v| v.trim().to_string())
}

/// A part's text by MIME type, searching nested messages too.
fn part_text(m: &Message<'_>, ctype: &str, subtype: &str) -> Option<String> {
    m.parts.iter().find_map(|p| {
        let ct = p.content_type()?;
        (ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype)))
        .then(|| String::from_utf8_lossy(p.contents()).into_owned())
    })
}

/// A header of the returned copy of our message (message/rfc822 or text/rfc822-headers).
fn returned_header(m: &Message<'_>, name: &str) -> Option<String> {
    for p in &m.parts {
        if let PartType::Message(inner) = &p.body
            && let Some(v) = inner.header_raw(name)
        {
            return Some(v.trim().to_string());
        }
        if let Some(ct) = p.content_type()
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        {
            let text = String::from_utf8_lossy(p.contents()).into_owned();
            if let Some(v) = field(&fields(&text), &name.to_lowercase()) {
                return Some(v);
            }
        }
    }
    None
}

/// The words of the bounce: its first text part, cut where the returned copy begins.
fn error_text(m: &Message<'_>) -> String {
    let text = m
        .body_text(0)
        .map(|t| t.into_owned())
        .or_else(|| m.body_html(0).map(|h| strip_tags(&h)))
        .unwrap_or_default();
    let lower = text.to_lowercase();
    let markers = [
        "------ this is a copy of the message",
        "--- below this line is a copy of the message",
        "------- original message follows",
        "----- original message -----",
        "------ original message",
        "--- the header of the original message is following",
        "original message follows",
        "the original message was received",
        "----- transcript of session follows",
        "------ this is a copy of your message",
        "content-type: message/rfc822",
        "received: from",
    ];
    let cut = markers
        .iter()
        .filter_map(|k| lower.find(k))
        .filter(|&i| i > 40)
        .min()
        .unwrap_or(text.len());
    // The transcript of a Sendmail bounce holds the reply: keep it.
    if lower[..cut].trim().is_empty() {
        return text;
    }
    let mut t = text[..cut].to_string();
    if let Some(i) = lower.find("----- transcript of session follows") {
        t.push('\n');
        t.push_str(&text[i..text.len().min(i + 1500)]);
    }
    t
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for c in html.chars() {
        match c {
            '<' => tag = true,
            '>' => {
                tag = false;
                out.push(' ');
            }
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn is_bounce_subject(subject: &str) -> bool {
    [
        "undeliver",
        "delivery status",
        "delivery failure",
        "failure notice",
        "returned mail",
        "mail delivery",
        "delivery has failed",
        "could not be delivered",
        "not delivered",
        "nondeliverable",
        "non-deliverable",
        "rejected",
        "delivery notification",
        "bounce",
        "mail system error",
        "unzustellbar",
        "permanent error",
        "delivery problem",
        "failed",
        "error",
        "warning",
    ]
    .iter()
    .any(|w| subject.contains(w))
}

fn is_bounce_sender(m: &Message<'_>) -> bool {
    m.from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .is_some_and(|a| {
            let a = a.to_lowercase();
            a.starts_with("mailer-daemon")
                || a.starts_with("postmaster")
                || a.contains("mailer-daemon")
        })
}

fn mentions_failure(body: &str) -> bool {
    let b = body.to_lowercase();
    [
        "could not be delivered",
        "delivery to the following",
        "permanent error",
        "undeliverable",
        "failed",
        "user unknown",
        "does not exist",
    ]
    .iter()
    .any(|w| b.contains(w))
}

/// Addresses in a text, in order (`<a@b>`, `a@b`).
fn addresses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('@') {
        let before = text[..i]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || "._%+-=".contains(*c))
            .last()
            .map_or(i, |(j, _)| j);
        let after_len = text[i + 1..]
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || ".-".contains(*c))
            .last()
            .map_or(0, |(j, c)| j + c.len_utf8());
        let local = &text[before..i];
        let domain = text[i + 1..i + 1 + after_len].trim_end_matches('.');
        if !local.is_empty() && domain.contains('.') {
            out.push(format!("{local}@{domain}"));
        }
    }
    out
}

fn first_address(text: &str) -> Option<String> {
    addresses(text).into_iter().next()
}

/// The failed address in a non-standard bounce's words: the first address after a phrase
/// that introduces the failed recipients ("did not reach the following recipient(s):" — not
/// Exchange's "Your message To:" above it), else the first address that is not the MTA's own
/// (postmaster, mailer-daemon).
fn text_recipient(body: &str) -> Option<String> {
    let own = |a: &String| {
        let l = a.to_lowercase();
        !(l.starts_with("mailer-daemon")
            || l.starts_with("postmaster")
            || l.starts_with("double-bounce"))
    };
    let lower = body.to_lowercase();
    let markers = [
        "did not reach the following recipient",
        "following recipient",
        "following address",
        "could not be delivered to",
        "was not delivered to",
        "delivery to the following",
        "failed recipient",
        "addresses failed",
        "address(es) failed",
    ];
    if let Some(i) = markers.iter().filter_map(|m| lower.find(m)).min() {
        // `find` on the lower-cased text: the offsets match for the ASCII markers.
        if let Some(a) = body
            .get(i..)
            .and_then(|rest| addresses(rest).into_iter().find(own))
        {
            return Some(a);
        }
    }
    addresses(body).into_iter().find(own)
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_found_where_servers_write_them() {
        assert_eq!(
            status_in("550 5.1.1 <a@b>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(status_in("#5.1.10 null MX").as_deref(), Some("5.1.10"));
        assert_eq!(
            status_in("550-5.7.26 unauthenticated").as_deref(),
            Some("5.7.26")
        );
        assert_eq!(status_in("version 2.5.3.1 of"), None);
        assert_eq!(status_in("no code here"), None);
    }

    #[test]
    fn a_return_path_names_its_notice_and_cannot_be_forged() {
        let key = MasterKey::parse(&"5e".repeat(32)).unwrap();
        let other = MasterKey::parse(&"7a".repeat(32)).unwrap();
        let rp = return_path(42, "retorno.provedor.com.br", &key);
        assert!(rp.starts_with("bounces+42."), "{rp}");
        assert!(rp.ends_with("@retorno.provedor.com.br"));
        assert_eq!(notice_in(&rp, &key), Some(42));
        assert_eq!(
            notice_in(&format!("<{}>", rp.to_uppercase()), &key),
            Some(42)
        );
        assert_eq!(notice_in(&rp, &other), None, "another installation's key");
        let forged = rp.replacen("bounces+42.", "bounces+43.", 1);
        assert_eq!(notice_in(&forged, &key), None, "the tag is for 42");
        assert_eq!(notice_in("cobranca@provedor.com.br", &key), None);
        assert_eq!(notice_in("bounces+x.y@provedor.com.br", &key), None);
    }

    #[test]
    fn line_ends_do_not_matter() {
        let lf = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail\n\n<a@b.example>: 550 5.1.1 user unknown\n";
        let crlf: Vec<u8> = String::from_utf8_lossy(lf)
            .replace('\n', "\r\n")
            .into_bytes();
        let cr: Vec<u8> = String::from_utf8_lossy(lf).replace('\n', "\r").into_bytes();
        let want = classify(lf);
        assert_eq!(want.kind, BounceKind::Hard);
        assert_eq!(want.recipient.as_deref(), Some("a@b.example"));
        assert_eq!(classify(&crlf), want);
        assert_eq!(classify(&cr), want);
    }
}
