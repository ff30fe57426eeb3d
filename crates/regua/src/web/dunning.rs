//! Configurações › Régua de cobrança: the billing methods' send rules, the overdue bands and
//! the routines. Needs the dunning permission; every change is in the audit trail.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::dunning::{RuleKind, WEEKDAYS_PT, weekdays_pt};
use crate::layouts::Purpose;
use crate::store::{self, parties::ConfigError};

type Errors = BTreeMap<&'static str, String>;

/// A rule kind's name on screen.
pub fn kind_pt(k: RuleKind) -> &'static str {
    match k {
        RuleKind::BeforeDue => "Antes do vencimento",
        RuleKind::OnDue => "No vencimento",
        RuleKind::AfterDue => "Após o vencimento",
    }
}

/// A rule in one phrase ("3 dia(s) antes do vencimento", "no vencimento").
pub fn rule_label(k: RuleKind, days: u16) -> String {
    match k {
        RuleKind::OnDue => "No vencimento".into(),
        RuleKind::BeforeDue => format!("{days} dia(s) antes do vencimento"),
        RuleKind::AfterDue => format!("{days} dia(s) após o vencimento"),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct RuleForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    layout: String,
    #[serde(flatten)]
    channels: ChannelFields,
    /// "Simular": replay the last 30 days with this rule instead of saving it.
    #[serde(default, skip_serializing)]
    simular: String,
}

/// The channel selects of the rule and band forms: up to three channels in order, and a mode.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct ChannelFields {
    #[serde(default)]
    channel1: String,
    #[serde(default)]
    channel2: String,
    #[serde(default)]
    channel3: String,
    #[serde(default)]
    mode: String,
}

