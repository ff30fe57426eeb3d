//! Cobrança › Resultados da cobrança (docs/analytics.md): which step of the régua is followed by
//! payment, the payment curves of each due month, the overdue rate, the amount overdue by band
//! — as SVG charts, each with its table and a CSV export. Read from the daily aggregates only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::Permission;
use super::charts::{self, Series};
use super::{AppState, Session, internal};
use crate::domain::Money;
use crate::domain::analytics::{CURVE_FROM, MAX_DAYS, StepFigures};
use crate::store;
use crate::store::analytics::{Filter, MonthCurve};

/// The days of the curves' table (and CSV).
const CURVE_DAYS: [i32; 7] = [-10, 0, 7, 15, 30, 60, 90];

/// Everything the page and its CSV show.
struct Figures {
    filter: Filter,
    steps: Vec<StepFigures>,
    curves: Vec<MonthCurve>,
    overdue: Vec<(String, i64, i64, i64)>,
    step_labels: BTreeMap<String, String>,
    band_labels: BTreeMap<i64, String>,
    wallets: Vec<(i64, String)>,
    methods: Vec<(i64, String)>,
    refreshed: Option<(String, String, i64)>,
}

/// The query's filter, or the reason it is refused (pt-BR, naming the field).
fn filter_of(state: &AppState, q: &BTreeMap<String, String>) -> Result<Filter, String> {
    let today = state.clock.today();
    let day = |name: &str, label: &str, default| match q.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(default),
        Some(s) => crate::domain::parse_date(s).map_err(|e| format!("{label}: {e}")),
    };
    let to = day("ate", "Até", today)?;
    let from = day(
        "de",
        "De",
        to.checked_sub(jiff::Span::new().days(89)).unwrap_or(to),
    )?;
    if from > to {
        return Err("De: a data inicial é posterior à final.".into());
    }
    let id = |name: &str, label: &str| match q.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{label}: valor inválido.")),
    };
    let channel = match q.get("canal").map(|s| s.trim()) {
        None | Some("") => None,
        Some(c @ ("email" | "sms" | "push" | "whatsapp")) => Some(c.to_string()),
        Some(_) => return Err("Canal: valor inválido.".into()),
    };
    Ok(Filter {
        from,
        to,
        method: id("forma", "Forma de cobrança")?,
        wallet: id("carteira", "Carteira")?,
        channel,
    })
}

/// A view of the page, computed: the figures, the charts and the tables' rows.
struct View {
    figures: Figures,
    charts: [String; 4],
    step_rows: Vec<Vec<String>>,
    curve_rows: Vec<Vec<String>>,
    band_rows: Vec<Vec<String>>,
}

/// The views computed since the last refresh, by filter. The aggregates change only when a
/// refresh runs (a new row in `analytics_refreshes`), so a view is computed once per refresh
/// and filter; a new refresh empties the cache. At most [`CACHED_VIEWS`] are kept.
#[derive(Default)]
pub struct Cache(std::sync::Mutex<Views>);

/// The refresh the views are of, and the views by filter.
type Views = (Option<i64>, BTreeMap<String, Arc<View>>);

const CACHED_VIEWS: usize = 64;

async fn view(state: &AppState, filter: Filter) -> anyhow::Result<Arc<View>> {
    let mut conn = state.db.pool.acquire().await?;
    let refresh = store::analytics::last_refresh_id(&mut conn).await?;
    drop(conn);
    let key = format!("{filter:?}");
    {
        let cache = state.analytics.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 == refresh
            && let Some(v) = cache.1.get(&key)
        {
            return Ok(v.clone());
        }
    }
    let figures = figures(state, filter).await?;
    let v = Arc::new(View {
        charts: [
            figures.steps_chart(),
            figures.curves_chart(),
            figures.rate_chart(),
            figures.bands_chart(),
        ],
        step_rows: figures.step_rows(),
        curve_rows: figures.curve_rows(),
        band_rows: figures.band_rows(),
        figures,
    });
    let mut cache = state.analytics.0.lock().unwrap_or_else(|e| e.into_inner());
    if cache.0 != refresh || cache.1.len() >= CACHED_VIEWS {
        *cache = (refresh, BTreeMap::new());
    }
    cache.1.insert(key, v.clone());
    Ok(v)
}

