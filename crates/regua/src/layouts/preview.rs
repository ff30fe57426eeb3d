//! Filling a layout's variables from the database for one invoice, for previews with a real
//! invoice and, in the delivery worker, for the message itself.

use anyhow::Context as _;
use jiff::civil::Date;
use sqlx::AnyConnection;

use super::variables::{
    CompanyVars, ContractVars, CustomerVars, InvoiceVars, LayoutContext, PaymentVars,
};
use super::{Layout, RenderedMessage};
use crate::domain::{
    BillingWallet, CompanyProfile, Contract, Customer, Invoice, InvoiceId, Money, format_date,
};
use crate::{payment, store};

/// The variables of one invoice.
pub fn invoice_vars(
    invoice: &Invoice,
    customer: &Customer,
    wallet: &BillingWallet,
    company: &CompanyProfile,
    today: Date,
) -> InvoiceVars {
    let input = payment::boleto_input(invoice, customer, wallet, company);
    let digitable_line = match input.codes() {
        Ok(codes) => codes.digitable_line.formatted(),
        Err(e) => {
            tracing::warn!(invoice = invoice.id.0, error = %e, "cannot compute the boleto codes");
            String::new()
        }
    };
    let days_overdue = if today > invoice.due_date {
        i64::from((today - invoice.due_date).get_days())
    } else {
        0
    };
    let due = payment::amount_due_today(invoice, wallet, today);
    let fine_once_late = wallet.terms.fine_of(invoice.amount);
    InvoiceVars {
        number: invoice.external_id.clone(),
        amount: invoice.amount.to_string(),
        amount_cents: invoice.amount.cents(),
        due_date: format_date(invoice.due_date),
        days_overdue,
        days_late: due.days_late,
        fine: fine_once_late.to_string(),
        interest_per_day: due.interest_per_day.to_string(),
        amount_due: due.total.to_string(),
        pix_code_due: payment::pix_payload_due_today(invoice, wallet, company, today)
            .unwrap_or_default(),
        digitable_line,
        pix_code: input.pix.unwrap_or_default(),
        portal_link: payment::portal_link(invoice, company),
    }
}

/// The full context of a message about `invoice`, read from the database as of `today`.
pub async fn context_for_invoice(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
    today: Date,
) -> anyhow::Result<LayoutContext> {
    let invoice = store::invoices::get_invoice(conn, invoice).await?;
    let customer = store::parties::get_customer(conn, invoice.customer_id).await?;
    let contract = store::parties::get_contract(conn, invoice.contract_id).await?;
    let company = store::parties::company_profile(conn).await?;
    let open = store::invoices::list_open_invoices_of_customer(conn, customer.id).await?;
    // Usually one wallet for all of a customer's invoices: read each once.
    let mut wallets: Vec<BillingWallet> = Vec::new();
    for inv in open.iter().chain([&invoice]) {
        if !wallets.iter().any(|w| w.id == inv.wallet_id) {
            wallets.push(
                store::parties::get_wallet(conn, inv.wallet_id)
                    .await
                    .context("the invoice's wallet")?,
            );
        }
    }
    layout_context(
        &invoice, &customer, &contract, &open, &wallets, &company, today,
    )
}

