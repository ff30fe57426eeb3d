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
}

/// Runs `regua bounce …`.
pub async fn run(g: &super::Global, cmd: BounceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
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
