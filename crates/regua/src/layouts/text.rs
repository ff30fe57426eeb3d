//! Deriving a plain-text template from an HTML template, for layouts whose text body is left
//! empty. It works on the template, not on each rendered message, so it costs nothing per e-mail:
//! Jinja tags are set aside, the HTML around them becomes text (paragraphs and rows become lines,
//! list items `- `, links `texto (endereço)`, entities decoded, `<style>`/`<head>` dropped), and
//! the tags are put back. A `{% … %}` tag alone on its line stays alone on its line, so loops
//! and conditions over whole blocks keep producing whole lines.

const INLINE: char = '\u{E000}';
const BLOCK: char = '\u{E002}';
const END: char = '\u{E001}';

/// At most one blank line in a row: a false `{% if %}` between two paragraphs leaves both
/// paragraphs' breaks behind, which render as extra blank lines. Applied to rendered text bodies.
pub fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

/// The text template derived from an HTML template.
pub fn html_to_text_template(html: &str) -> String {
    let (masked, tags) = mask_jinja(html);
    let text = html_to_text(&masked);
    unmask(&text, &tags)
}

/// Replaces each Jinja tag with a private-use placeholder holding its index.
fn mask_jinja(src: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(src.len());
    let mut tags = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find('{') {
        let close = match rest[start..].chars().nth(1) {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                out.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        let Some(len) = rest[start + 2..].find(close) else {
            break;
        };
        let end = start + 2 + len + 2;
        let before = &rest[..start];
        let line_start = out.rfind('\n').map_or(0, |i| i + 1);
        let alone_before = out[line_start..].trim().is_empty() && before.trim().is_empty()
            || before
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
                && before.contains('\n');
        let after = &rest[end..];
        let alone_after = after
            .split('\n')
            .next()
            .is_some_and(|l| l.trim().is_empty());
        out.push_str(before);
        let marker = if close == "%}" && alone_before && alone_after {
            BLOCK
        } else {
            INLINE
        };
        out.push(marker);
        out.push_str(&tags.len().to_string());
        out.push(END);
        tags.push(rest[start..end].to_string());
        rest = after;
    }
    out.push_str(rest);
    (out, tags)
}

fn unmask(text: &str, tags: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == INLINE || c == BLOCK {
            let mut n = String::new();
            for (_, d) in chars.by_ref() {
                if d == END {
                    break;
                }
                n.push(d);
            }
            if let Some(tag) = n.parse::<usize>().ok().and_then(|i| tags.get(i)) {
                out.push_str(tag);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Text being built: collapses whitespace and tracks line breaks.
struct TextOut {
    out: String,
    space: bool,
}

impl TextOut {
    fn word(&mut self, s: &str) {
        if self.space && !self.out.is_empty() && !self.out.ends_with(['\n', ' ']) {
            self.out.push(' ');
        }
        self.space = false;
        self.out.push_str(s);
    }

    fn breaks(&mut self, n: usize) {
        self.space = false;
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if self.out.is_empty() {
            return;
        }
        let have = self.out.len() - self.out.trim_end_matches('\n').len();
        for _ in have..n {
            self.out.push('\n');
        }
    }
}

fn html_to_text(html: &str) -> String {
    let mut t = TextOut {
        out: String::with_capacity(html.len() / 2),
        space: false,
    };
    let mut hrefs: Vec<(Option<String>, usize)> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with('<')
            && let Some(end) = rest.find('>')
        {
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            match (name.as_str(), closing) {
                ("style" | "script" | "head" | "title", false) => {
                    let close = format!("</{name}");
                    let lower = rest.to_ascii_lowercase();
                    rest = lower
                        .find(&close)
                        .and_then(|i| rest[i..].find('>').map(|j| &rest[i + j + 1..]))
                        .unwrap_or("");
                }
                ("br", _) => t.breaks(1),
                (
                    "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "ul" | "ol"
                    | "blockquote" | "hr",
                    _,
                ) => t.breaks(2),
                ("div" | "tr" | "section" | "header" | "footer" | "center", _) => t.breaks(1),
                ("li", false) => {
                    t.breaks(1);
                    t.word("-");
                    t.space = true;
                }
                ("td" | "th", false) => t.space = true,
                ("a", false) => hrefs.push((attribute(tag, "href"), t.out.len())),
                ("a", true) => {
                    if let Some((Some(href), at)) = hrefs.pop() {
                        let label = t.out[at..].trim().to_string();
                        let href = decode_entities(&href);
                        if !href.starts_with("mailto:") && !href.starts_with('#') && label != href {
                            t.space = true;
                            t.word(&format!("({href})"));
                        }
                    }
                }
                ("img", _) => {
                    if let Some(alt) = attribute(tag, "alt").filter(|a| !a.is_empty()) {
                        t.word(&decode_entities(&alt));
                    }
                }
                _ => {}
            }
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..]
            .find(['<', BLOCK])
            .map_or(rest.len(), |i| i + first);
        let chunk = &rest[..next];
        rest = &rest[next..];
        if let Some(after) = chunk.strip_prefix(BLOCK) {
            let end = after.find(END).map_or(after.len(), |i| i + END.len_utf8());
            t.breaks(1);
            t.out.push(BLOCK);
            t.out.push_str(&after[..end]);
            t.out.push('\n');
            let tail = &after[end..];
            if !tail.trim().is_empty() {
                words(&mut t, tail);
            }
            continue;
        }
        words(&mut t, chunk);
    }
    let mut out = String::with_capacity(t.out.len());
    let mut blank = 0;
    for line in t.out.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn words(t: &mut TextOut, chunk: &str) {
    let decoded = decode_entities(chunk);
    if decoded.starts_with(char::is_whitespace) {
        t.space = true;
    }
    let mut first = true;
    for w in decoded.split_whitespace() {
        if !first {
            t.space = true;
        }
        first = false;
        t.word(w);
    }
    if decoded.ends_with(char::is_whitespace) {
        t.space = true;
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        return Some(match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or("").to_string(),
            _ => rest
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or("")
                .to_string(),
        });
    }
    None
}

fn numeric_entity(entity: &str) -> Option<char> {
    let n = entity.strip_prefix('#')?;
    match n.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => n.parse().ok(),
    }
    .and_then(char::from_u32)
}

/// Named entities beyond the basics that Portuguese e-mails use: accented letters and
/// typographic punctuation.
const NAMED: &[(&str, char)] = &[
    ("aacute", 'á'),
    ("agrave", 'à'),
    ("acirc", 'â'),
    ("atilde", 'ã'),
    ("eacute", 'é'),
    ("ecirc", 'ê'),
    ("iacute", 'í'),
    ("oacute", 'ó'),
    ("ocirc", 'ô'),
    ("otilde", 'õ'),
    ("uacute", 'ú'),
    ("uuml", 'ü'),
    ("ccedil", 'ç'),
    ("Aacute", 'Á'),
    ("Agrave", 'À'),
    ("Acirc", 'Â'),
    ("Atilde", 'Ã'),
    ("Eacute", 'É'),
    ("Ecirc", 'Ê'),
    ("Iacute", 'Í'),
    ("Oacute", 'Ó'),
    ("Ocirc", 'Ô'),
    ("Otilde", 'Õ'),
    ("Uacute", 'Ú'),
    ("Ccedil", 'Ç'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("middot", '·'),
    ("bull", '•'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("copy", '©'),
    ("reg", '®'),
    ("ordm", 'º'),
    ("ordf", 'ª'),
    ("deg", '°'),
    ("euro", '€'),
];

/// Decodes the entities an HTML e-mail uses: named basics, `&nbsp;`, and numeric ones.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.bytes().take(12).position(|b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => NAMED
                .iter()
                .find(|(n, _)| *n == entity)
                .map(|&(_, c)| c)
                .or_else(|| numeric_entity(entity)),
        };

        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_lists_and_links_become_plain_text() {
        let html = r#"<html><head><style>p{color:red}</style></head><body>
<h1>Olá, {{ cliente.nome }}!</h1>
<p>Sua fatura de <b>{{ fatura.valor }}</b>
vence em {{ fatura.vencimento }}.</p>
<ul>
{% for f in faturas_em_aberto %}
<li>{{ f.numero }} &ndash; {{ f.valor }}</li>
{% endfor %}
</ul>
<p><a href="{{ fatura.link_portal }}">Ver fatura</a> &amp; <a href="mailto:x@y">fale conosco</a></p>
</body></html>"#;
        assert_eq!(
            html_to_text_template(html),
            "Olá, {{ cliente.nome }}!\n\nSua fatura de {{ fatura.valor }} vence em {{ fatura.vencimento }}.\n\n{% for f in faturas_em_aberto %}\n- {{ f.numero }} – {{ f.valor }}\n{% endfor %}\n\nVer fatura ({{ fatura.link_portal }}) & fale conosco\n"
        );
    }

    #[test]
    fn inline_tags_stay_inline() {
        assert_eq!(
            html_to_text_template(
                "<p>Olá{% if cliente.nome %}, {{ cliente.nome }}{% endif %}!</p>"
            ),
            "Olá{% if cliente.nome %}, {{ cliente.nome }}{% endif %}!\n"
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            decode_entities("a &amp; b &lt;c&gt; &#233; &#xE9; &ccedil; &bogus; &"),
            "a & b <c> é é ç &bogus; &"
        );
    }
}
