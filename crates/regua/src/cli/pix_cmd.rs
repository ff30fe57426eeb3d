//! `regua pix psp add|list`: the PSPs whose PIX webhooks Régua accepts (docs/pix.md).

use std::process::ExitCode;

use clap::Subcommand;

use super::{Global, actor};
use crate::store;

/// `regua pix …`
#[derive(Debug, Subcommand)]
pub enum PixCmd {
    /// The PSPs that may call `POST /webhooks/pix`.
    #[command(subcommand)]
    Psp(PspCmd),
}

/// `regua pix psp …`
#[derive(Debug, Subcommand)]
pub enum PspCmd {
    /// Add a PSP; prints its secret once (for its webhook URL's `hmac` or its bearer token).
    Add {
        /// The PSP's name (efi, itau, sicoob…).
        name: String,
    },
    /// List the PSPs.
    List,
}

/// Runs `regua pix …`.
pub(super) async fn run(g: &Global, cmd: PixCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let PixCmd::Psp(cmd) = cmd;
    match cmd {
        PspCmd::Add { name } => {
            if name.trim().is_empty() {
                eprintln!("name: give the PSP a name");
                return Ok(ExitCode::from(2));
            }
            let token =
                crate::actions::pix::add_psp(&db, &name, &actor(), g.clock()?.now_millis()).await?;
            println!("PSP {:?} added", name.trim());
            println!("secret: {token}");
        }
        PspCmd::List => {
            let mut conn = db.pool.acquire().await?;
            for name in store::pix::list_psps(&mut conn).await? {
                println!("{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
