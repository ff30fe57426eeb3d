//! `mailsink [ADDR] [--ids FILE]`: runs the test SMTP server (default 127.0.0.1:2525) and prints
//! how many messages it accepted, once a second while the count changes. With `--ids FILE`, it
//! also rewrites FILE each second with the Message-ID of every message accepted so far, one per
//! line, in order — how `bench/scaleout` counts duplicates. For benchmarks and manual tests.

#![forbid(unsafe_code)]

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut addr = "127.0.0.1:2525".to_string();
    let mut ids: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--ids" {
            ids = Some(
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("--ids needs a file"))?
                    .into(),
            );
        } else {
            addr = a;
        }
    }
    let sink = mailsink::Sink::start_on(&addr, mailsink::SinkConfig::default()).await?;
    eprintln!("mailsink listening on {}", sink.addr);
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = sink.count();
        if n != last {
            eprintln!("{n} accepted ({} per second)", n - last);
            last = n;
            if let Some(path) = &ids {
                let lines: String = sink
                    .received()
                    .iter()
                    .map(|m| format!("{}\n", m.message_id.as_deref().unwrap_or("-")))
                    .collect();
                // Written aside and renamed, so a reader never sees half a file.
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, lines)?;
                std::fs::rename(&tmp, path)?;
            }
        }
    }
}
