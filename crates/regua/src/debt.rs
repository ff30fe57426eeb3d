//! The suspension clock, run once a day (docs/debt.md): for every contract in debt or on the
//! clock, reads the evidence (its oldest invoice past due, when its notices were actually sent),
//! asks `domain::debt::step` what to do, queues the debt and termination notices by the
//! configured channels, and records each transition with its reason. `regua debt run
//! --dry-run` shows what the next run would do without doing it. The network's (or the
//! operator's) confirmations move the rest (`confirm`).

use std::collections::HashMap;

use anyhow::Context as _;
use jiff::civil::Date;

use crate::delivery::{Channel, NewNotice, NoticeKey, NoticeStatus};
use crate::domain::debt::{DebtAction, DebtEvidence, DebtRecord, DebtState, step};
use crate::domain::{Clock, ContractId, Purpose};
use crate::store::{self, Db, debt::DebtRow};

/// One contract's move in a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DebtMove {
    /// The contract's id as the ERP numbers it.
    pub contract: String,
    /// From.
    pub from: &'static str,
    /// To (the same for a notice queued without a transition).
    pub to: &'static str,
    /// What happens: `debt_notice`, `termination_notice` or the transition.
    pub what: String,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DebtReport {
    /// The day.
    pub date: String,
    /// Nothing written.
    pub dry_run: bool,
    /// The clock is on (`debt_clock`).
    pub enabled: bool,
    /// Why it did not run (an unlawful policy, no financial account).
    pub error: Option<String>,
    /// Every move, by contract.
    pub moves: Vec<DebtMove>,
    /// Contracts on the clock after the run, per state.
    pub states: Vec<(String, i64)>,
}

fn blank(contract: ContractId) -> DebtRow {
    DebtRow {
        contract,
        record: DebtRecord::regular(),
        episode: 1,
        notice_id: None,
        termination_notice_id: None,
        restore_due_at: None,
    }
}

/// A notice's state as evidence: (pending, sent on).
async fn notice_evidence(
    conn: &mut sqlx::AnyConnection,
    clock: &Clock,
    id: Option<crate::delivery::NoticeId>,
) -> anyhow::Result<(bool, Option<Date>)> {
    let Some(id) = id else {
        return Ok((false, None));
    };
    let n = store::outbox::get_notice(conn, id).await?;
    Ok(match n.status {
        NoticeStatus::Sent => (
            false,
            n.sent_at.map(|ms| clock.date_of_millis(ms)).transpose()?,
        ),
        NoticeStatus::Queued | NoticeStatus::Sending | NoticeStatus::Retrying => (true, None),
        // Dead or skipped: it started no clock; an operator's requeue (the log) sends it again.
        NoticeStatus::Dead | NoticeStatus::Skipped => (true, None),
    })
}

