//! The boleto PDF: one A4 page per boleto — recibo do pagador on top, ficha de compensação
//! below — with the Interleaved 2 of 5 barcode drawn as rectangles to FEBRABAN's dimensions and,
//! for a "boleto híbrido", the PIX QR code with its copia-e-cola text. Several boletos make a
//! carnê (one page each). Text uses the standard Helvetica fonts in WinAnsi encoding, which
//! covers every Portuguese letter; nothing is embedded, so pages stay small.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use crate::banks::{BoletoCodes, BoletoError, BoletoInput};
use crate::format::{format_brl, format_date};
use crate::pix::BrCode;

/// Millimetres to PDF points.
const MM: f32 = 72.0 / 25.4;
/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
/// The barcode's narrow element: 0.33 mm; wide elements are three times as wide.
pub const NARROW_MM: f32 = 0.33;
/// Wide-to-narrow ratio.
pub const WIDE_RATIO: f32 = 3.0;
/// Bar height: 13 mm.
pub const BAR_HEIGHT_MM: f32 = 13.0;
/// Quiet zone on each side of the barcode (more than ten narrow elements).
pub const QUIET_ZONE_MM: f32 = 6.0;

const FONT: Name<'static> = Name(b"F1");
const FONT_BOLD: Name<'static> = Name(b"F2");
const QR_IMAGE: Name<'static> = Name(b"Qr");

/// Interleaved 2 of 5 element widths of each digit (false = narrow, true = wide).
const I25: [[bool; 5]; 10] = [
    [false, false, true, true, false],
    [true, false, false, false, true],
    [false, true, false, false, true],
    [true, true, false, false, false],
    [false, false, true, false, true],
    [true, false, true, false, false],
    [false, true, true, false, false],
    [false, false, false, true, true],
    [true, false, false, true, false],
    [false, true, false, true, false],
];

/// The bars of an even-length digit string in Interleaved 2 of 5, as (x offset, width) in
/// narrow-element units, start and stop patterns included.
pub fn itf_bars(digits: &str) -> Vec<(f32, f32)> {
    let d: Vec<usize> = digits.bytes().map(|b| usize::from(b - b'0')).collect();
    let mut bars = Vec::with_capacity(d.len() * 5 / 2 + 4);
    let mut x = 0.0;
    // Start: narrow bar, narrow space, narrow bar, narrow space.
    for _ in 0..2 {
        bars.push((x, 1.0));
        x += 2.0;
    }
    for pair in d.chunks(2) {
        for (&wide_bar, &wide_space) in I25[pair[0]].iter().zip(&I25[pair[1]]) {
            let bar = if wide_bar { WIDE_RATIO } else { 1.0 };
            let space = if wide_space { WIDE_RATIO } else { 1.0 };
            bars.push((x, bar));
            x += bar + space;
        }
    }
    // Stop: wide bar, narrow space, narrow bar.
    bars.push((x, WIDE_RATIO));
    x += WIDE_RATIO + 1.0;
    bars.push((x, 1.0));
    bars
}

/// Encodes text for a WinAnsi-encoded standard font; characters outside it become `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c as u32 {
            0x20..=0x7E | 0xA0..=0xFF => c as u32 as u8,
            0x20AC => 0x80,
            0x2013 => 0x96,
            0x2014 => 0x97,
            0x2018 => 0x91,
            0x2019 => 0x92,
            0x201C => 0x93,
            0x201D => 0x94,
            0x2022 => 0x95,
            _ => b'?',
        })
        .collect()
}

struct Page {
    c: Content,
    /// The QR image the content refers to, if the page has one.
    qr: Option<QrImage>,
}

