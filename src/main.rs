//! # shoal
//!
//! The one binary: `shoal serve` runs the SMB and NFS services over one backing directory;
//! `shoal check` validates a config; `shoal user` manages the SMB user database.
//!
//! Tour: [`config`] reads `shoal.toml` (or builds the embedded default), [`serve`] wires the
//! VFS, protocol services and shutdown, `user_cmd` holds the user subcommands.

mod audit_cmd;
mod config;
mod serve;
mod user_cmd;
mod user_sids;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Clustered SMB3 + NFSv3 file server.
#[derive(Parser)]
#[command(name = "shoal", version, about)]
struct Cli {
    /// Config file. Without it, `./shoal.toml` if present, else the embedded default.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the file server.
    Serve {
        /// Once every listener is bound, write `proto=addr` lines here (for scripts/tests
        /// that bind port 0).
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Check a config file and exit: the first error names the key (and line).
    Check,
    /// Read the audit log: view events, show forwarding progress, move a sink's cursor.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// Manage SMB users.
    User {
        #[command(subcommand)]
        command: user_cmd::UserCommand,
    },
}

/// A loaded config: the parsed form, where it came from, and its text (audited as the
/// `config` topic).
struct Loaded {
    cfg: config::Config,
    origin: String,
    path: Option<PathBuf>,
    text: String,
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Loaded> {
    let path = match path {
        Some(p) => Some(p.clone()),
        None => {
            let p = PathBuf::from("shoal.toml");
            p.exists().then_some(p)
        }
    };
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            let origin = p.display().to_string();
            let cfg = config::Config::parse(&text, &origin)?;
            Ok(Loaded {
                cfg,
                origin,
                path: Some(p),
                text,
            })
        }
        None => Ok(Loaded {
            cfg: config::Config::embedded(),
            origin: "embedded default".to_string(),
            path: None,
            text: config::EMBEDDED_TEXT.to_string(),
        }),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { ready_file } => {
            let loaded = load_config(cli.config.as_ref())?;
            serve::run(
                loaded.cfg,
                &loaded.origin,
                loaded.path,
                loaded.text,
                ready_file,
            )
        }
        Command::Check => {
            let Loaded { cfg, origin, .. } = load_config(cli.config.as_ref())?;
            println!(
                "{origin}: ok ({} zone(s), {} NFS export(s), {} SMB share(s))",
                cfg.zones().len(),
                cfg.nfs.exports.len(),
                cfg.smb.shares.len()
            );
            Ok(())
        }
        Command::User { command } => {
            let cfg = load_config(cli.config.as_ref())?.cfg;
            user_cmd::run(command, &cfg.server.state_dir)
        }
        Command::Audit { command } => {
            let cfg = load_config(cli.config.as_ref())?.cfg;
            let log_dir = cfg.audit_config()?.log_dir;
            audit_cmd::run(command, &log_dir)
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("shoal: {e:#}");
        std::process::exit(1);
    }
}
