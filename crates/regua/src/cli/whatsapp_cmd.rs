//! `regua whatsapp …` (accounts, templates, marked numbers) and `regua layout whatsapp` (a
//! layout's template mapping): WhatsApp through Meta's Cloud API (docs/whatsapp.md).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Global;
use super::delivery_cmd::master_key;
use crate::domain::whatsapp::{DEFAULT_API_URL, NewWhatsappAccount};
use crate::secrets::Secret;
use crate::store::{self, parties::ConfigError};

/// `regua whatsapp …`
#[derive(Debug, Subcommand)]
pub enum WhatsappCmd {
    /// Add a WhatsApp Business account's phone number (Meta's Cloud API).
    Add(Box<WhatsappAddArgs>),
    /// List accounts (never their token or secrets).
    List,
    /// Remove an account: it stops sending, its layouts' mappings go; its history stays.
    Remove {
        /// The account's name.
        name: String,
    },
    /// The templates the account's business account has at Meta (name, language, status,
    /// body parameters, header).
    Templates {
        /// The account's name.
        name: String,
    },
    /// Numbers WhatsApp is not used for: opted out (PARAR, SAIR, STOP) or not on WhatsApp.
    Blocked,
    /// Make a number usable for WhatsApp again (a subscriber who opted back in).
    Unblock {
        /// The mobile phone, with DDD.
        phone: String,
    },
}

/// `regua whatsapp add` flags.
#[derive(Debug, Args)]
pub struct WhatsappAddArgs {
    /// Unique name.
    #[arg(long)]
    pub name: String,
    /// The phone number's id (Meta's WhatsApp Manager, "ID do número de telefone").
    #[arg(long)]
    pub phone_number_id: String,
    /// The WhatsApp Business Account's id (its templates are listed under it).
    #[arg(long)]
    pub business_account_id: String,
    /// The environment variable that holds the access token (a system user's token).
    #[arg(long)]
    pub token_env: String,
    /// The environment variable that holds the app secret (webhook signatures).
    #[arg(long)]
    pub app_secret_env: String,
    /// The verify token Meta's webhook setup presents (you choose it there and here).
    #[arg(long)]
    pub verify_token: String,
    /// The Graph API with its version; another address only for tests.
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// The messaging limit: at most this many messages in any rolling 24 hours.
    #[arg(long)]
    pub daily_limit: Option<u32>,
}

/// `regua layout whatsapp` flags.
#[derive(Debug, Args)]
pub struct LayoutWhatsappArgs {
    /// The layout's name.
    pub name: String,
    /// The WhatsApp account whose template it sends.
    #[arg(long, required_unless_present = "remove")]
    pub account: Option<String>,
    /// The approved template's name.
    #[arg(long, required_unless_present = "remove")]
    pub template: Option<String>,
    /// The template's language.
    #[arg(long, default_value = "pt_BR")]
    pub language: String,
    /// The Régua variables of the body's {{1}}…{{n}}, in order: cliente.nome,fatura.valor,…
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// `boleto`: the template's document header carries the boleto PDF.
    #[arg(long, value_parser = ["boleto"])]
    pub document: Option<String>,
    /// The variable of the URL button's parameter (fatura.link_portal).
    #[arg(long)]
    pub button: Option<String>,
    /// Remove the layout's mapping (it no longer goes by WhatsApp).
    #[arg(long, conflicts_with_all = ["account", "template", "params", "document", "button"])]
    pub remove: bool,
}

fn bad(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{msg}");
    Ok(ExitCode::from(2))
}

fn env_secret(flag: &str, var: &str) -> Result<Secret, String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        _ => Err(format!("--{flag}: the variable {var} is not set")),
    }
}

