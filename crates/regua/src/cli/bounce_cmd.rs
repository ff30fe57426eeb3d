//! `regua bounce classify FILE.eml [--json]`: what a returned message says, without touching
//! the database (docs/bounces.md).

use std::process::ExitCode;

use clap::Subcommand;

/// `regua bounce …`
#[derive(Debug, Subcommand)]
pub enum BounceCmd {
    /// Read a returned message (a bounce, a complaint, an auto-reply) and say what it means:
    /// recipient, kind (hard, soft, complaint, not_a_bounce), status and notice.
    Classify {
        /// The message, as received (.eml).
        file: std::path::PathBuf,
        /// Print `{"recipient", "kind", "status", "notice"}`.
        #[arg(long)]
        json: bool,
    },
    /// Read returned messages (.eml files, or folders of them) and act on them: each is
    /// recorded against the notice its signed return path names; a hard bounce or a complaint
    /// suppresses the address, and so do 3 soft ones in a row. A message read before, or one
    /// that names no notice of ours, changes nothing. Needs REGUA_SECRET_KEY.
    Import {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// The suppressed addresses: address, reason, status, since.
    Suppressed,
    /// Clear an address's suppression (after the address was fixed or the cause removed).
    Unsuppress {
        /// The address.
        address: String,
    },
    /// The IMAP mailboxes bounces are read from.
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Read the bounce mailboxes once (all of them, or those named): every message not read
    /// yet is acted on as by `import`, then moved or flagged on the server. `regua serve` does
    /// this every --bounce-poll-seconds. Needs REGUA_SECRET_KEY.
    Poll {
        /// Mailbox names (all when none).
        names: Vec<String>,
    },
}

/// `regua bounce mailbox …`
#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// Add a mailbox (IMAP over TLS or STARTTLS, with a login).
    Add(MailboxAdd),
    /// List the mailboxes with their last reading (passwords are never shown).
    List,
    /// Remove a mailbox (the bounces read from it stay).
    Remove {
        /// Its name.
        name: String,
    },
}

