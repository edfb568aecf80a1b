//! A validated file READ whose remaining work (the VFS read) needs no connection state, so it
//! can complete off the connection task (`conn::inflight`).

use std::sync::Arc;

use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::NtStatus;
use shoal_vfs::{Caller, FileHandle, Vfs};

use crate::error::{fail, SmbError};

/// A file READ that passed every check on the connection task (session, tree, open, access,
/// credit charge, range): what is left is the VFS read, which needs no connection state.
/// The open's handle is cloned in, so a CLOSE processed meanwhile does not affect it.
pub(crate) struct ReadJob {
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) caller: Caller,
    pub(crate) handle: FileHandle,
    pub(crate) offset: u64,
    pub(crate) length: u32,
    pub(crate) minimum_count: u32,
    /// The open's counters (bytes read, position).
    pub(crate) io: Arc<crate::conn::state::OpenIo>,
    pub(crate) file_id: FileId,
}

impl ReadJob {
    /// The open it reads from.
    pub(crate) fn file_id(&self) -> FileId {
        self.file_id
    }

    /// Reads the data (blocking: run it through [`run_blocking`]). Fewer bytes than
    /// MinimumCount, or none, is STATUS_END_OF_FILE (MS-SMB2 3.3.5.12).
    pub(crate) fn read(self) -> Result<Vec<u8>, SmbError> {
        let (data, _eof, _) =
            self.vfs
                .read(&self.caller, &self.handle, self.offset, self.length)?;
        if data.is_empty() || (data.len() as u64) < u64::from(self.minimum_count) {
            return fail(NtStatus::END_OF_FILE);
        }
        let n = data.len() as u64;
        let offset = self.offset;
        self.io.moved(offset, n, false);
        Ok(data)
    }
}
