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
    /// An interim response (STATUS_PENDING) in the async header form with this AsyncId.
    pub async_id: Option<u64>,
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
    pub fn with_status(status: NtStatus, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            ..Reply::default()
        }
    }
}
