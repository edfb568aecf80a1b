//! `shoal audit view|progress|cursor`: reads the audit log directory directly (works whether
//! or not the server runs). See `docs/audit.md`.
//!
//! - `view` prints the events of a topic as JSON lines, for one node or all nodes merged by
//!   time, between `--start` and `--end`; it seeks with the per-segment time index, so a
//!   window does not read the whole log (`-v` prints what was read to standard error).
//! - `progress` shows per node the last logged event of each topic and, per sink, the last
//!   event it confirmed.
//! - `cursor` asks a sink's forwarder to resend from a time on (applied by the running server
//!   at its next step, or at the next start).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use shoal_audit::time::{format_rfc3339, parse_time};
use shoal_audit::{view, Topic};

/// Audit subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Print events as JSON lines.
    View {
        /// `protocol` (client activity) or `config` (settings changes).
        #[arg(long, default_value = "protocol")]
        topic: String,
        /// Only this node (default: every node, merged by time).
        #[arg(long)]
        node: Option<String>,
        /// From this time (RFC 3339 such as 2026-11-25T13:00:00Z, a date, or epoch seconds).
        #[arg(long)]
        start: Option<String>,
        /// Up to this time (inclusive).
        #[arg(long)]
        end: Option<String>,
        /// Print to standard error how many events were printed and bytes read.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Per node: time of the last logged event, and the last event sent per sink.
    Progress,
    /// Move a sink's cursor: the sink is sent again every event from `--time` on.
    Cursor {
        /// Sink name (`[[audit.sinks]] name`).
        #[arg(long)]
        sink: String,
        /// Time to resend from.
        #[arg(long)]
        time: String,
        /// Topic of the cursor.
        #[arg(long, default_value = "protocol")]
        topic: String,
        /// Node whose forwarder to move (default: the only node in the log directory).
        #[arg(long)]
        node: Option<String>,
    },
}

fn topic(s: &str) -> anyhow::Result<Topic> {
    Topic::parse(s).with_context(|| format!("--topic: `{s}` is not `protocol` or `config`"))
}

fn time(flag: &str, s: &Option<String>, default: i64) -> anyhow::Result<i64> {
    match s {
        None => Ok(default),
        Some(s) => parse_time(s).with_context(|| {
            format!("{flag}: `{s}` is not a time (RFC 3339 like 2026-11-25T13:00:00Z, a date, or epoch seconds)")
        }),
    }
}

/// Runs an audit subcommand against `log_dir` (the `[audit] log_dir`, default
/// `<state_dir>/audit`).
pub fn run(cmd: AuditCommand, log_dir: &Path) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::View {
            topic: t,
            node,
            start,
            end,
            verbose,
        } => {
            let t = topic(&t)?;
            let start = time("--start", &start, i64::MIN)?;
            let end = time("--end", &end, i64::MAX)?;
            if start > end {
                bail!("--start is after --end");
            }
            if let Some(n) = &node {
                if !view::nodes(log_dir)?.contains(n) {
                    bail!(
                        "--node: no audit log for node `{n}` in {}",
                        log_dir.display()
                    );
                }
            }
            let began = Instant::now();
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let stats = view::view(log_dir, t, node.as_deref(), start, end, &mut |rec| {
                out.write_all(&rec.payload)?;
                out.write_all(b"\n")
            });
            match stats {
                Ok(stats) => {
                    out.flush()?;
                    if verbose {
                        eprintln!(
                            "{} event(s); read {} of {} log bytes in {:.1?}",
                            stats.records,
                            stats.bytes_read,
                            stats.log_bytes,
                            began.elapsed()
                        );
                    }
                    Ok(())
                }
                // `shoal audit view | head`: a closed pipe is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e).with_context(|| format!("reading {}", log_dir.display())),
            }
        }
        AuditCommand::Progress => {
            let nodes = view::progress(log_dir)
                .with_context(|| format!("reading {}", log_dir.display()))?;
            if nodes.is_empty() {
                println!("no audit log in {}", log_dir.display());
            }
            let when = |c: Option<(u64, i64)>| match c {
                Some((id, ts)) if id > 0 => format!("{} (id {id})", format_rfc3339(ts)),
                _ => "-".to_string(),
            };
            for n in nodes {
                println!("node {}", n.node);
                for (t, last) in &n.last_logged {
                    println!("  {:<8} last logged  {}", t.as_str(), when(*last));
                }
                for s in &n.sinks {
                    let logged = n
                        .last_logged
                        .iter()
                        .find(|(t, _)| *t == s.topic)
                        .and_then(|(_, l)| *l);
                    let behind = logged.map_or(0, |(id, _)| id.saturating_sub(s.cursor.id));
                    println!(
                        "  {:<8} sink {:<16} last sent  {}  behind {behind}",
                        s.topic.as_str(),
                        s.sink,
                        when(Some((s.cursor.id, s.cursor.timestamp)))
                    );
                }
            }
            Ok(())
        }
        AuditCommand::Cursor {
            sink,
            time: t,
            topic: tp,
            node,
        } => {
            let tp = topic(&tp)?;
            let at = time("--time", &Some(t), 0)?;
            let nodes = view::nodes(log_dir)?;
            let node = match node {
                Some(n) if nodes.contains(&n) => n,
                Some(n) => bail!(
                    "--node: no audit log for node `{n}` in {}",
                    log_dir.display()
                ),
                None => match nodes.as_slice() {
                    [one] => one.clone(),
                    [] => bail!("no audit log in {}", log_dir.display()),
                    many => bail!(
                        "--node: several nodes log here ({}); name one",
                        many.join(", ")
                    ),
                },
            };
            let c = view::move_cursor(log_dir, &node, &sink, tp, at)
                .with_context(|| format!("moving cursor of sink `{sink}`"))?;
            println!(
                "node {node}: sink `{sink}` ({}) will resend from {} (after id {}); the forwarder applies it at its next step",
                tp.as_str(),
                format_rfc3339(at),
                c.id
            );
            Ok(())
        }
    }
}