/// `regua bounce mailbox add` options.
#[derive(Debug, clap::Args)]
pub struct MailboxAdd {
    /// The name it is known by.
    pub name: String,
    /// IMAP server.
    #[arg(long)]
    pub host: String,
    /// Port (993 for tls, 143 for starttls when not given).
    #[arg(long)]
    pub port: Option<u16>,
    /// tls (from the first byte) or starttls.
    #[arg(long, default_value = "tls")]
    pub security: String,
    /// Login.
    #[arg(long)]
    pub user: String,
    /// The environment variable holding the password (never pass it on the command line).
    #[arg(long)]
    pub password_env: String,
    /// The folder read.
    #[arg(long, default_value = "INBOX")]
    pub folder: String,
    /// Move each message read to this folder (it must exist); without it, messages read are
    /// flagged $ReguaLido (\Seen where the server keeps no keywords) and stay.
    #[arg(long)]
    pub move_to: Option<String>,
    /// A PEM file of the CA that signed the server's certificate, besides the public roots.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Runs `regua bounce …`.
pub async fn run(g: &super::Global, cmd: BounceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BounceCmd::Mailbox(m) => mailbox(g, m).await,
        BounceCmd::Poll { names } => {
            let Ok(key) = crate::secrets::MasterKey::from_env() else {
                eprintln!("REGUA_SECRET_KEY is not set: return paths are verified with it");
                return Ok(ExitCode::from(2));
            };
            let db = g.db().await?;
            let clock = g.clock()?;
            let all = {
                let mut conn = db.pool.acquire().await?;
                crate::store::bounces::list_mailboxes(&mut conn).await?
            };
            if let Some(unknown) = names.iter().find(|n| !all.iter().any(|m| &m.name == *n)) {
                eprintln!("no bounce mailbox named {unknown}");
                return Ok(ExitCode::from(2));
            }
            let mut failed = false;
            for m in all
                .iter()
                .filter(|m| names.is_empty() || names.contains(&m.name))
            {
                match crate::actions::bounces::poll_mailbox(
                    &db,
                    m,
                    &key,
                    &clock,
                    crate::delivery::network_timeout_from_env(),
                )
                .await
                {
                    Ok(r) => println!("{}\t{r}", m.name),
                    Err(e) => {
                        failed = true;
                        eprintln!("{}: {e:#}", m.name);
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        BounceCmd::Import { paths } => {
            let Ok(key) = crate::secrets::MasterKey::from_env() else {
                eprintln!("REGUA_SECRET_KEY is not set: return paths are verified with it");
                return Ok(ExitCode::from(2));
            };
            let db = g.db().await?;
            let clock = g.clock()?;
            let mut files = Vec::new();
            for p in paths {
                if p.is_dir() {
                    let mut inside: Vec<_> = std::fs::read_dir(&p)?
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.is_file())
                        .collect();
                    inside.sort();
                    files.extend(inside);
                } else {
                    files.push(p);
                }
            }
            let (mut recorded, mut suppressed, mut known, mut ignored) = (0, 0, 0, 0);
            for f in &files {
                let raw = match std::fs::read(f) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{}: cannot read: {e}", f.display());
                        return Ok(ExitCode::from(2));
                    }
                };
                use crate::actions::bounces::Ingested;
                match crate::actions::bounces::ingest(&db, &raw, &key, clock.now_millis()).await? {
                    Ingested::Recorded {
                        bounce,
                        notice,
                        address,
                        suppressed: s,
                    } => {
                        recorded += 1;
                        suppressed += usize::from(s);
                        println!(
                            "{}\trecorded\tnotice {notice}\t{address}\t{}\t{}{}",
                            f.display(),
                            bounce.kind,
                            bounce.status.as_deref().unwrap_or("-"),
                            if s { "\tsuppressed" } else { "" }
                        );
                    }
                    Ingested::AlreadyRecorded => {
                        known += 1;
                        println!("{}\talready recorded", f.display());
                    }
                    Ingested::Ignored(why) => {
                        ignored += 1;
                        println!("{}\tignored\t{why}", f.display());
                    }
                }
            }
            println!(
                "{} message(s): {recorded} recorded ({suppressed} address(es) suppressed), {known} already recorded, {ignored} ignored",
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        BounceCmd::Suppressed => {
            let db = g.db().await?;
            let clock = g.clock()?;
            let mut conn = db.pool.acquire().await?;
            for s in crate::store::bounces::list_suppressions(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.address,
                    s.reason,
                    s.status.as_deref().unwrap_or("-"),
                    clock.local_time(s.created_at, "%Y-%m-%d %H:%M")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BounceCmd::Unsuppress { address } => {
            let db = g.db().await?;
            let clock = g.clock()?;
            if crate::actions::bounces::unsuppress(
                &db,
                &address,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                println!("{address}: suppression cleared");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{address} is not suppressed");
                Ok(ExitCode::from(2))
            }
        }
        BounceCmd::Classify { file, json } => {
            let raw = match std::fs::read(&file) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{}: cannot read: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            };
            // With REGUA_SECRET_KEY, the notice is read from the return path (and its tag
            // checked); without it, `notice` stays null.
            let key = crate::secrets::MasterKey::from_env().ok();
            let b = crate::bounce::classify_with_key(&raw, key.as_ref());
            if json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                println!(
                    "recipient\t{}\nkind\t{}\nstatus\t{}\nnotice\t{}",
                    b.recipient.as_deref().unwrap_or("-"),
                    b.kind,
                    b.status.as_deref().unwrap_or("-"),
                    b.notice.map_or("-".to_string(), |n| n.to_string()),
                );
                if !b.diagnostic.is_empty() {
                    println!("diagnostic\t{}", b.diagnostic);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn mailbox(g: &super::Global, cmd: MailboxCmd) -> anyhow::Result<ExitCode> {
    let bad = |msg: String| {
        eprintln!("{msg}");
        Ok(ExitCode::from(2))
    };
    let db = g.db().await?;
    let clock = g.clock()?;
    match cmd {
        MailboxCmd::Add(a) => {
            use crate::store::bounces::{BounceMailbox, ImapSecurity};
            let security: ImapSecurity = match a.security.parse() {
                Ok(s) => s,
                Err(e) => return bad(format!("--security: {e}")),
            };
            let Ok(key) = crate::secrets::MasterKey::from_env() else {
                return bad("REGUA_SECRET_KEY is not set: the password is sealed with it".into());
            };
            let password = match std::env::var(&a.password_env) {
                Ok(p) if !p.is_empty() => crate::secrets::Secret::new(p),
                _ => {
                    return bad(format!(
                        "--password-env: the variable {} is not set",
                        a.password_env
                    ));
                }
            };
            if a.host.trim().is_empty() {
                return bad("--host: empty".into());
            }
            if let Some(ca) = &a.ca_file
                && let Err(e) = std::fs::read(ca)
            {
                return bad(format!("--ca-file: cannot read {}: {e}", ca.display()));
            }
            let m = BounceMailbox {
                id: 0,
                name: a.name.trim().to_string(),
                host: a.host.trim().to_string(),
                port: a.port.unwrap_or(security.default_port()),
                security,
                username: a.user,
                password_enc: String::new(),
                folder: a.folder,
                move_to: a.move_to,
                ca_file: a.ca_file.map(|p| p.display().to_string()),
                last_polled_at: None,
                last_result: String::new(),
                last_error: None,
            };
            if crate::actions::bounces::add_mailbox(
                &db,
                &m,
                &password,
                &key,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                println!("bounce mailbox {} added", m.name);
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("a bounce mailbox named {} exists", m.name))
            }
        }
        MailboxCmd::List => {
            let mut conn = db.pool.acquire().await?;
            println!("name\tserver\tsecurity\tuser\tfolder\tmove_to\tlast_read\tlast_result");
            for m in crate::store::bounces::list_mailboxes(&mut conn).await? {
                println!(
                    "{}\t{}:{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    m.name,
                    m.host,
                    m.port,
                    m.security.as_str(),
                    m.username,
                    m.folder,
                    m.move_to.as_deref().unwrap_or("-"),
                    m.last_polled_at
                        .map_or("-".to_string(), |t| clock.local_time(t, "%Y-%m-%d %H:%M")),
                    match &m.last_error {
                        Some(e) => format!("error: {e}"),
                        None => crate::actions::bounces::PollReport::from_stored(&m.last_result)
                            .map_or(String::new(), |r| r.to_string()),
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MailboxCmd::Remove { name } => {
            if crate::actions::bounces::remove_mailbox(
                &db,
                &name,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                println!("bounce mailbox {name} removed");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no bounce mailbox named {name}"))
            }
        }
    }
}
