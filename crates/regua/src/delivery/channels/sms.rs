//! The SMS channel: any provider's HTTP API, described by a gateway (method, URL, headers, a
//! body template with `{{telefone}}`, `{{telefone_digitos}}` and `{{mensagem}}`, and the text a
//! successful reply contains). The message is the company's name and the layout's subject
//! ([`sms_line`]) — the e-mail's body, with its greeting and footer, would cost three SMS — with
//! the accents GSM-7 lacks taken off (so a part holds 160 characters instead of UCS-2's 70); a
//! longer text goes whole (the provider splits it into concatenated parts) and the log says how
//! many parts it costs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{Outcome, Route};
use crate::delivery::policy::Failure;
use crate::delivery::{Accepted, GatewayId, GatewaySecrets, Notice, SmsGateway};
use crate::domain::Customer;
use crate::secrets::MasterKey;
use crate::store::{self, Db};

/// How long a gateway may take to answer before the attempt counts as a timeout.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// GSM 03.38's basic character set (one unit each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table (two units each: escape and the character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// An SMS text ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsText {
    /// The text, GSM-7 only.
    pub text: String,
    /// Its length in GSM-7 units.
    pub units: usize,
    /// How many SMS it takes: 1 up to 160 units, then 153 per part (concatenated SMS).
    pub parts: usize,
}

/// The SMS form of a message: whitespace collapsed to single spaces, Portuguese accents GSM-7
/// lacks replaced by the bare letter, typographic quotes and dashes by ASCII, anything else
/// outside GSM-7 by `?`.
pub fn sms_text(input: &str) -> SmsText {
    let mut text = String::with_capacity(input.len());
    for word in input.split_whitespace() {
        if !text.is_empty() {
            text.push(' ');
        }
        for c in word.chars() {
            if GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c) {
                text.push(c);
                continue;
            }
            let plain = match c {
                'á' | 'â' | 'ã' => "a",
                'Á' | 'Â' | 'Ã' | 'À' => "A",
                'ê' | 'ë' => "e",
                'Ê' | 'È' | 'Ë' => "E",
                'í' | 'î' | 'ï' => "i",
                'Í' | 'Î' | 'Ì' | 'Ï' => "I",
                'ó' | 'ô' | 'õ' => "o",
                'Ó' | 'Ô' | 'Õ' | 'Ò' => "O",
                'ú' | 'û' => "u",
                'Ú' | 'Û' | 'Ù' => "U",
                'ç' => "c",
                '“' | '”' | '„' => "\"",
                '‘' | '’' | '´' | '`' => "'",
                '–' | '—' | '•' => "-",
                '…' => "...",
                'º' => "o",
                'ª' => "a",
                _ => "?",
            };
            text.push_str(plain);
        }
    }
    let units: usize = text
        .chars()
        .map(|c| if GSM7_EXTENDED.contains(c) { 2 } else { 1 })
        .sum();
    let parts = if units <= 160 { 1 } else { units.div_ceil(153) };
    SmsText { text, units, parts }
}

/// The SMS of a message: `Empresa: subject`, the subject alone when it names the company
/// already. The subject is the layout's one-line summary ("Seu serviço está suspenso
/// temporariamente até 20/12/2026"), so it fits one SMS; edit the layout's subject to change it.
pub fn sms_line(company: &str, subject: &str) -> String {
    let company = company.trim();
    if company.is_empty() || subject.contains(company) {
        subject.trim().to_string()
    } else {
        format!("{company}: {}", subject.trim())
    }
}

/// What an SMS of a rendered layout says: the layout's SMS text when it has one, else
/// [`sms_line`] of the company and the subject.
pub fn message_line(company: &str, rendered: &crate::layouts::RenderedMessage) -> String {
    if rendered.sms.is_empty() {
        sms_line(company, &rendered.subject)
    } else {
        rendered.sms.clone()
    }
}

/// A phone for the templates: `+5511987654321` (E.164) and its digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPhone {
    /// `+5511987654321`.
    pub e164: String,
}

impl SmsPhone {
    /// From a validated mobile phone.
    pub fn of(phone: &crate::domain::MobilePhone) -> SmsPhone {
        SmsPhone {
            e164: format!("+{}", phone.e164()),
        }
    }

    /// From what an operator typed (`regua notify test sms --to`).
    pub fn parse(input: &str) -> Result<SmsPhone, String> {
        crate::domain::MobilePhone::parse(input).map(|p| SmsPhone::of(&p))
    }
}

