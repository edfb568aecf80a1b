//! The listener: admits connections through a [`ConnLimiter`] (`max_connections` in all,
//! `max_connections_per_client` per address, `max_unauthenticated` without an established
//! session), runs one task per connection, and on shutdown stops accepting and lets
//! connections finish their current request.

use std::sync::Arc;

use shoal_auth::clients::ConnLimiter;
use shoal_auth::UserDb;
use shoal_vfs::Vfs;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

use crate::config::SmbConfig;
use crate::conn::{self, Shared};

/// Serves SMB on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    config: SmbConfig,
    users: Arc<UserDb>,
    vfs: Arc<dyn Vfs>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limiter = ConnLimiter::new(
        config.max_connections,
        config.max_unauthenticated,
        config.max_connections_per_client,
    );
    let mut shared = Shared::new(config, users, vfs);
    shared.listen_addr = listener.local_addr().ok();
    let shared = Arc::new(shared);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // When full, the new connection is closed at once (never queued unbounded).
                let slot = match limiter.admit(peer.ip()) {
                    Ok(slot) => slot,
                    Err(why) => {
                        tracing::warn!(%peer, "{why}; closing new connection");
                        drop(stream);
                        continue;
                    }
                };
                next_id += 1;
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let rx = shutdown.clone();
                let span = tracing::info_span!("smb_conn", %peer, conn_id = next_id);
                tasks.spawn(async move {
                    conn::run_with_slot(stream, peer, shared, rx, Some(slot)).await;
                }.instrument(span));
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
    Ok(())
}
