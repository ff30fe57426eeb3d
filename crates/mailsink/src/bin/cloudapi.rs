//! `cloudapi [--bind 127.0.0.1:0] [--token T]`: the local stand-in for Meta's WhatsApp Cloud API
//! (`mailsink::cloudapi`), for `bench/whatsapp`. Prints `http://ADDR/v21.0` (the base URL an
//! account is given) on its first line and serves until killed.

#![forbid(unsafe_code)]

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:0".to_string();
    let mut token = mailsink::cloudapi::TOKEN.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().expect("--bind ADDR"),
            "--token" => token = args.next().expect("--token T"),
            other => {
                eprintln!("unknown argument {other}; usage: cloudapi [--bind ADDR] [--token T]");
                std::process::exit(2);
            }
        }
    }
    let api = mailsink::cloudapi::CloudApi::start_on(&bind, &token, false).await;
    println!("{}", api.api_url());
    std::future::pending::<()>().await;
}
