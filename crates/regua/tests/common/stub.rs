//! A real HTTP server on loopback standing in for an SMS provider, Google's token endpoint and
//! FCM: it records every request exactly as it arrived and answers through a function the
//! test gives it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST`, `GET`…
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string, if any.
    pub query: String,
    /// Headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
}

/// Decides the answer to a request: (status, JSON body; for a 3xx, the `Location`). Gets the
/// request and how many came before it on the same path.
pub type Reply = dyn Fn(&Seen, usize) -> (u16, String) + Send + Sync;

/// A running stub.
pub struct Stub {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Arc<Mutex<Arc<Reply>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Stub {
    /// Starts a stub answering with `reply`.
    pub async fn start(reply: Arc<Reply>) -> Stub {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let reply = Arc::new(Mutex::new(reply));
        let (s, r) = (seen.clone(), reply.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (seen, reply) = (s.clone(), r.clone());
                async move {
                    let req = Seen {
                        method: method.to_string(),
                        path: uri.path().to_string(),
                        query: uri.query().unwrap_or("").to_string(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let before = {
                        let mut all = seen.lock().unwrap();
                        let n = all.iter().filter(|x| x.path == req.path).count();
                        all.push(req.clone());
                        n
                    };
                    let f = reply.lock().unwrap().clone();
                    let (status, body) = f(&req, before);
                    if (300..400).contains(&status) {
                        return (
                            StatusCode::from_u16(status).unwrap(),
                            [("location", body)],
                            String::new(),
                        )
                            .into_response();
                    }
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json".to_string())],
                        body,
                    )
                        .into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Stub {
            addr,
            seen,
            reply,
            _server: server,
        }
    }

    /// Answers from now on with `reply`.
    pub fn answer(&self, reply: Arc<Reply>) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn on(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