impl Page {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        let bytes = win_ansi(s);
        self.c
            .begin_text()
            .set_font(if bold { FONT_BOLD } else { FONT }, size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    /// A labelled box `[x, y, width, height]` ((x, y) its bottom-left): small caption on top,
    /// value below.
    fn field(&mut self, [x, y, w, h]: [f32; 4], label: &str, value: &str, bold: bool) {
        self.c.rect(x, y, w, h).stroke();
        self.text(x + 2.0, y + h - 7.0, 5.5, false, label);
        if !value.is_empty() {
            self.text(x + 3.0, y + 3.5, 8.5, bold, value);
        }
    }

    /// A party's field: its name and document, and under them, smaller, its address.
    fn party_field(&mut self, [x, y, w, h]: [f32; 4], label: &str, value: &str, address: &str) {
        if address.is_empty() {
            return self.field([x, y, w, h], label, value, false);
        }
        self.c.rect(x, y, w, h).stroke();
        self.text(x + 2.0, y + h - 7.0, 5.5, false, label);
        self.text(x + 3.0, y + 8.0, 7.5, false, value);
        self.text(x + 3.0, y + 2.0, 6.0, false, address);
    }

    /// The line that heads both parts of the page: bank name, code with digit, digitable line.
    fn bank_header(&mut self, x: f32, y: f32, codes: &BoletoCodes) {
        self.text(x, y, 12.0, true, codes.bank.name());
        self.text(x + 120.0, y, 12.0, true, codes.bank.code_with_digit());
        self.text(x + 185.0, y, 10.0, true, &codes.digitable_line.formatted());
    }

    fn barcode(&mut self, digits: &str, x: f32, y: f32) {
        let narrow = NARROW_MM * MM;
        for (offset, width) in itf_bars(digits) {
            self.c
                .rect(x + offset * narrow, y, width * narrow, BAR_HEIGHT_MM * MM);
        }
        self.c.fill_nonzero();
    }

    /// Places the QR code of `payload` in the square at (x, y) of side `size`, which includes
    /// four modules of quiet zone. The symbol is a 1-bit image, one sample per module (a few
    /// hundred bytes), scaled up by the page; drawn as rectangles it took ~25 KB and most of the
    /// page's rendering time.
    fn qr(&mut self, payload: &str, x: f32, y: f32, size: f32) -> Result<(), BoletoError> {
        let (n, colors) = qr_modules(payload)?;
        let stride = n.div_ceil(8);
        // DeviceGray at one bit: 1 is white, 0 is black.
        let mut samples = vec![0xFFu8; stride * n];
        for (i, color) in colors.iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (row, col) = (i / n, i % n);
                samples[row * stride + col / 8] &= !(0x80 >> (col % 8));
            }
        }
        let module = size / (n as f32 + 8.0);
        let side = n as f32 * module;
        self.c.save_state();
        self.c
            .transform([side, 0.0, 0.0, side, x + 4.0 * module, y + 4.0 * module]);
        self.c.x_object(QR_IMAGE);
        self.c.restore_state();
        self.qr = Some(QrImage { side: n, samples });
        Ok(())
    }
}

/// A page's PIX QR code as image samples, written as the page's `/Qr` XObject.
struct QrImage {
    /// Modules per side.
    side: usize,
    /// Rows of 1-bit samples, each row padded to a whole byte.
    samples: Vec<u8>,
}

/// The QR code of `payload` (a PIX copia-e-cola) as a standalone SVG, for web pages: one path of
/// dark modules with the four-module quiet zone, scaled by the page.
pub fn qr_svg(payload: &str) -> Result<String, BoletoError> {
    let (side, modules) = qr_modules(payload)?;
    let mut path = String::with_capacity(modules.len() * 4);
    for (i, c) in modules.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % side + 4, i / side + 4));
        }
    }
    let full = side + 8;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code PIX\"><rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

/// The QR symbol's modules (level M), row by row. Any of the eight masks makes a valid symbol;
/// `qrcode`'s "best mask" search scores all eight and costs most of the page's time, so the
/// symbol uses mask 0 (checkerboard) directly. The scan test decodes it with zbar.
fn qr_modules(payload: &str) -> Result<(usize, Vec<qrcode::Color>), BoletoError> {
    use qrcode::canvas::{Canvas, MaskPattern};
    let err = |e: qrcode::types::QrError| BoletoError::Invalid {
        field: "pix",
        reason: format!("cannot encode as a QR code: {e}"),
    };
    let bits = qrcode::bits::encode_auto(payload.as_bytes(), qrcode::EcLevel::M).map_err(err)?;
    let version = bits.version();
    let (data, ec) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, qrcode::EcLevel::M)
            .map_err(err)?;
    let mut canvas = Canvas::new(version, qrcode::EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    canvas.apply_mask(MaskPattern::Checkerboard);
    Ok((
        usize::try_from(version.width()).unwrap_or(0),
        canvas.into_colors(),
    ))
}

fn party_line(p: &Option<crate::banks::Party>) -> String {
    match p {
        Some(p) => match p.document.as_deref() {
            Some(doc) if !doc.is_empty() => format!("{} — CPF/CNPJ {doc}", p.name),
            _ => p.name.clone(),
        },
        None => String::new(),
    }
}

