//! LOCK (MS-SMB2 3.3.5.14): byte-range locks through the lock manager.

use crate::conn::state::Conn;
use crate::error::SmbError;
use crate::req::{Reply, Req};

/// LOCK.
pub(crate) async fn handle(_conn: &mut Conn, _req: &Req<'_>) -> Result<Reply, SmbError> {
    Err(SmbError::Client(shoal_smb_proto::NtStatus::NOT_SUPPORTED))
}