/// The context of a message about `invoice` from records already read: `open` are the
/// customer's open invoices (for `faturas_em_aberto`), `wallets` must hold every wallet they
/// and the invoice use.
pub fn layout_context(
    invoice: &Invoice,
    customer: &Customer,
    contract: &Contract,
    open: &[Invoice],
    wallets: &[BillingWallet],
    company: &CompanyProfile,
    today: Date,
) -> anyhow::Result<LayoutContext> {
    let vars = |inv: &Invoice| {
        let wallet = wallets
            .iter()
            .find(|w| w.id == inv.wallet_id)
            .with_context(|| format!("wallet {} of invoice {}", inv.wallet_id, inv.id))?;
        Ok::<_, anyhow::Error>(invoice_vars(inv, customer, wallet, company, today))
    };
    Ok(LayoutContext {
        attached_boletos: 0,
        letter: false,
        invoice: vars(invoice)?,
        open_invoices: open.iter().map(vars).collect::<anyhow::Result<_>>()?,
        open_total: Money::from_cents(open.iter().map(|i| i.amount.cents()).sum()).to_string(),
        customer: CustomerVars {
            name: customer.name.clone(),
            document: customer.document.to_string(),
            email: customer.email_or_empty(),
        },
        contract: ContractVars {
            number: contract.external_id.clone(),
            plan: contract.plan.clone(),
        },
        company: CompanyVars {
            name: company.name.clone(),
            phone: company.phone.clone(),
            email: company.email.clone(),
            site: company.site.clone(),
        },
        // The invoice's payment, when it has one: the "pagamento confirmado" message's.
        payment: match &invoice.status {
            crate::domain::InvoiceStatus::Paid { paid_on, amount } => PaymentVars {
                date: format_date(*paid_on),
                amount: amount.to_string(),
            },
            _ => PaymentVars::default(),
        },
        suspension: Default::default(),
        portal: Default::default(),
        debt: Default::default(),
        today: format_date(today),
    })
}

/// Renders a layout for preview.
pub fn preview(layout: &Layout, ctx: &LayoutContext) -> Result<RenderedMessage, String> {
    let compiled = super::CompiledLayout::of(layout)
        .map_err(|(part, e)| super::problem_from_error(part, &layout.html, &e).to_string())?;
    compiled.render(ctx).map_err(|(part, e)| {
        let source = match part {
            super::Part::Subject => &layout.subject,
            super::Part::Html => &layout.html,
            super::Part::Text => &layout.text,
            super::Part::Sms => &layout.sms,
        };
        format!(
            "{}: {}",
            part.label_pt(),
            super::problem_from_error(part, source, &e)
        )
    })
}

/// What a debt or termination notice says (`aviso.*`), from the contract's invoices past due
/// and the policy, on the day it is sent.
pub fn debt_notice_vars(
    purpose: crate::domain::Purpose,
    overdue: &[&crate::domain::Invoice],
    policy: &crate::domain::debt::DebtPolicy,
    today: Date,
) -> super::DebtNoticeVars {
    let total: i64 = overdue.iter().map(|i| i.amount.cents()).sum();
    let months: Vec<String> = overdue
        .iter()
        .map(|i| match &i.competence {
            Some(c) if c.len() == 7 => format!("{}/{}", &c[5..], &c[..4]),
            _ => i.due_date.strftime("%m/%Y").to_string(),
        })
        .collect();
    let mut months_unique = months.clone();
    months_unique.dedup();
    let suspension = crate::domain::debt::days_after(today, policy.suspension_after_notice_days);
    let termination = match purpose {
        crate::domain::Purpose::TerminationNotice => {
            crate::domain::debt::days_after(today, policy.termination_after_notice_days)
        }
        _ => crate::domain::debt::days_after(
            suspension,
            policy.termination_notice_after_suspension_days + policy.termination_after_notice_days,
        ),
    };
    super::DebtNoticeVars {
        reason: "falta de pagamento das faturas vencidas".into(),
        total: crate::domain::Money::from_cents(total).to_string(),
        months: months_unique.join(", "),
        suspension_date: crate::domain::format_date(suspension),
        termination_date: crate::domain::format_date(termination),
        rules: format!(
            "o serviço pode ser suspenso {} dias após esta notificação, se o débito não for pago; após {} dias de suspensão, o contrato pode ser rescindido.",
            policy.suspension_after_notice_days,
            policy.termination_notice_after_suspension_days + policy.termination_after_notice_days
        ),
        credit_bureaus: "Após a rescisão do contrato, o débito poderá ser registrado em sistemas de proteção ao crédito.".into(),
        restore_within: format!("até {} horas", policy.restore_within_hours),
    }
}
