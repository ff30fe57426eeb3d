//! `mailsink [ADDR]`: runs the test SMTP server (default 127.0.0.1:2525) and prints how many
//! messages it accepted, once a second while the count changes. For benchmarks and manual tests.

#![forbid(unsafe_code)]

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2525".into());
    let sink = mailsink::Sink::start_on(&addr, mailsink::SinkConfig::default()).await?;
    eprintln!("mailsink listening on {}", sink.addr);
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = sink.count();
        if n != last {
            eprintln!("{n} accepted ({} per second)", n - last);
            last = n;
        }
    }
}
