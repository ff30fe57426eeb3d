//! `regua boleto codes|pdf|check`: the boleto crate from the command line.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

/// `regua boleto …`
#[derive(Debug, Subcommand)]
pub enum BoletoCmd {
    /// Print {"barcode": …, "digitable_line": …} for a boleto input object (JSON).
    Codes {
        /// JSON file with the keys of shared/vectors/boleto-input.md.
        #[arg(long)]
        input: std::path::PathBuf,
    },
    /// Write the boleto PDF (recibo do pagador + ficha de compensação; PIX QR when `pix` is set).
    Pdf {
        /// JSON file with one boleto input object.
        #[arg(long)]
        input: std::path::PathBuf,
        /// Where to write the PDF.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Validate a typed digitable line (or a scanned 44-digit barcode).
    Check {
        /// The line, with or without dots and spaces.
        line: String,
    },
}

fn read_input(path: &std::path::Path) -> anyhow::Result<boleto::BoletoInput> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a boleto input object", path.display()))
}

/// Runs a boleto subcommand.
pub fn run(cmd: BoletoCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BoletoCmd::Codes { input } => {
            let codes = read_input(&input)?
                .codes()
                .with_context(|| format!("{}", input.display()))?;
            let out = serde_json::json!({
                "barcode": codes.barcode.as_str(),
                "digitable_line": codes.digitable_line.as_str(),
            });
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        BoletoCmd::Pdf { input, output } => {
            let boleto = read_input(&input)?;
            let pdf = boleto::pdf::render_pdf(std::slice::from_ref(&boleto))
                .with_context(|| format!("{}", input.display()))?;
            std::fs::write(&output, &pdf)
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!("{} ({} bytes)", output.display(), pdf.len());
            Ok(ExitCode::SUCCESS)
        }
        BoletoCmd::Check { line } => match boleto::DigitableLine::parse_any(&line) {
            Ok(b) => {
                let due = boleto::date_from_factor(b.factor(), jiff::Zoned::now().date())
                    .map_or("sem vencimento".to_string(), crate::domain::format_date);
                println!(
                    "valid: bank {} due {} amount {}",
                    b.bank(),
                    due,
                    boleto::format_brl(b.amount_cents() as i64)
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("invalid: {e}");
                Ok(ExitCode::from(2))
            }
        },
    }
}
