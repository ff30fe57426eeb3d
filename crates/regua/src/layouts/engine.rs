//! The template engine behind layouts: minijinja, configured so a template written by ISP staff
//! can do no harm. It has no loader (no `include`/`extends`/`import` of files), no network, no
//! clock; undefined variables are errors instead of silent blanks; every render runs on a fuel
//! budget (endless or huge loops stop with an error) and its output is capped. HTML bodies are
//! auto-escaped; subjects and text bodies are not (they are not HTML), and a subject never keeps a
//! line break, so no value can inject a mail header.

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use super::text::{collapse_blank_lines, html_to_text_template};
use super::variables::LayoutContext;

/// Instructions (and, roughly, 64-byte allocations) one render may spend. The default layouts
/// spend under 1 000; a consolidated message listing 200 invoices spends about 20 000.
pub const FUEL: u64 = 250_000;

/// Largest rendered part, in bytes. Real e-mails are a few kilobytes.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// Which part of a layout a template is; decides escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The subject line (plain text, one line).
    Subject,
    /// The HTML body (auto-escaped).
    Html,
    /// The plain-text body.
    Text,
    /// The SMS text (plain, whitespace collapsed).
    Sms,
}

impl Part {
    /// The template name inside the engine; the auto-escape callback keys on it.
    pub fn name(self) -> &'static str {
        match self {
            Part::Subject => "assunto",
            Part::Html => "html",
            Part::Text => "texto",
            Part::Sms => "sms",
        }
    }

    /// The field's label on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            Part::Subject => "assunto",
            Part::Html => "corpo HTML",
            Part::Text => "corpo texto",
            Part::Sms => "texto do SMS",
        }
    }

    /// The e-mail's three (the SMS text is optional and checked apart).
    pub const ALL: [Part; 3] = [Part::Subject, Part::Html, Part::Text];
}

/// A message rendered from a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    /// One line.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body.
    pub text: String,
    /// The SMS text, when the layout has one (empty otherwise: the SMS is then the company's
    /// name and the subject).
    pub sms: String,
}

/// The environment every layout template runs in: filters `brl`, `data` and `maiusculas`,
/// strict undefined, fuel, and escaping by part.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(50);
    // A `{% … %}` tag alone on its line leaves no blank line behind: what text bodies need.
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .unwrap_or_else(|_| unreachable!("the default delimiters are valid")),
    );
    env.set_auto_escape_callback(|name| {
        if name == Part::Html.name() {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("brl", filter_brl);
    env.add_filter("data", filter_data);
    env.add_filter("maiusculas", |s: String| s.to_uppercase());
    env
}

/// The filters layouts add to minijinja's built-ins, for suggestions.
pub const FILTERS: &[&str] = &["brl", "data", "maiusculas"];

fn filter_brl(v: Value) -> Result<String, Error> {
    if let Some(cents) = v.as_i64() {
        return Ok(boleto::format_brl(cents));
    }
    if let Some(s) = v.as_str()
        && let Ok(m) = crate::domain::Money::parse(s)
    {
        return Ok(m.to_string());
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("brl expects integer centavos or an amount, got {v}"),
    ))
}

/// `data`: a `YYYY-MM-DD` or `dd/mm/aaaa` date as `dd/mm/aaaa`, or with `"extenso"` as
/// `10 de dezembro de 2026`.
fn filter_data(v: String, style: Option<String>) -> Result<String, Error> {
    let date = crate::domain::parse_date(&v)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("data: {e}")))?;
    match style.as_deref() {
        None | Some("curta") => Ok(crate::domain::format_date(date)),
        Some("extenso") => Ok(crate::domain::format_date_long(date)),
        Some(other) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("data: unknown style {other:?} (use \"curta\" or \"extenso\")"),
        )),
    }
}

/// A layout's three templates compiled once, ready to render many messages. Compile one per
/// layout version and keep it; rendering does not re-parse.
pub struct CompiledLayout {
    env: Environment<'static>,
    /// The layout has an SMS text.
    sms: bool,
}

impl std::fmt::Debug for CompiledLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledLayout").finish_non_exhaustive()
    }
}

