//! The `hookhost` command line. `main.rs` parses nothing itself: it calls [`main`].

use crate::config::Config;
use crate::sandbox::Limits;
use crate::{runner, server};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// hookhost: a WebAssembly plugin host for marketplace webhooks.
#[derive(Debug, Parser)]
#[command(name = "hookhost", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `HOOKHOST_*` variables override it.
    #[arg(long, global = true, env = "HOOKHOST_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve the bundled example plugins on a local port and print commands that use them.
    Demo {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Work with plugin components locally.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `hookhost plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Invoke a component once, under production limits, and print what happened.
    Run(RunArgs),
    /// Validate a component against the WIT world and describe it.
    Check {
        /// The component (.wasm).
        component: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hookhost plugin run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The component (.wasm).
    pub component: PathBuf,
    /// Module or object type: estate, address, task, calendar, Order, Request, Account, ….
    #[arg(long)]
    pub module: String,
    /// Record id.
    #[arg(long, default_value = "")]
    pub record: String,
    /// Payload file (JSON or text); `-` reads standard input.
    #[arg(long)]
    pub payload: PathBuf,
    /// Event: create, update, execute, validate, process-step, test.
    #[arg(long, default_value = "update", value_parser = runner::parse_event)]
    pub event: crate::sandbox::Event,
    /// Invocation parameter `name=value` (repeatable).
    #[arg(long = "param", value_parser = key_value)]
    pub params: Vec<(String, String)>,
    /// Activation parameter served by `config` (`key=value`, repeatable).
    #[arg(long = "set", value_parser = key_value)]
    pub settings: Vec<(String, String)>,
    /// Host outbound HTTP may reach, `name` or `name:port` (repeatable).
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// Deadline in ms (default: the configured production default).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB (default: the configured production default).
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Fuel budget (default: unlimited, but metered).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected name=value, got `{text}`"))
}

/// Runs the command line; returns the process exit code.
pub fn main() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    init_tracing(&config.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            rt.block_on(server::serve(config))?;
            Ok(0)
        }
        Command::Demo { port, data_dir } => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            config.listen = format!("127.0.0.1:{port}");
            rt.block_on(crate::demo::run(config))?;
            Ok(0)
        }
        Command::Plugin(PluginCommand::Check { component, json }) => {
            let runtime = runner::runtime(&config)?;
            match runner::check(&runtime, &component) {
                Ok(info) if json => println!("{}", serde_json::to_string_pretty(&info)?),
                Ok(info) => {
                    println!("ok: {} is a valid plugin", component.display());
                    println!("digest: sha256:{}", info.digest);
                    println!("size: {} bytes", info.size);
                    println!("wit: marketplace:webhook@{}", info.wit_version);
                    println!("imports:");
                    for import in &info.imports {
                        println!("  {import}");
                    }
                }
                Err(error) => {
                    eprintln!("refused: {error:#}");
                    return Ok(1);
                }
            }
            Ok(0)
        }
        Command::Plugin(PluginCommand::Run(args)) => rt.block_on(plugin_run(&config, args)),
    }
}

async fn plugin_run(config: &Config, args: RunArgs) -> anyhow::Result<i32> {
    let payload = if args.payload.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the payload from stdin")?
    } else {
        std::fs::read_to_string(&args.payload)
            .with_context(|| format!("reading payload {}", args.payload.display()))?
    };
    let defaults = config.sandbox.defaults;
    let limits = Limits {
        timeout_ms: args.timeout_ms.unwrap_or(defaults.timeout_ms),
        memory_bytes: args.memory_mib.map_or(defaults.memory_bytes, |m| m << 20),
        fuel: args.fuel.or(defaults.fuel),
        ..defaults
    };
    let runtime = runner::runtime(config)?;
    let request = runner::RunRequest {
        module: args.module,
        record_id: args.record,
        event: args.event,
        payload,
        params: args.params,
        config: args.settings.into_iter().collect::<BTreeMap<_, _>>(),
        allow_hosts: args.allow_hosts,
        limits: Some(limits),
    };
    let result = runner::run(&runtime, &args.component, request).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runner::render_json(&result))?
        );
    } else {
        print!("{}", runner::render(&result));
    }
    Ok(if result.report.result.is_ok() { 0 } else { 1 })
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
