//! `mailsink::cloudapi`: a real HTTP server on loopback that answers as Meta's WhatsApp Cloud
//! API does, for what
//! Régua uses of it: `POST /{version}/{phone-number-id}/messages` (template messages),
//! `POST /{version}/{phone-number-id}/media` (multipart upload) and
//! `GET /{version}/{waba-id}/message_templates`, behind the bearer token; errors in Meta's
//! shape (`{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`). It posts
//! webhooks back as Meta does — `{"object": "whatsapp_business_account", "entry": [{"changes":
//! [{"field": "messages", "value": {…}}]}]}`, signed `X-Hub-Signature-256: sha256=HMAC-SHA256
//! (app secret, raw body)` — when the test says so.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The Graph API version the fake serves under.
pub const VERSION: &str = "v21.0";
/// The phone number id it knows.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// The business account id it knows.
pub const WABA_ID: &str = "102290129340398";
/// The access token it accepts.
pub const TOKEN: &str = "EAAG-teste-token";
/// The app secret it signs webhooks with.
pub const APP_SECRET: &str = "segredo-do-app";

/// A message the fake accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The id it answered (`wamid.…`).
    pub id: String,
    /// The JSON as posted.
    pub body: Value,
}

/// A file uploaded through the media endpoint.
#[derive(Debug, Clone)]
pub struct Media {
    /// The id it answered.
    pub id: String,
    /// The `type` field.
    pub mime: String,
    /// The file's name.
    pub filename: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    /// The access token it accepts.
    token: String,
    /// Keep what it receives (tests); a benchmark's server keeps ids only.
    keep: bool,
    sent: Mutex<Vec<Sent>>,
    media: Mutex<Vec<Media>>,
    templates: Mutex<Value>,
    /// Numbers (wa_id) that are not WhatsApp users: the message is accepted, then a `failed`
    /// status with 131026 is what a webhook will say.
    not_users: Mutex<HashSet<String>>,
    counter: AtomicU64,
}

/// The running fake.
pub struct CloudApi {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    _server: tokio::task::JoinHandle<()>,
}

fn meta_error(status: u16, code: i64, message: &str, details: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error": {
            "message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AbCdEf123"
        }})),
    )
        .into_response()
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Bearer ") == Some(inner.token.as_str()))
}

fn unauthorized() -> Response {
    meta_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "",
    )
}

/// The body's `{{n}}` count of a listed template.
fn body_params(template: &Value) -> usize {
    let text = template["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "BODY"))
        .and_then(|b| b["text"].as_str())
        .unwrap_or("");
    let mut n = 0;
    while text.contains(&format!("{{{{{}}}}}", n + 1)) {
        n += 1;
    }
    n
}

async fn messages(
    State(inner): State<Arc<Inner>>,
    Path((_version, phone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized();
    }
    if phone != PHONE_NUMBER_ID {
        return meta_error(
            400,
            100,
            "Unsupported post request. Object does not exist",
            "",
        );
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(400, 100, "(#100) Invalid parameter", "body is not JSON");
    };
    if msg["messaging_product"] != "whatsapp" || msg["type"] != "template" {
        return meta_error(
            400,
            100,
            "(#100) Invalid parameter",
            "messaging_product must be whatsapp",
        );
    }
    let name = msg["template"]["name"].as_str().unwrap_or("");
    let language = msg["template"]["language"]["code"].as_str().unwrap_or("");
    let templates = inner.templates.lock().unwrap().clone();
    let Some(template) = templates["data"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|t| t["name"] == name && t["language"] == language)
        })
        .cloned()
    else {
        return meta_error(
            404,
            132001,
            "(#132001) Template name does not exist in the translation",
            &format!("template name ({name}) does not exist in {language}"),
        );
    };
    let components = msg["template"]["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let given = components
        .iter()
        .find(|c| c["type"] == "body")
        .and_then(|b| b["parameters"].as_array())
        .map_or(0, Vec::len);
    if given != body_params(&template) {
        return meta_error(
            400,
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
            &format!(
                "body: number of localizable_params ({given}) does not match the expected number of params ({})",
                body_params(&template)
            ),
        );
    }
    if let Some(header) = components.iter().find(|c| c["type"] == "header") {
        let id = header["parameters"][0]["document"]["id"]
            .as_str()
            .unwrap_or("");
        if !inner.media.lock().unwrap().iter().any(|m| m.id == id) {
            return meta_error(
                400,
                131053,
                "(#131053) Media upload error",
                "unknown media id",
            );
        }
    }
    let to = msg["to"].as_str().unwrap_or("").to_string();
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    let id = format!("wamid.HBgN{to}FQIAERgS{n:06}");
    let body = if inner.keep { msg } else { json!({"to": to}) };
    inner.sent.lock().unwrap().push(Sent {
        id: id.clone(),
        body,
    });
    (
        StatusCode::OK,
        axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": id, "message_status": "accepted"}]
        })),
    )
        .into_response()
}