/// Draws one boleto page's content.
fn draw(
    input: &BoletoInput,
    codes: &BoletoCodes,
) -> Result<(Vec<u8>, Option<QrImage>), BoletoError> {
    if let Some(pix) = input.pix.as_deref() {
        BrCode::parse(pix).map_err(|e| BoletoError::Invalid {
            field: "pix",
            reason: e.to_string(),
        })?;
    }
    let mut p = Page {
        c: Content::new(),
        qr: None,
    };
    let left = 15.0 * MM;
    let width = PAGE_W - 2.0 * left;
    let due = format_date(input.due_date);
    let amount = format_brl(input.amount_cents as i64);
    let beneficiary = party_line(&input.beneficiary);
    let payer = party_line(&input.payer);
    let payer_address = input
        .payer
        .as_ref()
        .and_then(|p| p.address.clone())
        .unwrap_or_default();
    let beneficiary_address = input
        .beneficiary
        .as_ref()
        .and_then(|p| p.address.clone())
        .unwrap_or_default();
    let document_number = input.document_number.clone().unwrap_or_default();
    let issue = input.issue_date.map(format_date).unwrap_or_default();
    p.c.set_line_width(0.5);

    // Recibo do pagador.
    let mut y = PAGE_H - 20.0 * MM;
    p.bank_header(left, y, codes);
    y -= 6.0;
    p.text(left, y - 8.0, 7.0, true, "RECIBO DO PAGADOR");
    let recibo_w = if input.pix.is_some() {
        width - 150.0
    } else {
        width
    };
    let h = 22.0;
    y -= 12.0 + h;
    p.party_field(
        [left, y, recibo_w, h],
        "Beneficiário",
        &beneficiary,
        &beneficiary_address,
    );
    y -= h;
    p.field([left, y, recibo_w, h], "Pagador", &payer, false);
    y -= h;
    let quarter = recibo_w / 4.0;
    p.field(
        [left, y, quarter, h],
        "Nosso número",
        &codes.our_number,
        false,
    );
    p.field(
        [left + quarter, y, quarter, h],
        "Número do documento",
        &document_number,
        false,
    );
    p.field(
        [left + 2.0 * quarter, y, quarter, h],
        "Vencimento",
        &due,
        true,
    );
    p.field(
        [left + 3.0 * quarter, y, quarter, h],
        "Valor do documento",
        &amount,
        true,
    );
    y -= h;
    p.field(
        [left, y, recibo_w, h],
        "Agência / Código do beneficiário",
        &codes.beneficiary_code,
        false,
    );
    if let Some(pix) = input.pix.as_deref() {
        let qr_size = 38.0 * MM;
        let qx = left + recibo_w + 12.0;
        let qy = PAGE_H - 30.0 * MM - qr_size;
        p.text(qx + 4.0, qy + qr_size + 4.0, 8.0, true, "Pague com PIX");
        p.qr(pix, qx, qy, qr_size)?;
        // Copia e cola, wrapped under the QR code.
        p.text(qx, qy - 8.0, 5.5, true, "PIX copia e cola:");
        let chars: Vec<char> = pix.chars().collect();
        for (i, chunk) in chars.chunks(38).enumerate() {
            let s: String = chunk.iter().collect();
            p.text(qx, qy - 16.0 - i as f32 * 6.5, 5.0, false, &s);
        }
    }
    p.text(left, y - 10.0, 6.0, false, "Autenticação mecânica");

    // Cut line.
    let cut = PAGE_H / 2.0 + 10.0 * MM;
    p.c.save_state();
    p.c.set_dash_pattern([3.0, 3.0], 0.0);
    p.c.move_to(left, cut).line_to(left + width, cut).stroke();
    p.c.restore_state();
    p.text(
        left + width - 60.0,
        cut + 3.0,
        5.5,
        false,
        "Corte na linha pontilhada",
    );

    // Ficha de compensação.
    let mut y = cut - 14.0 * MM;
    p.bank_header(left, y + 6.0, codes);
    let right_w = 140.0;
    let main_w = width - right_w;
    let rx = left + main_w;
    y -= h;
    p.field(
        [left, y, main_w, h],
        "Local de pagamento",
        "Pagável em qualquer banco até o vencimento",
        false,
    );
    p.field([rx, y, right_w, h], "Vencimento", &due, true);
    y -= h;
    p.party_field(
        [left, y, main_w, h],
        "Beneficiário",
        &beneficiary,
        &beneficiary_address,
    );
    p.field(
        [rx, y, right_w, h],
        "Agência / Código do beneficiário",
        &codes.beneficiary_code,
        false,
    );
    y -= h;
    let fifth = main_w / 5.0;
    p.field([left, y, fifth, h], "Data do documento", &issue, false);
    p.field(
        [left + fifth, y, fifth, h],
        "Nº do documento",
        &document_number,
        false,
    );
    p.field(
        [left + 2.0 * fifth, y, fifth, h],
        "Espécie doc.",
        "DM",
        false,
    );
    p.field([left + 3.0 * fifth, y, fifth, h], "Aceite", "N", false);
    p.field(
        [left + 4.0 * fifth, y, fifth, h],
        "Data do processamento",
        &issue,
        false,
    );
    p.field(
        [rx, y, right_w, h],
        "Nosso número",
        &codes.our_number,
        false,
    );
    y -= h;
    p.field([left, y, fifth, h], "Uso do banco", "", false);
    p.field(
        [left + fifth, y, fifth, h],
        "Carteira",
        input.wallet.as_deref().unwrap_or(""),
        false,
    );
    p.field([left + 2.0 * fifth, y, fifth, h], "Espécie", "R$", false);
    p.field([left + 3.0 * fifth, y, fifth, h], "Quantidade", "", false);
    p.field([left + 4.0 * fifth, y, fifth, h], "Valor", "", false);
    p.field([rx, y, right_w, h], "(=) Valor do documento", &amount, true);
    let instr_h = 5.0 * h;
    y -= instr_h;
    p.c.rect(left, y, main_w, instr_h).stroke();
    p.text(
        left + 2.0,
        y + instr_h - 7.0,
        5.5,
        false,
        "Instruções (texto de responsabilidade do beneficiário)",
    );
    for (i, l) in input.instructions.iter().take(8).enumerate() {
        p.text(
            left + 3.0,
            y + instr_h - 18.0 - i as f32 * 10.0,
            8.0,
            false,
            l,
        );
    }
    for (i, label) in [
        "(-) Desconto / Abatimento",
        "(-) Outras deduções",
        "(+) Mora / Multa",
        "(+) Outros acréscimos",
        "(=) Valor cobrado",
    ]
    .iter()
    .enumerate()
    {
        p.field(
            [rx, y + instr_h - (i + 1) as f32 * h, right_w, h],
            label,
            "",
            false,
        );
    }
    let payer_h = 34.0;
    y -= payer_h;
    p.c.rect(left, y, width, payer_h).stroke();
    p.text(left + 2.0, y + payer_h - 7.0, 5.5, false, "Pagador");
    p.text(left + 3.0, y + payer_h - 17.0, 8.5, false, &payer);
    p.text(left + 3.0, y + payer_h - 28.0, 8.0, false, &payer_address);
    p.text(
        left + width - 150.0,
        y - 8.0,
        6.0,
        false,
        "Autenticação mecânica — Ficha de Compensação",
    );
    // Barcode under the ficha, inside its quiet zones.
    y -= 12.0 + BAR_HEIGHT_MM * MM;
    p.barcode(codes.barcode.as_str(), left + QUIET_ZONE_MM * MM, y);
    Ok((p.c.finish().to_vec(), p.qr))
}

