//! What a batch of notices needs, read once when the batch starts.

use std::collections::HashMap;

use crate::delivery::{Channel, NoticeId, SmsGateway, SmtpAccount, SuspensionId};
use crate::domain::{
    BillingWallet, Contract, ContractId, Customer, CustomerId, Invoice, InvoiceId,
};
use crate::store::{self, Db, outbox::Claim};

/// Everything a batch's notices need, read in a handful of queries when the batch starts (a
/// few milliseconds before sending) rather than several per notice: the accounts, layouts,
/// wallets and company profile, and the batch's customers, invoices, contracts and open
/// invoices. A payment or an address change recorded after that is seen by the next batch.
pub(super) struct BatchCache {
    pub(super) accounts: Vec<SmtpAccount>,
    pub(super) layouts: Vec<crate::layouts::Layout>,
    pub(super) wallets: Vec<BillingWallet>,
    pub(super) company: crate::domain::CompanyProfile,
    pub(super) customers: HashMap<CustomerId, Customer>,
    pub(super) invoices: HashMap<InvoiceId, Invoice>,
    pub(super) contracts: HashMap<ContractId, Contract>,
    pub(super) open: HashMap<CustomerId, Vec<Invoice>>,
    /// The invoices of notices that carry several (the generation message).
    pub(super) groups: HashMap<NoticeId, Vec<InvoiceId>>,
    /// The portal access links' tokens still usable, by notice.
    pub(super) access_tokens: HashMap<i64, String>,
    pub(super) gateways: Vec<SmsGateway>,
    pub(super) push: Option<store::channels::PushConfig>,
    /// The app devices of the push notices' customers, by document (digits).
    pub(super) devices: HashMap<String, Vec<String>>,
    pub(super) suspensions: HashMap<SuspensionId, store::channels::Suspension>,
    /// The suppressed addresses among the batch's e-mail recipients (docs/bounces.md).
    pub(super) suppressed: HashMap<String, store::bounces::Suppression>,
    /// WhatsApp's accounts, template mappings and marked numbers (read only for batches
    /// with WhatsApp notices).
    pub(super) whatsapp: super::channels::whatsapp::WhatsappCache,
    /// The suspension clock's policy, for debt and termination notices' dates.
    pub(super) debt_policy: Option<crate::domain::debt::DebtPolicy>,
    /// The billing methods' own policies, which override it for their contracts.
    pub(super) debt_method_policies:
        HashMap<crate::domain::BillingMethodId, crate::domain::debt::DebtPolicy>,
}

