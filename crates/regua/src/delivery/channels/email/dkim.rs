//! DKIM signing (RFC 6376), `rsa-sha256` with `c=relaxed/relaxed`, over the message exactly as
//! it is sent (`lettre::Message::formatted`).
//!
//! Régua signs its own messages instead of using lettre's signer: lettre hashes only the
//! headers it keeps in the message's header map, and a multipart message's `Content-Type` lives
//! in the body part, so listing it made every signature invalid (dkimpy refused them). Signing
//! the formatted bytes covers every header as a verifier sees it.

use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use sha2::{Digest as _, Sha256};

/// The headers signed, when the message has them, besides every `List-*` header it has: what
/// a receiver shows or relies on (Gmail's 2024 bulk sender rules ask From to be signed; the
/// rest keeps a relay from changing what the subscriber reads).
pub const SIGNED: [&str; 7] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
];

/// A key that signs, read from a PEM file (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
#[derive(Debug, Clone)]
pub struct SigningKey(rsa::RsaPrivateKey);

impl SigningKey {
    /// Reads the PEM text.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        rsa::RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem))
            .map(SigningKey)
            .map_err(|e| format!("not an RSA private key in PEM: {e}"))
    }

    /// The RSA key (its public half is what the selector's record publishes).
    pub fn rsa(&self) -> &rsa::RsaPrivateKey {
        &self.0
    }
}

/// The `DKIM-Signature` header's value (folded, without the name) for `message`, signed as
/// `selector._domainkey.domain` at `timestamp` (seconds).
pub fn signature(
    message: &[u8],
    domain: &str,
    selector: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<String, String> {
    let split = find(message, b"\r\n\r\n").ok_or("the message has no header/body separator")?;
    let (head, body) = (&message[..split + 2], &message[split + 4..]);
    let fields = header_fields(head);
    let mut names: Vec<String> = SIGNED.iter().map(|s| s.to_string()).collect();
    for (name, _) in &fields {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("list-") && !names.contains(&lower) {
            names.push(lower);
        }
    }
    let mut hashed = String::new();
    let mut listed = Vec::new();
    for name in &names {
        // The last instance, as RFC 6376 § 5.4.2 picks it.
        if let Some((n, v)) = fields
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            hashed.push_str(&relaxed_header(n, v));
            hashed.push_str("\r\n");
            listed.push(name.as_str());
        }
    }
    let bh = base64(&Sha256::digest(relaxed_body(body)));
    let unsigned = format!(
        "v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector}; t={timestamp};\r\n\th={};\r\n\tbh={bh};\r\n\tb=",
        listed.join(":")
    );
    hashed.push_str(&relaxed_header("DKIM-Signature", &unsigned));
    let digest = Sha256::digest(hashed.as_bytes());
    let sig = key
        .0
        .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
        .map_err(|e| format!("RSA signing failed: {e}"))?;
    let b = base64(&sig);
    let folded: Vec<&str> = b
        .as_bytes()
        .chunks(72)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    Ok(format!("{unsigned}{}", folded.join("\r\n\t")))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The header fields (name, raw value with its folds) of a header block.
fn header_fields(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push_str("\r\n");
                v.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.to_string(), v.to_string()));
        }
    }
    out
}

/// RFC 6376 § 3.4.2: the name lower-cased, the value unfolded, runs of whitespace one space,
/// none at either end; `name:value` without the line end.
fn relaxed_header(name: &str, value: &str) -> String {
    let unfolded = value.replace("\r\n", "");
    format!(
        "{}:{}",
        name.trim().to_ascii_lowercase(),
        collapse(&unfolded).trim()
    )
}

fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c == ' ' || c == '\t' {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
    out
}

/// RFC 6376 § 3.4.4: runs of whitespace in a line one space, none at a line's end, no empty
/// lines at the end; a non-empty body ends with CRLF.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut out = Vec::with_capacity(line.len());
        let mut space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                space = true;
            } else {
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(b);
            }
        }
        lines.push(out);
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_canonicalization_follows_the_rfc_examples() {
        // RFC 6376 § 3.4.5.
        assert_eq!(relaxed_header("A", " X"), "a:X");
        assert_eq!(relaxed_header("B ", " Y\t\r\n\tZ  "), "b:Y Z");
        assert_eq!(relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        assert_eq!(relaxed_body(b""), b"");
    }
}
