//! What a handler is given ([`Req`]) and what it answers ([`Reply`]): a leaf module, so
//! handlers and the connection code both depend on it and not on each other.

use shoal_smb_proto::header::Header;
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::NtStatus;

use crate::signing::Signer;

/// One request as a handler sees it.
pub(crate) struct Req<'a> {
    pub hdr: &'a Header,
    /// The message, from its header to the next message of the chain.
    pub msg: &'a [u8],
    pub session_id: u64,
    pub tree_id: u32,
    /// FileId of the previous CREATE of a related chain.
    pub related_file: Option<FileId>,
    /// The request arrived in a TRANSFORM frame (Request.IsEncrypted).
    pub encrypted: bool,
    /// The request is alone in its frame (not part of a compound chain): a handler may hand
    /// back its remaining work as [`Reply::deferred`] instead of doing it.
    pub may_defer: bool,
    /// The request was parked ([`Reply::park`]) and is being run again: it was woken, or its
    /// deadline passed. A handler that must wait again parks under the same AsyncId
    /// (`Conn::park_token` hands it back).
    pub retry: Option<Retry>,
}

/// A parked request being run again (`conn::pending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    /// The AsyncId it was parked under (its interim response carried it).
    pub async_id: u64,
    /// Its deadline passed (rather than a wake-up): breaks older than the break timeout
    /// were expired (`LockManager::expire_breaks`) before this run.
    pub timed_out: bool,
}

/// A request that waits (MS-SMB2 3.3.4.2): the connection answers it with an interim
/// STATUS_PENDING response in the async form, keeps a copy of it, and runs it again on a
/// lock manager wake-up for `async_id` or when `deadline` passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Park {
    /// The AsyncId, which is also the token of the lock manager waiter
    /// (`Waiter { sink: conn.sink, token: async_id }`), from `Conn::park_token`.
    pub async_id: u64,
    /// The file whose lock manager record holds the waiter (`None`: no waiter, as for
    /// CHANGE_NOTIFY); cancelled with `LockManager::cancel_wait` whenever the request ends
    /// other than by a retry.
    pub key: Option<shoal_vfs::lock::FileKey>,
    /// The handle the request waits on: closing it completes the request with `cleanup`
    /// (MS-SMB2 3.3.5.10).
    pub handle: Option<FileId>,
    /// When to run the request again even without a wake-up (a break timing out).
    pub deadline: Option<std::time::Instant>,
    /// Status of the final response when the handle, tree or session goes away
    /// (CHANGE_NOTIFY: STATUS_NOTIFY_CLEANUP).
    pub cleanup: NtStatus,
}

impl Park {
    /// A request waiting for an oplock/lease break on `key` to be acknowledged: run again when
    /// the break ends, at the latest after `timeout` (the connection then expires the break);
    /// closing `handle` (when the request came through one) ends it with STATUS_CANCELLED.
    pub fn for_break(
        async_id: u64,
        key: shoal_vfs::lock::FileKey,
        handle: Option<FileId>,
        timeout: std::time::Duration,
    ) -> Park {
        Park {
            async_id,
            key: Some(key),
            handle,
            deadline: Some(std::time::Instant::now() + timeout),
            cleanup: NtStatus::CANCELLED,
        }
    }
}

impl Req<'_> {
    /// Resolves a FileId from the wire, substituting the related one for all-ones.
    pub fn file_id(&self, id: FileId) -> FileId {
        if id == FileId::RELATED {
            self.related_file.unwrap_or(id)
        } else {
            id
        }
    }
}

/// What a handler answers.
#[derive(Default)]
pub(crate) struct Reply {
    pub status: NtStatus,
    pub body: Vec<u8>,
    /// Hash the encoded reply into the connection's preauth value (NEGOTIATE, 3.1.1).
    pub preauth_conn: bool,
    /// Hash the encoded reply into this session's preauth value (SESSION_SETUP, 3.1.1).
    pub preauth_session: Option<u64>,
    /// Sign with this key (final SESSION_SETUP, LOGOFF) instead of the session's.
    pub signer: Option<Signer>,
    /// Do not sign even if the request was signed.
    pub unsigned: bool,
    /// SessionId for the reply header (new sessions).
    pub session_id: Option<u64>,
    /// TreeId for the reply header (TREE_CONNECT).
    pub tree_id: Option<u32>,
    /// FileId for later related requests (CREATE).
    pub file_id: Option<FileId>,
    /// Send nothing.
    pub no_reply: bool,
    /// The request waits: the connection sends an interim STATUS_PENDING response in the
    /// async form with `park.async_id` (`status` and `body` are then unused) and runs the
    /// request again later. A retry that parks again stays pending without a second interim.
    pub park: Option<Park>,
    /// A validated file READ to complete off the connection task (only when
    /// [`Req::may_defer`]); `status` and `body` are then unused.
    pub deferred: Option<crate::read_job::ReadJob>,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            body,
            ..Reply::default()
        }
    }
    /// A parked request (see [`Reply::park`]).
    pub fn parked(park: Park) -> Reply {
        Reply {
            status: NtStatus::PENDING,
            park: Some(park),
            ..Reply::default()
        }
    }
    pub fn with_status(status: NtStatus, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            ..Reply::default()
        }
    }
}
