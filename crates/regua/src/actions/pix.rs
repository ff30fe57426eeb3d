//! PIX payments a PSP tells of by webhook (the Banco Central's Pix API: `{"pix": [{"endToEndId",
//! "txid", "valor", "horario", …}]}`): each recorded once per end-to-end id, the invoice its
//! txid names paid through [`super::payments`] — all of a call in one transaction.

use std::collections::HashSet;

use crate::domain::{Actor, InvoiceStatus, Money};
use crate::store::pix::PixPayment;
use crate::store::{self, Db};

/// One payment of a webhook's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPix {
    /// `endToEndId`.
    pub end_to_end_id: String,
    /// `txid` (absent for a payment to the key without one).
    pub txid: String,
    /// `valor`, in centavos.
    pub amount: Money,
    /// `horario` as sent.
    pub paid_at: String,
    /// The day it was paid, in the ISP's time zone.
    pub paid_on: jiff::civil::Date,
}

/// Parses the Pix API's `valor` ("119.90", two decimals at most) into centavos.
pub fn parse_valor(v: &str) -> Option<Money> {
    let v = v.trim();
    let (units, cents) = match v.split_once('.') {
        Some((u, c)) if (1..=2).contains(&c.len()) => (u, format!("{c:0<2}")),
        Some(_) => return None,
        None => (v, "00".to_string()),
    };
    if units.is_empty() || !units.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !cents.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = units.parse().ok()?;
    Some(Money(n.checked_mul(100)? + cents.parse::<i64>().ok()?))
}

/// Records the payments a PSP told of; each new end-to-end id is kept with what became of it:
/// `paid`, `underpaid`, `duplicate_payment` (the invoice was paid already) or `unmatched` (the
/// txid names no invoice). One already recorded is skipped (PSPs retry). The outcomes of the
/// new ones.
pub async fn receive_pix(
    db: &Db,
    psp: &str,
    payments: &[IncomingPix],
    now_ms: i64,
) -> anyhow::Result<Vec<(String, &'static str)>> {
    let actor = Actor::Psp(psp.to_string());
    let mut tx = db.begin().await?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in payments {
        if !seen.insert(p.end_to_end_id.clone())
            || store::pix::payment_known(&mut tx, &p.end_to_end_id).await?
        {
            continue;
        }
        let invoice = match crate::payment::invoice_of_txid(&p.txid) {
            Some(id) => store::invoices::get_invoice(&mut tx, id).await.ok(),
            None => None,
        };
        let outcome = match &invoice {
            None => "unmatched",
            Some(i) if i.status != InvoiceStatus::Open => "duplicate_payment",
            Some(i) => {
                let payment = super::payments::Payment {
                    paid_on: p.paid_on,
                    amount: p.amount,
                };
                super::payments::write_payments(
                    &mut tx,
                    &[super::payments::Paying {
                        id: i.id,
                        external_id: &i.external_id,
                        status_before: i.status.as_str(),
                        payment,
                    }],
                    &actor,
                    now_ms,
                )
                .await?;
                if p.amount.cents() < i.amount.cents() {
                    "underpaid"
                } else {
                    "paid"
                }
            }
        };
        store::pix::insert_payment(
            &mut tx,
            &PixPayment {
                end_to_end_id: p.end_to_end_id.clone(),
                txid: p.txid.clone(),
                amount_cents: p.amount.cents(),
                paid_at: p.paid_at.clone(),
                psp: psp.to_string(),
                invoice_id: invoice.as_ref().map(|i| i.id),
                outcome: outcome.to_string(),
            },
            now_ms,
        )
        .await?;
        out.push((p.end_to_end_id.clone(), outcome));
    }
    tx.commit().await?;
    Ok(out)
}

/// Adds a PSP whose webhooks are accepted; its secret, to give it once.
pub async fn add_psp(db: &Db, name: &str, actor: &Actor, now_ms: i64) -> anyhow::Result<String> {
    super::in_transaction(db, async |tx| {
        let token = store::pix::insert_psp(tx, name, now_ms).await?;
        super::Audit::of("pix.psp_add", format!("psp:{}", name.trim()))
            .write(tx, actor, now_ms)
            .await?;
        Ok(token)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valor_is_read_as_the_pix_api_writes_it() {
        assert_eq!(parse_valor("119.90"), Some(Money(11990)));
        assert_eq!(parse_valor("5.5"), Some(Money(550)));
        assert_eq!(parse_valor("100"), Some(Money(10000)));
        for bad in ["", "1,00", "1.234", "-1.00", ".50", "abc"] {
            assert_eq!(parse_valor(bad), None, "{bad}");
        }
    }
}