async fn figures(state: &AppState, filter: Filter) -> anyhow::Result<Figures> {
    let mut conn = state.db.pool.acquire().await?;
    let steps = store::analytics::step_figures(&mut conn, &filter).await?;
    let curves = store::analytics::curves(&mut conn, &filter).await?;
    let overdue = store::analytics::overdue_by_band(&mut conn, &filter).await?;
    let (step_labels, wallets, methods) = store::analytics::labels(&mut conn).await?;
    let refreshed = store::analytics::last_refresh(&mut conn).await?;
    let band_labels = step_labels
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("band:")
                .and_then(|id| id.parse().ok())
                .map(|id| (id, v.replace("Faixa de atraso ", "")))
        })
        .collect();
    Ok(Figures {
        filter,
        steps,
        curves,
        overdue,
        step_labels,
        band_labels,
        wallets,
        methods,
        refreshed,
    })
}

fn pct(permille: i64) -> String {
    format!("{},{}%", permille / 10, permille % 10)
}

fn channel_pt(c: &str) -> &'static str {
    match c {
        "email" => "e-mail",
        "sms" => "SMS",
        "push" => "push",
        "whatsapp" => "WhatsApp",
        _ => "outro",
    }
}

impl Figures {
    fn step_label(&self, step: &str) -> String {
        self.step_labels
            .get(step)
            .cloned()
            .unwrap_or_else(|| step.to_string())
    }

    fn band_label(&self, band: i64) -> String {
        if band == 0 {
            return "Sem faixa".into();
        }
        self.band_labels
            .get(&band)
            .cloned()
            .unwrap_or_else(|| format!("Faixa {band}"))
    }

    /// The steps' table rows: label, channel and the figures as shown.
    fn step_rows(&self) -> Vec<Vec<String>> {
        self.steps
            .iter()
            .map(|f| {
                vec![
                    self.step_label(&f.step),
                    channel_pt(&f.channel).to_string(),
                    f.sent.to_string(),
                    f.delivered.to_string(),
                    f.read.to_string(),
                    f.paid_1.to_string(),
                    f.paid_3.to_string(),
                    f.paid_7.to_string(),
                    pct(f.paid_7_permille),
                    f.base_paid_7_permille.map_or_else(|| "—".into(), pct),
                    f.recovered.to_string(),
                    Money(f.recovered_cents).to_string(),
                    f.median_days.map_or_else(|| "—".into(), |d| d.to_string()),
                ]
            })
            .collect()
    }

    fn curve_rows(&self) -> Vec<Vec<String>> {
        self.curves
            .iter()
            .map(|c| {
                let mut row = vec![
                    c.month.clone(),
                    c.issued.to_string(),
                    Money(c.issued_cents).to_string(),
                    c.overdue.to_string(),
                    Money(c.overdue_cents).to_string(),
                    pct(c.overdue_permille),
                ];
                for d in CURVE_DAYS {
                    let i = usize::try_from(d - CURVE_FROM).unwrap_or(0);
                    row.push(pct(c.paid_by_day_permille.get(i).copied().unwrap_or(0)));
                }
                row
            })
            .collect()
    }

    fn band_rows(&self) -> Vec<Vec<String>> {
        self.overdue
            .iter()
            .map(|(day, band, n, cents)| {
                vec![
                    day.parse()
                        .map(crate::domain::format_date)
                        .unwrap_or_else(|_| day.clone()),
                    self.band_label(*band),
                    n.to_string(),
                    Money(*cents).to_string(),
                ]
            })
            .collect()
    }

    fn steps_chart(&self) -> String {
        let groups: Vec<(String, Vec<f64>)> = self
            .steps
            .iter()
            .map(|f| {
                (
                    format!(
                        "{} ({})",
                        short(&self.step_label(&f.step)),
                        channel_pt(&f.channel)
                    ),
                    vec![
                        f.paid_7_permille as f64 / 10.0,
                        f.base_paid_7_permille.unwrap_or(0) as f64 / 10.0,
                    ],
                )
            })
            .collect();
        charts::bars(
            "chart-steps",
            "Pagas em até 7 dias após o aviso, por etapa, e a taxa base (sem aviso)",
            &["Com aviso".to_string(), "Base: sem aviso".to_string()],
            &groups,
            (0.0, 100.0),
            &percent_ticks(),
        )
    }