/// The parts of a multipart body: (name, filename, bytes).
fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, delimiter.as_bytes()).unwrap_or(content.len());
        let bytes = content[..end.saturating_sub(2)].to_vec();
        let attr = |k: &str| {
            head.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        parts.push((attr("name"), attr("filename"), bytes));
        rest = &content[end..];
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn media(
    State(inner): State<Arc<Inner>>,
    Path((_version, phone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized();
    }
    if phone != PHONE_NUMBER_ID {
        return meta_error(400, 100, "Object does not exist", "");
    }
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts = multipart(ctype, &body);
    let field = |n: &str| parts.iter().find(|p| p.0 == n);
    let product = field("messaging_product").map(|p| String::from_utf8_lossy(&p.2).to_string());
    let (Some("whatsapp"), Some(file)) = (product.as_deref(), field("file")) else {
        return meta_error(
            400,
            100,
            "(#100) The parameter messaging_product is required.",
            "",
        );
    };
    let mime = field("type")
        .map(|p| String::from_utf8_lossy(&p.2).to_string())
        .unwrap_or_default();
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    let id = format!("{}", 900_000_000 + n);
    inner.media.lock().unwrap().push(Media {
        id: id.clone(),
        mime,
        filename: file.1.clone(),
        bytes: if inner.keep {
            file.2.clone()
        } else {
            Vec::new()
        },
    });
    (StatusCode::OK, axum::Json(json!({"id": id}))).into_response()
}

async fn templates(
    State(inner): State<Arc<Inner>>,
    Path((_version, waba)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized();
    }
    if waba != WABA_ID {
        return meta_error(400, 100, "Object does not exist", "");
    }
    let data = inner.templates.lock().unwrap()["data"].clone();
    (
        StatusCode::OK,
        axum::Json(
            json!({"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}}),
        ),
    )
        .into_response()
}

impl CloudApi {
    /// Starts the fake with the templates of an ISP's régua: `lembrete_fatura` (document header,
    /// three body parameters), `aviso_atraso` (two parameters, a URL button with a parameter)
    /// and `promocao` (pending).
    pub async fn start() -> CloudApi {
        CloudApi::start_on("127.0.0.1:0", TOKEN, true).await
    }

    /// [`CloudApi::start`] on `addr`, accepting `token`; `keep` false keeps only the ids of
    /// what it receives (a benchmark's tens of thousands of PDFs).
    pub async fn start_on(addr: &str, token: &str, keep: bool) -> CloudApi {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            keep,
            ..Inner::default()
        });
        *inner.templates.lock().unwrap() = json!({"data": [
            {"name": "lembrete_fatura", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY", "id": "1",
             "components": [
                {"type": "HEADER", "format": "DOCUMENT"},
                {"type": "BODY", "text": "Olá {{1}}, sua fatura de {{2}} vence em {{3}}. O boleto segue anexo."},
                {"type": "FOOTER", "text": "Responda PARAR para não receber mais."}]},
            {"name": "aviso_atraso", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY", "id": "2",
             "components": [
                {"type": "BODY", "text": "{{1}}, sua fatura de {{2}} está em atraso."},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Pagar", "url": "https://central.example/{{1}}"}]}]},
            {"name": "promocao", "language": "pt_BR", "status": "PENDING", "category": "MARKETING", "id": "3",
             "components": [{"type": "BODY", "text": "Oferta para {{1}}"}]}
        ]});
        let app = axum::Router::new()
            .route("/{version}/{phone}/messages", axum::routing::post(messages))
            .route("/{version}/{phone}/media", axum::routing::post(media))
            .route(
                "/{version}/{waba}/message_templates",
                axum::routing::get(templates),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        CloudApi {
            addr,
            inner,
            _server: server,
        }
    }

    /// The base URL an account is given (`--api-url`).
    pub fn api_url(&self) -> String {
        format!("http://{}/{VERSION}", self.addr)
    }

    /// The messages accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner.sent.lock().unwrap().clone()
    }

    /// The files uploaded so far.
    pub fn media(&self) -> Vec<Media> {
        self.inner.media.lock().unwrap().clone()
    }

    /// Marks a number (digits, as `to`) as not a WhatsApp user.
    pub fn not_a_user(&self, wa_id: &str) {
        self.inner
            .not_users
            .lock()
            .unwrap()
            .insert(wa_id.to_string());
    }

    /// The status webhook body Meta posts for message `id`: `failed` carries 131026 for a
    /// number that is not a WhatsApp user.
    pub fn status_body(&self, id: &str, status: &str, timestamp: i64) -> String {
        let to = self
            .sent()
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.body["to"].as_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let mut st = json!({"id": id, "status": status, "timestamp": timestamp.to_string(), "recipient_id": to});
        if status == "failed" {
            st["errors"] = json!([{"code": 131026, "title": "Message undeliverable",
                "message": "Message undeliverable", "error_data": {"details": "Message Undeliverable."}}]);
        } else {
            st["conversation"] = json!({"id": "c1", "origin": {"type": "utility"}});
            st["pricing"] =
                json!({"billable": true, "pricing_model": "CBP", "category": "utility"});
        }
        self.envelope(json!({"statuses": [st]}))
    }

    /// The webhook body of a message a subscriber sent.
    pub fn inbound_body(&self, from: &str, id: &str, text: &str, timestamp: i64) -> String {
        self.envelope(json!({
            "contacts": [{"profile": {"name": "Assinante"}, "wa_id": from}],
            "messages": [{"from": from, "id": id, "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}]
        }))
    }

    fn envelope(&self, mut value: Value) -> String {
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] =
            json!({"display_phone_number": "551140040000", "phone_number_id": PHONE_NUMBER_ID});
        json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}]})
            .to_string()
    }

    /// `sha256=<hex>` of `body` under the app secret, as Meta signs.
    pub fn signature(body: &str, secret: &str) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, body.as_bytes());
        format!(
            "sha256={}",
            tag.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }

    /// Posts `body` to Régua's webhook as Meta does, signed with `secret`; the status answered.
    pub async fn post_webhook(&self, regua: SocketAddr, body: &str, secret: &str) -> u16 {
        reqwest::Client::new()
            .post(format!("http://{regua}/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", Self::signature(body, secret))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Posts a status for every message sent to `wa_id` so far: `failed` for a number marked
    /// not a user, else `status`. How many were posted.
    pub async fn post_statuses(&self, regua: SocketAddr, status: &str, timestamp: i64) -> usize {
        let not_users = self.inner.not_users.lock().unwrap().clone();
        let mut n = 0;
        for s in self.sent() {
            let to = s.body["to"].as_str().unwrap_or("");
            let st = if not_users.contains(to) {
                "failed"
            } else {
                status
            };
            let body = self.status_body(&s.id, st, timestamp);
            assert_eq!(self.post_webhook(regua, &body, APP_SECRET).await, 200);
            n += 1;
        }
        n
    }
}
