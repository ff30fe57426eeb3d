//! `regua invoices`, `regua wallet`, `regua method`, `regua import`: what is billed and how.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::{Global, actor};
use crate::domain::charges::{Registration, Terms};
use crate::domain::{NewWallet, WalletKind, format_date};
use crate::store;

/// `regua invoices …`
#[derive(Debug, Subcommand)]
pub enum InvoicesCmd {
    /// "Gerar financeiro do contrato": create the next N monthly invoices of a contract, or of
    /// every contract not cancelled with --all (idempotent: what exists is skipped).
    Generate {
        /// The contract's id or external id.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        contract: Option<String>,
        /// Every contract that is not cancelled, in transactions of 500 contracts.
        #[arg(long)]
        all: bool,
        /// How many months ahead.
        #[arg(long, default_value_t = 1)]
        months: u32,
    },
    /// "Enviar por e-mail agora": queue an invoice's e-mail (boleto attached) with an
    /// account's default message; `regua outbox drain` or a worker delivers it.
    Send {
        /// The invoice's id or external id.
        #[arg(long)]
        invoice: String,
        /// The e-mail account (default: the one in the financial parameters).
        #[arg(long)]
        account: Option<String>,
    },
    /// List a contract's invoices.
    List {
        /// The contract's id or external id.
        #[arg(long)]
        contract: String,
    },
}

