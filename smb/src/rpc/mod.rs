//! DCE/RPC over the named pipes of `IPC$` (C706 connection-oriented PDUs, MS-RPCE), enough
//! for share enumeration: bind, then srvsvc (MS-SRVS) NetShareEnumAll / NetShareGetInfo and
//! wkssvc (MS-WKST) NetWkstaGetInfo.

mod dcerpc;
mod ndr;
mod srvsvc;
mod wkssvc;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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

/// Most bytes the pipes of one connection buffer together (input, request stubs, replies
/// not yet read): a client opening many pipes and never reading them cannot make the server
/// hold `max_opens` x [`MAX_PIPE_OUTPUT`]. Writes beyond it fail with
/// STATUS_INSUFFICIENT_RESOURCES until the client reads (docs/limits.md).
pub(crate) const MAX_CONNECTION_PIPE_BYTES: usize = 8 * 1024 * 1024;

/// Bytes buffered by the pipes of one connection.
#[derive(Debug, Default)]
pub(crate) struct PipeBudget {
    used: AtomicUsize,
}

tokio::task_local! {
    /// The budget of the connection whose request is being handled: `conn::run` scopes each
    /// request's handling with its connection's budget; pipes opened there charge it.
    pub(crate) static PIPE_BUDGET: Arc<PipeBudget>;
}

impl PipeBudget {
    /// Bytes in use.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One open of a named pipe: bytes written are parsed into PDUs, replies queued for reading.
pub(crate) struct Pipe {
    kind: PipeKind,
    ctx: RpcContext,
    input: Vec<u8>,
    output: VecDeque<u8>,
    state: dcerpc::Association,
    /// The connection's budget, and what this pipe has charged to it.
    budget: Arc<PipeBudget>,
    charged: usize,
}

impl Pipe {
    pub fn new(kind: PipeKind, ctx: RpcContext) -> Pipe {
        // Outside a connection's scope (unit tests) the pipe gets a budget of its own.
        let budget = PIPE_BUDGET.try_with(Arc::clone).unwrap_or_default();
        Pipe {
            kind,
            ctx,
            input: Vec::new(),
            output: VecDeque::new(),
            state: dcerpc::Association::default(),
            budget,
            charged: 0,
        }
    }

    /// Bytes this pipe buffers now.
    fn held(&self) -> usize {
        self.input
            .len()
            .saturating_add(self.output.len())
            .saturating_add(self.state.buffered())
    }

    /// Brings the connection's budget in line with what this pipe holds.
    fn recharge(&mut self) {
        let now = self.held();
        if now >= self.charged {
            self.budget
                .used
                .fetch_add(now - self.charged, Ordering::Relaxed);
        } else {
            self.budget
                .used
                .fetch_sub(self.charged - now, Ordering::Relaxed);
        }
        self.charged = now;
    }

    /// Consumes bytes the client wrote; processes every complete PDU.
    pub fn write(&mut self, data: &[u8]) -> Result<u32, SmbError> {
        if self.input.len() + data.len() > MAX_PIPE_INPUT
            || self.output.len() > MAX_PIPE_OUTPUT
            || self.budget.used().saturating_add(data.len()) > MAX_CONNECTION_PIPE_BYTES
        {
            return Err(SmbError::Client(NtStatus::INSUFFICIENT_RESOURCES));
        }
        let r = self.write_inner(data);
        self.recharge();
        r
    }

    fn write_inner(&mut self, data: &[u8]) -> Result<u32, SmbError> {
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
        self.recharge();
        (data, !self.output.is_empty())
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(self.charged.min(self.budget.used()), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