/// How a value is escaped where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Json,
    Form,
    Raw,
}

/// `s` percent-encoded for a URL (unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn escape(v: &str, escape: Escape) -> String {
    match escape {
        Escape::Json => {
            let quoted = serde_json::to_string(v).expect("a string serialises");
            quoted[1..quoted.len() - 1].to_string()
        }
        Escape::Form => percent_encode(v),
        Escape::Raw => v.to_string(),
    }
}

/// The `${VAR}` names in a template.
fn var_names(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// Fills a template: first the sealed `${VAR}`s (so a customer's name or a layout that contains
/// `${VAR}` can never pull a secret into a message), then the placeholders.
fn fill(
    template: &str,
    vars: &std::collections::BTreeMap<String, String>,
    phone: &SmsPhone,
    message: &str,
    how: Escape,
) -> String {
    let mut template = template.to_string();
    for (name, value) in vars {
        template = template.replace(&format!("${{{name}}}"), &escape(value, how));
    }
    let esc = |v: &str| escape(v, how);
    template
        .replace("{{telefone}}", &esc(&phone.e164))
        .replace("{{telefone_digitos}}", &esc(&phone.e164[1..]))
        .replace("{{mensagem}}", &esc(message))
}

/// The content type a gateway's body is sent with: its `Content-Type` header, else JSON when
/// the template looks like JSON, else form-encoded.
pub fn content_type(gateway: &SmsGateway, headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| {
            if gateway.body_template.trim_start().starts_with(['{', '[']) {
                "application/json".into()
            } else {
                "application/x-www-form-urlencoded".into()
            }
        })
}

/// The request a gateway makes for one message: method, URL, headers and body, exactly as
/// sent. Values are JSON-escaped in a JSON body, percent-encoded in a form body and the URL.
pub fn build_request(
    gateway: &SmsGateway,
    secrets: &crate::delivery::GatewaySecrets,
    phone: &SmsPhone,
    message: &str,
) -> (String, String, Vec<(String, String)>, String) {
    let headers = &secrets.headers;
    let ctype = content_type(gateway, headers);
    let escape = if ctype.contains("json") {
        Escape::Json
    } else if ctype.contains("x-www-form-urlencoded") {
        Escape::Form
    } else {
        Escape::Raw
    };
    let url = fill(&gateway.url, &secrets.vars, phone, message, Escape::Form);
    let body = fill(
        &gateway.body_template,
        &secrets.vars,
        phone,
        message,
        escape,
    );
    let mut all = headers.to_vec();
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        all.push(("Content-Type".into(), ctype));
    }
    (gateway.method.clone(), url, all, body)
}