/// Runs the clock for `today`.
pub async fn run_day(
    db: &Db,
    clock: &Clock,
    today: Date,
    dry_run: bool,
    actor: &str,
) -> anyhow::Result<DebtReport> {
    let mut report = DebtReport {
        date: today.to_string(),
        dry_run,
        ..DebtReport::default()
    };
    let mut conn = db.pool.acquire().await?;
    let (on, policy) = store::settings::debt_policy(&mut conn).await?;
    report.enabled = on;
    if !on {
        return Ok(report);
    }
    if let Err((key, why)) = policy.check() {
        report.error = Some(format!("{key}: {why}"));
        return Ok(report);
    }
    let Some(account) = store::accounts::financial_account(&mut conn).await? else {
        report.error = Some(
            "nenhuma conta de e-mail nos parâmetros financeiros: as notificações não podem ser registradas".into(),
        );
        return Ok(report);
    };
    let method_policies = store::debt::method_policies(&mut conn).await?;
    let overdue = store::debt::oldest_overdue(&mut conn, today).await?;
    let rows = store::debt::rows(&mut conn).await?;
    let mut contracts: Vec<ContractId> = overdue.keys().copied().collect();
    contracts.extend(rows.keys().copied());
    contracts.sort();
    contracts.dedup();
    let details: HashMap<ContractId, crate::domain::Contract> =
        store::parties::get_contracts(&mut conn, &contracts)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let channels = Channel::parse_list(
        &store::settings::setting_or_default(
            &mut conn,
            store::settings::setting_spec(store::settings::SETTING_DEBT_CHANNELS)
                .expect("a known setting"),
        )
        .await?,
    )
    .map_err(anyhow::Error::msg)?;
    let gateway = store::channels::list_sms_gateways(&mut conn)
        .await?
        .into_iter()
        .find(|g| g.active)
        .map(|g| g.id);
    let whatsapp = store::whatsapp::list_accounts(&mut conn)
        .await?
        .iter()
        .any(|a| a.active);
    drop(conn);
    for contract in contracts {
        let Some(k) = details.get(&contract) else {
            continue;
        };
        let mut row = rows
            .get(&contract)
            .cloned()
            .unwrap_or_else(|| blank(contract));
        let mut conn = db.pool.acquire().await?;
        let (notice_pending, notice_sent_on) =
            notice_evidence(&mut conn, clock, row.notice_id).await?;
        let (termination_notice_pending, termination_notice_sent_on) =
            notice_evidence(&mut conn, clock, row.termination_notice_id).await?;
        drop(conn);
        let evidence = DebtEvidence {
            oldest_open_due: overdue.get(&contract).copied(),
            notice_pending,
            notice_sent_on,
            termination_notice_pending,
            termination_notice_sent_on,
        };
        // The contract's billing method may have its own policy.
        let policy = method_policies
            .get(&k.billing_method_id)
            .copied()
            .unwrap_or(policy);
        let actions = step(&row.record, &evidence, &policy, today);
        if actions.is_empty() {
            continue;
        }
        let from = row.record.state;
        let mut tx = if dry_run {
            None
        } else {
            Some(db.begin().await?)
        };
        for action in actions {
            let (what, detail) = match action {
                DebtAction::SendDebtNotice | DebtAction::SendTerminationNotice => {
                    let (purpose, kind) = if action == DebtAction::SendDebtNotice {
                        (Purpose::DebtNotice, "notice")
                    } else {
                        (Purpose::TerminationNotice, "termination")
                    };
                    if let Some(tx) = tx.as_mut() {
                        let id = queue_notice(
                            tx,
                            k,
                            &row,
                            purpose,
                            kind,
                            &channels,
                            gateway,
                            whatsapp,
                            &account,
                            actor,
                            clock.now_millis(),
                        )
                        .await?;
                        match purpose {
                            Purpose::DebtNotice => row.notice_id = id,
                            _ => row.termination_notice_id = id,
                        }
                    }
                    let what = if kind == "notice" {
                        "debt_notice"
                    } else {
                        "termination_notice"
                    };
                    (what.to_string(), String::new())
                }
                DebtAction::MoveTo(next) => {
                    let detail = match next {
                        DebtState::Notified => format!(
                            "notificação de débito enviada em {}",
                            evidence
                                .notice_sent_on
                                .map(crate::domain::format_date)
                                .unwrap_or_default()
                        ),
                        DebtState::SuspensionDue if row.record.trust_until.is_some() => format!(
                            "desbloqueio de confiança terminou em {} sem pagamento",
                            row.record
                                .trust_until
                                .map(crate::domain::format_date)
                                .unwrap_or_default()
                        ),
                        DebtState::SuspensionDue => format!(
                            "{} dias desde a notificação de {}",
                            policy.suspension_after_notice_days,
                            row.record
                                .notice_sent_on
                                .map(crate::domain::format_date)
                                .unwrap_or_default()
                        ),
                        DebtState::TerminationNotified => "aviso de rescisão enviado".to_string(),
                        DebtState::TerminationDue => format!(
                            "suspenso desde {} e aviso de rescisão de {}",
                            row.record
                                .suspended_on
                                .map(crate::domain::format_date)
                                .unwrap_or_default(),
                            row.record
                                .termination_notice_sent_on
                                .map(crate::domain::format_date)
                                .unwrap_or_default()
                        ),
                        DebtState::RestoreDue => "débito pago: restabelecer o serviço".into(),
                        DebtState::Regular => "débito pago".into(),
                        _ => String::new(),
                    };
                    match next {
                        DebtState::Notified => row.record.notice_sent_on = evidence.notice_sent_on,
                        DebtState::TerminationNotified => {
                            row.record.termination_notice_sent_on =
                                evidence.termination_notice_sent_on;
                        }
                        DebtState::RestoreDue => row.restore_due_at = Some(clock.now_millis()),
                        DebtState::SuspensionDue => row.record.trust_until = None,
                        _ => {}
                    }
                    if next == DebtState::Regular {
                        row = DebtRow {
                            episode: row.episode + 1,
                            ..blank(contract)
                        };
                    } else {
                        row.record.state = next;
                    }
                    (next.as_str().to_string(), detail)
                }
            };
            report.moves.push(DebtMove {
                contract: k.external_id.clone(),
                from: from.as_str(),
                to: row.record.state.as_str(),
                what,
            });
            if let Some(tx) = tx.as_mut() {
                store::debt::write(tx, &row, from, &detail, actor, clock.now_millis()).await?;
            }
        }
        if let Some(tx) = tx {
            tx.commit().await.context("cannot record the debt clock")?;
        }
    }
    let mut conn = db.pool.acquire().await?;
    report.states = store::debt::counts(&mut conn).await?;
    Ok(report)
}

