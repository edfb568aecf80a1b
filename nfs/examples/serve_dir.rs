//! Serves one directory as NFS export `/data` (read-write, no squash, loopback only) on the
//! given port, for trying clients by hand without the full `shoal` binary:
//!
//! ```text
//! cargo run -p shoal-nfs --example serve_dir -- /tmp/dir 2050
//! nfs-ls 'nfs://127.0.0.1/data?version=3&nfsport=2050&mountport=2050'
//! ```
//!
//! A third argument `rpcbind` registers with a portmapper on 127.0.0.1:111.

use std::sync::Arc;

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(2049);
    let register_rpcbind = args.next().as_deref() == Some("rpcbind");
    let key = std::env::temp_dir().join("shoal-serve-dir.key");
    let vfs = Arc::new(shoal_vfs::LocalFs::open(std::path::Path::new(&dir), &key)?);
    let root = shoal_vfs::Vfs::root(&*vfs, "").map_err(std::io::Error::other)?;
    let config = shoal_nfs::NfsConfig {
        exports: vec![shoal_nfs::ExportConfig {
            path: "/data".into(),
            root,
            zone: shoal_vfs::ZoneId::SYSTEM,
            clients: vec![shoal_nfs::ClientEntry {
                patterns: vec!["127.0.0.0/8".into()],
                read_only: false,
                squash: shoal_nfs::Squash::None,
                anon_uid: 65534,
                anon_gid: 65534,
                insecure: true,
            }],
        }],
        max_record: shoal_nfs::NfsConfig::DEFAULT_MAX_RECORD,
        max_connections: 64,
        max_in_flight: shoal_nfs::NfsConfig::DEFAULT_MAX_IN_FLIGHT,
        register_rpcbind,
        max_unauthenticated: shoal_nfs::NfsConfig::DEFAULT_MAX_UNAUTHENTICATED,
        max_connections_per_client: shoal_nfs::NfsConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        unauthenticated_timeout: shoal_nfs::NfsConfig::DEFAULT_UNAUTHENTICATED_TIMEOUT,
        send_timeout: shoal_nfs::NfsConfig::DEFAULT_SEND_TIMEOUT,
        locks: shoal_vfs::lock::LockManager::in_memory(Default::default()),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let (_tx, rx) = tokio::sync::watch::channel(false);
        shoal_nfs::serve(listener, config, vfs, rx).await
    })
}
