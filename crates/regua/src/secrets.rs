//! Secrets at rest: SMTP (and later SMS and push) credentials are sealed with ChaCha20-Poly1305
//! under a master key that lives outside the database (`REGUA_SECRET_KEY`: 32 bytes as 64 hex
//! digits or base64). A stolen database file alone reveals no password. [`Secret`] holds a clear
//! value in memory and never prints it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The environment variable holding the master key.
pub const SECRET_KEY_ENV: &str = "REGUA_SECRET_KEY";

/// The variable naming a file that holds the master key (what `secret_key_file` sets in the
/// configuration file): a key in a file readable by `regua` only, not in the environment.
pub const SECRET_KEY_FILE_ENV: &str = "REGUA_SECRET_KEY_FILE";

static KEY_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Names the key file of the configuration file (`secret_key_file`), read when neither
/// variable is set. The first call wins.
pub fn set_key_file(path: std::path::PathBuf) {
    let _ = KEY_FILE.set(path);
}

/// A secret in clear, in memory only. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a clear value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value, for the one place that must use it (e.g. SMTP AUTH).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No master key configured.
    #[error(
        "{SECRET_KEY_ENV} is not set: generate one with `regua secret-key` and name its file in secret_key_file (regua.toml) or {SECRET_KEY_FILE_ENV}, or set {SECRET_KEY_ENV} in the environment of every regua process"
    )]
    NoKey,
    /// The master key is malformed.
    #[error("{SECRET_KEY_ENV} must be 32 bytes as 64 hex digits or base64")]
    BadKey,
    /// The key file named by `REGUA_SECRET_KEY_FILE` or `secret_key_file` cannot be read.
    #[error("cannot read the master key file {0}")]
    KeyFile(String),
    /// The sealed value does not open with this key (another key, or tampered).
    #[error(
        "a stored secret cannot be decrypted with the configured {SECRET_KEY_ENV} (was the key changed?)"
    )]
    Undecryptable,
}

/// The master key.
#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// Parses 64 hex digits or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::BadKey)?
        } else {
            B64.decode(text).map_err(|_| SecretError::BadKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(MasterKey(key.into()))
    }

    /// The key from `REGUA_SECRET_KEY`, else from the file `REGUA_SECRET_KEY_FILE` names,
    /// else from the configuration's `secret_key_file` ([`set_key_file`]).
    pub fn from_env() -> Result<MasterKey, SecretError> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => return MasterKey::parse(&v),
            _ => {}
        }
        let file = std::env::var_os(SECRET_KEY_FILE_ENV)
            .filter(|f| !f.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| KEY_FILE.get().cloned());
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| SecretError::KeyFile(format!("{}: {e}", path.display())))?;
                MasterKey::parse(&text)
            }
            None => Err(SecretError::NoKey),
        }
    }

    /// A new random key, as 64 hex digits.
    pub fn generate_hex() -> String {
        let key = Key::generate();
        key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// An HMAC-SHA256 of `data` under this key, for `label`'s purpose (the label keeps one
    /// purpose's tags from being valid for another).
    pub fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.0.as_slice());
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        ctx.sign()
            .as_ref()
            .try_into()
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 is 32 bytes"))
    }

    /// Seals a secret: base64 of a fresh 12-byte nonce followed by the ciphertext.
    pub fn seal(&self, secret: &Secret) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = Nonce::generate();
        let sealed = cipher
            .encrypt(&nonce, secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("encryption into a Vec cannot fail"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Opens what [`MasterKey::seal`] produced.
    pub fn open(&self, sealed: &str) -> Result<Secret, SecretError> {
        let bytes = B64.decode(sealed).map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < 12 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).map_err(|_| SecretError::Undecryptable)?;
        let clear = ChaCha20Poly1305::new(&self.0)
            .decrypt(&nonce, ciphertext)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(clear)
            .map(Secret)
            .map_err(|_| SecretError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_never_shows_in_clear() {
        let key = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        let sealed = key.seal(&Secret::new("s3nh@ forte"));
        assert!(!sealed.contains("s3nh@"));
        assert_ne!(
            sealed,
            key.seal(&Secret::new("s3nh@ forte")),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed).unwrap().expose(), "s3nh@ forte");
        let other = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        assert!(matches!(
            other.open(&sealed),
            Err(SecretError::Undecryptable)
        ));
        assert_eq!(
            format!("{:?} {}", Secret::new("x"), Secret::new("x")),
            "Secret(***) ***"
        );
    }

    #[test]
    fn keys_are_hex_or_base64_of_32_bytes() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse(&B64.encode([7u8; 32])).is_ok());
        assert!(matches!(
            MasterKey::parse("curta"),
            Err(SecretError::BadKey)
        ));
        assert!(matches!(
            MasterKey::parse(&"ab".repeat(31)),
            Err(SecretError::BadKey)
        ));
    }
}
