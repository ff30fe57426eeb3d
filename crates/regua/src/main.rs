//! The `regua` command. Everything lives in the library; this only parses and dispatches.

#![forbid(unsafe_code)]

/// mimalloc instead of glibc's allocator: the bulk paths allocate a few small values per row on
/// several threads, where glibc spent a third of an import's time (docs/storage.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    let cli = match regua::cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: configuration file {e}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGUA_LOG").unwrap_or_else(|_| {
                regua::config::get()
                    .log
                    .as_deref()
                    .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
                    .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"))
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    match regua::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // The whole cause chain, once.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `regua log | head`: when the reader goes away, Rust ignores SIGPIPE and `println!` panics
/// with "failed printing to stdout: Broken pipe". A command whose output nobody reads any more
/// has nothing left to say: exit quietly with 141 (128 + SIGPIPE), as a C tool killed by the
/// signal would, instead of printing a panic. Any other panic keeps the default report.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") || message.contains("os error 32") {
            std::process::exit(141);
        }
        default(info);
    }));
}
