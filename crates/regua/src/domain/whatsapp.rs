//! WhatsApp through Meta's Cloud API (#22, docs/whatsapp.md): the account, a layout's template
//! mapping and its check against the template Meta approved, the webhook's signature and
//! payload, and the opt-out words. Pure: the channel (`delivery::channels::whatsapp`) sends,
//! the store keeps, the web layer answers Meta.

use super::delivery::WhatsappAccountId;

/// A WhatsApp Business phone number Régua sends from (the token and the app secret stay
/// sealed in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappAccount {
    /// Key.
    pub id: WhatsappAccountId,
    /// Unique name (`--name`).
    pub name: String,
    /// The phone number's id at Meta: messages and media are posted under it.
    pub phone_number_id: String,
    /// The WhatsApp Business Account's id: templates are listed under it.
    pub business_account_id: String,
    /// Graph API base with its version (`https://graph.facebook.com/v21.0`).
    pub api_url: String,
    /// Messaging limit per rolling 24 hours.
    pub daily_limit: Option<u32>,
    /// False once removed.
    pub active: bool,
    /// When it was last changed (ms): a worker reopens its token when this moves.
    pub revision: i64,
}

/// Meta's Graph API, where an account posts unless told otherwise.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com/v21.0";

/// A new account, validated; the secrets in clear until the store seals them.
#[derive(Debug, Clone)]
pub struct NewWhatsappAccount {
    /// Unique name.
    pub name: String,
    /// Phone number id.
    pub phone_number_id: String,
    /// Business account id.
    pub business_account_id: String,
    /// The access token (a system user's permanent token).
    pub token: crate::secrets::Secret,
    /// The app secret: the key of the webhooks' `X-Hub-Signature-256`.
    pub app_secret: crate::secrets::Secret,
    /// The token Meta's verification handshake must present.
    pub verify_token: crate::secrets::Secret,
    /// Graph API base.
    pub api_url: String,
    /// Messaging limit per 24 h.
    pub daily_limit: Option<u32>,
}

impl NewWhatsappAccount {
    /// Checks the fields that are not secrets; the field at fault and why (English, for the
    /// CLI; the page words it in Portuguese by the field).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "is required".into()));
        }
        for (field, v) in [
            ("phone-number-id", &self.phone_number_id),
            ("business-account-id", &self.business_account_id),
        ] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err((field, format!("{v:?} is not a numeric id")));
            }
        }
        let url = self.api_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err((
                "api-url",
                format!("{url:?} must start with https:// or http://"),
            ));
        }
        for (field, s) in [
            ("token", &self.token),
            ("app-secret", &self.app_secret),
            ("verify-token", &self.verify_token),
        ] {
            if s.expose().trim().is_empty() {
                return Err((field, "is empty".into()));
            }
            crate::domain::limits::check_line(s.expose(), 4096)
                .map_err(|e| (field, e.to_string()))?;
        }
        if self.daily_limit == Some(0) {
            return Err(("daily-limit", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// A layout's WhatsApp form: which approved template it sends and what fills it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplateMapping {
    /// The account whose business account owns the template.
    pub account_id: WhatsappAccountId,
    /// The template's name at Meta.
    pub template: String,
    /// Its language (`pt_BR`).
    pub language: String,
    /// The Régua variables of its body parameters `{{1}}…{{n}}`, in order.
    pub params: Vec<String>,
    /// Its document header carries the boleto PDF.
    pub document: bool,
    /// The variable its URL button's parameter takes (`fatura.link_portal`), if any.
    pub button: Option<String>,
}

/// A template as Meta lists it (`GET /{waba-id}/message_templates`), reduced to what a mapping
/// is checked against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplateInfo {
    /// Name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`…
    pub status: String,
    /// Category (`UTILITY`, `MARKETING`…).
    pub category: String,
    /// How many `{{n}}` its body has.
    pub body_params: usize,
    /// Its header's format (`DOCUMENT`, `TEXT`, `IMAGE`…), if it has a header.
    pub header: Option<String>,
    /// Whether a URL button has a `{{1}}` in its URL.
    pub url_button_param: bool,
    /// The body's text, for the page.
    pub body: String,
}

/// Counts the distinct `{{n}}` of a template text.
fn count_params(text: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Ok(n) = after[..end].trim().parse::<usize>() {
            seen.insert(n);
        }
        rest = &after[end + 2..];
    }
    seen.len()
}

