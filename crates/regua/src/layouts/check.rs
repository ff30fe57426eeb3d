//! Validation of layouts on save: what an ISP's finance staff typed must compile, name only
//! known variables and filters, and render the sample data within the engine's limits. Every
//! problem carries the line and column and a message in Portuguese, e.g.
//! `linha 3, coluna 14: variável desconhecida `fatura.valorr` — você quis dizer `fatura.valor`?`.

use std::fmt;

use minijinja::{Error, ErrorKind};

use super::engine::{CompiledLayout, FILTERS, Part, environment, render_capped};
use super::variables::{LayoutContext, VARIABLES, is_known_variable, suggest};

/// One problem found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which part of the layout.
    pub part: Part,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, in Portuguese.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "linha {}, coluna {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Globals minijinja provides that `undeclared_variables` reports like variables.
const ENGINE_GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "loop",
    "debug",
    "cycler",
    "joiner",
    "lipsum",
];

/// Checks one template of the given part. An empty list means it can be saved.
pub fn check_template(part: Part, source: &str) -> Vec<Problem> {
    let env = environment();
    let template = match env.template_from_named_str(part.name(), source) {
        Ok(t) => t,
        Err(e) => return vec![problem_from_error(part, source, &e)],
    };
    let mut problems: Vec<Problem> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| {
            !is_known_variable(name)
                && !ENGINE_GLOBALS.contains(&name.split('.').next().unwrap_or(name))
        })
        .map(|name| {
            let (line, column) = locate_name(source, &name);
            Problem {
                part,
                line,
                column,
                message: unknown_variable(&name),
            }
        })
        .collect();
    if problems.is_empty() {
        // A trial render with the sample data finds what only running shows: unknown filters,
        // typos in a loop variable's fields, endless loops, huge output.
        let sample = minijinja::Value::from(minijinja::value::Serde(LayoutContext::sample()));
        if let Err(e) = render_capped(&template, &sample) {
            problems.push(problem_from_error(part, source, &e));
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Checks a whole layout: the subject (required, one line), the HTML body (required) and the
/// text body (optional: derived from the HTML when empty).
pub fn check_layout(subject: &str, html: &str, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if subject.trim().is_empty() {
        problems.push(Problem {
            part: Part::Subject,
            line: 1,
            column: 1,
            message: "o assunto é obrigatório".into(),
        });
    } else if let Err(crate::domain::limits::TextError::Control { position, .. }) =
        crate::domain::limits::check_line(subject, usize::MAX)
    {
        // A subject is one header line; what the template renders is folded to one line too.
        problems.push(Problem {
            part: Part::Subject,
            line: 1,
            column: position,
            message:
                "o assunto é uma linha só: sem quebra de linha, tabulação ou caractere de controle"
                    .into(),
        });
    } else {
        problems.extend(check_template(Part::Subject, subject));
    }
    if html.trim().is_empty() {
        problems.push(Problem {
            part: Part::Html,
            line: 1,
            column: 1,
            message: "o corpo HTML é obrigatório".into(),
        });
    } else {
        problems.extend(check_template(Part::Html, html));
    }
    if !text.trim().is_empty() {
        problems.extend(check_template(Part::Text, text));
    }
    if problems.is_empty()
        && let Err((part, e)) = CompiledLayout::compile(subject, html, text)
            .and_then(|l| l.render(&LayoutContext::sample()))
    {
        // Only the derived text or the output cap can fail here.
        let source = if part == Part::Text && text.trim().is_empty() {
            super::text::html_to_text_template(html)
        } else {
            [subject, html, text][Part::ALL.iter().position(|p| *p == part).unwrap_or(0)]
                .to_string()
        };
        problems.push(problem_from_error(part, &source, &e));
    }
    problems
}

/// Checks a layout's SMS text (optional: blank is fine): it compiles, names only known
/// variables and renders the sample data.
pub fn check_sms(sms: &str) -> Vec<Problem> {
    if sms.trim().is_empty() {
        return Vec::new();
    }
    let problems = check_template(Part::Sms, sms);
    if !problems.is_empty() {
        return problems;
    }
    let env = environment();
    let sample = minijinja::Value::from(minijinja::value::Serde(LayoutContext::sample()));
    match env
        .template_from_named_str(Part::Sms.name(), sms)
        .and_then(|t| render_capped(&t, &sample))
    {
        Ok(_) => Vec::new(),
        Err(e) => vec![problem_from_error(Part::Sms, sms, &e)],
    }
}

fn unknown_variable(name: &str) -> String {
    match suggest(name, VARIABLES.iter().map(|v| v.path)) {
        Some(s) => format!("variável desconhecida `{name}` — você quis dizer `{s}`?"),
        None => format!("variável desconhecida `{name}` — veja a lista de variáveis disponíveis"),
    }
}

/// Turns an engine error into a located, translated problem.
pub fn problem_from_error(part: Part, source: &str, e: &Error) -> Problem {
    let (line, column) = match e.range() {
        Some(r) => line_column(source, r.start),
        None => (e.line().unwrap_or(1), 1),
    };
    let span = e.range().and_then(|r| source.get(r)).unwrap_or("").trim();
    let detail = e.detail().unwrap_or("");
    let message = match e.kind() {
        ErrorKind::SyntaxError => format!("erro de sintaxe: {}", translate_syntax(detail)),
        ErrorKind::UndefinedError => {
            let name = detail
                .split('`')
                .nth(1)
                .filter(|n| !n.is_empty())
                .unwrap_or(span);
            // A loop variable's field: suggest among the invoice fields.
            let field = name.rsplit('.').next().unwrap_or(name);
            let known_fields = VARIABLES
                .iter()
                .filter_map(|v| v.path.strip_prefix("fatura."));
            match (name.contains('.'), suggest(field, known_fields)) {
                (true, Some(s)) if !name.starts_with("fatura.") && !is_known_variable(name) => {
                    let prefix = &name[..name.len() - field.len()];
                    format!("variável desconhecida `{name}` — você quis dizer `{prefix}{s}`?")
                }
                _ => unknown_variable(name),
            }
        }
        ErrorKind::UnknownFilter => {
            let name = detail
                .strip_prefix("filter ")
                .and_then(|d| d.strip_suffix(" is unknown"))
                .unwrap_or(span);
            match suggest(name, FILTERS.iter().copied()) {
                Some(s) => format!("filtro desconhecido `{name}` — você quis dizer `{s}`?"),
                None => format!(
                    "filtro desconhecido `{name}` — os filtros disponíveis são {}",
                    FILTERS
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        ErrorKind::UnknownFunction => format!("função desconhecida `{span}`"),
        ErrorKind::UnknownTest => format!("teste desconhecido `{span}`"),
        ErrorKind::OutOfFuel => {
            "o layout faz processamento demais (um laço muito longo ou sem fim) e foi interrompido"
                .into()
        }
        ErrorKind::InvalidOperation if detail.contains("recursion limit") => {
            "o layout chama a si mesmo sem fim (recursão) e foi interrompido".into()
        }
        ErrorKind::InvalidOperation if detail.starts_with("output exceeds") => format!(
            "o layout gera texto demais (mais de {} KB) e foi interrompido",
            super::engine::MAX_OUTPUT_BYTES / 1024
        ),
        ErrorKind::TemplateNotFound | ErrorKind::InvalidOperation
            if detail.contains("template") =>
        {
            "layouts não podem incluir outros arquivos (`include`, `extends`, `import`)".into()
        }
        ErrorKind::InvalidOperation | ErrorKind::BadSerialization => {
            format!("operação inválida em `{span}` ({detail})")
        }
        ErrorKind::MissingArgument | ErrorKind::TooManyArguments => {
            format!("número errado de argumentos em `{span}`")
        }
        _ => format!("erro em `{span}` ({e})"),
    };
    Problem {
        part,
        line,
        column,
        message,
    }
}

/// Translates the engine's syntax messages ("unexpected end of input, expected end of block").
fn translate_syntax(detail: &str) -> String {
    detail
        .split(", ")
        .map(|piece| {
            if piece == "unexpected end of input" {
                "o texto termina antes de fechar um bloco".to_string()
            } else if piece == "unexpected end of block" {
                "bloco incompleto".to_string()
            } else if piece == "expected end of variable block" {
                "falta fechar a variável com `}}`".to_string()
            } else if piece == "expected end of block" {
                "falta fechar o comando com `%}`".to_string()
            } else if let Some(s) = piece.strip_prefix("unknown statement ") {
                format!("comando desconhecido `{s}`")
            } else if let Some(s) = piece.strip_prefix("unexpected ") {
                format!("{s} inesperado")
            } else if let Some(s) = piece.strip_prefix("expected ") {
                format!("esperava {s}")
            } else if let Some(s) = piece.strip_prefix("missing ") {
                format!("falta {s}")
            } else {
                piece.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and character column of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Where a dotted name first appears inside a `{{ }}` or `{% %}` tag.
fn locate_name(source: &str, name: &str) -> (usize, usize) {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut from = 0;
    while let Some(i) = source[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = !source[..at].ends_with(is_ident);
        let after_ok = !source[from..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        let last = |pats: [&str; 2]| pats.iter().filter_map(|p| source[..at].rfind(p)).max();
        let in_tag = match (last(["{{", "{%"]), last(["}}", "%}"])) {
            (Some(open), Some(close)) => open > close,
            (open, _) => open.is_some(),
        };
        if before_ok && after_ok && in_tag {
            return line_column(source, at);
        }
    }
    (1, 1)
}

/// What a layout of `purpose` must contain because the law requires it (Anatel's RGC: the debt
/// notice's reason, the suspension and termination rules and dates, the amount and the months,
/// that the debt may go to credit bureaus after termination, and how soon service returns; the
/// termination notice's reason, amount, months, date and the credit-bureau warning): the
/// variable and what it says. Empty for other purposes.
pub fn required_content(
    purpose: crate::domain::Purpose,
) -> &'static [(&'static str, &'static str)] {
    use crate::domain::Purpose;
    match purpose {
        Purpose::DebtNotice => &[
            ("aviso.motivo", "o motivo da suspensão"),
            ("aviso.regras", "as regras e prazos de suspensão e rescisão"),
            ("aviso.data_suspensao", "a data da suspensão"),
            ("aviso.valor_total", "o valor do débito"),
            ("aviso.competencias", "os meses de referência"),
            (
                "aviso.negativacao",
                "a possibilidade de registro em cadastros de proteção ao crédito após a rescisão",
            ),
            (
                "aviso.prazo_restabelecimento",
                "o prazo para restabelecer o serviço após o pagamento",
            ),
        ],
        Purpose::TerminationNotice => &[
            ("aviso.motivo", "o motivo da rescisão"),
            ("aviso.data_rescisao", "a data da rescisão"),
            ("aviso.valor_total", "o valor do débito"),
            ("aviso.competencias", "os meses de referência"),
            (
                "aviso.negativacao",
                "a possibilidade de registro em cadastros de proteção ao crédito após a rescisão",
            ),
        ],
        _ => &[],
    }
}

/// The problems of a layout of `purpose` that leaves out what the law requires: one per missing
/// variable, naming it and what it says (`falta aviso.data_suspensao: a data da suspensão`). A
/// variable counts when the HTML or the text names it (`{{ aviso.data_suspensao }}`).
pub fn check_required(purpose: crate::domain::Purpose, html: &str, text: &str) -> Vec<Problem> {
    required_content(purpose)
        .iter()
        .filter(|(var, _)| {
            let named = |t: &str| {
                t.match_indices(var).any(|(i, _)| {
                    let after = t[i + var.len()..].chars().next();
                    !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            };
            !named(html) && !named(text)
        })
        .map(|(var, what)| Problem {
            part: Part::Html,
            line: 1,
            column: 1,
            message: format!(
                "falta {var}: {what} (exigido na notificação pelo RGC da Anatel, Resolução nº 765/2023)"
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(part: Part, src: &str) -> Problem {
        let p = check_template(part, src);
        assert_eq!(p.len(), 1, "{p:?}");
        p.into_iter().next().unwrap()
    }

    #[test]
    fn an_unknown_variable_is_located_and_a_close_one_suggested() {
        let p = one(
            Part::Html,
            "<p>Olá,</p>\n<p>{{ cliente.nome }}</p>\n<p>Valor: {{ fatura.valorr }}</p>",
        );
        assert_eq!(
            p.to_string(),
            "linha 3, coluna 14: variável desconhecida `fatura.valorr` — você quis dizer `fatura.valor`?"
        );
    }

    #[test]
    fn a_typo_in_a_loop_variable_field_is_found_by_the_trial_render() {
        let p = one(
            Part::Html,
            "{% for f in faturas_em_aberto %}\n  {{ f.vencimeto }}\n{% endfor %}",
        );
        assert_eq!((p.line, p.column), (2, 6));
        assert_eq!(
            p.message,
            "variável desconhecida `f.vencimeto` — você quis dizer `f.vencimento`?"
        );
    }

    #[test]
    fn an_unclosed_variable_is_a_syntax_error_with_its_place() {
        let p = one(Part::Text, "Olá\n  {{ cliente.nome \n");
        assert_eq!(p.line, 2);
        assert!(
            p.message
                .starts_with("erro de sintaxe: o texto termina antes de fechar um bloco"),
            "{}",
            p.message
        );
    }

    #[test]
    fn an_unknown_statement_is_named() {
        let p = one(Part::Html, "<p>\n{% enviar %}</p>");
        assert_eq!((p.line, p.column), (2, 4));
        assert_eq!(p.message, "erro de sintaxe: comando desconhecido `enviar`");
    }

    #[test]
    fn an_unknown_filter_gets_a_suggestion() {
        let p = one(Part::Subject, "Vence {{ fatura.vencimento | dta }}");
        assert_eq!((p.line, p.column), (1, 30));
        assert_eq!(
            p.message,
            "filtro desconhecido `dta` — você quis dizer `data`?"
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_with_a_clear_error() {
        let p = one(
            Part::Html,
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        );
        assert!(
            p.message.contains("laço muito longo ou sem fim"),
            "{}",
            p.message
        );
        let p = one(
            Part::Html,
            "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
        );
        assert!(p.message.contains("recursão"), "{}", p.message);
    }

    #[test]
    fn huge_output_is_stopped_with_a_clear_error() {
        let p = one(Part::Html, "{{ 'x' * 100000000 }}");
        assert!(p.message.contains("interrompido"), "{}", p.message);
        let p = one(
            Part::Html,
            "{% for i in range(20000) %}{{ fatura.linha_digitavel }}{{ fatura.linha_digitavel }}{% endfor %}",
        );
        assert!(p.message.contains("interrompido"), "{}", p.message);
    }

    #[test]
    fn including_files_is_refused() {
        let p = one(Part::Html, "{% include 'x.html' %}");
        assert_eq!(
            p.message,
            "layouts não podem incluir outros arquivos (`include`, `extends`, `import`)"
        );
    }

    #[test]
    fn required_parts_are_required_and_a_good_layout_passes() {
        let p = check_layout("", " ", "");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].message, "o assunto é obrigatório");
        assert!(
            check_layout(
                "Fatura {{ fatura.numero }}",
                "<p>{{ cliente.nome }}</p>",
                ""
            )
            .is_empty()
        );
    }
}
