//! Preparing one message: the cause re-checked right before sending (the invoice still open,
//! the suspension not withdrawn, the access link still usable), the layout's context, the
//! attachments (boleto PDF, collection letter) and the rendered words. What a channel sends
//! is decided here; how it is sent is the channel's (`super::channels`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::Notice;
use super::batch::BatchCache;
use super::policy::Failure;
use crate::domain::{Customer, Invoice, InvoiceStatus, LayoutId, Purpose, format_date};
use crate::layouts::{CompiledLayout, Layout, LayoutContext, RenderedMessage, layout_context};

/// A message ready for its channel.
pub(super) struct Message {
    /// The layout rendered for this notice.
    pub rendered: RenderedMessage,
    /// File name and bytes of each attachment (e-mail only).
    pub attachments: Vec<(String, Vec<u8>)>,
    /// The layout version rendered, recorded with the attempt.
    pub version: Option<i64>,
    /// The layout's variables, for a channel that sends them apart (WhatsApp's template
    /// parameters); `Null` for the others.
    pub context: serde_json::Value,
}

/// What preparing a notice came to.
pub(super) enum Prepared {
    /// Ready to send (boxed: a message is large next to the other outcomes).
    Ready(Box<Message>),
    /// Its cause is gone (paid, cancelled, withdrawn, expired): skipped with the reason.
    Skip(String),
    /// It can never be sent as it is (a layout or a boleto that does not render): the
    /// failure, and the layout version when one was rendered.
    Fail(Failure, Option<i64>),
}

/// The compiled layouts a worker keeps, by layout and version.
#[derive(Default)]
pub(super) struct Layouts(Mutex<HashMap<(LayoutId, i64), Arc<CompiledLayout>>>);

impl Layouts {
    fn compiled(&self, layout: &Layout) -> Result<Arc<CompiledLayout>, String> {
        let key = (layout.id, layout.version);
        if let Some(c) = self.0.lock().expect("poisoned").get(&key) {
            return Ok(c.clone());
        }
        let c =
            Arc::new(CompiledLayout::of(layout).map_err(|(part, e)| {
                format!("layout {} ({}): {e}", layout.name, part.label_pt())
            })?);
        self.0.lock().expect("poisoned").insert(key, c.clone());
        Ok(c)
    }
}

