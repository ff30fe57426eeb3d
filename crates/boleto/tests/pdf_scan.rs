//! The PDF scans: rasterised by `pdftoppm` (poppler-utils) and decoded by `zbarimg` (zbar-tools),
//! the barcode must read back as the 44-digit code and the QR code as the PIX payload.
//! `scripts/test` installs both tools.

use std::process::Command;

#[path = "common/sample.rs"]
mod sample;

use sample::hybrid_boleto;

fn scan(pdf: &[u8]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("boleto-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf_path = dir.join("boleto.pdf");
    std::fs::write(&pdf_path, pdf).unwrap();
    let status = Command::new("pdftoppm")
        .args(["-r", "300", "-png", "-singlefile"])
        .arg(&pdf_path)
        .arg(dir.join("page"))
        .status()
        .expect("pdftoppm (poppler-utils) must be installed: run ./scripts/test");
    assert!(status.success());
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(dir.join("page.png"))
        .output()
        .expect("zbarimg (zbar-tools) must be installed: run ./scripts/test");
    assert!(
        out.status.success(),
        "zbarimg found nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_barcode_and_the_pix_qr_code_scan_back() {
    let input = hybrid_boleto(jiff::civil::date(2026, 12, 10), 123);
    let codes = input.codes().unwrap();
    let pdf = boleto::pdf::render_pdf(std::slice::from_ref(&input)).unwrap();
    // Issue #3: a single page with the PIX QR code stays under 20 KB.
    assert!(pdf.len() < 20 * 1024, "{} bytes", pdf.len());
    let decoded = scan(&pdf);
    assert!(
        decoded.contains(&codes.barcode.as_str().to_string()),
        "barcode not decoded: {decoded:?}"
    );
    assert!(
        decoded.contains(input.pix.as_ref().unwrap()),
        "PIX QR not decoded: {decoded:?}"
    );
}

#[test]
fn a_carne_has_one_page_per_boleto_and_accented_text() {
    let inputs: Vec<_> = (1..=12)
        .map(|month| hybrid_boleto(jiff::civil::date(2027, month, 10), month as u32))
        .collect();
    let pdf = boleto::pdf::render_pdf(&inputs).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert_eq!(
        text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count(),
        12,
        "one page per boleto"
    );
    let dir = std::env::temp_dir().join(format!("carne-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("carne.pdf"), &pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-f", "12", "-l", "12"])
        .arg(dir.join("carne.pdf"))
        .arg("-")
        .output()
        .unwrap();
    let page12 = String::from_utf8(out.stdout).unwrap();
    assert!(page12.contains("João Conceição Magalhães"), "{page12}");
    assert!(page12.contains("Pagável em qualquer banco"), "{page12}");
    assert!(page12.contains("10/12/2027"), "{page12}");
    assert!(page12.contains("R$ 149,90"), "{page12}");
}

#[test]
fn a_bad_pix_payload_is_a_typed_error_naming_the_field() {
    let mut input = hybrid_boleto(jiff::civil::date(2026, 12, 10), 123);
    input.pix = Some("000201nonsense6304ABCD".into());
    let err = boleto::pdf::render_pdf(&[input]).unwrap_err();
    assert!(
        matches!(err, boleto::BoletoError::Invalid { field: "pix", .. }),
        "{err}"
    );
}

/// The portal's QR code: the SVG's modules, drawn 8 pixels each into a PGM, scan back as the
/// PIX payload.
#[test]
fn the_svg_qr_code_scans_back() {
    let payload = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
    let svg = boleto::pdf::qr_svg(payload).unwrap();
    let side: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let scale = 8;
    let w = side * scale;
    let mut pixels = vec![255u8; w * w];
    for cell in path.split('M').filter(|c| !c.is_empty()) {
        let xy: Vec<usize> = cell
            .trim_end_matches("h1v1h-1z")
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        for dy in 0..scale {
            for dx in 0..scale {
                pixels[(xy[1] * scale + dy) * w + xy[0] * scale + dx] = 0;
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("qr-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("qr.pgm");
    let mut pgm = format!("P5\n{w} {w}\n255\n").into_bytes();
    pgm.extend(pixels);
    std::fs::write(&file, pgm).unwrap();
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&file)
        .output()
        .expect("zbarimg (zbar-tools) must be installed: run ./scripts/test");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), payload);
}
