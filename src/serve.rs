//! `shoal serve`: builds the VFS from the config, binds every listener first (so a port in
//! use fails fast with one line), then runs the protocol services until SIGINT/SIGTERM, and
//! drains them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use shoal_vfs::lock::{LockConfig, LockManager};
use shoal_vfs::{LocalFs, Vfs, ZoneId};
use tokio::net::TcpListener;

use crate::config::{Access, Config, Encryption, Signing, SquashMode};

/// Runs the server (blocks until shutdown).
pub fn run(
    cfg: Config,
    origin: &str,
    path: Option<PathBuf>,
    text: String,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shoal")
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(
        cfg,
        Source {
            origin: origin.to_string(),
            path,
            text,
        },
        ready_file,
    ))
}

/// Where the running config came from.
#[derive(Clone)]
struct Source {
    origin: String,
    path: Option<PathBuf>,
    text: String,
}

/// Who changed the config, for `config` audit events: the uid running shoal and the file.
fn config_author(origin: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    format!("uid {uid} ({origin})")
}

/// SIGHUP: re-reads the config file and audits what changed. Audit filters apply at once;
/// listeners, exports and shares keep their start-up settings until a restart (logged).
fn reload(src: &Source, auditor: &shoal_audit::Auditor) {
    let Some(path) = &src.path else {
        tracing::info!("SIGHUP: running on the embedded default, nothing to reload");
        return;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "SIGHUP: cannot read the config");
            return;
        }
    };
    let cfg = match Config::parse(&text, &src.origin) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "SIGHUP: config rejected, keeping the running one");
            return;
        }
    };
    match auditor.audit_config_text(&config_author(&src.origin), &text) {
        Ok(n) => tracing::info!(changes = n, "SIGHUP: config re-read"),
        Err(e) => tracing::error!(error = %e, "SIGHUP: cannot audit the config change"),
    }
    match cfg.audit_config() {
        Ok(a) => auditor.set_zones(a.zones),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: audit settings rejected"),
    }
    tracing::info!(
        "SIGHUP: audit filters applied; listener, export and share changes need a restart"
    );
}

/// Raises the soft open-files limit to the hard limit: each client connection and each open
/// file is a descriptor, and the usual soft limit (1024) would cap a file server far below
/// its `max_connections`.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-parameter for getrlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let old = lim.rlim_cur;
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: lim is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            tracing::debug!(from = old, to = lim.rlim_cur, "raised the open-files limit");
        }
    }
}

/// Keeps large I/O buffers (1-8 MiB READ/WRITE payloads) in the heap instead of a fresh
/// `mmap` each time: glibc maps allocations over its threshold anew on every request, and the
/// page faults and zeroing of those pages cost more than the data copy itself.
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

fn prepare_dirs(cfg: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let backing = &cfg.server.backing_dir;
    if !backing.exists() {
        std::fs::create_dir_all(backing)
            .with_context(|| format!("server.backing_dir: creating {}", backing.display()))?;
        // A backing dir we create is world-writable with the sticky bit (as /tmp), so
        // squashed NFS users and mapped SMB users can create their own files in it.
        std::fs::set_permissions(backing, std::fs::Permissions::from_mode(0o1777))
            .with_context(|| format!("server.backing_dir: chmod {}", backing.display()))?;
    }
    let state = &cfg.server.state_dir;
    std::fs::create_dir_all(state)
        .with_context(|| format!("server.state_dir: creating {}", state.display()))?;
    std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("server.state_dir: chmod {}", state.display()))?;
    Ok(())
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}"))
}

fn nfs_config(
    cfg: &Config,
    vfs: &dyn Vfs,
    locks: Arc<LockManager>,
) -> anyhow::Result<shoal_nfs::NfsConfig> {
    let mut exports = Vec::new();
    for (i, e) in cfg.nfs.exports.iter().enumerate() {
        let root = vfs
            .root(&e.dir)
            .map_err(|err| anyhow::anyhow!("nfs.exports[{i}].dir: `{}`: {err}", e.dir))?;
        let zone = ZoneId(cfg.zone_id(&e.zone).unwrap_or(1));
        let clients = e
            .clients
            .iter()
            .map(|c| shoal_nfs::ClientEntry {
                patterns: c.hosts.clone(),
                read_only: c.access == Access::Ro,
                squash: match c.squash {
                    SquashMode::None => shoal_nfs::Squash::None,
                    SquashMode::Root => shoal_nfs::Squash::Root,
                    SquashMode::All => shoal_nfs::Squash::All,
                },
                anon_uid: c.anon_uid,
                anon_gid: c.anon_gid,
                insecure: c.insecure,
            })
            .collect();
        exports.push(shoal_nfs::ExportConfig {
            path: e.path.clone(),
            root,
            zone,
            clients,
        });
    }
    Ok(shoal_nfs::NfsConfig {
        exports,
        max_record: cfg.nfs.max_record,
        max_connections: cfg.nfs.max_connections,
        max_in_flight: cfg.nfs.max_in_flight,
        register_rpcbind: cfg.nfs.register_rpcbind,
        max_unauthenticated: cfg.nfs.max_unauthenticated,
        max_connections_per_client: cfg.nfs.max_connections_per_client,
        unauthenticated_timeout: Duration::from_secs(cfg.nfs.unauthenticated_timeout_secs),
        send_timeout: Duration::from_secs(cfg.nfs.send_timeout_secs),
        locks,
    })
}