/// Renders a boleto PDF: one page per input (a carnê when there are several).
pub fn render_pdf(inputs: &[BoletoInput]) -> Result<Vec<u8>, BoletoError> {
    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let pages_id = Ref::new(2);
    let font_id = Ref::new(3);
    let bold_id = Ref::new(4);
    let mut next = 5;
    // Per page: the page, its content stream and its QR image (an id is reserved even when
    // there is no image, which keeps the numbering simple).
    let mut page_ids = Vec::with_capacity(inputs.len());
    let mut contents = Vec::with_capacity(inputs.len());
    for input in inputs {
        let codes = input.codes()?;
        contents.push(draw(input, &codes)?);
        page_ids.push((Ref::new(next), Ref::new(next + 1), Ref::new(next + 2)));
        next += 3;
    }
    pdf.catalog(catalog_id).pages(pages_id);
    pdf.pages(pages_id)
        .kids(page_ids.iter().map(|(p, _, _)| *p))
        .count(page_ids.len() as i32);
    pdf.type1_font(font_id)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for ((page_id, content_id, image_id), (content, qr)) in page_ids.iter().zip(&contents) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(pages_id)
            .contents(*content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(FONT, font_id).pair(FONT_BOLD, bold_id);
        fonts.finish();
        if qr.is_some() {
            resources.x_objects().pair(QR_IMAGE, *image_id);
        }
        resources.finish();
        page.finish();
        pdf.stream(*content_id, content);
        if let Some(qr) = qr {
            let mut image = pdf.image_xobject(*image_id, &qr.samples);
            image
                .width(qr.side as i32)
                .height(qr.side as i32)
                .bits_per_component(1)
                .interpolate(false);
            image.color_space().device_gray();
        }
    }
    Ok(pdf.finish())
}

