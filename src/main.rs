//! The `myelectricaldata-mqtt` binary: parses the command line, loads the configuration and
//! hands over to the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use myelectricaldata_mqtt::app;
use myelectricaldata_mqtt::clock::SystemClock;
use myelectricaldata_mqtt::config::{self, Sources};
use myelectricaldata_mqtt::gateway::Gateway;
use myelectricaldata_mqtt::model::RedactedLines;
use myelectricaldata_mqtt::pipeline::Pipeline;

const USAGE: &str = "\
MyElectricalData (Linky, Tempo, EcoWatt) to MQTT, with Home Assistant discovery.

Usage: myelectricaldata-mqtt [OPTIONS] [COMMAND]

Commands:
  run    Daemon: sync on schedule, publish, stay connected (default)
  once   One sync and publish cycle, then exit
  check  Validate the configuration, test the store, the broker and the gateway credentials
  demo   Offline demo on built-in sample data: no account, no network

Options (before or after the command):
      --options <PATH>  Options file (JSON), as the Supervisor writes it
      --data-dir <DIR>  Persistent folder for the store
  -h, --help            Print help
  -V, --version         Print version
";

const SHORT_USAGE: &str =
    "Usage: myelectricaldata-mqtt [--options PATH] [--data-dir DIR] [run|once|check|demo]";

/// The command line: the two global options, before or after the command.
#[derive(Default)]
struct Cli {
    options: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    command: Option<Command>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Run,
    Once,
    Check,
    Demo,
}

/// What the command line asks for.
enum Parsed {
    Work(Cli),
    /// `--help` or `--version`: this text on standard output, exit 0.
    Print(String),
}

impl Cli {
    fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Parsed, lexopt::Error> {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_args(args);
        let mut cli = Cli::default();
        while let Some(arg) = parser.next()? {
            match arg {
                Long("options") => cli.options = Some(parser.value()?.into()),
                Long("data-dir") => cli.data_dir = Some(parser.value()?.into()),
                Short('h') | Long("help") => return Ok(Parsed::Print(USAGE.into())),
                Short('V') | Long("version") => {
                    let version = concat!("myelectricaldata-mqtt ", env!("CARGO_PKG_VERSION"));
                    return Ok(Parsed::Print(format!("{version}\n")));
                }
                Value(word) if cli.command.is_none() => {
                    cli.command = Some(match word.to_str() {
                        Some("run") => Command::Run,
                        Some("once") => Command::Once,
                        Some("check") => Command::Check,
                        Some("demo") => Command::Demo,
                        _ => return Err(format!("unknown command {word:?}").into()),
                    });
                }
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(Parsed::Work(cli))
    }
}

/// Exit status for a configuration that cannot work.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    // A panic message may quote any value: it goes out like every other line.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(RedactedLines::new(std::io::stderr()), "{info}");
    }));
    let cli = match Cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Work(cli)) => cli,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n{SHORT_USAGE} (--help for more)");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    // One crypto provider for both reqwest and rumqttc. Installing fails only when one is
    // already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut sources = Sources::from_process(cli.options.clone(), cli.data_dir.clone());
    sources.demo = command == Command::Demo;
    let loaded = match config::load(&sources) {
        Ok(loaded) => loaded,
        Err(error) => {
            let _ = writeln!(RedactedLines::new(std::io::stderr()), "{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(loaded.settings.log_level.as_filter());
    for warning in &loaded.warnings {
        tracing::warn!("configuration: {warning}");
    }

    one_heap_arena();
    // One thread: the work is I/O-bound and a Raspberry Pi's memory is precious. The few
    // blocking threads (name resolution) go away soon after use instead of idling with
    // their stacks.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(execute(command, loaded.settings, cli.data_dir));
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(
    command: Command,
    settings: config::Settings,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let clock = Arc::new(SystemClock);
    match command {
        Command::Demo => {
            let mut out = RedactedLines::new(std::io::stdout().lock());
            myelectricaldata_mqtt::demo::demo(settings, data_dir.as_deref(), clock, &mut out)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let ok = app::check(&settings, &mut RedactedLines::new(std::io::stdout())).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Once => {
            let gateway = Gateway::from_settings(&settings.gateway, &settings.meters)?;
            let pipeline = Pipeline::open(settings, gateway, clock).await?;
            let ok = app::once(&pipeline).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Run => {
            let gateway = Gateway::from_settings(&settings.gateway, &settings.meters)?;
            app::run_daemon(settings, gateway, clock, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One heap for every thread (glibc gives each thread that allocates an arena of its own):
/// the runtime, SQLite's thread and the blocking threads allocate little, and what they free
/// goes back to one heap that the trims after each sync and page give back whole. (musl,
/// the add-on image's libc, has one heap anyway.)
fn one_heap_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only sets glibc's tunable, before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// SIGTERM (how the Supervisor stops an add-on) or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    // RUST_LOG, when set, replaces the option (`debug`, `info,rumqttc=debug`, …).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            let level = level.parse().unwrap_or(LevelFilter::INFO);
            Targets::new()
                .with_default(level)
                .with_targets([("rumqttc", LevelFilter::WARN), ("sqlx", LevelFilter::WARN)])
                .with_target("hyper", LevelFilter::WARN)
                .with_target("reqwest", LevelFilter::WARN)
        });
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(|| RedactedLines::new(std::io::stderr()))
                .with_target(false),
        )
        .with(filter)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, lexopt::Error> {
        Cli::parse(args.iter().map(std::ffi::OsString::from))
    }

    fn work(args: &[&str]) -> Cli {
        match parse(args) {
            Ok(Parsed::Work(cli)) => cli,
            _ => panic!("{args:?} should parse"),
        }
    }

    #[test]
    fn the_global_options_go_before_or_after_the_command() {
        for args in [
            &["--options", "o.json", "--data-dir", "d", "check"][..],
            &["check", "--options=o.json", "--data-dir", "d"][..],
            &["--options", "o.json", "check", "--data-dir", "d"][..],
        ] {
            let cli = work(args);
            assert!(cli.command == Some(Command::Check), "{args:?}");
            assert_eq!(cli.options, Some(PathBuf::from("o.json")), "{args:?}");
            assert_eq!(cli.data_dir, Some(PathBuf::from("d")), "{args:?}");
        }
        let default = work(&[]);
        assert!(default.command.is_none() && default.options.is_none());
    }

    #[test]
    fn help_and_version_print_and_mistakes_are_errors() {
        for args in [&["--help"][..], &["once", "-h"][..]] {
            assert!(matches!(parse(args), Ok(Parsed::Print(text)) if text == USAGE));
        }
        let Ok(Parsed::Print(version)) = parse(&["-V"]) else {
            panic!("a version");
        };
        assert_eq!(
            version,
            format!("myelectricaldata-mqtt {}\n", env!("CARGO_PKG_VERSION"))
        );
        for wrong in [
            &["bogus"][..],
            &["run", "once"][..],
            &["--nope"][..],
            &["--options"][..],
        ] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
    }
}