/// Runs `regua whatsapp …`.
pub async fn run(g: &Global, cmd: WhatsappCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let actor = super::actor();
    match cmd {
        WhatsappCmd::Add(a) => {
            let token = match env_secret("token-env", &a.token_env) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            let app_secret = match env_secret("app-secret-env", &a.app_secret_env) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            let account = NewWhatsappAccount {
                name: a.name.trim().to_string(),
                phone_number_id: a.phone_number_id.trim().to_string(),
                business_account_id: a.business_account_id.trim().to_string(),
                token,
                app_secret,
                verify_token: Secret::new(a.verify_token.clone()),
                api_url: a.api_url.trim().trim_end_matches('/').to_string(),
                daily_limit: a.daily_limit,
            };
            if let Err((flag, reason)) = account.check() {
                return bad(format!("--{flag}: {reason}"));
            }
            let key = match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            };
            match crate::actions::whatsapp::add_account(
                &db,
                &account,
                key.as_ref(),
                &actor,
                clock.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    println!("whatsapp account {:?} added (id {id})", account.name);
                    Ok(ExitCode::SUCCESS)
                }
                Err(ConfigError::Other(e)) => Err(e),
                Err(e) => bad(e.for_cli()),
            }
        }
        WhatsappCmd::List => {
            let mut conn = db.pool.acquire().await?;
            println!(
                "name\tphone_number_id\tbusiness_account_id\tapi_url\tdaily_limit\tsent_24h\tactive"
            );
            let now = clock.now_millis();
            for a in store::whatsapp::list_accounts(&mut conn).await? {
                let used = store::whatsapp::account_sends_since(
                    &mut conn,
                    a.id,
                    now - crate::domain::send_limits::DAY_MS,
                )
                .await?;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{used}\t{}",
                    a.name,
                    a.phone_number_id,
                    a.business_account_id,
                    a.api_url,
                    a.daily_limit.map_or("-".into(), |l| l.to_string()),
                    if a.active { "yes" } else { "no" },
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WhatsappCmd::Remove { name } => {
            if crate::actions::whatsapp::remove_account(&db, &name, &actor, clock.now_millis())
                .await?
            {
                println!("whatsapp account {name:?} removed");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no active whatsapp account named {name:?}"))
            }
        }
        WhatsappCmd::Templates { name } => {
            let mut conn = db.pool.acquire().await?;
            let Some(account) = store::whatsapp::find_account(&mut conn, &name).await? else {
                return bad(format!("no active whatsapp account named {name:?}"));
            };
            drop(conn);
            let key = match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            };
            match crate::actions::whatsapp::templates(&db, key.as_ref(), &account).await {
                Ok(list) => {
                    println!("name\tlanguage\tstatus\tcategory\tbody_params\theader\turl_button");
                    for t in list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            t.name,
                            t.language,
                            t.status,
                            t.category,
                            t.body_params,
                            t.header.as_deref().unwrap_or("-"),
                            if t.url_button_param { "yes" } else { "no" },
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        WhatsappCmd::Blocked => {
            let mut conn = db.pool.acquire().await?;
            println!("phone\tkind\tsince\tdetail");
            for b in store::whatsapp::list_blocks(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    b.phone,
                    b.kind,
                    clock.local_time(b.created_at, "%Y-%m-%d %H:%M"),
                    b.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WhatsappCmd::Unblock { phone } => {
            if crate::actions::whatsapp::clear_block(&db, &phone, &actor, clock.now_millis())
                .await?
            {
                println!("{phone} may receive WhatsApp again");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("{phone} is not blocked"))
            }
        }
    }
}

/// Runs `regua layout whatsapp …`.
pub async fn layout(g: &Global, a: LayoutWhatsappArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let actor = super::actor();
    if a.remove {
        let mut conn = db.pool.acquire().await?;
        let Some(layout) = store::layouts::find_layout(&mut conn, &a.name).await? else {
            return bad(format!("no layout named {:?}", a.name));
        };
        drop(conn);
        return if crate::actions::whatsapp::remove_mapping(&db, &layout, &actor, clock.now_millis())
            .await?
        {
            println!("layout {:?} no longer goes by WhatsApp", a.name);
            Ok(ExitCode::SUCCESS)
        } else {
            bad(format!("layout {:?} has no WhatsApp template", a.name))
        };
    }
    let key = match master_key() {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    let input = crate::actions::whatsapp::MappingInput {
        layout: a.name.clone(),
        account: a.account.unwrap_or_default(),
        template: a.template.unwrap_or_default(),
        language: a.language,
        params: a.params,
        document: a.document.is_some(),
        button: a.button,
    };
    match crate::actions::whatsapp::map_layout(
        &db,
        key.as_ref(),
        &input,
        &actor,
        clock.now_millis(),
    )
    .await
    {
        Ok(m) => {
            println!(
                "layout {:?} goes by WhatsApp as template {:?} ({}) with {} parameter(s){}",
                a.name,
                m.template,
                m.language,
                m.params.len(),
                if m.document { " and the boleto" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bad(e),
    }
}