/// Reads the `data` list of Meta's template listing.
pub fn parse_templates(json: &serde_json::Value) -> Vec<TemplateInfo> {
    let Some(data) = json.get("data").and_then(|d| d.as_array()) else {
        return Vec::new();
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    data.iter()
        .map(|t| {
            let components = t
                .get("components")
                .and_then(|c| c.as_array())
                .cloned()
                .unwrap_or_default();
            let of = |kind: &str| {
                components
                    .iter()
                    .find(|c| text(c, "type").eq_ignore_ascii_case(kind))
            };
            let body = of("BODY").map(|b| text(b, "text")).unwrap_or_default();
            let url_button_param = of("BUTTONS")
                .and_then(|b| b.get("buttons"))
                .and_then(|b| b.as_array())
                .is_some_and(|buttons| {
                    buttons.iter().any(|b| {
                        text(b, "type").eq_ignore_ascii_case("URL") && text(b, "url").contains("{{")
                    })
                });
            TemplateInfo {
                name: text(t, "name"),
                language: text(t, "language"),
                status: text(t, "status"),
                category: text(t, "category"),
                body_params: count_params(&body),
                header: of("HEADER").map(|h| text(h, "format").to_uppercase()),
                url_button_param,
                body,
            }
        })
        .collect()
}

/// Why a mapping cannot be saved against the templates the account lists, in Portuguese (the
/// page and the CLI show it as is; the reasons name Meta's and Régua's terms alike).
/// `variable` says why a name is not a variable a parameter can take
/// (`layouts::check_scalar_variable`).
pub fn check_mapping(
    m: &TemplateMapping,
    templates: &[TemplateInfo],
    variable: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    let Some(t) = templates
        .iter()
        .find(|t| t.name == m.template && t.language == m.language)
    else {
        let languages: Vec<&str> = templates
            .iter()
            .filter(|t| t.name == m.template)
            .map(|t| t.language.as_str())
            .collect();
        return Err(if languages.is_empty() {
            format!(
                "o template {:?} não existe nesta conta do WhatsApp",
                m.template
            )
        } else {
            format!(
                "o template {:?} não existe no idioma {} (há: {})",
                m.template,
                m.language,
                languages.join(", ")
            )
        });
    };
    if !t.status.eq_ignore_ascii_case("APPROVED") {
        return Err(format!(
            "o template {:?} não está aprovado pela Meta (situação {})",
            t.name, t.status
        ));
    }
    if m.params.len() != t.body_params {
        return Err(format!(
            "o template {:?} tem {} parâmetro(s) no corpo e foram informadas {} variável(is)",
            t.name,
            t.body_params,
            m.params.len()
        ));
    }
    for v in m.params.iter().chain(m.button.iter()) {
        variable(v)?;
    }
    match (m.document, t.header.as_deref()) {
        (true, Some("DOCUMENT")) | (false, None | Some("TEXT")) => {}
        (true, other) => {
            return Err(format!(
                "o template {:?} não tem cabeçalho de documento (cabeçalho: {}): o boleto não pode ir nele",
                t.name,
                other.unwrap_or("nenhum")
            ));
        }
        (false, Some(h)) => {
            return Err(format!(
                "o template {:?} tem cabeçalho {h}: escolha enviar o boleto no cabeçalho (--document boleto)",
                t.name
            ));
        }
    }
    match (m.button.is_some(), t.url_button_param) {
        (true, false) => Err(format!(
            "o template {:?} não tem botão de link com parâmetro",
            t.name
        )),
        (false, true) => Err(format!(
            "o template {:?} tem um botão de link com parâmetro: informe a variável do botão (--button)",
            t.name
        )),
        _ => Ok(()),
    }
}

/// Whether a subscriber's message asks to stop: `PARAR`, `SAIR` or `STOP`, alone (any case,
/// spaces and final punctuation ignored). A sentence that merely contains the word is a reply
/// for a person, not an opt-out.
pub fn is_opt_out(text: &str) -> bool {
    let word: String = text
        .trim()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_uppercase();
    matches!(word.as_str(), "PARAR" | "SAIR" | "STOP")
}

/// Whether `X-Hub-Signature-256` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `app_secret`; compared in constant time.
pub fn signature_ok(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// `sha256=<hex>` of `body` under `secret`: what Meta sends (and what tests sign with).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a status webhook says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// The phone number id it came to (the account).
    pub phone_number_id: String,
    /// Meta's message id (`wamid.…`).
    pub message_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// When (ms).
    pub at_ms: i64,
    /// The first error's code, on `failed`.
    pub error_code: Option<i64>,
    /// Its title (and details, when given).
    pub error_title: String,
}

/// A message a subscriber sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    /// The phone number id it came to.
    pub phone_number_id: String,
    /// Meta's id of the message.
    pub message_id: String,
    /// The sender, digits with country code (`5511987654321`).
    pub from: String,
    /// Its text (a button's text for a button reply; `[tipo]` for media).
    pub text: String,
    /// When (ms).
    pub at_ms: i64,
}

