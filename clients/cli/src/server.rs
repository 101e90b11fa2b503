//! `fip server`: runs the platform, or a part of it, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use fip_kit::config::Config;
use fip_kit::mesh::ServiceName;

use crate::platform::{self, Selection};

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Embedded defaults for one machine: every service and the gateway in
    /// this process, SQLite, in-process queue, local files, and keys created
    /// in the data dir when missing.
    #[arg(long)]
    pub dev: bool,
    /// A TOML configuration file (FIP_* environment variables override it).
    #[arg(long, short, env = "FIP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where databases, files and keys live.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The gateway's address.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Run only these parts (comma-separated: user, registry, jobs, files,
    /// notify, monitor, gateway); the others are reached at their configured URLs.
    #[arg(long, value_delimiter = ',')]
    pub services: Option<Vec<String>>,
}

/// Loads the configuration the flags describe.
pub fn config_from(args: &ServerArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.dev {
        config.auth.generate_missing_keys = true;
    }
    Ok(config)
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    fip_kit::telemetry::init(&config);
    let selection = match &args.services {
        Some(names) => Selection::parse(names)?,
        None => Selection::all(),
    };
    let started = std::time::Instant::now();
    let running = platform::start(config, &selection).await?;
    print_banner(&running, started.elapsed());
    running.run_until(fip_kit::serve::wait_for_signal()).await?;
    println!("fip stopped");
    Ok(())
}

fn print_banner(running: &platform::Platform, took: std::time::Duration) {
    let config = &running.config;
    let storage = match &config.database_url {
        Some(_) => "PostgreSQL".to_string(),
        None => format!("SQLite in {}", config.data_dir.display()),
    };
    let queue = if config.redis_url.is_some() {
        "Redis"
    } else {
        "in-process"
    };
    println!(
        "fip is up in {} ms ({storage}, {queue} queue)",
        took.as_millis()
    );
    if let Some(url) = running.gateway_url() {
        println!("  gateway   {url}   gRPC, gRPC-web and REST/JSON (/api)");
    }
    for (name, addr) in &running.services {
        println!("  {:<9} http://{addr}   internal", name.as_str());
    }
    let elsewhere: Vec<_> = ServiceName::ALL
        .into_iter()
        .filter(|n| !running.services.contains_key(n))
        .collect();
    if !elsewhere.is_empty() {
        let names: Vec<_> = elsewhere.iter().map(|n| n.as_str()).collect();
        println!("  elsewhere: {}", names.join(", "));
    }
    println!("Press Ctrl-C to stop.");
}
