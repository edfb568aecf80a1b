//! Oplocks and leases on the SMB side: what a CREATE asks for (RequestedOplockLevel and the
//! RqLs create context) as a [`lease::Request`] for the lock manager, what the reply says
//! about what was granted, and OPLOCK_BREAK acknowledgments (MS-SMB2 3.3.5.22).

use shoal_smb_proto::create::CreateContext;
use shoal_vfs::lock::lease::{self, Granted};

use crate::conn::state::Conn;
use crate::error::SmbError;
use crate::req::{Reply, Req};

/// The caching a CREATE asks for: `level` is its RequestedOplockLevel, `contexts` its create
/// contexts (a lease request when `level` is SMB2_OPLOCK_LEVEL_LEASE).
pub(crate) fn caching_request(
    _conn: &Conn,
    _level: u8,
    _contexts: &[CreateContext<'_>],
) -> Result<lease::Request, SmbError> {
    Ok(lease::Request::None)
}

/// The reply's OplockLevel and, for a lease, the response create context (name, data).
pub(crate) fn caching_reply(_granted: &Granted) -> (u8, Option<(&'static [u8], Vec<u8>)>) {
    (0, None)
}

/// OPLOCK_BREAK from the client: an oplock or lease break acknowledgment.
pub(crate) async fn acknowledge(_conn: &mut Conn, _req: &Req<'_>) -> Result<Reply, SmbError> {
    Err(SmbError::Client(shoal_smb_proto::NtStatus::NOT_SUPPORTED))
}
