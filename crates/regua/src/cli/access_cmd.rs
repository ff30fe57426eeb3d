//! `regua user`, `regua apikey`, `regua portal`: who may get in.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Global, actor};
use crate::store;

/// `regua portal …`
#[derive(Debug, Subcommand)]
pub enum PortalCmd {
    /// Set the portal password of a CPF/CNPJ (when moving subscribers from another system, or
    /// for support); the subscriber's sessions end. Subscribers normally create theirs with the
    /// link "primeiro acesso".
    Password {
        /// The CPF or CNPJ (with or without punctuation); a customer must have it.
        #[arg(long)]
        document: String,
        /// The environment variable holding the password (never pass it on the command line).
        #[arg(long)]
        password_env: String,
    },
}

pub(super) async fn portal(g: &Global, cmd: PortalCmd) -> anyhow::Result<ExitCode> {
    let PortalCmd::Password {
        document,
        password_env,
    } = cmd;
    let Some(digits) = crate::actions::self_service::document_digits(&document) else {
        eprintln!("--document: {document:?} is not a valid CPF or CNPJ");
        return Ok(ExitCode::from(2));
    };
    let password = std::env::var(&password_env).unwrap_or_default();
    if password.chars().count() < crate::actions::self_service::MIN_PASSWORD_LEN {
        eprintln!(
            "--password-env: {password_env} must hold a password of at least {} characters",
            crate::actions::self_service::MIN_PASSWORD_LEN
        );
        return Ok(ExitCode::from(2));
    }
    let db = g.db().await?;
    if !crate::actions::access::set_portal_password(
        &db,
        &digits,
        &password,
        &actor(),
        g.clock()?.now_millis(),
    )
    .await?
    {
        eprintln!("--document: no customer has the document {document}");
        return Ok(ExitCode::from(2));
    }
    println!("portal password set for {document}");
    Ok(ExitCode::SUCCESS)
}

/// `regua user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user; prints the password to give them once.
    Add {
        /// Login name.
        #[arg(long)]
        login: String,
        /// admin, finance, support or readonly (Administrador, Financeiro, Atendimento, Somente leitura).
        #[arg(long)]
        role: String,
        /// Full name (default: the login).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the users.
    List,
}

/// `regua apikey …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Add a key for an integration; prints it once.
    Add {
        /// The integration's name.
        #[arg(long)]
        name: String,
        /// Comma-separated: view, send, billing, email, dunning, users; or all.
        #[arg(long, default_value = "view")]
        permissions: String,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key by name.
    Revoke {
        /// The integration's name.
        name: String,
    },
}

pub(super) async fn apikey(g: &Global, cmd: ApiKeyCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    let now = g.clock()?.now_millis();
    match cmd {
        ApiKeyCmd::Add { name, permissions } => {
            let perms = match crate::web::auth::Permission::parse_list(&permissions) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("--permissions: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match crate::actions::access::add_api_key(&db, &name, &perms, &actor(), now).await {
                Ok((_, token)) => {
                    let list: Vec<&str> = perms.iter().map(|p| p.as_str()).collect();
                    println!("API key {name:?} added ({})", list.join(","));
                    println!("key: {token}");
                }
                Err(store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("{}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        ApiKeyCmd::List => {
            println!("name\tpermissions\tstatus");
            for k in store::auth::list_api_keys(&mut conn).await? {
                let list: Vec<&str> = k.permissions.iter().map(|p| p.as_str()).collect();
                println!(
                    "{}\t{}\t{}",
                    k.name,
                    list.join(","),
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        ApiKeyCmd::Revoke { name } => {
            if crate::actions::access::revoke_api_key(&db, &name, &actor(), now).await? {
                println!("API key {name:?} revoked");
            } else {
                eprintln!("no active API key named {name:?}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn user(g: &Global, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        UserCmd::Add { login, role, name } => {
            let role: crate::web::auth::Role = match role.parse() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("--role: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let password = crate::web::auth::new_password();
            match crate::actions::access::add_user(
                &db,
                &login,
                &name,
                role,
                &password,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(_) => {
                    println!("user {login:?} added ({})", role.label_pt());
                    println!("password: {password}");
                }
                Err(store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("{}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        UserCmd::List => {
            println!("login\tname\trole\tactive");
            for u in store::auth::list_users(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.login,
                    u.name,
                    u.role.as_str(),
                    if u.active { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
