//! `regua layout …`: check, preview, list, save and restore layouts from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::Global;
use crate::actions::layouts::LayoutError;
use crate::layouts::{LayoutContext, LayoutDraft, Part, Purpose, check_template, preview};
use crate::store;

/// `regua layout …`
#[derive(Debug, Subcommand)]
pub enum LayoutCmd {
    /// Check a template file: `.html`/`.htm` as an HTML body, anything else as text. Prints
    /// `FILE: linha L, coluna C: mensagem` for each problem and exits 2 when there are any.
    Check {
        /// The template file (UTF-8).
        file: PathBuf,
        /// Check it as this part instead of guessing from the extension.
        #[arg(long, value_parser = ["subject", "html", "text"])]
        part: Option<String>,
    },
    /// Render a layout with sample data, or with a real invoice; prints subject, HTML and text.
    Preview {
        /// The layout's name.
        name: String,
        /// An invoice's id or external id, to preview with real data.
        #[arg(long)]
        invoice: Option<String>,
    },
    /// List layouts: name, purpose, version.
    List,
    /// Create a layout, or save a new version of an existing one (validated first).
    Save {
        /// The layout's name.
        name: String,
        /// What it is for (invoice_generated, reminder_before_due, due_today, …); kept when
        /// omitted on an existing layout.
        #[arg(long, value_parser = parse_purpose)]
        purpose: Option<Purpose>,
        /// Subject template; kept when omitted on an existing layout.
        #[arg(long)]
        subject: Option<String>,
        /// HTML body file; kept when omitted on an existing layout.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Plain-text body file; when omitted the text is derived from the HTML.
        #[arg(long)]
        text: Option<PathBuf>,
        /// The SMS text template (kept when omitted on an existing layout; "" clears it: the
        /// SMS is then the company's name and the subject).
        #[arg(long)]
        sms: Option<String>,
    },
    /// Send a layout by WhatsApp: the approved template it goes as, and the variables of its
    /// parameters (checked against the template Meta lists; refused, with the reason, when
    /// they do not match).
    Whatsapp(super::whatsapp_cmd::LayoutWhatsappArgs),
    /// Restore a layout's built-in words ("restaurar padrão") as a new version.
    Restore {
        /// The layout's name.
        name: String,
    },
}

fn parse_purpose(s: &str) -> Result<Purpose, String> {
    s.parse()
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Runs a layout subcommand.
pub async fn run(g: &Global, cmd: LayoutCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LayoutCmd::Whatsapp(a) => super::whatsapp_cmd::layout(g, a).await,
        LayoutCmd::Check { file, part } => {
            let source = read(&file)?;
            let part = match part.as_deref() {
                Some("subject") => Part::Subject,
                Some("html") => Part::Html,
                Some(_) => Part::Text,
                None => match file.extension().and_then(|e| e.to_str()) {
                    Some("html" | "htm") => Part::Html,
                    _ => Part::Text,
                },
            };
            let problems = check_template(part, &source);
            if problems.is_empty() {
                println!("{}: ok", file.display());
                return Ok(ExitCode::SUCCESS);
            }
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            Ok(ExitCode::from(2))
        }
        LayoutCmd::Preview { name, invoice } => {
            let db = g.db().await?;
            let mut conn = db.pool.acquire().await?;
            let layout = store::layouts::find_layout(&mut conn, &name)
                .await?
                .with_context(|| format!("no layout named {name:?}"))?;
            let ctx = match invoice {
                None => LayoutContext::sample(),
                Some(key) => {
                    let inv = match key.parse::<i64>() {
                        Ok(id) => {
                            store::invoices::get_invoice(&mut conn, crate::domain::InvoiceId(id))
                                .await
                                .ok()
                        }
                        Err(_) => None,
                    };
                    let inv = match inv {
                        Some(i) => i,
                        None => store::invoices::find_invoice_by_external_id(&mut conn, &key)
                            .await?
                            .with_context(|| format!("no invoice {key:?}"))?,
                    };
                    crate::layouts::context_for_invoice(&mut conn, inv.id, g.clock()?.today())
                        .await?
                }
            };
            match preview(&layout, &ctx) {
                Ok(m) => {
                    println!("Layout: {} (versão {})", layout.name, layout.version);
                    println!("Assunto: {}", m.subject);
                    println!("----- HTML -----\n{}", m.html.trim_end());
                    println!("----- Texto -----\n{}", m.text.trim_end());
                    Ok(ExitCode::SUCCESS)
                }
                Err(msg) => {
                    eprintln!("{msg}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        LayoutCmd::List => {
            let db = g.db().await?;
            let mut conn = db.pool.acquire().await?;
            println!("name\tpurpose\tversion");
            for l in store::layouts::list_layouts(&mut conn).await? {
                println!("{}\t{}\t{}", l.name, l.purpose, l.version);
            }
            Ok(ExitCode::SUCCESS)
        }
        LayoutCmd::Save {
            name,
            purpose,
            subject,
            html,
            text,
            sms,
        } => {
            let db = g.db().await?;
            let mut conn = db.pool.acquire().await?;
            let existing = store::layouts::find_layout(&mut conn, &name).await?;
            drop(conn);
            let draft = LayoutDraft {
                name: name.clone(),
                purpose: purpose
                    .or(existing.as_ref().map(|l| l.purpose))
                    .context("--purpose is required for a new layout")?,
                subject: subject
                    .or(existing.as_ref().map(|l| l.subject.clone()))
                    .context("--subject is required for a new layout")?,
                html: match html {
                    Some(p) => read(&p)?,
                    None => existing
                        .as_ref()
                        .map(|l| l.html.clone())
                        .context("--html is required for a new layout")?,
                },
                text: text.map(|p| read(&p)).transpose()?.unwrap_or_default(),
                sms: sms
                    .or(existing.as_ref().map(|l| l.sms.clone()))
                    .unwrap_or_default(),
            };
            let now = g.clock()?.now_millis();
            match crate::actions::layouts::save_layout(
                &db,
                existing.as_ref().map(|_| name.as_str()),
                &draft,
                &super::actor(),
                now,
            )
            .await
            {
                Ok(l) => {
                    println!("layout {:?} saved (version {})", l.name, l.version);
                    if !l.sms.is_empty()
                        && let Ok(m) =
                            crate::layouts::preview(&l, &crate::layouts::LayoutContext::sample())
                    {
                        let t = crate::delivery::sms::sms_text(&m.sms);
                        println!(
                            "sms on the sample: {} characters, {} part(s){}",
                            t.units,
                            t.parts,
                            if t.parts > 1 {
                                " (more than one SMS)"
                            } else {
                                ""
                            }
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(LayoutError::Other(e)) => Err(e),
                Err(e) => {
                    eprintln!("{}", e.message_pt());
                    Ok(ExitCode::from(2))
                }
            }
        }
        LayoutCmd::Restore { name } => {
            let db = g.db().await?;
            match crate::actions::layouts::restore_default_layout(
                &db,
                &name,
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(l) => {
                    println!(
                        "layout {:?} restored to the default (version {})",
                        l.name, l.version
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(LayoutError::Other(e)) => Err(e),
                Err(e) => {
                    eprintln!("{}", e.message_pt());
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