impl BatchCache {
    /// Reads what the claimed notices need.
    pub(super) async fn load(
        db: &Db,
        claims: &[&Claim],
        now_ms: i64,
    ) -> anyhow::Result<BatchCache> {
        let mut conn = db.pool.acquire().await?;
        let customer_ids: Vec<CustomerId> =
            claims.iter().filter_map(|c| c.notice.customer_id).collect();
        let notice_ids: Vec<_> = claims.iter().map(|c| c.notice.id).collect();
        let groups = store::dunning::notice_invoices(&mut conn, &notice_ids).await?;
        let mut invoice_ids: Vec<InvoiceId> =
            claims.iter().filter_map(|c| c.notice.invoice_id).collect();
        invoice_ids.extend(groups.values().flatten().copied());
        invoice_ids.sort();
        invoice_ids.dedup();
        let invoices = store::invoices::get_invoices(&mut conn, &invoice_ids).await?;
        let mut contract_ids: Vec<ContractId> = invoices.iter().map(|i| i.contract_id).collect();
        contract_ids.extend(claims.iter().filter_map(|c| c.notice.contract_id));
        contract_ids.sort();
        contract_ids.dedup();
        let customers: HashMap<CustomerId, Customer> =
            store::parties::get_customers(&mut conn, &customer_ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
        let mut devices = HashMap::new();
        for c in claims.iter().filter(|c| c.notice.channel == Channel::Push) {
            if let Some(customer) = c.notice.customer_id.and_then(|id| customers.get(&id)) {
                let doc = customer.document.digits().to_string();
                if let std::collections::hash_map::Entry::Vacant(e) = devices.entry(doc) {
                    let tokens = store::subscribers::devices_of(&mut conn, e.key()).await?;
                    e.insert(tokens);
                }
            }
        }
        let suspension_ids: Vec<SuspensionId> = claims
            .iter()
            .filter_map(|c| c.notice.suspension_id)
            .collect();
        let suspensions = store::channels::get_suspensions(&mut conn, &suspension_ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut open: HashMap<CustomerId, Vec<Invoice>> = HashMap::new();
        for inv in
            store::invoices::list_open_invoices_of_customers(&mut conn, &customer_ids).await?
        {
            open.entry(inv.customer_id).or_default().push(inv);
        }
        // Where each e-mail would go now: the customer's address on file, else the notice's.
        let recipients: Vec<String> = claims
            .iter()
            .filter(|c| c.notice.channel == Channel::Email)
            .map(|c| {
                c.notice
                    .customer_id
                    .and_then(|id| customers.get(&id))
                    .and_then(|cu| cu.email.as_ref())
                    .map_or_else(|| c.notice.recipient.clone(), |e| e.as_str().to_string())
                    .to_lowercase()
            })
            .collect();
        let suppressed = store::bounces::suppressions_among(&mut conn, &recipients).await?;
        let access: Vec<i64> = claims
            .iter()
            .filter(|c| c.notice.purpose == crate::layouts::Purpose::PortalAccess)
            .map(|c| c.notice.id.0)
            .collect();
        let access_tokens =
            store::subscribers::access_tokens_of_notices(&mut conn, &access, now_ms)
                .await?
                .into_iter()
                .collect();
        let whatsapp = if claims.iter().any(|c| c.notice.channel == Channel::Whatsapp) {
            let phones: Vec<String> = claims
                .iter()
                .filter(|c| c.notice.channel == Channel::Whatsapp)
                .filter_map(
                    |c| match c.notice.customer_id.and_then(|id| customers.get(&id)) {
                        Some(cu) => cu.mobile_phone.as_ref().map(|p| p.e164()),
                        None => Some(store::whatsapp::normalize_phone(&c.notice.recipient)),
                    },
                )
                .collect();
            super::channels::whatsapp::WhatsappCache {
                accounts: store::whatsapp::list_accounts(&mut conn).await?,
                mappings: store::whatsapp::mappings(&mut conn).await?,
                blocks: store::whatsapp::blocks_among(&mut conn, &phones).await?,
            }
        } else {
            Default::default()
        };
        let debt_notices = claims.iter().any(|c| {
            matches!(
                c.notice.purpose,
                crate::layouts::Purpose::DebtNotice | crate::layouts::Purpose::TerminationNotice
            )
        });
        let debt_policy = if debt_notices {
            Some(store::settings::debt_policy(&mut conn).await?.1)
        } else {
            None
        };
        let debt_method_policies = if debt_notices {
            store::debt::method_policies(&mut conn).await?
        } else {
            HashMap::new()
        };
        Ok(BatchCache {
            whatsapp,
            debt_policy,
            debt_method_policies,
            suppressed,
            access_tokens,
            accounts: store::accounts::list_smtp_accounts(&mut conn).await?,
            layouts: store::layouts::list_layouts(&mut conn).await?,
            wallets: store::parties::list_wallets(&mut conn).await?,
            company: store::parties::company_profile(&mut conn).await?,
            // Two reads the e-mail batches of a morning run do not need.
            gateways: if claims.iter().any(|c| c.notice.channel == Channel::Sms) {
                store::channels::list_sms_gateways(&mut conn).await?
            } else {
                Vec::new()
            },
            push: if claims.iter().any(|c| c.notice.channel == Channel::Push) {
                store::channels::push_config(&mut conn).await?
            } else {
                None
            },
            devices,
            suspensions,
            customers,
            contracts: store::parties::get_contracts(&mut conn, &contract_ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            invoices: invoices.into_iter().map(|i| (i.id, i)).collect(),
            open,
            groups,
        })
    }
}