impl CompiledLayout {
    /// Compiles a stored layout's current version for rendering.
    pub fn of(layout: &super::Layout) -> Result<CompiledLayout, (Part, Error)> {
        CompiledLayout::compile(&layout.subject, &layout.html, &layout.text)?.with_sms(&layout.sms)
    }

    /// Adds the SMS text (nothing when `sms` is blank).
    pub fn with_sms(mut self, sms: &str) -> Result<CompiledLayout, (Part, Error)> {
        if !sms.trim().is_empty() {
            self.env
                .add_template_owned(Part::Sms.name(), sms.to_string())
                .map_err(|e| (Part::Sms, e))?;
            self.sms = true;
        }
        Ok(self)
    }

    /// Compiles subject, HTML and text; an empty `text` is derived from the HTML. Errors name
    /// the part; templates that passed [`super::check_layout`] always compile.
    pub fn compile(subject: &str, html: &str, text: &str) -> Result<CompiledLayout, (Part, Error)> {
        let mut env = environment();
        let text = if text.trim().is_empty() {
            html_to_text_template(html)
        } else {
            text.to_string()
        };
        for (part, source) in [
            (Part::Subject, subject.to_string()),
            (Part::Html, html.to_string()),
            (Part::Text, text),
        ] {
            env.add_template_owned(part.name(), source)
                .map_err(|e| (part, e))?;
        }
        Ok(CompiledLayout { env, sms: false })
    }

    /// Renders the three parts with one context.
    pub fn render(&self, ctx: &LayoutContext) -> Result<RenderedMessage, (Part, Error)> {
        let value = Value::from(Serde(ctx));
        Ok(RenderedMessage {
            subject: one_line(&self.render_part(Part::Subject, &value)?),
            html: self.render_part(Part::Html, &value)?,
            text: collapse_blank_lines(&self.render_part(Part::Text, &value)?),
            sms: if self.sms {
                one_line(&self.render_part(Part::Sms, &value)?)
            } else {
                String::new()
            },
        })
    }

    fn render_part(&self, part: Part, value: &Value) -> Result<String, (Part, Error)> {
        self.env
            .get_template(part.name())
            .and_then(|t| render_capped(&t, value))
            .map_err(|e| (part, e))
    }
}

/// Renders a template, refusing output over [`MAX_OUTPUT_BYTES`].
pub fn render_capped(
    template: &minijinja::Template<'_, '_>,
    value: &Value,
) -> Result<String, Error> {
    let out = template.render(value)?;
    if out.len() > MAX_OUTPUT_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("output exceeds {MAX_OUTPUT_BYTES} bytes"),
        ));
    }
    Ok(out)
}

/// Line breaks and tabs in a subject become single spaces, so a value can never start a new
/// header line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(subject: &str, html: &str, text: &str) -> RenderedMessage {
        CompiledLayout::compile(subject, html, text)
            .unwrap()
            .render(&LayoutContext::sample())
            .unwrap()
    }

    #[test]
    fn filters_format_money_and_dates_the_brazilian_way() {
        let m = render(
            "{{ 123456 | brl }} {{ '1234,5' | brl }} {{ '2026-12-10' | data }} {{ '10/12/2026' | data('extenso') }} {{ 'ção' | maiusculas }}",
            "",
            "x",
        );
        assert_eq!(
            m.subject,
            "R$ 1.234,56 R$ 1.234,50 10/12/2026 10 de dezembro de 2026 ÇÃO"
        );
    }

    #[test]
    fn a_subject_never_keeps_a_line_break() {
        let m = render("Olá\r\nBcc: x@y {{ cliente.nome }}\n", "", "x");
        assert_eq!(m.subject, "Olá Bcc: x@y Maria da Silva");
    }

    #[test]
    fn the_html_is_escaped_and_the_text_is_not() {
        let mut ctx = LayoutContext::sample();
        ctx.customer.name = "<b>A & B</b>".into();
        let l =
            CompiledLayout::compile("{{ cliente.nome }}", "<p>{{ cliente.nome }}</p>", "").unwrap();
        let m = l.render(&ctx).unwrap();
        assert_eq!(m.html, "<p>&lt;b&gt;A &amp; B&lt;&#x2f;b&gt;</p>");
        assert_eq!(m.text, "<b>A & B</b>\n");
        assert_eq!(m.subject, "<b>A & B</b>");
    }
}
