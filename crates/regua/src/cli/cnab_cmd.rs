//! `regua cnab read|import`: the banks' return files.

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
}

fn read(file: &Path) -> anyhow::Result<Result<(Vec<u8>, boleto::cnab::ReturnFile), String>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(match boleto::cnab::read_return(&bytes) {
        Ok(r) => Ok((bytes, r)),
        Err(e) => Err(format!("{}: {e}; nothing was read", file.display())),
    })
}

/// Runs `regua cnab …`.
pub(super) async fn run(g: &Global, cmd: CnabCmd) -> anyhow::Result<ExitCode> {
    match cmd {
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
