//! The listener: accepts connections up to `max_connections`, runs one task per connection,
//! and on shutdown stops accepting and lets connections finish their current request.

use std::sync::Arc;

use shoal_auth::UserDb;
use shoal_vfs::Vfs;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
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
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
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
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "connection limit reached; closing new connection");
                    drop(stream);
                    continue;
                };
                next_id += 1;
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let rx = shutdown.clone();
                let span = tracing::info_span!("smb_conn", %peer, conn_id = next_id);
                tasks.spawn(async move {
                    conn::run(stream, peer, shared, rx).await;
                    drop(permit);
                }.instrument(span));
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
    Ok(())
}