fn smb_config(
    cfg: &Config,
    vfs: &dyn Vfs,
    auditor: Option<Arc<shoal_audit::Auditor>>,
    locks: Arc<LockManager>,
) -> anyhow::Result<shoal_smb::SmbConfig> {
    let mut shares = Vec::new();
    for (i, s) in cfg.smb.shares.iter().enumerate() {
        let root = vfs
            .root(&s.dir)
            .map_err(|err| anyhow::anyhow!("smb.shares[{i}].dir: `{}`: {err}", s.dir))?;
        shares.push(shoal_smb::ShareConfig {
            name: s.name.clone(),
            root,
            read_only: s.read_only,
            comment: s.comment.clone(),
            zone: ZoneId(cfg.zone_id(&s.zone).unwrap_or(1)),
            // A zone's `encrypt` makes every share in it encrypted (R2).
            encrypt: s.encrypt || cfg.zones().iter().any(|z| z.name == s.zone && z.encrypt),
            macos_name_mapping: s.macos_name_mapping,
        });
    }
    Ok(shoal_smb::SmbConfig {
        shares,
        signing: match cfg.smb.signing {
            Signing::Required => shoal_smb::SigningPolicy::Required,
            Signing::Enabled => shoal_smb::SigningPolicy::Enabled,
        },
        server_name: cfg.smb.server_name.clone(),
        max_message: cfg.smb.max_message,
        max_connections: cfg.smb.max_connections,
        max_unauthenticated: cfg.smb.max_unauthenticated,
        max_connections_per_client: cfg.smb.max_connections_per_client,
        send_timeout: Duration::from_secs(cfg.smb.send_timeout_secs),
        allow_guest: cfg.smb.allow_guest,
        encryption: match cfg.smb.encryption {
            Encryption::Disabled => shoal_smb::config::EncryptionPolicy::Disabled,
            Encryption::Enabled => shoal_smb::config::EncryptionPolicy::Enabled,
            Encryption::Required => shoal_smb::config::EncryptionPolicy::Required,
        },
        allow_unencrypted_legacy: cfg.smb.allow_unencrypted_legacy,
        unauthenticated_timeout: Duration::from_secs(cfg.smb.unauthenticated_timeout_secs),
        idle_timeout: Duration::from_secs(cfg.smb.idle_timeout_secs),
        max_credits: cfg.smb.max_credits,
        max_compound: cfg.smb.max_compound,
        max_reads_in_flight: cfg.smb.max_reads_in_flight,
        max_sessions: cfg.smb.max_sessions,
        max_trees: cfg.smb.max_trees,
        max_opens: cfg.smb.max_opens,
        max_parked_requests: cfg.smb.max_parked_requests,
        max_pending_breaks: cfg.smb.max_pending_breaks,
        workgroup: cfg.smb.workgroup.clone(),
        macos_model: cfg.smb.macos_model.clone(),
        auditor: auditor.map(shoal_smb::SmbAuditor),
        locks,
        // Audit file names are shown from the share's directory inside the backing store.
        share_paths: cfg
            .smb
            .shares
            .iter()
            .map(|s| {
                let rel = s.dir.trim_start_matches("./").trim_matches('/');
                let prefix = if rel.is_empty() || rel == "." {
                    String::new()
                } else {
                    format!("/{rel}")
                };
                (s.name.to_lowercase(), prefix)
            })
            .collect(),
        ciphers: cfg
            .smb
            .ciphers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                shoal_smb::config::Cipher::from_name(c)
                    .ok_or_else(|| anyhow::anyhow!("smb.ciphers[{i}]: unknown cipher `{c}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        ..shoal_smb::SmbConfig::default()
    })
}

fn write_ready(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, lines.join("\n") + "\n")
        .with_context(|| format!("--ready-file: writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("--ready-file: {}", path.display()))?;
    Ok(())
}

async fn serve(cfg: Config, src: Source, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    let origin = src.origin.as_str();
    raise_fd_limit();
    prepare_dirs(&cfg)?;
    let key_file = cfg.server.state_dir.join("handle.key");
    let local = LocalFs::open(&cfg.server.backing_dir, &key_file)
        .with_context(|| format!("server.backing_dir: {}", cfg.server.backing_dir.display()))?;
    // One user database for SMB logons and the uid -> SID map of NFS callers' tokens.
    let users = Arc::new(
        shoal_auth::UserDb::open(&cfg.server.state_dir.join("users.sqlite"))
            .map_err(|e| anyhow::anyhow!("server.state_dir: user database: {e}"))?,
    );
    let local = local.with_user_sids(Arc::new(crate::user_sids::DbUserSids::new(users.clone())));
    let audit_cfg = cfg.audit_config()?;
    let audit_on = audit_cfg.enabled;
    let audit_dir = audit_cfg.log_dir.clone();
    let auditor = shoal_audit::Auditor::start(audit_cfg)
        .with_context(|| format!("audit.log_dir: {}", audit_dir.display()))?;
    let vfs: Arc<dyn Vfs> = if audit_on {
        Arc::new(shoal_audit::AuditLayer::new(local, auditor.clone()))
    } else {
        Arc::new(local)
    };
    if let Err(e) = auditor.audit_config_text(&config_author(origin), &src.text) {
        tracing::warn!(error = %e, "cannot audit the start-up config");
    }
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready = Vec::new();

    // Bind everything before serving anything: a port in use fails the whole start.
    // One lock manager for both protocols: an SMB lease is broken by an NFS write, an NFS
    // write is refused by an SMB deny-write open.
    let locks = LockManager::in_memory(LockConfig {
        node: 0,
        break_timeout: Duration::from_secs(cfg.locks.break_timeout_secs),
        max_locks_per_open: cfg.locks.max_locks_per_open,
        max_waiters_per_file: cfg.locks.max_waiters_per_file,
    });
    let nfs = if cfg.nfs.enabled {
        let l = bind(cfg.nfs.listen, "NFS (nfs.listen)").await?;
        Some((l, nfs_config(&cfg, vfs.as_ref(), locks.clone())?))
    } else {
        None
    };
    let smb = if cfg.smb.enabled {
        let l = bind(cfg.smb.listen, "SMB (smb.listen)").await?;
        Some((
            l,
            smb_config(
                &cfg,
                vfs.as_ref(),
                audit_on.then(|| auditor.clone()),
                locks.clone(),
            )?,
            users.clone(),
        ))
    } else {
        None
    };

    if let Some((l, nfs_cfg)) = nfs {
        let addr = l.local_addr()?;
        tracing::info!(%addr, exports = nfs_cfg.exports.len(), "NFSv3 and MOUNT listening");
        ready.push(format!("nfs={addr}"));
        let vfs = vfs.clone();
        let rx = shutdown_rx.clone();
        tasks.spawn(async move { ("nfs", shoal_nfs::serve(l, nfs_cfg, vfs, rx).await) });
    }
    if let Some((l, smb_cfg, users)) = smb {
        let addr = l.local_addr()?;
        tracing::info!(%addr, shares = smb_cfg.shares.len(), "SMB listening");
        ready.push(format!("smb={addr}"));
        let vfs = vfs.clone();
        let rx = shutdown_rx.clone();
        tasks.spawn(async move { ("smb", shoal_smb::serve(l, smb_cfg, users, vfs, rx).await) });
    }
    tracing::info!(config = origin, backing = %cfg.server.backing_dir.display(), "shoal serving");
    if let Some(path) = &ready_file {
        write_ready(path, &ready)?;
    }

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let failure = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break None,
            _ = sigterm.recv() => break None,
            _ = sighup.recv() => {
                let (src, auditor) = (src.clone(), auditor.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&src, &auditor)).await;
            }
            Some(done) = tasks.join_next() => break Some(done),
        }
    };
    let _ = shutdown_tx.send(true);
    if let Some(done) = failure {
        match done {
            Ok((name, Ok(()))) => tracing::warn!(service = name, "service stopped"),
            Ok((name, Err(e))) => tracing::error!(service = name, error = %e, "service failed"),
            Err(e) => tracing::error!(error = %e, "service panicked"),
        }
    }
    tracing::info!("shutting down");
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("services did not stop within 10 s");
    }
    let a = auditor.clone();
    let _ = tokio::task::spawn_blocking(move || a.shutdown()).await;
    Ok(())
}
