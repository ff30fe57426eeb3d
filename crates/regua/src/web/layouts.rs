//! Configurações › Layouts: the list, the editor with validation messages (line and column, in
//! pt-BR) and a preview with the sample data — live while typing, or with "Visualizar" without
//! JavaScript — saving a new version, and "restaurar padrão". Needs the e-mail permission.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::actions::layouts::LayoutError;
use crate::domain::LayoutId;
use crate::layouts::{
    CompiledLayout, Layout, LayoutContext, LayoutDraft, Problem, RenderedMessage, VARIABLES,
    check_layout,
};
use crate::store;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct LayoutForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    sms: String,
}

#[derive(Serialize)]
struct ProblemView {
    part: &'static str,
    line: usize,
    column: usize,
    message: String,
}

fn views(problems: &[Problem]) -> Vec<ProblemView> {
    problems
        .iter()
        .map(|p| ProblemView {
            part: p.part.label_pt(),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
        })
        .collect()
}

/// Checks the templates and renders them with the sample data.
fn try_preview(f: &LayoutForm) -> Result<RenderedMessage, Vec<Problem>> {
    let mut problems = check_layout(&f.subject, &f.html, &f.text);
    problems.extend(crate::layouts::check_sms(&f.sms));
    if !problems.is_empty() {
        return Err(problems);
    }
    let compiled = CompiledLayout::compile(&f.subject, &f.html, &f.text)
        .and_then(|l| l.with_sms(&f.sms))
        .map_err(|(part, e)| vec![crate::layouts::problem_from_error(part, &f.html, &e)])?;
    compiled
        .render(&LayoutContext::sample())
        .map_err(|(part, e)| {
            let source = match part {
                crate::layouts::Part::Subject => &f.subject,
                crate::layouts::Part::Html => &f.html,
                crate::layouts::Part::Text => &f.text,
                crate::layouts::Part::Sms => &f.sms,
            };
            vec![crate::layouts::problem_from_error(part, source, &e)]
        })
}

/// The SMS on the sample data — the layout's own text, or the company's name and the subject —
/// and what it costs, as the editor shows it.
#[derive(Serialize)]
struct SmsView {
    text: String,
    own: bool,
    size: String,
    over: bool,
}

fn sms_view(form: &LayoutForm, m: &RenderedMessage) -> SmsView {
    let own = !m.sms.is_empty();
    let line = crate::delivery::sms::message_line(&LayoutContext::sample().company.name, m);
    let t = crate::delivery::sms::sms_text(&line);
    let over = t.parts > 1;
    SmsView {
        size: if over {
            format!(
                "{} caracteres: {} SMS — passa de uma mensagem, a operadora cobra {}.",
                t.units, t.parts, t.parts
            )
        } else {
            format!("{} caracteres: 1 SMS.", t.units)
        },
        text: t.text,
        own: own || !form.sms.trim().is_empty(),
        over,
    }
}

async fn load(state: &AppState, id: i64) -> anyhow::Result<Option<Layout>> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(store::layouts::list_layouts(&mut conn)
        .await?
        .into_iter()
        .find(|l| l.id == LayoutId(id)))
}