/// Prepares notice `n` (for `customer`, when it has one) from the batch's records. An error
/// is our own failure (a record missing from the batch), retried like a transient one.
pub(super) fn prepare(
    n: &Notice,
    customer: Option<&Customer>,
    cache: &BatchCache,
    layouts: &Layouts,
    today: jiff::civil::Date,
) -> anyhow::Result<Prepared> {
    let company = &cache.company;
    let mut ctx = LayoutContext {
        today: format_date(today),
        ..LayoutContext::default()
    };
    let mut attachments: Vec<(String, Vec<u8>)> = Vec::new();
    let mut letter_name = None;
    if let Some(customer) = customer {
        if let Some(invoice_id) = n.invoice_id {
            // A generation message carries several invoices: the open ones go, one PDF.
            let carried: Vec<&Invoice> = match cache.groups.get(&n.id) {
                Some(ids) => ids
                    .iter()
                    .map(|i| {
                        cache
                            .invoices
                            .get(i)
                            .with_context(|| format!("invoice {i}"))
                    })
                    .collect::<anyhow::Result<_>>()?,
                None => vec![
                    cache
                        .invoices
                        .get(&invoice_id)
                        .with_context(|| format!("invoice {invoice_id}"))?,
                ],
            };
            // A payment's confirmation is about a paid invoice; every other message about
            // an open one.
            let confirming = n.purpose == Purpose::PaymentConfirmed;
            let still_open: Vec<&Invoice> = carried
                .iter()
                .copied()
                .filter(|i| match i.status {
                    InvoiceStatus::Open => !confirming,
                    InvoiceStatus::Paid { .. } => confirming,
                    InvoiceStatus::Cancelled => false,
                })
                .collect();
            let Some(invoice) = still_open.first().copied() else {
                if confirming {
                    return Ok(Prepared::Skip(
                        "o pagamento não consta mais na fatura".into(),
                    ));
                }
                return Ok(Prepared::Skip(match &carried[..] {
                    [one] => match &one.status {
                        InvoiceStatus::Paid { paid_on, .. } => {
                            format!("fatura paga em {}", format_date(*paid_on))
                        }
                        _ => "fatura cancelada".into(),
                    },
                    _ => "faturas pagas ou canceladas".into(),
                }));
            };
            let contract = cache
                .contracts
                .get(&invoice.contract_id)
                .with_context(|| format!("contract {}", invoice.contract_id))?;
            let open = cache.open.get(&customer.id).map_or(&[][..], Vec::as_slice);
            let wallets = &cache.wallets;
            ctx = layout_context(invoice, customer, contract, open, wallets, company, today)?;
            if n.attach_boleto {
                let inputs = still_open
                    .iter()
                    .map(|inv| {
                        let wallet = wallets
                            .iter()
                            .find(|w| w.id == inv.wallet_id)
                            .context("the invoice's wallet")?;
                        Ok(crate::payment::boleto_input(inv, customer, wallet, company))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                ctx.attached_boletos = inputs.len();
                let pdf = match crate::payment::render_boletos(&inputs) {
                    Ok(pdf) => pdf,
                    // Retrying renders the same data: dead at once, with the reason.
                    Err(e) => {
                        let failure = Failure::Permanent {
                            code: None,
                            text: e.pt(),
                        };
                        return Ok(Prepared::Fail(failure, None));
                    }
                };
                let name = if cache.groups.contains_key(&n.id) {
                    crate::payment::pdf_file_name("boletos", &contract.external_id)
                } else {
                    crate::payment::pdf_file_name("boleto", &invoice.external_id)
                };
                attachments.push((name, pdf));
            }
            letter_name = n
                .attach_letter
                .then(|| crate::payment::pdf_file_name("carta-cobranca", &invoice.external_id));
        } else {
            ctx.customer.name = customer.name.clone();
            ctx.customer.document = customer.document.to_string();
            ctx.customer.email = customer.email_or_empty();
            if let Some(contract) = n.contract_id.and_then(|c| cache.contracts.get(&c)) {
                ctx.contract.number = contract.external_id.clone();
                ctx.contract.plan = contract.plan.clone();
            }
        }
    }
    if let Some(id) = n.suspension_id {
        let s = cache
            .suspensions
            .get(&id)
            .with_context(|| format!("suspension {id}"))?;
        // An ended-early suspension still tells of its end (or its withdrawal); the rest of
        // its notices are moot.
        if s.cancelled_at.is_some()
            && !matches!(
                n.purpose,
                Purpose::SuspensionEnded | Purpose::SuspensionWithdrawn
            )
        {
            return Ok(Prepared::Skip("suspensão cancelada".into()));
        }
        ctx.suspension.start = format_date(s.starts_on);
        ctx.suspension.end = format_date(s.ends_on);
        ctx.suspension.reason = s.reason.clone();
    }
    if matches!(n.purpose, Purpose::DebtNotice | Purpose::TerminationNotice)
        && let (Some(customer), Some(contract)) = (customer, n.contract_id)
    {
        // The contract's debt as it is now: paid meanwhile, the notice is moot.
        let overdue: Vec<&Invoice> = cache
            .open
            .get(&customer.id)
            .map(|v| {
                v.iter()
                    .filter(|i| i.contract_id == contract && i.due_date < today)
                    .collect()
            })
            .unwrap_or_default();
        if overdue.is_empty() {
            return Ok(Prepared::Skip("débito pago".into()));
        }
        let policy = cache
            .contracts
            .get(&contract)
            .and_then(|k| cache.debt_method_policies.get(&k.billing_method_id))
            .copied()
            .or(cache.debt_policy)
            .context("the debt policy")?;
        ctx.debt = crate::layouts::debt_notice_vars(n.purpose, &overdue, &policy, today);
    }
    if n.purpose == Purpose::PortalAccess {
        match cache.access_tokens.get(&n.id.0) {
            Some(token) => {
                ctx.portal.access_link = format!(
                    "{}/central/senha/{token}",
                    company.portal_url.trim_end_matches('/')
                );
            }
            None => return Ok(Prepared::Skip("link de acesso expirado ou já usado".into())),
        }
    }
    if customer.is_none()
        && n.purpose == Purpose::SmtpTest
        && n.channel == crate::delivery::Channel::Whatsapp
    {
        // "Realizar teste de envio" of a WhatsApp template: the layout's sample data, and a
        // one-page test PDF for a document header.
        ctx = LayoutContext {
            today: ctx.today.clone(),
            ..LayoutContext::sample()
        };
        attachments.push(("boleto-teste.pdf".into(), test_pdf()));
    }
    ctx.company.name = company.name.clone();
    ctx.company.phone = company.phone.clone();
    ctx.company.email = company.email.clone();
    ctx.company.site = company.site.clone();

    let layout = cache
        .layouts
        .iter()
        .find(|l| l.id == n.layout_id)
        .with_context(|| format!("layout {}", n.layout_id))?;
    let version = Some(layout.version);
    // A layout that does not render with this data fails for good: retrying renders the same.
    let render = |ctx: &LayoutContext| {
        layouts
            .compiled(layout)
            .and_then(|c| {
                c.render(ctx).map_err(|(part, e)| {
                    format!("layout {} ({}): {e}", layout.name, part.label_pt())
                })
            })
            .map_err(|text| Prepared::Fail(Failure::Permanent { code: None, text }, version))
    };
    let rendered = match render(&ctx) {
        Ok(r) => r,
        Err(fail) => return Ok(fail),
    };
    if let (Some(name), Some(customer)) = (letter_name, customer) {
        // The band's collection letter: the model rendered as a letter, on paper.
        let letter_ctx = crate::layouts::LayoutContext {
            letter: true,
            ..ctx.clone()
        };
        let letter = match render(&letter_ctx) {
            Ok(r) => r,
            Err(fail) => return Ok(fail),
        };
        let doc = crate::payment::letter_doc(
            company,
            customer,
            &letter_ctx,
            &letter.subject,
            &letter.text,
            today,
        );
        attachments.push((name, boleto::pdf::render_letter_pdf(&doc)));
    }
    let context = if n.channel == crate::delivery::Channel::Whatsapp {
        serde_json::to_value(&ctx).context("the layout's variables")?
    } else {
        serde_json::Value::Null
    };
    Ok(Prepared::Ready(Box::new(Message {
        rendered,
        attachments,
        version,
        context,
    })))
}

/// A one-page PDF that says it is a test: what a WhatsApp template's document header carries
/// in "realizar teste de envio".
pub(crate) fn test_pdf() -> Vec<u8> {
    let text = "BT /F1 18 Tf 72 760 Td (Regua - documento de teste) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