    fn curves_chart(&self) -> String {
        let series: Vec<Series> = self
            .curves
            .iter()
            .map(|c| Series {
                name: c.month.clone(),
                points: c
                    .paid_by_day_permille
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ((CURVE_FROM + i as i32) as f64, *p as f64 / 10.0))
                    .collect(),
            })
            .collect();
        let x_ticks: Vec<(f64, String)> = [-10, 0, 15, 30, 45, 60, 75, 90]
            .into_iter()
            .map(|d| (f64::from(d), d.to_string()))
            .collect();
        charts::lines(
            "chart-curves",
            "Faturas pagas por dia em relação ao vencimento, por mês de vencimento",
            &series,
            (f64::from(CURVE_FROM), f64::from(MAX_DAYS)),
            (0.0, 100.0),
            &x_ticks,
            &percent_ticks(),
        )
    }

    fn rate_chart(&self) -> String {
        let groups: Vec<(String, Vec<f64>)> = self
            .curves
            .iter()
            .map(|c| (c.month.clone(), vec![c.overdue_permille as f64 / 10.0]))
            .collect();
        let top = self
            .curves
            .iter()
            .map(|c| c.overdue_permille)
            .max()
            .unwrap_or(0)
            .max(100) as f64
            / 10.0;
        let top = (top / 10.0).ceil() * 10.0;
        let ticks = ticks(top, |v| format!("{v:.0}%"));
        charts::bars(
            "chart-rate",
            "Inadimplência por mês de vencimento (em aberto e vencidas / emitidas)",
            &["Inadimplência".to_string()],
            &groups,
            (0.0, top),
            &ticks,
        )
    }

    fn bands_chart(&self) -> String {
        let days: Vec<String> = {
            let mut d: Vec<String> = self.overdue.iter().map(|o| o.0.clone()).collect();
            d.dedup();
            d
        };
        let index: BTreeMap<&str, usize> = days
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i))
            .collect();
        let mut by_band: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
        let mut top = 0i64;
        for (day, band, _, cents) in &self.overdue {
            by_band
                .entry(*band)
                .or_default()
                .push((index[day.as_str()] as f64, *cents as f64 / 100.0));
            top = top.max(*cents);
        }
        let top = nice_top(top as f64 / 100.0);
        let series: Vec<Series> = by_band
            .into_iter()
            .map(|(band, points)| Series {
                name: self.band_label(band),
                points,
            })
            .collect();
        let step = (days.len() / 6).max(1);
        let x_ticks: Vec<(f64, String)> = days
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0)
            .map(|(i, d)| {
                (
                    i as f64,
                    d.parse()
                        .map(|d: jiff::civil::Date| format!("{:02}/{:02}", d.day(), d.month()))
                        .unwrap_or_default(),
                )
            })
            .collect();
        let y_ticks = ticks(top, |v| format!("R$ {v:.0}"));
        charts::lines(
            "chart-bands",
            "Valor em atraso por faixa, dia a dia",
            &series,
            (0.0, (days.len().max(2) - 1) as f64),
            (0.0, top),
            &x_ticks,
            &y_ticks,
        )
    }
}

fn short(s: &str) -> String {
    let s = s
        .replace("Regra: ", "")
        .replace("Faixa de atraso ", "Faixa ");
    if s.chars().count() > 28 {
        format!("{}…", s.chars().take(27).collect::<String>())
    } else {
        s
    }
}