pub(super) async fn invoices(g: &Global, cmd: InvoicesCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    match cmd {
        InvoicesCmd::Generate {
            contract: None,
            months,
            ..
        } => {
            let clock = g.clock()?;
            let mut conn = db.pool.acquire().await?;
            let total = store::parties::count_active_contracts(&mut conn).await?;
            drop(conn);
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec}")
                    .context("progress template")?
                    .progress_chars("=> "),
            );
            bar.set_message("generating");
            let report =
                crate::invoicing::generate_all(&db, months, &clock, |done| bar.set_position(done))
                    .await?;
            bar.finish_and_clear();
            println!(
                "{} contract(s): {} invoice(s) created, {} month(s) already had one; {} generation e-mail(s) queued",
                report.contracts, report.created, report.skipped_months, report.queued
            );
            if report.no_account > 0 {
                eprintln!(
                    "warning: {} contract(s) are on wallets that send e-mail on generation but no financial SMTP account is set (regua smtp default NAME); nothing was sent to them",
                    report.no_account
                );
            }
        }
        InvoicesCmd::Generate {
            contract: Some(contract),
            months,
            ..
        } => {
            let generation = crate::invoicing::generate_invoices_by(
                &db,
                &contract,
                months,
                &g.clock()?,
                Some(&actor()),
            )
            .await?;
            for inv in &generation.created {
                println!(
                    "created {}  due {}  {}  our number {}",
                    inv.external_id,
                    format_date(inv.due_date),
                    inv.amount,
                    inv.our_number
                );
            }
            for m in &generation.skipped_months {
                println!("exists  {m}");
            }
            println!(
                "{} invoice(s) created for contract {}",
                generation.created.len(),
                generation.contract.external_id
            );
            use crate::invoicing::GenerationNotice;
            match generation.notice {
                GenerationNotice::Queued(id) => {
                    println!("e-mail with the boletos queued (notice {id})")
                }
                GenerationNotice::Printed => {
                    println!("printed delivery: no e-mail is sent for these invoices")
                }
                GenerationNotice::NoAccount => eprintln!(
                    "warning: the wallet sends e-mail on generation but no financial SMTP account is set (regua smtp default NAME); nothing was sent"
                ),
                GenerationNotice::NotApplicable => {}
            }
        }
        InvoicesCmd::Send { invoice, account } => {
            let mut conn = db.pool.acquire().await?;
            let found = match store::invoices::find_invoice_by_external_id(&mut conn, &invoice)
                .await?
            {
                Some(i) => i,
                None => match invoice.parse::<i64>() {
                    Ok(id) => store::invoices::get_invoice(&mut conn, crate::domain::InvoiceId(id))
                        .await
                        .with_context(|| format!("no invoice {invoice:?}"))?,
                    Err(_) => anyhow::bail!("no invoice {invoice:?}"),
                },
            };
            drop(conn);
            let now = g.clock()?.now_millis();
            // Each "send now" is its own notice: the clock may be frozen (--today), so a random
            // suffix keeps two sends in the same millisecond apart.
            let key = |i: &crate::domain::Invoice| crate::delivery::NoticeKey::manual(i.id, now);
            use crate::actions::notices::NotSent;
            match crate::actions::notices::send_invoice_now(
                &db,
                found.id,
                account.as_deref(),
                key,
                &actor(),
                now,
            )
            .await?
            {
                Ok((_, crate::delivery::Enqueued::New(id))) => {
                    println!("notice {id} queued for invoice {}", found.external_id)
                }
                Ok((_, crate::delivery::Enqueued::Exists(id, status))) => {
                    println!("already queued/sent: notice {id} ({status})")
                }
                Err(NotSent::NoAccount) => {
                    eprintln!(
                        "no e-mail account: pass --account or set a default with `regua smtp default NAME`"
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(NotSent::NotOpen) => {
                    eprintln!(
                        "invoice {} is {}: only open invoices are sent",
                        found.external_id, found.status
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(NotSent::NotFound) => anyhow::bail!("no invoice {invoice:?}"),
            }
        }
        InvoicesCmd::List { contract } => {
            let mut conn = db.pool.acquire().await?;
            let c = store::parties::find_contract(&mut conn, &contract)
                .await?
                .with_context(|| format!("no contract {contract:?}"))?;
            for inv in store::invoices::list_invoices_of_contract(&mut conn, c.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    inv.external_id,
                    format_date(inv.due_date),
                    inv.amount,
                    inv.status,
                    inv.delivery_type.label_pt()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `regua wallet …`
#[derive(Debug, Subcommand)]
pub enum WalletCmd {
    /// Add a billing wallet.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// FEBRABAN bank code: 001, 033, 104, 237, 341, 748, 756.
        #[arg(long)]
        bank: String,
        /// Agência (digits, without check digit).
        #[arg(long)]
        agency: String,
        /// Conta (digits, optionally -digit).
        #[arg(long)]
        account: String,
        /// Carteira.
        #[arg(long)]
        wallet: String,
        /// Convênio / código do beneficiário.
        #[arg(long)]
        agreement: String,
        /// bank or gateway.
        #[arg(long, default_value = "bank", value_parser = parse_kind)]
        kind: WalletKind,
        /// E-mail the customer when the contract's invoices are generated.
        #[arg(long)]
        send_on_generate: bool,
        /// PIX key, so boletos carry a PIX QR code.
        #[arg(long)]
        pix_key: Option<String>,
        /// Registration and terms.
        #[command(flatten)]
        terms: TermsArgs,
    },
    /// Change a wallet's registration mode and terms; flags left out keep their value.
    Update {
        /// The wallet's name.
        name: String,
        /// Registration and terms.
        #[command(flatten)]
        terms: TermsArgs,
    },
    /// List billing wallets.
    List,
}

/// A wallet's registration and terms (docs/charges.md). Percentages take `2`, `2,5` or `0.5`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TermsArgs {
    /// Who registers the boletos: cnab240 or cnab400 (Régua writes the remessa) or erp (the
    /// ERP does; no remessa). Default for a new wallet: erp.
    #[arg(long, value_parser = parse_registration)]
    registration: Option<Registration>,
    /// Fine (multa) after the due date, percent of the amount; at most 2 for consumers.
    #[arg(long, value_parser = parse_percent_arg)]
    fine_percent: Option<u32>,
    /// Interest (juros de mora), percent a month, simple, pro rata per day; at most 1 for
    /// consumers.
    #[arg(long, value_parser = parse_percent_arg)]
    interest_percent: Option<u32>,
    /// Discount for paying early, percent of the amount (0 = none).
    #[arg(long, value_parser = parse_percent_arg)]
    discount_percent: Option<u32>,
    /// The discount holds until this many days before the due date.
    #[arg(long)]
    discount_days: Option<u32>,
    /// Days after the due date the bank writes the boleto off (baixa/devolução).
    #[arg(long)]
    write_off_days: Option<u32>,
    /// The wallet bills businesses only: the consumer caps do not apply. `--business-only
    /// false` turns it off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    business_only: Option<bool>,
}

impl TermsArgs {
    /// `current` with the flags given applied.
    fn apply(&self, registration: Registration, current: Terms) -> (Registration, Terms) {
        (
            self.registration.unwrap_or(registration),
            Terms {
                fine_bp: self.fine_percent.unwrap_or(current.fine_bp),
                interest_bp_month: self.interest_percent.unwrap_or(current.interest_bp_month),
                discount_bp: self.discount_percent.unwrap_or(current.discount_bp),
                discount_days: self.discount_days.unwrap_or(current.discount_days),
                write_off_days: self.write_off_days.or(current.write_off_days),
                business_only: self.business_only.unwrap_or(current.business_only),
            },
        )
    }
}

fn parse_registration(s: &str) -> Result<Registration, String> {
    s.parse()
}

fn parse_percent_arg(s: &str) -> Result<u32, String> {
    crate::domain::charges::parse_percent(s)
}

pub(super) async fn wallet(g: &Global, cmd: WalletCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        WalletCmd::Add {
            name,
            bank,
            agency,
            account,
            wallet,
            agreement,
            kind,
            send_on_generate,
            pix_key,
            terms,
        } => {
            let (registration, terms) = terms.apply(Registration::Erp, Terms::default());
            let w = NewWallet {
                name,
                bank_code: bank,
                agency,
                account,
                wallet_code: wallet,
                agreement,
                kind,
                send_on_generate,
                pix_key,
                registration,
                terms,
            };
            let id = match crate::actions::billing_setup::add_wallet(
                &db,
                &w,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => id,
                Err(crate::store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("error: {}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            };
            if send_on_generate && kind == WalletKind::Gateway {
                eprintln!("{}", crate::domain::GATEWAY_SEND_ON_GENERATE_WARNING);
            }
            println!("wallet {:?} added (id {id})", w.name);
        }
        WalletCmd::Update { name, terms } => {
            let Some(w) = store::parties::find_wallet_by_name(&mut conn, &name).await? else {
                eprintln!("error: no wallet named {name:?}");
                return Ok(ExitCode::from(2));
            };
            let (registration, new) = terms.apply(w.registration, w.terms);
            match crate::actions::billing_setup::update_wallet_terms(
                &db,
                w.id,
                registration,
                &new,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?
            {
                Ok(()) => println!(
                    "wallet {name:?}: {}",
                    crate::domain::charges::audit_text(registration, &new)
                ),
                Err(e) => {
                    eprintln!("error: --{}: {e}", e.flag());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        WalletCmd::List => {
            println!(
                "name\tbank\tagency\taccount\twallet\tagreement\tkind\tsend_on_generate\tpix_key\tregistration\tfine\tinterest_month\tdiscount\tdiscount_days\twrite_off_days\tbusiness_only"
            );
            for w in store::parties::list_wallets(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    w.name,
                    w.bank_code,
                    w.agency,
                    w.account,
                    w.wallet_code,
                    w.agreement,
                    w.kind.as_str(),
                    if w.send_on_generate { "yes" } else { "no" },
                    w.pix_key.as_deref().unwrap_or("-"),
                    w.registration.as_str(),
                    crate::domain::charges::percent(w.terms.fine_bp),
                    crate::domain::charges::percent(w.terms.interest_bp_month),
                    crate::domain::charges::percent(w.terms.discount_bp),
                    w.terms.discount_days,
                    w.terms
                        .write_off_days
                        .map_or_else(|| "-".to_string(), |d| d.to_string()),
                    if w.terms.business_only { "yes" } else { "no" },
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `regua method …`
#[derive(Debug, Subcommand)]
pub enum MethodCmd {
    /// Add a billing method issuing through a wallet.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// The wallet's name.
        #[arg(long)]
        wallet: String,
    },
    /// Turn a method's "pagamento confirmado" message on or off (off by default): when on, a
    /// payment of one of its invoices, from any source, e-mails the subscriber a confirmation.
    ConfirmPayment {
        /// The method's name.
        name: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// List billing methods.
    List,
}

pub(super) async fn method(g: &Global, cmd: MethodCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        MethodCmd::Add { name, wallet } => {
            let id = crate::actions::billing_setup::add_billing_method(
                &db,
                &name,
                &wallet,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            println!("billing method {name:?} added (id {id})");
        }
        MethodCmd::ConfirmPayment { name, state } => {
            let Some(m) = store::parties::list_billing_methods(&mut conn)
                .await?
                .into_iter()
                .find(|m| m.name == name)
            else {
                eprintln!("error: no billing method named {name:?}");
                return Ok(ExitCode::from(2));
            };
            let on = state == "on";
            crate::actions::billing_setup::set_method_confirm_payment(
                &db,
                m.id,
                on,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            println!("billing method {name:?}: payment confirmation {state}");
        }
        MethodCmd::List => {
            let wallets = store::parties::list_wallets(&mut conn).await?;
            println!("name\twallet\tconfirm_payment");
            for m in store::parties::list_billing_methods(&mut conn).await? {
                let w = wallets
                    .iter()
                    .find(|w| w.id == m.wallet_id)
                    .map_or("?", |w| w.name.as_str());
                let confirm = if m.confirm_payment { "on" } else { "off" };
                println!("{}\t{}\t{confirm}", m.name, w);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_kind(s: &str) -> Result<WalletKind, String> {
    s.parse()
}

/// `regua import KIND FILE`: all or nothing; each bad row named on stderr.
pub(super) async fn import(
    g: &Global,
    kind: crate::import::ImportKind,
    file: &std::path::Path,
    encoding: Option<crate::import::Encoding>,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let db = g.db().await?;
    match crate::import::import_csv_as(&db, kind, &bytes, encoding, &g.clock()?).await {
        Ok(r) => {
            if r.encoding != crate::import::Encoding::Utf8 {
                let how = if encoding.is_some() {
                    "as asked"
                } else {
                    "detected: not UTF-8"
                };
                eprintln!(
                    "{}: read as {} ({how})",
                    file.display(),
                    r.encoding.as_str()
                );
            }
            println!(
                "imported {}: {} created, {} updated",
                file.display(),
                r.created,
                r.updated
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::import::ImportError::BadRows(rows)) => {
            for r in &rows {
                eprintln!("{r}");
            }
            eprintln!(
                "{}: {} bad row(s); nothing was imported",
                file.display(),
                rows.len()
            );
            Ok(ExitCode::from(2))
        }
        Err(crate::import::ImportError::Other(e)) => {
            Err(e.context("import failed; nothing was imported"))
        }
    }
}
