//! The push channel: Firebase Cloud Messaging's HTTP v1 API. From the service-account file
//! ("arquivo de configuração do Firebase") it signs an OAuth2 JWT (RS256) with the account's
//! private key, exchanges it at the file's `token_uri` for an access token, keeps that token
//! until a minute before it expires, and posts one message per device token to
//! `{fcm_url}/v1/projects/{project}/messages:send`. A 401 drops the token and tries once more
//! with a fresh one; a token FCM reports as unregistered is the caller's to remove.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::delivery::channels::sms::{HTTP_TIMEOUT, http_error, short};
use crate::delivery::policy::{Failure, classify_http};
use crate::secrets::Secret;
use crate::store::channels::PushConfig;

/// The OAuth2 scope FCM's send API requires.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// FCM's address in production.
pub const FCM_URL: &str = "https://fcm.googleapis.com";

/// The fields of a service-account file Régua uses.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceAccount {
    /// Must be `service_account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Firebase project.
    pub project_id: String,
    /// The key's id.
    #[serde(default)]
    pub private_key_id: String,
    /// PKCS#8 PEM.
    pub private_key: String,
    /// The account's address (`iss`).
    pub client_email: String,
    /// Where JWTs are exchanged for access tokens.
    pub token_uri: String,
}

impl ServiceAccount {
    /// Reads and checks a service-account file's JSON: the fields above present, the key
    /// usable for RS256.
    pub fn parse(json: &str) -> Result<ServiceAccount, String> {
        let sa: ServiceAccount = serde_json::from_str(json)
            .map_err(|e| format!("not a Firebase service-account file: {e}"))?;
        if sa.kind != "service_account" {
            return Err(format!(
                "\"type\" is {:?}; a service-account file has \"service_account\"",
                sa.kind
            ));
        }
        for (field, v) in [
            ("project_id", &sa.project_id),
            ("client_email", &sa.client_email),
            ("token_uri", &sa.token_uri),
        ] {
            if v.trim().is_empty() {
                return Err(format!("\"{field}\" is empty"));
            }
        }
        if !(sa.token_uri.starts_with("https://") || sa.token_uri.starts_with("http://")) {
            return Err("\"token_uri\" is not an http(s) address".into());
        }
        key_pair(&sa.private_key)?;
        Ok(sa)
    }
}

/// The RSA key of a PKCS#8 PEM.
fn key_pair(pem: &str) -> Result<RsaKeyPair, String> {
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "\"private_key\" is not a PEM key".to_string())?;
    RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("\"private_key\" is not a PKCS#8 RSA key: {e}"))
}

/// Why a push did not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// FCM no longer knows the device token: remove it.
    Unregistered(String),
    /// Anything else, classified for retries.
    Failed(Failure),
}

/// A client of one Firebase configuration.
pub struct FcmClient {
    config: PushConfig,
    key: RsaKeyPair,
    http: reqwest::Client,
    /// The access token and when it expires (ms).
    token: Mutex<Option<(Secret, i64)>>,
}

impl std::fmt::Debug for FcmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmClient")
            .field("project", &self.config.project_id)
            .finish_non_exhaustive()
    }
}

impl FcmClient {
    /// A client for `config`, signing with `private_key` (PEM).
    pub fn new(
        config: PushConfig,
        private_key: &Secret,
        http: reqwest::Client,
    ) -> anyhow::Result<FcmClient> {
        let key = key_pair(private_key.expose()).map_err(|e| anyhow::anyhow!(e))?;
        Ok(FcmClient {
            config,
            key,
            http,
            token: Mutex::new(None),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// The signed JWT asserting the service account, issued at `now_s` for one hour.
    pub fn assertion(&self, now_s: i64) -> String {
        let header =
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.config.private_key_id});
        let claims = serde_json::json!({
            "iss": self.config.client_email,
            "scope": FCM_SCOPE,
            "aud": self.config.token_uri,
            "iat": now_s,
            "exp": now_s + 3600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .expect("RSA signing with a valid key");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The cached access token, or a new one from `token_uri`.
    async fn access_token(&self, now_ms: i64) -> Result<Secret, Failure> {
        if let Some((token, expires)) = &*self.token.lock().expect("poisoned")
            && now_ms < *expires - 60_000
        {
            return Ok(token.clone());
        }
        let resp = self
            .http
            .post(&self.config.token_uri)
            .timeout(HTTP_TIMEOUT)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &self.assertion(now_ms / 1000)),
            ])
            .send()
            .await
            .map_err(|e| Failure::Transient {
                code: None,
                text: format!("troca do token do Firebase: {}", http_error(&e)),
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let text = format!("troca do token do Firebase recusada: {}", short(&body));
            // A refused assertion (bad key, revoked account) does not mend itself.
            return Err(classify_http(status, text));
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            access_token: String,
            #[serde(default = "one_hour")]
            expires_in: i64,
        }
        fn one_hour() -> i64 {
            3600
        }
        let reply: TokenReply = serde_json::from_str(&body).map_err(|e| Failure::Transient {
            code: Some(status),
            text: format!("resposta do token do Firebase ilegível: {e}"),
        })?;
        let token = Secret::new(reply.access_token);
        *self.token.lock().expect("poisoned") =
            Some((token.clone(), now_ms + reply.expires_in * 1000));
        Ok(token)
    }

    /// Sends one notification to one device. `now_ms` dates the JWT and the token's expiry.
    pub async fn send(
        &self,
        device: &str,
        title: &str,
        body: &str,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<crate::delivery::Accepted, PushError> {
        let message = serde_json::json!({
            "message": {
                "token": device,
                "notification": {"title": title, "body": body},
                "data": data,
            }
        });
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.config.fcm_url.trim_end_matches('/'),
            self.config.project_id
        );
        for round in 0..2 {
            let token = self.access_token(now_ms).await.map_err(PushError::Failed)?;
            let resp = self
                .http
                .post(&url)
                .timeout(HTTP_TIMEOUT)
                .bearer_auth(token.expose())
                .json(&message)
                .send()
                .await
                .map_err(|e| {
                    PushError::Failed(Failure::Transient {
                        code: None,
                        text: format!("FCM inacessível: {}", http_error(&e)),
                    })
                })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                let name = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["name"].as_str().map(str::to_string))
                    .unwrap_or_default();
                return Ok(crate::delivery::Accepted {
                    code: status,
                    text: name,
                });
            }
            if status == 401 && round == 0 {
                // The access token expired early or was revoked: fetch another and try again.
                *self.token.lock().expect("poisoned") = None;
                continue;
            }
            let error_code = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v["error"]["details"].as_array().and_then(|d| {
                        d.iter()
                            .find_map(|x| x["errorCode"].as_str().map(str::to_string))
                    })
                })
                .unwrap_or_default();
            if status == 404 || error_code == "UNREGISTERED" {
                return Err(PushError::Unregistered(short(&text)));
            }
            let text = short(&text);
            // A second 401 in a row: the token service and FCM disagree for now; try later.
            return Err(PushError::Failed(if status == 401 {
                Failure::Transient {
                    code: Some(status),
                    text,
                }
            } else {
                classify_http(status, text)
            }));
        }
        unreachable!("the loop returns in its second round")
    }
}
