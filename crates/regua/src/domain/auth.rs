//! Users, roles and permissions, and the secrets of a web session: argon2id password hashes,
//! random tokens (only their SHA-256 is stored), CSRF tokens compared in constant time. Pure
//! except for the OS random source.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use sha2::Digest as _;

id_type!(
    /// Primary key of a staff user.
    UserId,
    /// Primary key of an integration's API key.
    ApiKeyId,
);

/// A user's role ("perfil").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// Administrador: everything, including users.
    Admin,
    /// Financeiro: billing, dunning, e-mail settings, sending.
    Finance,
    /// Atendimento: reads everything, sends a second copy, pauses dunning.
    Support,
    /// Somente leitura.
    ReadOnly,
}

/// What a role may do. "Permite configurar e-mail para envio" of the seed documents is
/// [`Permission::ConfigureEmail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See customers, contracts, invoices, the log, the dashboard.
    View,
    /// Send an invoice by e-mail now; pause dunning.
    Send,
    /// Create and change customers, contracts, invoices; generate, mark paid, cancel.
    EditBilling,
    /// SMTP accounts, financial parameters, layouts.
    ConfigureEmail,
    /// Send rules, bands, routines, holidays, letters.
    ManageDunning,
    /// Users and general parameters.
    ManageUsers,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 6] = [
        Permission::View,
        Permission::Send,
        Permission::EditBilling,
        Permission::ConfigureEmail,
        Permission::ManageDunning,
        Permission::ManageUsers,
    ];

    /// The stored and CLI name (API keys carry a list of them).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::View => "view",
            Permission::Send => "send",
            Permission::EditBilling => "billing",
            Permission::ConfigureEmail => "email",
            Permission::ManageDunning => "dunning",
            Permission::ManageUsers => "users",
        }
    }

    /// Parses a comma-separated list (`view,send`), or `all`.
    pub fn parse_list(s: &str) -> Result<Vec<Permission>, String> {
        if s.trim() == "all" {
            return Ok(Permission::ALL.to_vec());
        }
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let p = Permission::ALL
                .into_iter()
                .find(|p| p.as_str() == part)
                .ok_or_else(|| {
                    format!("{part:?} is not a permission (view, send, billing, email, dunning, users, all)")
                })?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return Err("no permission given".into());
        }
        Ok(out)
    }
}

impl Role {
    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Support => "support",
            Role::ReadOnly => "readonly",
        }
    }

    /// The name on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            Role::Admin => "Administrador",
            Role::Finance => "Financeiro",
            Role::Support => "Atendimento",
            Role::ReadOnly => "Somente leitura",
        }
    }

    /// Whether the role may do `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Finance => p != ManageUsers,
            Role::Support => matches!(p, View | Send),
            Role::ReadOnly => p == View,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "admin" | "administrador" => Ok(Role::Admin),
            "finance" | "financeiro" => Ok(Role::Finance),
            "support" | "atendimento" => Ok(Role::Support),
            "readonly" | "somente leitura" | "somente_leitura" => Ok(Role::ReadOnly),
            other => Err(format!(
                "{other:?} is not a role (admin, finance, support, readonly)"
            )),
        }
    }
}

/// `n` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source");
    buf
}

/// A random token for cookies and forms: 32 bytes, base64url without padding.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A one-time password a person can type: 16 characters without look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    random_bytes::<16>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Whether `password` matches the stored hash (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A user of the admin UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Key.
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Full name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Inactive users cannot log in.
    pub active: bool,
    /// Created with a generated password: must choose one before anything else.
    pub must_change_password: bool,
}

/// An API key of an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key.
    pub id: ApiKeyId,
    /// The integration's name.
    pub name: String,
    /// What it may do.
    pub permissions: Vec<crate::domain::auth::Permission>,
    /// Revoked keys authenticate nothing.
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_a_salt_and_verify() {
        let h1 = hash_password("correct horse");
        let h2 = hash_password("correct horse");
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2, "salted");
        assert!(verify_password("correct horse", &h1));
        assert!(!verify_password("correct hors", &h1));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn roles_grant_what_their_names_say() {
        use Permission::*;
        assert!(Role::Admin.allows(ManageUsers));
        assert!(Role::Finance.allows(ConfigureEmail) && !Role::Finance.allows(ManageUsers));
        assert!(Role::Support.allows(Send) && !Role::Support.allows(ConfigureEmail));
        assert!(Role::ReadOnly.allows(View) && !Role::ReadOnly.allows(Send));
        assert_eq!("Financeiro".parse::<Role>(), Ok(Role::Finance));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(same_secret(&a, &a.clone()) && !same_secret(&a, &b));
        let p = new_password();
        assert_eq!(p.len(), 16);
        assert!(
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
    }
}
