//! `cargo bench -p boleto`: boleto PDFs per second on one core — single pages with the PIX QR
//! code, and 12-page carnês — with the PDF sizes. Plain timing (no harness) so it runs anywhere;
//! the figures go to BENCHMARKS.md.

use std::time::Instant;

use boleto::BoletoInput;

#[path = "../tests/common/sample.rs"]
mod sample;

use sample::hybrid_boleto;

fn input(month: i8, our_number: u32) -> BoletoInput {
    hybrid_boleto(jiff::civil::date(2027, month, 10), our_number)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too, without it, and
    // then a few PDFs of each kind show the bench still works without spending CI's time.
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 20_000u32 } else { 24 };
    // Where the time goes: the same boletos without the PIX QR code.
    let plain: Vec<BoletoInput> = (0..n)
        .map(|i| BoletoInput {
            pix: None,
            ..input(1 + (i % 12) as i8, i + 1)
        })
        .collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in &plain {
        bytes += boleto::pdf::render_pdf(std::slice::from_ref(i))
            .unwrap()
            .len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "single page without PIX: {n} PDFs in {secs:.2} s = {:.0} PDFs/s; mean {:.1} KB",
        f64::from(n) / secs,
        bytes as f64 / f64::from(n) / 1024.0
    );
    let inputs: Vec<BoletoInput> = (0..n).map(|i| input(1 + (i % 12) as i8, i + 1)).collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    let mut max = 0usize;
    for i in &inputs {
        let pdf = boleto::pdf::render_pdf(std::slice::from_ref(i)).unwrap();
        bytes += pdf.len();
        max = max.max(pdf.len());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "single page with PIX QR: {n} PDFs in {secs:.2} s = {:.0} PDFs/s; mean {:.1} KB, max {:.1} KB",
        f64::from(n) / secs,
        bytes as f64 / f64::from(n) / 1024.0,
        max as f64 / 1024.0
    );
    let carnes = if full { 2_000u32 } else { 2 };
    let start = Instant::now();
    let mut bytes = 0usize;
    for c in 0..carnes as usize {
        let pages = &inputs[(c * 12) % (inputs.len() - 12)..][..12];
        bytes += boleto::pdf::render_pdf(pages).unwrap().len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "12-page carnê: {carnes} PDFs in {secs:.2} s = {:.0} carnês/s ({:.0} pages/s); mean {:.1} KB",
        f64::from(carnes) / secs,
        f64::from(carnes * 12) / secs,
        bytes as f64 / f64::from(carnes) / 1024.0
    );
}