/// Reads a webhook's `entry[].changes[].value` into statuses and messages; what it does not
/// know (other fields, other message types' content) it skips.
pub fn parse_webhook(json: &serde_json::Value) -> (Vec<StatusEvent>, Vec<InboundEvent>) {
    let mut statuses = Vec::new();
    let mut inbound = Vec::new();
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let ts = |v: &serde_json::Value| {
        v.get("timestamp")
            .and_then(|t| {
                t.as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or(t.as_i64())
            })
            .unwrap_or(0)
            * 1000
    };
    let empty = Vec::new();
    for entry in json
        .get("entry")
        .and_then(|e| e.as_array())
        .unwrap_or(&empty)
    {
        for change in entry
            .get("changes")
            .and_then(|c| c.as_array())
            .unwrap_or(&empty)
        {
            let Some(value) = change.get("value") else {
                continue;
            };
            let phone_number_id = value
                .get("metadata")
                .map(|m| s(m, "phone_number_id"))
                .unwrap_or_default();
            for st in value
                .get("statuses")
                .and_then(|x| x.as_array())
                .unwrap_or(&empty)
            {
                let error = st
                    .get("errors")
                    .and_then(|e| e.as_array())
                    .and_then(|e| e.first());
                statuses.push(StatusEvent {
                    phone_number_id: phone_number_id.clone(),
                    message_id: s(st, "id"),
                    status: s(st, "status"),
                    at_ms: ts(st),
                    error_code: error.and_then(|e| e.get("code")).and_then(|c| c.as_i64()),
                    error_title: error
                        .map(|e| {
                            let title = s(e, "title");
                            let details = e
                                .get("error_data")
                                .map(|d| s(d, "details"))
                                .unwrap_or_default();
                            if details.is_empty() || details == title {
                                title
                            } else {
                                format!("{title}: {details}")
                            }
                        })
                        .unwrap_or_default(),
                });
            }
            for m in value
                .get("messages")
                .and_then(|x| x.as_array())
                .unwrap_or(&empty)
            {
                let kind = s(m, "type");
                let text = match kind.as_str() {
                    "text" => m.get("text").map(|t| s(t, "body")).unwrap_or_default(),
                    "button" => m.get("button").map(|t| s(t, "text")).unwrap_or_default(),
                    "interactive" => m
                        .get("interactive")
                        .and_then(|i| i.get("button_reply").or(i.get("list_reply")))
                        .map(|r| s(r, "title"))
                        .unwrap_or_default(),
                    other => format!("[{other}]"),
                };
                inbound.push(InboundEvent {
                    phone_number_id: phone_number_id.clone(),
                    message_id: s(m, "id"),
                    from: s(m, "from"),
                    text,
                    at_ms: ts(m),
                });
            }
        }
    }
    (statuses, inbound)
}

/// Meta's error codes that say this number cannot get WhatsApp messages: 131026 (message
/// undeliverable: not a WhatsApp user, or an old app or unaccepted terms). The notice goes on
/// by the next channel and the number is marked unusable until an operator clears it.
pub fn is_unusable_number(code: i64) -> bool {
    code == 131_026
}

/// Meta's error codes worth trying again later: throughput and rate limits (130429, 131056,
/// 80007, 4), a temporary service error (131000, 1, 2, 131016) and spam-rate limiting (131048).
pub fn is_transient_error(code: i64) -> bool {
    matches!(
        code,
        1 | 2 | 4 | 80_007 | 130_429 | 131_000 | 131_016 | 131_048 | 131_056
    )
}

/// The furthest of two receipts: `read` beats `delivered` beats `sent`; `failed` stands unless
/// the message was read or delivered after all.
pub fn furthest<'a>(current: Option<&'a str>, new: &'a str) -> &'a str {
    let rank = |s: &str| match s {
        "sent" => 1,
        "failed" => 2,
        "delivered" => 3,
        "read" => 4,
        _ => 0,
    };
    match current {
        Some(c) if rank(c) >= rank(new) => c,
        _ => new,
    }
}