/// Queues a debt or termination notice of the contract's episode by the first configured channel
/// that reaches its customer (the next ones as fallback). The notice carries no invoice: it is
/// about the contract's whole debt (`aviso.*`, filled when it is sent).
#[allow(clippy::too_many_arguments)]
async fn queue_notice(
    tx: &mut sqlx::AnyConnection,
    k: &crate::domain::Contract,
    row: &DebtRow,
    purpose: Purpose,
    kind: &str,
    channels: &[Channel],
    gateway: Option<crate::delivery::GatewayId>,
    whatsapp: bool,
    account: &crate::delivery::SmtpAccount,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<Option<crate::delivery::NoticeId>> {
    let customer = store::parties::get_customer(tx, k.customer_id).await?;
    let layout = store::layouts::layout_for_purpose(tx, purpose)
        .await?
        .with_context(|| format!("no {purpose} layout (run regua migrate)"))?;
    let reaches = |c: &Channel| match c {
        Channel::Email => customer.email.is_some(),
        Channel::Sms => gateway.is_some() && customer.mobile_phone.is_some(),
        Channel::Whatsapp => whatsapp && customer.mobile_phone.is_some(),
        Channel::Push => false,
    };
    let usable: Vec<Channel> = channels.iter().copied().filter(reaches).collect();
    let Some((&channel, fallback)) = usable.split_first() else {
        tracing::warn!(contract = %k.external_id, "debt notice not queued: no channel reaches the customer");
        return Ok(None);
    };
    let recipient = match channel {
        Channel::Email => customer.email_or_empty(),
        _ => customer
            .mobile_phone
            .as_ref()
            .map(|p| format!("+{}", p.e164()))
            .unwrap_or_default(),
    };
    let n = NewNotice {
        account_id: Some(account.id),
        gateway_id: gateway,
        fallback: fallback.to_vec(),
        recipient,
        customer_id: Some(customer.id),
        contract_id: Some(k.id),
        ..NewNotice::new(
            NoticeKey::Debt {
                contract: k.id,
                episode: row.episode,
                kind: kind.into(),
            },
            channel,
            purpose,
            layout.id,
            actor,
        )
    };
    Ok(
        match store::outbox::enqueue_notice(tx, &n, &account.from_address, now_ms).await? {
            crate::delivery::Enqueued::New(id) | crate::delivery::Enqueued::Exists(id, _) => {
                Some(id)
            }
        },
    )
}

/// What the network (or the operator) confirms for a contract: `suspended`, `active` or
/// `terminated`. Recorded on its timeline; refused (pt-BR reason) when its state does not expect
/// it.
pub async fn confirm(
    db: &Db,
    clock: &Clock,
    contract: &str,
    network: &str,
    actor: &str,
) -> anyhow::Result<Result<DebtState, String>> {
    let mut tx = db.begin().await?;
    let Some(k) = store::parties::find_contract_by_external_id(&mut tx, contract).await? else {
        return Ok(Err(format!("contrato {contract:?} não encontrado")));
    };
    let mut row = store::debt::get(&mut tx, k.id)
        .await?
        .unwrap_or_else(|| blank(k.id));
    let from = row.record.state;
    let next = match crate::domain::debt::confirm(from, network) {
        Ok(n) => n,
        Err(why) => return Ok(Err(why)),
    };
    let today = clock.today();
    if next == DebtState::Suspended {
        row.record.suspended_on = Some(today);
    }
    // Back in service on trust, the episode goes on (suspension is due again when the trust
    // ends unpaid); otherwise a confirmed restoration ends it.
    let on_trust = row.record.trust_until.is_some_and(|u| u >= today);
    if next == DebtState::Regular && !on_trust {
        row = DebtRow {
            episode: row.episode + 1,
            ..blank(k.id)
        };
    } else {
        row.record.state = next;
    }
    let detail = match network {
        "suspended" => "a rede confirmou a suspensão",
        "active" => "a rede confirmou o serviço ativo",
        _ => "rescisão confirmada",
    };
    store::debt::write(&mut tx, &row, from, detail, actor, clock.now_millis()).await?;
    tx.commit().await?;
    Ok(Ok(next))
}

/// What a trust unlock request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustOutcome {
    /// Granted: service back until this day (the network is told, `contract.restore_due`).
    Granted(Date),
    /// Refused, with the reason in Portuguese.
    Refused(String),
}