impl ChannelFields {
    /// The plan, or the reason in Portuguese. Nothing chosen: e-mail only.
    fn plan(&self) -> Result<crate::domain::rules::ChannelPlan, String> {
        let chosen: Vec<&str> = [&self.channel1, &self.channel2, &self.channel3]
            .into_iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        let list = if chosen.is_empty() {
            "email".to_string()
        } else {
            chosen.join(",")
        };
        let mode = if self.mode.trim().is_empty() {
            "first"
        } else {
            self.mode.trim()
        };
        crate::domain::rules::ChannelPlan::parse(&list, mode).map_err(|e| {
            if e.contains("twice") {
                "Um canal aparece duas vezes.".to_string()
            } else {
                "Escolha os canais entre e-mail, SMS e push.".to_string()
            }
        })
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct BandForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// The generation type: `email` or `email_and_letter`.
    #[serde(default)]
    generation: String,
    /// The band's model (layout), by name; empty for the default.
    #[serde(default)]
    layout: String,
    #[serde(flatten)]
    channels: ChannelFields,
    /// "Simular": replay the last 30 days with this band instead of saving it.
    #[serde(default, skip_serializing)]
    simular: String,
}

/// The page with a what-if's result, the form kept as typed (nothing saved).
async fn page_simulated(
    state: &AppState,
    session: &Session,
    rule: &RuleForm,
    band: &BandForm,
    change: crate::dunning::what_if::Change,
    label: String,
) -> Response {
    match crate::dunning::what_if::what_if(&state.db, &state.clock, &change, 30).await {
        Ok(w) => {
            page_with(
                state,
                session,
                StatusCode::OK,
                (rule, band, &RoutineForm::default()),
                &Errors::new(),
                Some(what_if_context(&w, label)),
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// The what-if as the page shows it: the days with a change, per channel, and the totals.
fn what_if_context(w: &crate::dunning::what_if::WhatIf, label: String) -> minijinja::Value {
    let totals = w.totals();
    let channel_pt = |c: &str| match c {
        "email" => "e-mail",
        "sms" => "SMS",
        "push" => "push",
        "whatsapp" => "WhatsApp",
        _ => "outro",
    };
    let mut rows = Vec::new();
    for d in &w.days {
        let over = d.over(&w.capacity);
        for c in totals.keys() {
            let delta = d.delta(c);
            if delta == 0 {
                continue;
            }
            rows.push(minijinja::context! {
                day => crate::domain::format_date(d.day),
                channel => channel_pt(c),
                before => d.before.get(c).copied().unwrap_or(0),
                after => d.after.get(c).copied().unwrap_or(0),
                delta => format!("{delta:+}"),
                recorded => d.recorded.get(c).copied().unwrap_or(0),
                capacity => w.capacity.get(c).copied().flatten().map_or_else(|| "sem limite".to_string(), |v| v.to_string()),
                over => over.contains(c),
            });
        }
    }
    let totals: Vec<_> = totals
        .iter()
        .map(|(c, delta)| {
            minijinja::context! {
                channel => channel_pt(c),
                delta => format!("{delta:+}"),
                over_days => w.days.iter().filter(|d| d.over(&w.capacity).contains(c)).count(),
            }
        })
        .collect();
    minijinja::context! {
        label,
        from => w.days.first().map(|d| crate::domain::format_date(d.day)),
        to => w.days.last().map(|d| crate::domain::format_date(d.day)),
        rows,
        totals,
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    rule: &RuleForm,
    band: &BandForm,
    errors: &Errors,
) -> Response {
    page_with(
        state,
        session,
        status,
        (rule, band, &RoutineForm::default()),
        errors,
        None,
    )
    .await
}

async fn page_with(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    (rule, band, routine): (&RuleForm, &BandForm, &RoutineForm),
    errors: &Errors,
    what_if: Option<minijinja::Value>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let layouts = store::layouts::list_layouts(&mut conn).await?;
        let layout_name = |id| {
            layouts
                .iter()
                .find(|l| l.id == id)
                .map_or("?".to_string(), |l| l.name.clone())
        };
        let rules = store::rules::list_send_rules(&mut conn).await?;
        let methods: Vec<_> = store::parties::list_billing_methods(&mut conn)
            .await?
            .into_iter()
            .map(|m| {
                let rules: Vec<_> = rules
                    .iter()
                    .filter(|r| r.method == m.id)
                    .map(|r| {
                        minijinja::context! {
                            id => r.id.0, kind => kind_pt(r.kind), days => r.days, layout => layout_name(r.layout),
                            channels => r.channels.label_pt(),
                        }
                    })
                    .collect();
                minijinja::context! { name => m.name, rules }
            })
            .collect();
        let bands: Vec<_> = store::dunning::list_bands(&mut conn)
            .await?
            .into_iter()
            .map(|b| {
                minijinja::context! {
                    id => b.id.0, from => b.from_days, to => b.to_days,
                    generation => if b.letter { "E-mail e carta (revisão antes do envio)" } else { "E-mail" },
                    layout => layout_name(b.layout),
                    channels => b.channels.label_pt(),
                }
            })
            .collect();
        let routines: Vec<_> = store::dunning::list_routines(&mut conn)
            .await?
            .into_iter()
            .map(|r| {
                minijinja::context! {
                    id => r.id, name => r.name, weekdays => weekdays_pt(&r.weekdays),
                    time => r.time.strftime("%H:%M").to_string(),
                    holidays => if r.run_on_holidays { "roda" } else { "não roda" },
                }
            })
            .collect();
        let kinds: Vec<_> = [RuleKind::BeforeDue, RuleKind::OnDue, RuleKind::AfterDue]
            .iter()
            .map(|k| (k.as_str(), kind_pt(*k)))
            .collect();
        // Each rule kind offers only the layouts of its purpose (the server refuses the others).
        let of = |p: Purpose| layouts.iter().filter(|l| l.purpose == p).map(|l| l.name.clone()).collect::<Vec<_>>();
        let rule_layouts: Vec<_> = [RuleKind::BeforeDue, RuleKind::OnDue, RuleKind::AfterDue]
            .iter()
            .map(|k| minijinja::context! { kind => k.as_str(), label => kind_pt(*k), layouts => of(k.default_purpose()) })
            .collect();
        let band_layouts = of(Purpose::OverdueBand);
        let checked: Vec<&str> = if routine.weekdays_checked().is_empty() {
            vec!["seg", "ter", "qua", "qui", "sex"]
        } else {
            routine.weekdays_checked()
        };
        let mut resp = state.render(
            "regua.html",
            minijinja::context! {
                title => "Régua de cobrança",
                methods, bands, routines, kinds, rule_layouts, band_layouts,
                weekdays => WEEKDAYS_PT.to_vec(), checked,
                form => minijinja::Value::from(minijinja::value::Serde(rule)),
                band => minijinja::Value::from(minijinja::value::Serde(band)),
                routine => minijinja::Value::from(minijinja::value::Serde(routine)),
                errors,
                what_if,
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

pub(super) async fn show(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, None) {
        return r;
    }
    page(
        &state,
        &session,
        StatusCode::OK,
        &RuleForm::default(),
        &BandForm::default(),
        &Errors::new(),
    )
    .await
}

pub(super) async fn add_rule(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<RuleForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let mut errors = Errors::new();
    let kind = form.kind.parse::<RuleKind>().ok();
    let days: Option<u16> = match (kind, form.days.trim()) {
        (Some(RuleKind::OnDue), "" | "0") => Some(0),
        (Some(RuleKind::OnDue), _) => {
            errors.insert("days", "No vencimento, os dias são 0.".into());
            None
        }
        (_, d) => match d.parse::<u16>() {
            Ok(n) if (1..=365).contains(&n) => Some(n),
            _ => {
                errors.insert(
                    "days",
                    "Antes ou após o vencimento: de 1 a 365 dias.".into(),
                );
                None
            }
        },
    };
    let plan = match form.channels.plan() {
        Ok(p) => Some(p),
        Err(msg) => {
            errors.insert("channels", msg);
            None
        }
    };
    let (Some(kind), Some(days), Some(plan)) = (kind, days, plan) else {
        if errors.is_empty() {
            errors.insert("days", "Escolha quando a regra dispara.".into());
        }
        return page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &BandForm::default(),
            &errors,
        )
        .await;
    };
    if !form.simular.is_empty() {
        let method = {
            let mut conn = match state.db.pool.acquire().await {
                Ok(c) => c,
                Err(e) => return internal(e.into()),
            };
            match store::analytics::id_by_name(&mut conn, "billing_methods", &form.method).await {
                Ok(m) => m,
                Err(e) => return internal(e),
            }
        };
        let Some(method) = method else {
            let errors = Errors::from([(
                "days",
                format!("Forma de cobrança não encontrada: {}", form.method),
            )]);
            return page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &BandForm::default(),
                &errors,
            )
            .await;
        };
        let label = format!(
            "regra \"{}\"{} ({}), por {}",
            kind_pt(kind).to_lowercase(),
            if days > 0 {
                format!(" de {days} dia(s)")
            } else {
                String::new()
            },
            form.method,
            plan.label_pt()
        );
        let rule = crate::domain::rules::SendRule {
            id: crate::domain::rules::RuleId(-1),
            method: crate::domain::BillingMethodId(method),
            kind,
            days,
            layout: crate::domain::LayoutId(0),
            channels: plan,
        };
        return page_simulated(
            &state,
            &session,
            &form,
            &BandForm::default(),
            crate::dunning::what_if::Change::AddRule(rule),
            label,
        )
        .await;
    }
    let layout = Some(form.layout.trim()).filter(|l| !l.is_empty());
    let now = state.clock.now_millis();
    let result: anyhow::Result<Option<String>> = match crate::actions::dunning::add_rule(
        &state.db,
        &form.method,
        kind,
        days,
        layout,
        &plan,
        &session.actor(),
        now,
    )
    .await
    {
        Ok(_) => Ok(None),
        Err(ConfigError::Invalid {
            field: "layout", ..
        }) => Ok(Some(format!(
            "O layout {} não é um modelo de \"{}\": escolha um layout desse tipo.",
            form.layout.trim(),
            kind_pt(kind).to_lowercase()
        ))),
        Err(ConfigError::Invalid { .. }) => Ok(Some(format!(
            "A forma de cobrança {} já tem uma regra \"{}\" de {days} dia(s).",
            form.method,
            kind_pt(kind).to_lowercase()
        ))),
        Err(ConfigError::Unknown { what, name, .. }) => Ok(Some(match what {
            "layout" => format!("Layout não encontrado: {name}"),
            _ => format!("Forma de cobrança não encontrada: {name}"),
        })),
        Err(ConfigError::Duplicate { .. }) => Ok(Some("Regra repetida.".into())),
        Err(ConfigError::Other(e)) => Err(e),
    };
    match result {
        Ok(None) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(Some(msg)) => {
            let errors = Errors::from([("days", msg)]);
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &BandForm::default(),
                &errors,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// A remove button's form: the token, and "Simular remoção".
#[derive(Debug, Default, Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    simular: String,
}

pub(super) async fn remove_rule(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    if !form.simular.is_empty() {
        return page_simulated(
            &state,
            &session,
            &RuleForm::default(),
            &BandForm::default(),
            crate::dunning::what_if::Change::RemoveRule(crate::domain::rules::RuleId(id)),
            format!("remoção da regra {id}"),
        )
        .await;
    }
    let now = state.clock.now_millis();
    let result = crate::actions::dunning::remove_rule(
        &state.db,
        crate::domain::rules::RuleId(id),
        &session.actor(),
        now,
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn add_band(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<BandForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let mut errors = Errors::new();
    let from = form.from.trim().parse::<u16>().ok().filter(|n| *n >= 1);
    if from.is_none() {
        errors.insert("from", "Um número de dias a partir de 1.".into());
    }
    let to = form
        .to
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|n| (1..=3650).contains(n));
    if to.is_none() {
        errors.insert("to", "Um número de dias de 1 a 3650.".into());
    }
    let (Some(from), Some(to)) = (from, to) else {
        return page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &RuleForm::default(),
            &form,
            &errors,
        )
        .await;
    };
    if !form.simular.is_empty() && to >= from {
        match form.channels.plan() {
            Ok(plan) => {
                let label = format!(
                    "faixa de {from} a {to} dias de atraso, por {}",
                    plan.label_pt()
                );
                let band = crate::domain::rules::OverdueBand {
                    id: crate::domain::rules::BandId(-1),
                    from_days: from,
                    to_days: to,
                    layout: crate::domain::LayoutId(0),
                    letter: form.generation == "email_and_letter",
                    channels: plan,
                };
                return page_simulated(
                    &state,
                    &session,
                    &RuleForm::default(),
                    &form,
                    crate::dunning::what_if::Change::AddBand(band),
                    label,
                )
                .await;
            }
            Err(msg) => {
                let errors = Errors::from([("channels", msg)]);
                return page(
                    &state,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &RuleForm::default(),
                    &form,
                    &errors,
                )
                .await;
            }
        }
    }
    let now = state.clock.now_millis();
    let result: anyhow::Result<Option<(&'static str, String)>> = async {
        if to < from {
            return Ok(Some((
                "to",
                "\"Até\" não pode ser menor que \"De\".".into(),
            )));
        }
        let bands = {
            let mut conn = state.db.pool.acquire().await?;
            store::dunning::list_bands(&mut conn).await?
        };
        if let Some(b) = bands
            .iter()
            .find(|b| from <= b.to_days && b.from_days <= to)
        {
            return Ok(Some((
                "from",
                format!("Sobrepõe a faixa de {} a {} dias.", b.from_days, b.to_days),
            )));
        }
        let letter = match form.generation.as_str() {
            "" | "email" => false,
            "email_and_letter" => true,
            _ => return Ok(Some(("generation", "Escolha o tipo de geração.".into()))),
        };
        let layout = Some(form.layout.trim()).filter(|l| !l.is_empty());
        let plan = match form.channels.plan() {
            Ok(p) => p,
            Err(msg) => return Ok(Some(("channels", msg))),
        };
        match crate::actions::dunning::add_band(
            &state.db,
            (from, to),
            layout,
            letter,
            &plan,
            &session.actor(),
            now,
        )
        .await
        {
            Ok(_) => Ok(None),
            Err(ConfigError::Invalid {
                field: "channels", ..
            }) => Ok(Some((
                "channels",
                "Uma faixa que gera carta é enviada só por e-mail (a carta vai anexa).".into(),
            ))),
            Err(
                ConfigError::Invalid {
                    field: "layout", ..
                }
                | ConfigError::Unknown { .. },
            ) => Ok(Some((
                "layout",
                "Escolha um modelo de faixa de atraso.".into(),
            ))),
            Err(ConfigError::Other(e)) => Err(e),
            Err(e) => Ok(Some(("from", format!("Não foi possível salvar: {e}")))),
        }
    }
    .await;
    match result {
        Ok(None) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(Some((field, msg))) => {
            let errors = Errors::from([(field, msg)]);
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &RuleForm::default(),
                &form,
                &errors,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn remove_band(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    if !form.simular.is_empty() {
        return page_simulated(
            &state,
            &session,
            &RuleForm::default(),
            &BandForm::default(),
            crate::dunning::what_if::Change::RemoveBand(crate::domain::rules::BandId(id)),
            format!("remoção da faixa {id}"),
        )
        .await;
    }
    let now = state.clock.now_millis();
    let result: anyhow::Result<Result<bool, String>> = match crate::actions::dunning::remove_band(
        &state.db,
        crate::domain::rules::BandId(id),
        &session.actor(),
        now,
    )
    .await
    {
        Ok(removed) => Ok(Ok(removed)),
        Err(ConfigError::Other(e)) => Err(e),
        Err(_) => Ok(Err(
            "Esta faixa tem cartas no histórico de revisão e não pode ser removida.".into(),
        )),
    };
    match result {
        Ok(Ok(true)) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(Ok(false)) => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(msg)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::CONFLICT,
            "Faixa mantida",
            &msg,
        ),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct RoutineForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// The days typed (the CLI's syntax); the page sends the checkboxes below instead.
    #[serde(default)]
    weekdays: String,
    #[serde(default)]
    wd_seg: Option<String>,
    #[serde(default)]
    wd_ter: Option<String>,
    #[serde(default)]
    wd_qua: Option<String>,
    #[serde(default)]
    wd_qui: Option<String>,
    #[serde(default)]
    wd_sex: Option<String>,
    #[serde(default)]
    wd_sab: Option<String>,
    #[serde(default)]
    wd_dom: Option<String>,
    #[serde(default)]
    time: String,
    #[serde(default)]
    holidays: Option<String>,
}

impl RoutineForm {
    /// The weekdays ticked, as `seg`, `ter`…
    fn weekdays_checked(&self) -> Vec<&'static str> {
        [
            ("seg", &self.wd_seg),
            ("ter", &self.wd_ter),
            ("qua", &self.wd_qua),
            ("qui", &self.wd_qui),
            ("sex", &self.wd_sex),
            ("sab", &self.wd_sab),
            ("dom", &self.wd_dom),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(d, _)| d)
        .collect()
    }
}

pub(super) async fn add_routine(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<RoutineForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    let ticked = form.weekdays_checked().join(",");
    let weekdays = match (ticked.as_str(), form.weekdays.trim()) {
        ("", "") => {
            let errors =
                Errors::from([("weekdays", "Marque ao menos um dia da semana.".to_string())]);
            return page_with(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                (&RuleForm::default(), &BandForm::default(), &form),
                &errors,
                None,
            )
            .await;
        }
        ("", typed) => typed,
        (ticked, _) => ticked,
    };
    let time = if form.time.trim().is_empty() {
        "08:00:00"
    } else {
        form.time.trim()
    };
    let routine = crate::actions::dunning::NewRoutine {
        name: &form.name,
        task: crate::dunning::Task::SendEmails,
        weekdays,
        time,
        run_on_holidays: form.holidays.is_some(),
    };
    let result: anyhow::Result<Result<(), (&'static str, String)>> =
        match crate::actions::dunning::add_routine(&state.db, &routine, &session.actor(), now).await
        {
            Ok(_) => Ok(Ok(())),
            Err(ConfigError::Duplicate { .. }) => Ok(Err((
                "routine_name",
                "Já existe uma rotina com este nome.".into(),
            ))),
            Err(ConfigError::Invalid { field: "name", .. }) => {
                Ok(Err(("routine_name", "Informe um nome.".into())))
            }
            Err(ConfigError::Invalid {
                field: "weekdays", ..
            }) => Ok(Err((
                "weekdays",
                "Marque ao menos um dia da semana.".into(),
            ))),
            Err(ConfigError::Invalid { field: "time", .. }) => {
                Ok(Err(("time", "Horário como 08:00:00.".into())))
            }
            Err(ConfigError::Other(e)) => Err(e),
            Err(e) => Ok(Err(("routine_name", e.to_string()))),
        };
    match result {
        Ok(Ok(())) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(Err((field, msg))) => {
            let errors = Errors::from([(field, msg)]);
            page_with(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                (&RuleForm::default(), &BandForm::default(), &form),
                &errors,
                None,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn remove_routine(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<crate::domain::schedule::RoutineId>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageDunning, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    let result = crate::actions::dunning::remove_routine(
        &state.db,
        crate::actions::dunning::RoutineRef::Id(id),
        &session.actor(),
        now,
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/regua").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}