/// A receipt's word on screen.
pub fn receipt_label_pt(status: &str) -> &'static str {
    match status {
        "sent" => "enviada",
        "delivered" => "entregue",
        "read" => "lida",
        "failed" => "falhou",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(body: &str, header: Option<&str>, button: bool) -> TemplateInfo {
        TemplateInfo {
            name: "lembrete".into(),
            language: "pt_BR".into(),
            status: "APPROVED".into(),
            category: "UTILITY".into(),
            body_params: count_params(body),
            header: header.map(str::to_string),
            url_button_param: button,
            body: body.into(),
        }
    }

    fn var(v: &str) -> Result<(), String> {
        if [
            "cliente.nome",
            "fatura.valor",
            "fatura.vencimento",
            "fatura.link_portal",
        ]
        .contains(&v)
        {
            Ok(())
        } else {
            Err(format!("variável desconhecida {v:?}"))
        }
    }

    fn mapping(params: &[&str], document: bool, button: Option<&str>) -> TemplateMapping {
        TemplateMapping {
            account_id: WhatsappAccountId(1),
            template: "lembrete".into(),
            language: "pt_BR".into(),
            params: params.iter().map(|s| s.to_string()).collect(),
            document,
            button: button.map(str::to_string),
        }
    }

    #[test]
    fn a_mapping_must_match_the_template() {
        let t = vec![template(
            "Olá {{1}}, sua fatura de {{2}} vence em {{3}}. {{2}}",
            Some("DOCUMENT"),
            false,
        )];
        let ok = mapping(
            &["cliente.nome", "fatura.valor", "fatura.vencimento"],
            true,
            None,
        );
        assert_eq!(check_mapping(&ok, &t, var), Ok(()));
        let short = mapping(&["cliente.nome"], true, None);
        assert!(
            check_mapping(&short, &t, var)
                .unwrap_err()
                .contains("3 parâmetro")
        );
        let unknown = mapping(
            &["cliente.nome", "fatura.valr", "fatura.vencimento"],
            true,
            None,
        );
        let e = check_mapping(&unknown, &t, var).unwrap_err();
        assert!(e.contains("fatura.valr"), "{e}");
        let no_doc = mapping(
            &["cliente.nome", "fatura.valor", "fatura.vencimento"],
            false,
            None,
        );
        assert!(
            check_mapping(&no_doc, &t, var)
                .unwrap_err()
                .contains("DOCUMENT")
        );
        let other_lang = TemplateMapping {
            language: "en_US".into(),
            ..ok.clone()
        };
        assert!(
            check_mapping(&other_lang, &t, var)
                .unwrap_err()
                .contains("pt_BR")
        );
        let pending = vec![TemplateInfo {
            status: "PENDING".into(),
            ..t[0].clone()
        }];
        assert!(
            check_mapping(&ok, &pending, var)
                .unwrap_err()
                .contains("aprovado")
        );
        let with_button = vec![template("Oi {{1}}", None, true)];
        assert!(
            check_mapping(&mapping(&["cliente.nome"], false, None), &with_button, var).is_err()
        );
        assert_eq!(
            check_mapping(
                &mapping(&["cliente.nome"], false, Some("fatura.link_portal")),
                &with_button,
                var
            ),
            Ok(())
        );
    }

    #[test]
    fn opt_out_words_alone() {
        for w in ["PARAR", "parar", " Sair. ", "STOP!", "stop"] {
            assert!(is_opt_out(w), "{w}");
        }
        for w in ["não quero parar de pagar", "SAIRA", "", "ok"] {
            assert!(!is_opt_out(w), "{w}");
        }
    }

    #[test]
    fn signatures() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("segredo", body);
        assert!(signature_ok("segredo", body, &header));
        assert!(!signature_ok("outro", body, &header));
        assert!(!signature_ok("segredo", b"{}", &header));
        assert!(!signature_ok("segredo", body, "sha256=zz"));
        assert!(!signature_ok("segredo", body, &header[7..]));
    }

    #[test]
    fn webhook_payloads() {
        let json = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1055"},
            "statuses": [{"id": "wamid.A", "status": "failed", "timestamp": "1767600000", "recipient_id": "5511987654321",
                "errors": [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "not a WhatsApp user"}}]}],
            "messages": [{"from": "5511987654321", "id": "wamid.B", "timestamp": "1767600001", "type": "text", "text": {"body": "PARAR"}}]
        }}]}]});
        let (s, m) = parse_webhook(&json);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].phone_number_id, "1055");
        assert_eq!(s[0].error_code, Some(131026));
        assert_eq!(
            s[0].error_title,
            "Message undeliverable: not a WhatsApp user"
        );
        assert_eq!(s[0].at_ms, 1_767_600_000_000);
        assert_eq!(m[0].text, "PARAR");
        assert_eq!(m[0].from, "5511987654321");
    }

    #[test]
    fn receipts_only_move_forward() {
        assert_eq!(furthest(None, "sent"), "sent");
        assert_eq!(furthest(Some("read"), "delivered"), "read");
        assert_eq!(furthest(Some("delivered"), "read"), "read");
        assert_eq!(furthest(Some("sent"), "failed"), "failed");
        assert_eq!(furthest(Some("delivered"), "failed"), "delivered");
    }

    #[test]
    fn templates_are_read_from_metas_listing() {
        let json = serde_json::json!({"data": [{"name": "lembrete", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY",
            "components": [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Olá {{1}}, {{2}}"},
              {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Pagar", "url": "https://x/{{1}}"}]}]}]});
        let t = parse_templates(&json);
        assert_eq!(t[0].body_params, 2);
        assert_eq!(t[0].header.as_deref(), Some("DOCUMENT"));
        assert!(t[0].url_button_param);
    }
}
