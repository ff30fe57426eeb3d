//! A bare HTTP/1.1 client for the page tests: the request as a browser form sends it, the answer
//! as the server wrote it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, with the entities minijinja writes for `/`, `"` and `'` decoded.
    pub body: String,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie`.
    pub fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value a `Set-Cookie` gives `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().iter().find_map(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// A hidden field's value in the page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

/// One HTTP/1.1 request over a new connection; `form` is sent url-encoded on POST.
pub async fn http(addr: SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: regua\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(form);
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut s).await
}

/// Reads an HTTP/1.1 response to the end (the request said `Connection: close`).
async fn read_response(s: &mut tokio::net::TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Resp {
        status,
        headers,
        // minijinja escapes '/' too; the pages read the same either way.
        body: body
            .replace("&#x2f;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'"),
    }
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON request with an optional bearer token: the status and the JSON answer (`null` when
/// the body is empty or not JSON).
pub async fn json_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !bearer.is_empty() {
        req.push_str(&format!("Authorization: Bearer {bearer}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_slice(&raw[split + 4..]).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Logs in to the admin UI through the form; the session cookie header (`regua_session=…`).
pub async fn staff_session(addr: SocketAddr, login: &str, password: &str) -> String {
    let form = http(addr, "GET", "/login", "", "").await;
    let token = form.cookie("regua_login").expect("login cookie");
    let r = http(
        addr,
        "POST",
        "/login",
        &format!("regua_login={token}"),
        &format!(
            "_csrf={}&login={}&password={}&next=%2F",
            enc(&form.field("_csrf")),
            enc(login),
            enc(password)
        ),
    )
    .await;
    assert_eq!(r.status, 303, "login {login}: {}", r.body);
    format!("regua_session={}", r.cookie("regua_session").unwrap())
}

/// A form page's token pair: (cookie header, hidden field).
pub async fn form_tokens(addr: SocketAddr, path: &str) -> (String, String) {
    let page = http(addr, "GET", path, "", "").await;
    assert_eq!(page.status, 200, "{path}");
    let cookie = page.cookie("regua_central_form").expect("form cookie");
    (format!("regua_central_form={cookie}"), page.field("_csrf"))
}

pub async fn portal_login(addr: SocketAddr, document: &str, password: &str) -> Resp {
    let (cookie, csrf) = form_tokens(addr, "/central/entrar").await;
    http(
        addr,
        "POST",
        "/central/entrar",
        &cookie,
        &format!(
            "_csrf={}&documento={}&senha={}&next=%2Fcentral%2Ffaturas",
            enc(&csrf),
            enc(document),
            enc(password)
        ),
    )
    .await
}

/// Logs in; the session cookie header and the page's CSRF token.
pub async fn portal_session(addr: SocketAddr, document: &str, password: &str) -> (String, String) {
    let r = portal_login(addr, document, password).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = format!("regua_central={}", r.cookie("regua_central").unwrap());
    let list = http(addr, "GET", "/central/faturas", &cookie, "").await;
    (cookie, list.field("_csrf"))
}

/// A `multipart/form-data` POST: each field by name, with a file name for file fields.
pub async fn http_multipart(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    fields: &[(&str, Option<&str>, &[u8])],
) -> Resp {
    let boundary = "----regua-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, file, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: regua\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    if !cookie.is_empty() {
        req.extend_from_slice(format!("Cookie: {cookie}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&body);
    s.write_all(&req).await.unwrap();
    read_response(&mut s).await
}