fn nice_top(v: f64) -> f64 {
    if v <= 0.0 {
        return 100.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    let n = v / magnitude;
    let nice = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Five ticks from 0 to `top`, each labelled by `label`.
fn ticks(top: f64, label: impl Fn(f64) -> String) -> Vec<(f64, String)> {
    (0..=4)
        .map(|i| {
            let v = top * f64::from(i) / 4.0;
            (v, label(v))
        })
        .collect()
}

fn percent_ticks() -> Vec<(f64, String)> {
    ticks(100.0, |v| format!("{v:.0}%"))
}

/// The steps' table header (page and CSV).
const STEP_HEADER: [&str; 13] = [
    "Etapa",
    "Canal",
    "Enviados",
    "Entregues",
    "Lidos",
    "Pagas em 1 dia",
    "Pagas em 3 dias",
    "Pagas em 7 dias",
    "% pagas em 7 dias",
    "Base: % sem aviso",
    "Recuperadas",
    "Valor recuperado",
    "Mediana (dias)",
];

fn curve_header() -> Vec<String> {
    let mut h: Vec<String> = [
        "Mês de vencimento",
        "Emitidas",
        "Valor emitido",
        "Em atraso",
        "Valor em atraso",
        "Inadimplência",
    ]
    .map(String::from)
    .to_vec();
    for d in CURVE_DAYS {
        h.push(format!("Pagas até o dia {d}"));
    }
    h
}

const BAND_HEADER: [&str; 4] = ["Dia", "Faixa", "Faturas", "Valor"];

/// `GET /resultados`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let (filter, error) = match filter_of(&state, &q) {
            Ok(f) => (f, None),
            Err(e) => (
                filter_of(&state, &BTreeMap::new()).map_err(|e| anyhow::anyhow!(e))?,
                Some(e),
            ),
        };
        let v = view(&state, filter).await?;
        let f = &v.figures;
        let query = serde_urlencoded::to_string([
            ("de", f.filter.from.to_string()),
            ("ate", f.filter.to.to_string()),
            ("forma", f.filter.method.map_or(String::new(), |v| v.to_string())),
            ("carteira", f.filter.wallet.map_or(String::new(), |v| v.to_string())),
            ("canal", f.filter.channel.clone().unwrap_or_default()),
        ])?;
        let page = state.render(
            "analytics.html",
            minijinja::context! {
                title => "Resultados da cobrança",
                error => error.clone(),
                from => f.filter.from.to_string(),
                to => f.filter.to.to_string(),
                method => f.filter.method,
                wallet => f.filter.wallet,
                channel => f.filter.channel.clone().unwrap_or_default(),
                methods => f.methods.iter().map(|(id, n)| minijinja::context! { id => *id, name => n.clone() }).collect::<Vec<_>>(),
                wallets => f.wallets.iter().map(|(id, n)| minijinja::context! { id => *id, name => n.clone() }).collect::<Vec<_>>(),
                refreshed => f.refreshed.as_ref().map(|(a, b, at)| format!(
                    "{} (dias {} a {})",
                    jiff::Timestamp::from_millisecond(*at).map(|t| t.to_zoned(state.clock.time_zone().clone()).strftime("%d/%m/%Y %H:%M").to_string()).unwrap_or_default(),
                    a.parse().map(crate::domain::format_date).unwrap_or_default(),
                    b.parse().map(crate::domain::format_date).unwrap_or_default(),
                )),
                query,
                steps_chart => minijinja::Value::from_safe_string(v.charts[0].clone()),
                curves_chart => minijinja::Value::from_safe_string(v.charts[1].clone()),
                rate_chart => minijinja::Value::from_safe_string(v.charts[2].clone()),
                bands_chart => minijinja::Value::from_safe_string(v.charts[3].clone()),
                step_header => STEP_HEADER.to_vec(),
                step_rows => v.step_rows.clone(),
                curve_header => curve_header(),
                curve_rows => v.curve_rows.clone(),
                band_header => BAND_HEADER.to_vec(),
                band_rows => v.band_rows.clone(),
                ..session.ctx()
            },
        );
        Ok(if error.is_some() {
            (StatusCode::BAD_REQUEST, page).into_response()
        } else {
            page
        })
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /resultados.csv?tabela=etapas|curvas|faixas&…`: the table behind a chart, with the
/// page's filters.
pub(super) async fn csv(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let filter = match filter_of(&state, &q) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let table = q.get("tabela").map_or("etapas", String::as_str).to_string();
    let result: anyhow::Result<Response> = async {
        let v = view(&state, filter).await?;
        let (header, rows): (Vec<String>, Vec<Vec<String>>) = match table.as_str() {
            "etapas" => (STEP_HEADER.map(String::from).to_vec(), v.step_rows.clone()),
            "curvas" => (curve_header(), v.curve_rows.clone()),
            "faixas" => (BAND_HEADER.map(String::from).to_vec(), v.band_rows.clone()),
            _ => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    "Tabela: use etapas, curvas ou faixas.",
                )
                    .into_response());
            }
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header)?;
        for row in rows {
            w.write_record(row.into_iter().map(super::log::spreadsheet_safe))?;
        }
        let body = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(super::log::csv_download(
            &format!("resultados-{table}.csv"),
            body,
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}
