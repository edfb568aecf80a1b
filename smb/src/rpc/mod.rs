//! DCE/RPC over the named pipes of `IPC$` (C706 connection-oriented PDUs, MS-RPCE), enough
//! for share enumeration: bind, then srvsvc (MS-SRVS) NetShareEnumAll / NetShareGetInfo and
//! wkssvc (MS-WKST) NetWkstaGetInfo.

mod dcerpc;
mod ndr;
mod srvsvc;
mod wkssvc;

use std::collections::VecDeque;

use shoal_smb_proto::NtStatus;

use crate::error::SmbError;

/// Which interface a pipe serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PipeKind {
    Srvsvc,
    Wkssvc,
}

/// A share as share enumeration reports it.
#[derive(Clone, Debug)]
pub(crate) struct ShareEntry {
    pub name: String,
    pub comment: String,
    /// STYPE_* value.
    pub share_type: u32,
    /// Path reported at level 2.
    pub path: String,
}

/// Server facts the RPC interfaces report.
#[derive(Clone, Debug)]
pub(crate) struct RpcContext {
    pub server_name: String,
    pub domain: String,
    pub shares: Vec<ShareEntry>,
}

/// Most bytes of unprocessed input a pipe buffers (a fragment is at most 64 KiB).
const MAX_PIPE_INPUT: usize = 256 * 1024;
/// Most bytes of replies a pipe buffers for the client to read.
const MAX_PIPE_OUTPUT: usize = 4 * 1024 * 1024;

/// One open of a named pipe: bytes written are parsed into PDUs, replies queued for reading.
pub(crate) struct Pipe {
    kind: PipeKind,
    ctx: RpcContext,
    input: Vec<u8>,
    output: VecDeque<u8>,
    state: dcerpc::Association,
}

impl Pipe {
    pub fn new(kind: PipeKind, ctx: RpcContext) -> Pipe {
        Pipe {
            kind,
            ctx,
            input: Vec::new(),
            output: VecDeque::new(),
            state: dcerpc::Association::default(),
        }
    }

    /// Consumes bytes the client wrote; processes every complete PDU.
    pub fn write(&mut self, data: &[u8]) -> Result<u32, SmbError> {
        if self.input.len() + data.len() > MAX_PIPE_INPUT || self.output.len() > MAX_PIPE_OUTPUT {
            return Err(SmbError::Client(NtStatus::INSUFFICIENT_RESOURCES));
        }
        self.input.extend_from_slice(data);
        while let Some(len) = dcerpc::complete_pdu_len(&self.input) {
            let pdu: Vec<u8> = self.input.drain(..len).collect();
            match dcerpc::handle_pdu(&mut self.state, self.kind, &self.ctx, &pdu) {
                Ok(replies) => {
                    for r in replies {
                        self.output.extend(r);
                    }
                }
                Err(why) => {
                    tracing::debug!(why, "bad RPC PDU");
                    self.input.clear();
                    return Err(SmbError::Client(NtStatus::INVALID_PARAMETER));
                }
            }
        }
        if dcerpc::is_garbage(&self.input) {
            self.input.clear();
            return Err(SmbError::Client(NtStatus::INVALID_PARAMETER));
        }
        Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
    }

    /// Takes up to `max` bytes of queued replies; `true` when more remain.
    pub fn read(&mut self, max: usize) -> (Vec<u8>, bool) {
        let n = max.min(self.output.len());
        let data: Vec<u8> = self.output.drain(..n).collect();
        (data, !self.output.is_empty())
    }
}

#[cfg(test)]
mod tests;