fn editor(
    state: &AppState,
    session: &Session,
    layout: &Layout,
    form: &LayoutForm,
    problems: &[Problem],
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let preview = try_preview(form).ok().unwrap_or(RenderedMessage {
        subject: String::new(),
        html: String::new(),
        text: String::new(),
        sms: String::new(),
    });
    let sms = sms_view(form, &preview);
    let variables: Vec<(String, String)> = VARIABLES
        .iter()
        .map(|v| (v.path.to_string(), v.description.to_string()))
        .collect();
    let mut resp = state.render(
        "layout_edit.html",
        minijinja::context! {
            title => format!("Layout {}", layout.name),
            id => layout.id.0,
            name => layout.name.clone(),
            purpose => layout.purpose.label_pt(),
            version => layout.version,
            form => minijinja::Value::from(minijinja::value::Serde(form)),
            problems => minijinja::Value::from(minijinja::value::Serde(views(problems))),
            preview => minijinja::context! { subject => preview.subject, html => preview.html, text => preview.text },
            sms => minijinja::Value::from(minijinja::value::Serde(&sms)),
            variables,
            notice,
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    resp
}

pub(super) async fn list(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    let mut conn = match state.db.pool.acquire().await {
        Ok(c) => c,
        Err(e) => return internal(e.into()),
    };
    match store::layouts::list_layouts(&mut conn).await {
        Ok(layouts) => {
            let rows: Vec<_> = layouts
                .iter()
                .map(|l| minijinja::context! { id => l.id.0, name => l.name.clone(), purpose => l.purpose.label_pt(), version => l.version })
                .collect();
            state.render(
                "layouts.html",
                minijinja::context! { title => "Layouts", layouts => rows, ..session.ctx() },
            )
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Saved {
    salvo: Option<i64>,
}

pub(super) async fn edit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    axum::extract::Query(saved): axum::extract::Query<Saved>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    match load(&state, id).await {
        Ok(Some(layout)) => {
            let form = LayoutForm {
                csrf: String::new(),
                subject: layout.subject.clone(),
                html: layout.html.clone(),
                text: layout.text.clone(),
                sms: layout.sms.clone(),
            };
            let notice = saved.salvo.map(|v| format!("Versão {v} salva."));
            editor(
                &state,
                &session,
                &layout,
                &form,
                &[],
                notice.as_deref(),
                StatusCode::OK,
            )
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// The preview: JSON for the page's script (`Accept: application/json`), else the page.
pub(super) async fn preview(
    State(state): State<Arc<AppState>>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<LayoutForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let result = try_preview(&form);
    if wants_json {
        return match result {
            Ok(m) => {
                let sms = sms_view(&form, &m);
                Json(serde_json::json!({"subject": m.subject, "html": m.html, "text": m.text, "sms": sms, "problems": []})).into_response()
            }
            Err(problems) => {
                Json(serde_json::json!({"problems": views(&problems)})).into_response()
            }
        };
    }
    match load(&state, id).await {
        Ok(Some(layout)) => {
            let problems = result.err().unwrap_or_default();
            editor(
                &state,
                &session,
                &layout,
                &form,
                &problems,
                None,
                StatusCode::OK,
            )
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn save(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<LayoutForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let layout = match load(&state, id).await {
        Ok(Some(l)) => l,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(e),
    };
    // A browser sends a textarea's lines with CRLF; the templates keep the LF they were
    // written with, so a save changes only what was edited.
    let lf = |s: &str| s.replace("\r\n", "\n");
    let draft = LayoutDraft {
        name: layout.name.clone(),
        purpose: layout.purpose,
        subject: lf(&form.subject),
        html: lf(&form.html),
        text: lf(&form.text),
        sms: lf(&form.sms),
    };
    let actor = session.actor();
    let now = state.clock.now_millis();
    match crate::actions::layouts::save_layout(&state.db, Some(&layout.name), &draft, &actor, now)
        .await
    {
        Ok(saved) => Redirect::to(&format!(
            "/configuracoes/layouts/{id}?salvo={}",
            saved.version
        ))
        .into_response(),
        Err(LayoutError::Invalid(problems)) => editor(
            &state,
            &session,
            &layout,
            &form,
            &problems,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(LayoutError::Other(e)) => internal(e),
        Err(e) => internal(anyhow::anyhow!("{e}")),
    }
}

pub(super) async fn restore(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let layout = match load(&state, id).await {
        Ok(Some(l)) => l,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(e),
    };
    let actor = session.actor();
    match crate::actions::layouts::restore_default_layout(
        &state.db,
        &layout.name,
        &actor,
        state.clock.now_millis(),
    )
    .await
    {
        Ok(saved) => Redirect::to(&format!(
            "/configuracoes/layouts/{id}?salvo={}",
            saved.version
        ))
        .into_response(),
        Err(LayoutError::Other(e)) => internal(e),
        Err(e) => internal(anyhow::anyhow!("{e}")),
    }
}