/// A document of text pages (A4, Helvetica and Helvetica-Bold): one page per content stream.
fn text_pages_pdf(pages: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let pages_id = Ref::new(2);
    let font_id = Ref::new(3);
    let bold_id = Ref::new(4);
    let page_ids: Vec<(Ref, Ref)> = (0..pages.len() as i32)
        .map(|i| (Ref::new(5 + 2 * i), Ref::new(6 + 2 * i)))
        .collect();
    pdf.catalog(catalog_id).pages(pages_id);
    pdf.pages(pages_id)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);
    pdf.type1_font(font_id)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for ((page_id, content_id), content) in page_ids.iter().zip(pages) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(pages_id)
            .contents(*content_id);
        let mut resources = page.resources();
        resources
            .fonts()
            .pair(FONT, font_id)
            .pair(FONT_BOLD, bold_id);
        resources.finish();
        page.finish();
        pdf.stream(*content_id, &content.finish());
    }
    pdf.finish()
}

/// A collection letter ("carta de cobrança") as a letter: who sends it, to whom, where and
/// when, what about, the text, and the open invoices it is about.
#[derive(Debug, Clone, Default)]
pub struct LetterDoc {
    /// The letterhead: the sender's name (printed bold), then its other lines (CNPJ, address,
    /// phone and e-mail).
    pub sender: Vec<String>,
    /// The recipient's block: name, then address lines.
    pub recipient: Vec<String>,
    /// Place and date, as the letter prints them ("Campinas, 15 de janeiro de 2026").
    pub place_date: String,
    /// The subject line.
    pub subject: String,
    /// The text, one paragraph per line.
    pub body: String,
    /// The table's heading, one cell per column.
    pub table_head: Vec<String>,
    /// The table's rows (the open invoices), as printed.
    pub table: Vec<Vec<String>>,
    /// The line under the table ("Total em aberto: R$ …").
    pub total: String,
    /// The signature (the sender's name).
    pub signature: String,
}