/// Sends one message through a gateway. Accepted on a 2xx reply whose body contains the
/// gateway's success text (when it has one). 408, 429 and 5xx replies, timeouts and refused
/// connections are transient; other replies are permanent.
pub async fn send_sms(
    http: &reqwest::Client,
    gateway: &SmsGateway,
    secrets: &crate::delivery::GatewaySecrets,
    phone: &SmsPhone,
    message: &str,
) -> Result<Accepted, Failure> {
    let (method, url, headers, body) = build_request(gateway, secrets, phone, message);
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| Failure::Permanent {
            code: None,
            text: format!("método HTTP inválido: {e}"),
        })?;
    let mut req = http.request(method, &url).timeout(HTTP_TIMEOUT);
    for (n, v) in &headers {
        req = req.header(n.as_str(), v.as_str());
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let started = Instant::now();
    let resp = req.send().await.map_err(|e| Failure::Transient {
        code: None,
        text: format!("gateway de SMS inacessível: {}", http_error(&e)),
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let reply = short(&text);
    tracing::debug!(
        gateway = %gateway.name,
        status,
        ms = started.elapsed().as_millis() as u64,
        "sms gateway replied"
    );
    if (200..300).contains(&status) {
        if let Some(ok) = &gateway.success_contains
            && !text.contains(ok.as_str())
        {
            return Err(Failure::Permanent {
                code: Some(status),
                text: format!("resposta sem o texto de sucesso {ok:?}: {reply}"),
            });
        }
        return Ok(Accepted {
            code: status,
            text: reply,
        });
    }
    Err(crate::delivery::policy::classify_http(status, reply))
}

/// A reply body as the log keeps it: one line, at most 300 characters.
pub(crate) fn short(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 300 {
        format!("{}…", one.chars().take(300).collect::<String>())
    } else {
        one
    }
}

/// An HTTP client error without the URL (a gateway's URL may carry a credential).
pub(crate) fn http_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "tempo esgotado"
    } else if e.is_connect() {
        "conexão recusada"
    } else {
        "falha de comunicação"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

/// The body a gateway sends when none is given (JSON; a GET gateway sends none).
pub const DEFAULT_BODY: &str = r#"{"telefone":"{{telefone}}","mensagem":"{{mensagem}}"}"#;

/// A gateway as typed (CLI flags): checked into a [`crate::delivery::NewSmsGateway`], or the flag at fault
/// and why.
#[derive(Debug, Clone, Default)]
pub struct GatewayInput {
    /// `--name`
    pub name: String,
    /// `--url`
    pub url: String,
    /// `--method`
    pub method: String,
    /// `--header 'Name: value'`, with `${VAR}` taken from the environment (the URL and body
    /// may name `${VAR}`s too: their values are sealed, the templates keep the names).
    pub headers: Vec<String>,
    /// `--body`
    pub body: Option<String>,
    /// `--success-contains`
    pub success_contains: Option<String>,
    /// `--hourly-limit`
    pub hourly_limit: Option<u32>,
    /// `--daily-limit`
    pub daily_limit: Option<u32>,
}

/// Replaces `${NAME}` with the environment variable's value, so a credential can stay out of
/// the shell history and the process list (`--header 'Authorization: Bearer ${SMS_TOKEN}'`).
fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        let name = &after[..end];
        let value = env(name).ok_or_else(|| format!("the variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl GatewayInput {
    /// Checks every field; `env` reads environment variables.
    pub fn check(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::delivery::NewSmsGateway, (&'static str, String)> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(("name", "is required".into()));
        }
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err((
                "url",
                format!("{url:?} must start with https:// or http://"),
            ));
        }
        let method = self.method.trim().to_uppercase();
        if !["GET", "POST", "PUT"].contains(&method.as_str()) {
            return Err(("method", format!("{method:?}: use GET, POST or PUT")));
        }
        let mut headers = Vec::new();
        for h in &self.headers {
            let (n, v) = h
                .split_once(':')
                .ok_or_else(|| ("header", format!("{h:?} is not 'Name: value'")))?;
            let n = n.trim();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(("header", format!("{n:?} is not a header name")));
            }
            let v = expand_env(v.trim(), env).map_err(|e| ("header", e))?;
            // A line break would end the header (and reqwest refuses it at every send).
            crate::domain::limits::check_line(&v, 8192)
                .map_err(|e| ("header", format!("the value of {n:?} {e}")))?;
            headers.push((n.to_string(), v));
        }
        let body = match (&self.body, method.as_str()) {
            (Some(b), _) => b.clone(),
            (None, "GET") => String::new(),
            (None, _) => DEFAULT_BODY.to_string(),
        };
        let mut vars = std::collections::BTreeMap::new();
        for (field, template) in [("url", url), ("body", body.as_str())] {
            for name in var_names(template) {
                let value =
                    env(name).ok_or_else(|| (field, format!("the variable {name} is not set")))?;
                vars.insert(name.to_string(), value);
            }
        }
        let both = format!("{url}{body}");
        if !both.contains("{{mensagem}}") {
            return Err((
                "body",
                "neither the body nor the URL has {{mensagem}}".into(),
            ));
        }
        if !both.contains("{{telefone}}") && !both.contains("{{telefone_digitos}}") {
            return Err((
                "body",
                "neither the body nor the URL has {{telefone}} or {{telefone_digitos}}".into(),
            ));
        }
        for (flag, l) in [
            ("hourly-limit", self.hourly_limit),
            ("daily-limit", self.daily_limit),
        ] {
            if l == Some(0) {
                return Err((flag, "must be at least 1".into()));
            }
        }
        Ok(crate::delivery::NewSmsGateway {
            name: name.to_string(),
            method,
            url: url.to_string(),
            secrets: crate::delivery::GatewaySecrets { headers, vars },
            body_template: body,
            success_contains: self.success_contains.clone().filter(|s| !s.is_empty()),
            hourly_limit: self.hourly_limit,
            daily_limit: self.daily_limit,
        })
    }
}

/// Where an SMS notice goes: its gateway, if still active, and the customer's mobile phone on
/// file now (the number it was queued with when it has no customer: a test message).
pub(super) fn route<'a>(
    n: &Notice,
    customer: Option<&Customer>,
    gateways: &'a [SmsGateway],
) -> anyhow::Result<Result<Route<'a>, String>> {
    let Some(gateway_id) = n.gateway_id else {
        return Ok(Err("nenhum gateway de SMS configurado".into()));
    };
    let gateway = gateways
        .iter()
        .find(|g| g.id == gateway_id)
        .with_context(|| format!("sms gateway {gateway_id}"))?;
    if !gateway.active {
        return Ok(Err(format!(
            "o gateway de SMS {} foi removido",
            gateway.name
        )));
    }
    Ok(match customer {
        Some(c) => match &c.mobile_phone {
            Some(p) => Ok(Route::Sms(gateway, SmsPhone::of(p))),
            None => Err("cliente sem celular cadastrado".into()),
        },
        None => SmsPhone::parse(&n.recipient)
            .map(|p| Route::Sms(gateway, p))
            .map_err(|e| format!("celular inválido: {e}")),
    })
}

