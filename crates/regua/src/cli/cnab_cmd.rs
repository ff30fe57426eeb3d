//! `regua cnab read|import|remessa`: the banks' return files, and the remessa files Régua
//! sends them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::{Global, actor};

/// `regua cnab …`
#[derive(Debug, Subcommand)]
pub enum CnabCmd {
    /// Read a return file (CNAB 400 or 240) and print its records; no database.
    Read {
        /// The return file.
        file: PathBuf,
        /// Print JSON: {"bank", "layout", "records": [...]} (docs/cnab.md).
        #[arg(long)]
        json: bool,
    },
    /// Apply a return file: payments recorded, rejections flagged, the rest kept in the file's
    /// history. A file imported before changes nothing.
    Import {
        /// The return file.
        file: PathBuf,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a wallet's next remessa: every invoice not yet sent for registration, every
    /// cancelled one to write off, every due-date change (docs/remessa.md). Exit 0 with a file,
    /// 1 when there is nothing to send, 2 on bad input.
    Remessa {
        /// The wallet's name.
        #[arg(long)]
        wallet: String,
        /// Where to write the file (default: its name, in the current directory).
        #[arg(long)]
        output: Option<PathBuf>,
        /// The generation date written in the file (YYYY-MM-DD or dd/mm/aaaa; default today).
        #[arg(long, value_parser = crate::domain::parse_date)]
        date: Option<jiff::civil::Date>,
    },
}

fn read(file: &Path) -> anyhow::Result<Result<(Vec<u8>, boleto::cnab::ReturnFile), String>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(match boleto::cnab::read_return(&bytes) {
        Ok(r) => Ok((bytes, r)),
        Err(e) => Err(format!("{}: {e}; nothing was read", file.display())),
    })
}

async fn remessa(
    g: &Global,
    wallet: &str,
    output: Option<PathBuf>,
    date: Option<jiff::civil::Date>,
) -> anyhow::Result<ExitCode> {
    use crate::actions::remessa::Outcome;
    let db = g.db().await?;
    let clock = g.clock()?;
    let mut conn = db.pool.acquire().await?;
    let Some(w) = crate::store::parties::find_wallet_by_name(&mut conn, wallet).await? else {
        eprintln!("error: --wallet: no wallet named {wallet:?}");
        return Ok(ExitCode::from(2));
    };
    drop(conn);
    let now = clock.local_now();
    let at = date.map_or(now, |d| d.to_datetime(now.time()));
    let print_blocked = |blocked: &[crate::actions::remessa::Blocked]| {
        for b in blocked {
            eprintln!("left out: {}: {}", b.invoice, b.reason);
        }
    };
    match crate::actions::remessa::generate(&db, w.id, at, &actor(), clock.now_millis()).await? {
        Outcome::Generated(file, blocked) => {
            let path = output.unwrap_or_else(|| PathBuf::from(&file.name));
            std::fs::write(&path, &file.content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "{}: remessa {} (NSA {}): {} entries, {} write-offs, {} changes",
                path.display(),
                file.name,
                file.sequence,
                file.counts.0,
                file.counts.1,
                file.counts.2
            );
            print_blocked(&blocked);
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Nothing(blocked) => {
            println!("nothing to send for wallet {wallet:?}; no file written");
            print_blocked(&blocked);
            Ok(ExitCode::from(1))
        }
        Outcome::NotRegisteredByRegua(reason, _) => {
            eprintln!("error: --wallet: {wallet:?}: {reason}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Runs `regua cnab …`.
pub(super) async fn run(g: &Global, cmd: CnabCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CnabCmd::Remessa {
            wallet,
            output,
            date,
        } => remessa(g, &wallet, output, date).await,
        CnabCmd::Read { file, json } => {
            let (_, r) = match read(&file)? {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            if json {
                println!("{}", boleto::cnab::to_json(&r));
                return Ok(ExitCode::SUCCESS);
            }
            println!("bank {} {}", r.bank, r.layout.as_str());
            println!(
                "line\tour_number\toccurrence\tevent\toccurred_on\tcredit_on\tface_cents\tpaid_cents\tfee_cents\tinterest_cents\tdiscount_cents"
            );
            let date = |d: Option<jiff::civil::Date>| d.map_or("-".to_string(), |d| d.to_string());
            for x in &r.records {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    x.line,
                    x.our_number,
                    x.occurrence,
                    x.event.as_str(),
                    date(x.occurred_on),
                    date(x.credit_on),
                    x.face_cents,
                    x.paid_cents,
                    x.fee_cents,
                    x.interest_cents,
                    x.discount_cents
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CnabCmd::Import { file, dry_run } => {
            let (bytes, r) = match read(&file)? {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let db = g.db().await?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let clock = g.clock()?;
            let outcome = crate::actions::bank_returns::import_return(
                &db,
                &crate::actions::bank_returns::ReturnUpload {
                    name: &name,
                    bytes: &bytes,
                    file: &r,
                },
                dry_run,
                &actor(),
                (clock.today(), clock.now_millis()),
            )
            .await?;
            print!(
                "{}",
                crate::actions::bank_returns::summary(&outcome, dry_run)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