/// Renders a [`LetterDoc`] on A4: letterhead and a rule, the recipient's block, place and
/// date, the subject in bold, the text wrapped at the page width, the invoices' table, the
/// total, and the signature; as many pages as it takes.
pub fn render_letter_pdf(letter: &LetterDoc) -> Vec<u8> {
    const SIZE: f32 = 10.5;
    const LEADING: f32 = 15.0;
    const LEFT: f32 = 25.0 * MM;
    const TOP: f32 = PAGE_H - 20.0 * MM;
    const BOTTOM: f32 = 25.0 * MM;
    let width = PAGE_W - 2.0 * LEFT;
    let max_chars = (width / (SIZE * 0.5)) as usize;
    // Each element: (gap before, size, bold, x offset, text, column texts for a table row).
    enum Item {
        Line { size: f32, bold: bool, text: String },
        Row { bold: bool, cells: Vec<String> },
        Rule,
        Gap(f32),
    }
    let mut items: Vec<Item> = Vec::new();
    for (i, line) in letter.sender.iter().enumerate() {
        items.push(Item::Line {
            size: if i == 0 { 13.0 } else { 8.5 },
            bold: i == 0,
            text: line.clone(),
        });
    }
    items.push(Item::Rule);
    items.push(Item::Gap(LEADING));
    for line in &letter.recipient {
        items.push(Item::Line {
            size: SIZE,
            bold: false,
            text: line.clone(),
        });
    }
    items.push(Item::Gap(LEADING));
    items.push(Item::Line {
        size: SIZE,
        bold: false,
        text: letter.place_date.clone(),
    });
    items.push(Item::Gap(LEADING));
    if !letter.subject.is_empty() {
        items.push(Item::Line {
            size: SIZE,
            bold: true,
            text: letter.subject.clone(),
        });
        items.push(Item::Gap(LEADING * 0.5));
    }
    for paragraph in letter.body.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max_chars {
                items.push(Item::Line {
                    size: SIZE,
                    bold: false,
                    text: std::mem::take(&mut line),
                });
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        items.push(Item::Line {
            size: SIZE,
            bold: false,
            text: line,
        });
    }
    if !letter.table.is_empty() {
        items.push(Item::Gap(LEADING * 0.5));
        items.push(Item::Row {
            bold: true,
            cells: letter.table_head.clone(),
        });
        for row in &letter.table {
            items.push(Item::Row {
                bold: false,
                cells: row.clone(),
            });
        }
        if !letter.total.is_empty() {
            items.push(Item::Line {
                size: SIZE,
                bold: true,
                text: letter.total.clone(),
            });
        }
    }
    items.push(Item::Gap(LEADING * 1.5));
    items.push(Item::Line {
        size: SIZE,
        bold: false,
        text: "Atenciosamente,".into(),
    });
    items.push(Item::Line {
        size: SIZE,
        bold: true,
        text: letter.signature.clone(),
    });
    // Lay the items out on pages.
    let mut pages: Vec<Content> = Vec::new();
    let mut p = Page {
        c: Content::new(),
        qr: None,
    };
    let mut y = TOP;
    for item in &items {
        let height = match item {
            Item::Line { size, .. } => size.max(SIZE) * LEADING / SIZE,
            Item::Row { .. } => LEADING,
            Item::Rule => 6.0,
            Item::Gap(g) => *g,
        };
        if y - height < BOTTOM {
            pages.push(
                std::mem::replace(
                    &mut p,
                    Page {
                        c: Content::new(),
                        qr: None,
                    },
                )
                .c,
            );
            y = TOP;
        }
        match item {
            Item::Line { size, bold, text } => {
                y -= height;
                p.text(LEFT, y, *size, *bold, text);
            }
            Item::Row { bold, cells } => {
                y -= height;
                let columns = cells.len().max(1) as f32;
                for (i, cell) in cells.iter().enumerate() {
                    p.text(
                        LEFT + width * i as f32 / columns,
                        y,
                        SIZE - 1.0,
                        *bold,
                        cell,
                    );
                }
            }
            Item::Rule => {
                y -= height;
                p.c.move_to(LEFT, y).line_to(LEFT + width, y).stroke();
            }
            Item::Gap(_) => y -= height,
        }
    }
    pages.push(p.c);
    text_pages_pdf(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itf_has_start_stop_and_the_febraban_width() {
        let bars = itf_bars(&"0".repeat(44));
        // 2 start bars + 5 per digit pair × 22 + 2 stop bars.
        assert_eq!(bars.len(), 2 + 22 * 5 + 2);
        let (last_x, last_w) = *bars.last().unwrap();
        // 4 start units + 22 pairs × 18 units + 5 stop units = 405 narrow units ≈ 133.7 mm.
        assert_eq!(last_x + last_w, 405.0);
        assert!(((last_x + last_w) * NARROW_MM - 133.65).abs() < 0.01);
    }

    #[test]
    fn a_long_letter_flows_onto_more_pages() {
        let letter = |body: &str| LetterDoc {
            sender: vec!["Provedor".into(), "CNPJ 12.345.678/0001-95".into()],
            recipient: vec!["Maria".into()],
            subject: "Carta de cobrança".into(),
            body: body.into(),
            table_head: vec!["Fatura".into(), "Valor".into()],
            table: vec![vec!["K1/2026-01".into(), "R$ 99,90".into()]],
            ..LetterDoc::default()
        };
        let short = render_letter_pdf(&letter("Prezado cliente,\n\nPague."));
        assert!(short.starts_with(b"%PDF-"));
        assert!(short.windows(8).any(|w| w == b"/Count 1"));
        let long_body = "Linha de texto da carta.\n".repeat(200);
        let long = render_letter_pdf(&letter(&long_body));
        let count = long
            .windows(7)
            .position(|w| w == b"/Count ")
            .map(|i| long[i + 7] - b'0')
            .unwrap();
        assert!(count >= 4, "{count} pages");
    }

    #[test]
    fn portuguese_letters_survive_win_ansi() {
        assert_eq!(win_ansi("Ação é Pagável"), b"A\xe7\xe3o \xe9 Pag\xe1vel");
        assert_eq!(win_ansi("→"), b"?");
    }
}