/// A subscriber's trust unlock request for `contract` ("desbloqueio de confiança"): checked
/// against the ISP's rules (docs/debt.md); granted, the contract moves to `restore_due` with
/// the trust's last day, `trust_unlock.requested` and `contract.restore_due` are emitted, and
/// the grant is audited — all in one transaction.
pub async fn trust_unlock(
    db: &Db,
    clock: &Clock,
    contract: ContractId,
    actor: &crate::domain::Actor,
) -> anyhow::Result<TrustOutcome> {
    let today = clock.today();
    let now = clock.now_millis();
    let mut tx = db.begin().await?;
    let policy = store::settings::trust_policy(&mut tx).await?;
    let Some(mut row) = store::debt::get(&mut tx, contract).await? else {
        return Ok(TrustOutcome::Refused(
            "O desbloqueio de confiança é para serviços suspensos por falta de pagamento.".into(),
        ));
    };
    let last = store::debt::last_trust_unlock(&mut tx, contract).await?;
    let overdue = store::debt::overdue_invoices(&mut tx, contract, today)
        .await?
        .len();
    let until = match crate::domain::debt::trust_unlock(&row.record, &policy, last, overdue, today)
    {
        Ok(u) => u,
        Err(why) => return Ok(TrustOutcome::Refused(why)),
    };
    let k = store::parties::get_contract(&mut tx, contract).await?;
    let from = row.record.state;
    row.record.state = DebtState::RestoreDue;
    row.record.trust_until = Some(until);
    row.restore_due_at = Some(now);
    store::debt::insert_trust_unlock(&mut tx, contract, today, until, &actor.to_string(), now)
        .await?;
    store::debt::write(
        &mut tx,
        &row,
        from,
        &format!(
            "desbloqueio de confiança até {}",
            crate::domain::format_date(until)
        ),
        &actor.to_string(),
        now,
    )
    .await?;
    let customer = store::parties::get_customer(&mut tx, k.customer_id).await?;
    store::webhooks::emit(
        &mut tx,
        "trust_unlock.requested",
        &serde_json::json!({
            "contract": k.external_id, "customer": customer.external_id,
            "until": until.to_string(),
        }),
        now,
    )
    .await?;
    store::audit::record(
        &mut tx,
        &actor.to_string(),
        "contract.trust_unlock",
        &format!("contract:{}", k.external_id),
        None,
        Some(&until.to_string()),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(TrustOutcome::Granted(until))
}

/// Sets (or with `None` removes) a billing method's own suspension policy, checked against the
/// law's floors first (the refusal names the setting and the rule, in Portuguese); audited
/// `debt.policy`. `Ok(Err(..))` when refused or the method does not exist.
pub async fn set_method_policy(
    db: &Db,
    method: &str,
    policy: Option<&crate::domain::debt::DebtPolicy>,
    actor: &crate::domain::Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(), String>> {
    if let Some(p) = policy
        && let Err((key, why)) = p.check()
    {
        return Ok(Err(format!("{key}: {why}")));
    }
    let mut tx = db.begin().await?;
    let methods = store::parties::list_billing_methods(&mut tx).await?;
    let Some(m) = methods.iter().find(|m| m.name == method) else {
        return Ok(Err(format!(
            "forma de cobrança {method:?} não encontrada; existem: {}",
            methods
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let after = match policy {
        Some(p) => {
            store::debt::set_method_policy(&mut tx, m.id, p, now_ms).await?;
            format!("{p:?}")
        }
        None => {
            store::debt::remove_method_policy(&mut tx, m.id).await?;
            "a política do provedor".to_string()
        }
    };
    store::audit::record(
        &mut tx,
        &actor.to_string(),
        "debt.policy",
        &format!("method:{method}"),
        None,
        Some(&after),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
