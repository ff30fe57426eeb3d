//! Outbound webhooks as Standard Webhooks sends them (standardwebhooks.com; docs/webhooks.md):
//! the events, the `whsec_` secret, the signature over `{id}.{timestamp}.{body}` and the retry
//! schedule. Pure: the store keeps the outbox, `crate::webhooks` posts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Every event an endpoint may subscribe to.
pub const EVENTS: &[&str] = &[
    "contract.suspension_due",
    "contract.restore_due",
    "contract.termination_due",
    "invoice.paid",
    "invoice.registration_rejected",
    "notice.sent",
    "notice.delivered",
    "notice.failed",
    "trust_unlock.requested",
];

/// An event's name on screen (the page lists them in Portuguese; the code is in the payload and
/// docs/webhooks.md).
pub fn event_label_pt(event: &str) -> &'static str {
    match event {
        "contract.suspension_due" => "Suspensão devida",
        "contract.restore_due" => "Restabelecimento devido",
        "contract.termination_due" => "Rescisão devida",
        "invoice.paid" => "Fatura paga",
        "invoice.registration_rejected" => "Registro do boleto rejeitado",
        "notice.sent" => "Mensagem enviada",
        "notice.delivered" => "Mensagem entregue",
        "notice.failed" => "Mensagem não entregue",
        "trust_unlock.requested" => "Desbloqueio de confiança pedido",
        _ => "Outro evento",
    }
}

/// Reads `invoice.paid,contract.restore_due` (or `*` for all), refusing an unknown event.
pub fn parse_events(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if e == "*" {
            return Ok(EVENTS.iter().map(|e| e.to_string()).collect());
        }
        if !EVENTS.contains(&e) {
            return Err(format!("{e:?} is not an event: {}", EVENTS.join(", ")));
        }
        if !out.iter().any(|x| x == e) {
            out.push(e.to_string());
        }
    }
    if out.is_empty() {
        return Err(format!("name at least one event: {}", EVENTS.join(", ")));
    }
    Ok(out)
}

/// A new secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source");
    format!("whsec_{}", B64.encode(key))
}

/// The key bytes of a `whsec_…` secret; why not.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    let key = B64
        .decode(b64)
        .map_err(|_| "the secret is not whsec_ followed by base64".to_string())?;
    if key.len() < 24 {
        return Err("the secret is shorter than 24 bytes".into());
    }
    Ok(key)
}

/// The `webhook-signature` value for one secret: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(tag.as_ref()))
}

/// How long after attempt `n` (1-based) the next one comes, in seconds; `None` once three days
/// of tries are spent (Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, then every 10 h up to three days).
pub fn retry_after(n: u32) -> Option<i64> {
    const SCHEDULE: [i64; 6] = [5, 300, 1800, 7200, 18_000, 36_000];
    let total: i64 = (0..n)
        .map(|i| SCHEDULE.get(i as usize).copied().unwrap_or(36_000))
        .sum();
    if total > 3 * 86_400 {
        None
    } else {
        Some(
            SCHEDULE
                .get(n.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(36_000),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_specs_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn events_and_secrets_are_checked() {
        assert_eq!(
            parse_events("invoice.paid, invoice.paid,contract.restore_due").unwrap(),
            ["invoice.paid", "contract.restore_due"]
        );
        assert!(parse_events("invoice.payed").is_err());
        assert!(parse_events("").is_err());
        assert_eq!(parse_events("*").unwrap().len(), EVENTS.len());
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap().len(), 32);
        assert!(secret_key("whsec_short").is_err());
    }

    #[test]
    fn retries_stop_after_three_days() {
        assert_eq!(retry_after(1), Some(5));
        assert_eq!(retry_after(2), Some(300));
        let tries = (1..100).take_while(|n| retry_after(*n).is_some()).count();
        let spent: i64 = (1..=tries as u32).filter_map(retry_after).sum();
        assert!(spent <= 3 * 86_400 && tries > 6, "{tries} tries, {spent} s");
    }
}