/// The SMS channel: the gateways' secrets, opened on first use.
pub(super) struct SmsChannel {
    db: Db,
    key: Option<MasterKey>,
    http: reqwest::Client,
    /// Keyed by the gateway and its revision: an edited gateway's secrets are read again.
    secrets: Mutex<HashMap<(GatewayId, i64), Arc<GatewaySecrets>>>,
}

impl SmsChannel {
    /// The channel, sending with `http`.
    pub(super) fn new(db: Db, key: Option<MasterKey>, http: reqwest::Client) -> SmsChannel {
        SmsChannel {
            db,
            key,
            http,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    async fn secrets(&self, id: GatewayId, revision: i64) -> anyhow::Result<Arc<GatewaySecrets>> {
        if let Some(h) = self.secrets.lock().expect("poisoned").get(&(id, revision)) {
            return Ok(h.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let h =
            Arc::new(store::channels::sms_gateway_secrets(&mut conn, id, self.key.as_ref()).await?);
        self.secrets
            .lock()
            .expect("poisoned")
            .insert((id, revision), h.clone());
        Ok(h)
    }

    /// One SMS through its gateway.
    pub(super) async fn send(
        &self,
        n: &Notice,
        gateway: &SmsGateway,
        phone: SmsPhone,
        text: &str,
    ) -> Outcome {
        let secrets = match self.secrets(gateway.id, gateway.revision).await {
            Ok(h) => h,
            Err(e) => {
                return Outcome::Failed {
                    recipient: phone.e164,
                    failure: Failure::ours(&e),
                };
            }
        };
        let sms = sms_text(text);
        if sms.parts > 1 {
            tracing::warn!(
                notice = n.id.0,
                units = sms.units,
                parts = sms.parts,
                "sms text longer than 160 GSM-7 characters; sent as a concatenated message"
            );
        }
        match send_sms(&self.http, gateway, &secrets, &phone, &sms.text).await {
            Ok(accepted) => {
                // The gateway's id for the message, for its delivery receipts.
                let provider_id = if gateway.reply_id_path.is_empty() {
                    None
                } else {
                    serde_json::from_str::<serde_json::Value>(&accepted.text)
                        .ok()
                        .and_then(|j| crate::delivery::json_at(&j, &gateway.reply_id_path))
                };
                let parts = if sms.parts > 1 {
                    format!(" [{} partes SMS]", sms.parts)
                } else {
                    String::new()
                };
                Outcome::Sent {
                    recipient: phone.e164,
                    code: accepted.code,
                    text: format!("{}{parts}", accepted.text),
                    provider_id,
                }
            }
            Err(failure) => Outcome::Failed {
                recipient: phone.e164,
                failure,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_is_the_company_and_the_subject() {
        assert_eq!(
            sms_line("Fibra Já", " Seu serviço volta em 20/12/2026 "),
            "Fibra Já: Seu serviço volta em 20/12/2026"
        );
        assert_eq!(
            sms_line("Fibra Já", "Teste de envio — Fibra Já"),
            "Teste de envio — Fibra Já"
        );
        assert_eq!(sms_line("", "Olá"), "Olá");
    }

    #[test]
    fn portuguese_text_becomes_gsm7_and_counts_parts() {
        let t = sms_text("Olá, João!\n  Sua suspensão começa em 01/12 — até já…");
        // é is in GSM-7; á, ã and ç are not.
        assert_eq!(
            t.text,
            "Ola, Joao! Sua suspensao comeca em 01/12 - até ja..."
        );
        assert_eq!(t.parts, 1);
        assert_eq!(t.units, t.text.chars().count());
        assert_eq!(sms_text(&"a".repeat(160)).parts, 1);
        assert_eq!(sms_text(&"a".repeat(161)).parts, 2);
        assert_eq!(sms_text(&"a".repeat(307)).parts, 3);
        // The extension table costs two units.
        assert_eq!(sms_text("€").units, 2);
        assert_eq!(sms_text("✓").text, "?");
    }

    #[test]
    fn values_are_escaped_where_they_land() {
        let g = SmsGateway {
            id: crate::delivery::GatewayId(1),
            name: "t".into(),
            method: "POST".into(),
            url: "http://x/send?to={{telefone}}&m={{mensagem}}".into(),
            header_names: vec![],
            revision: 0,
            body_template: r#"{"to":"{{telefone_digitos}}","text":"{{mensagem}}"}"#.into(),
            success_contains: None,
            hourly_limit: None,
            daily_limit: None,
            active: true,
            reply_id_path: String::new(),
        };
        let phone = SmsPhone::parse("(11) 98765-4321").unwrap();
        let none = crate::delivery::GatewaySecrets::default();
        let (_, url, headers, body) = build_request(&g, &none, &phone, "diz \"oi\" & tchau");
        assert_eq!(
            url,
            "http://x/send?to=%2B5511987654321&m=diz%20%22oi%22%20%26%20tchau"
        );
        assert_eq!(
            body,
            r#"{"to":"5511987654321","text":"diz \"oi\" & tchau"}"#
        );
        assert_eq!(
            headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        let form = SmsGateway {
            body_template: "to={{telefone}}&msg={{mensagem}}".into(),
            ..g
        };
        let (_, _, _, body) = build_request(&form, &none, &phone, "a b&c");
        assert_eq!(body, "to=%2B5511987654321&msg=a%20b%26c");
        // Sealed variables first: a message that names one cannot pull its value in.
        let keyed = SmsGateway {
            url: "http://x/send?key=${KEY}".into(),
            ..form
        };
        let secrets = crate::delivery::GatewaySecrets {
            headers: vec![],
            vars: [("KEY".to_string(), "a&b".to_string())].into(),
        };
        let (_, url, _, body) = build_request(&keyed, &secrets, &phone, "${KEY}");
        assert_eq!(url, "http://x/send?key=a%26b");
        assert_eq!(body, "to=%2B5511987654321&msg=%24%7BKEY%7D");
    }

    #[test]
    fn gateway_flags_are_checked() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        let input = GatewayInput {
            name: "zenvia".into(),
            url: "https://api.example/sms".into(),
            method: "post".into(),
            headers: vec!["Authorization: Bearer ${TOKEN}".into()],
            ..GatewayInput::default()
        };
        let g = input.check(&env).unwrap();
        assert_eq!(g.method, "POST");
        assert_eq!(
            g.secrets.headers,
            vec![("Authorization".to_string(), "Bearer s3cret".to_string())]
        );
        let in_url = GatewayInput {
            url: "https://api.example/sms?key=${TOKEN}".into(),
            ..input.clone()
        }
        .check(&env)
        .unwrap();
        assert_eq!(in_url.url, "https://api.example/sms?key=${TOKEN}");
        assert_eq!(in_url.secrets.vars["TOKEN"], "s3cret");
        let unset = GatewayInput {
            url: "https://api.example/sms?key=${NOPE}".into(),
            ..input.clone()
        };
        assert_eq!(unset.check(&env).unwrap_err().0, "url");
        assert_eq!(g.body_template, DEFAULT_BODY);
        let missing = GatewayInput {
            headers: vec!["X-Key: ${NOPE}".into()],
            ..input.clone()
        };
        assert_eq!(missing.check(&env).unwrap_err().0, "header");
        let no_text = GatewayInput {
            body: Some(r#"{"to":"{{telefone}}"}"#.into()),
            ..input.clone()
        };
        assert_eq!(no_text.check(&env).unwrap_err().0, "body");
        let bad_url = GatewayInput {
            url: "ftp://x".into(),
            ..input
        };
        assert_eq!(bad_url.check(&env).unwrap_err().0, "url");
    }
}
