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
}

/// Runs `regua bounce …`.
pub fn run(cmd: BounceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
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
