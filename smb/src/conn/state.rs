//! Per-connection state: negotiated parameters, sessions, trees, opens.
//!
//! A session that has not finished authenticating has no keys and no identity: the types make
//! the "sign with a key we do not have" mistake unrepresentable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use shoal_auth::ntlm::Challenger;
use shoal_smb_proto::credits::CreditWindow;
use shoal_smb_proto::crypto::kdf::SessionKeys;
use shoal_smb_proto::crypto::preauth::PreauthHash;
use shoal_smb_proto::crypto::signing::SigningAlgorithm;
use shoal_smb_proto::misc::FileId;
use shoal_smb_proto::Dialect;
use shoal_vfs::{Caller, FileHandle, Protocol, ZoneId};

use super::Shared;
use crate::config::ShareConfig;
use crate::rpc::Pipe;
use crate::signing::Signer;

/// Who a valid session speaks for.
#[derive(Clone, Debug)]
#[allow(dead_code)] // user and guest are for audit (logon/tree_connect events)
pub(crate) struct Identity {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub sid: String,
    pub guest: bool,
}

/// An authentication exchange in progress (between CHALLENGE and AUTHENTICATE).
pub(crate) struct AuthExchange {
    pub challenger: Challenger,
    pub spnego: bool,
    pub mech_types_der: Vec<u8>,
}

/// Keys and identity of an authenticated session.
pub(crate) struct Established {
    /// Whom requests act for now: the owner, or anonymous after an anonymous
    /// re-authentication (`session_setup::reauth_allowed`).
    pub identity: Identity,
    /// Whose authentication made the session (and derived its keys): a re-authentication
    /// may name only this account again, or anonymous.
    pub owner: Identity,
    /// `None` for guest/anonymous sessions, which cannot sign.
    pub keys: Option<SessionKeys>,
    pub signer: Option<Signer>,
    pub signing_required: bool,
    /// Keys and nonces for SMB3 encryption (`None`: 2.x, guest, or no cipher negotiated).
    pub crypt: Option<super::encryption::SessionCrypt>,
    /// Session.EncryptData: every request after SESSION_SETUP must be encrypted.
    pub encrypt_data: bool,
}

/// One session (MS-SMB2 3.3.1.8).
#[allow(dead_code)]
pub(crate) struct Session {
    pub id: u64,
    pub auth: Option<AuthExchange>,
    pub established: Option<Established>,
    pub preauth: PreauthHash,
    pub trees: HashMap<u32, Tree>,
    pub next_tree_id: u32,
}

impl Session {
    pub fn is_valid(&self) -> bool {
        self.established.is_some()
    }
}

/// What a tree connect points at.
#[derive(Clone)]
pub(crate) enum TreeShare {
    Disk(Arc<ShareConfig>),
    Ipc,
}

/// One tree connect.
#[allow(dead_code)] // maximal_access: checked by later commands
pub(crate) struct Tree {
    pub share: TreeShare,
    pub maximal_access: u32,
    /// TreeConnect.Share.EncryptData: requests on this tree must be encrypted.
    pub encrypt_data: bool,
}

/// A directory enumeration in progress (defined beside QUERY_DIRECTORY).
pub(crate) use crate::handlers::query_directory::Listing;

/// What an open refers to. Files are the common case, so their fields are inline (boxing
/// them would cost an allocation per open to save bytes in the rarer pipe opens' records).
#[allow(clippy::large_enum_variant)]
pub(crate) enum OpenKind {
    File {
        handle: FileHandle,
        is_dir: bool,
        /// Directory enumeration state (QUERY_DIRECTORY).
        listing: Option<Listing>,
        /// Byte position and bytes moved, shared with READs completing off the connection
        /// task.
        io: Arc<OpenIo>,
        /// FileModeInformation.
        mode: u32,
        /// Path for audit events (`/share-dir/a/b`).
        audit_name: String,
        /// The caller that opened it (the close event and delete on close still need it when
        /// its session is gone).
        caller: Caller,
    },
    Pipe(Box<Pipe>),
}

/// Counters of one open that a READ completing off the connection task updates.
#[derive(Debug, Default)]
pub(crate) struct OpenIo {
    /// CurrentByteOffset (FilePositionInformation).
    pub position: std::sync::atomic::AtomicU64,
    /// Bytes read through the open (close audit event).
    pub bytes_read: std::sync::atomic::AtomicU64,
    /// Bytes written through the open (close audit event).
    pub bytes_written: std::sync::atomic::AtomicU64,
}

impl OpenIo {
    /// Records a transfer of `n` bytes at `offset`.
    pub fn moved(&self, offset: u64, n: u64, write: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = if write {
            &self.bytes_written
        } else {
            &self.bytes_read
        };
        counter.fetch_add(n, Relaxed);
        self.position.store(offset.saturating_add(n), Relaxed);
    }
}

/// One open (MS-SMB2 3.3.1.10).
pub(crate) struct Open {
    pub session_id: u64,
    pub tree_id: u32,
    pub kind: OpenKind,
    pub granted: u32,
    /// Path relative to the share, `\`-separated (for FileAllInformation).
    pub path: String,
    /// The open as the lock manager knows it (`None` for pipes).
    pub lock: Option<OpenLock>,
    /// Open.LockSequenceArray (MS-SMB2 3.3.5.14 lock replay detection).
    pub lock_sequences: crate::handlers::lock::LockSequences,
}

/// An open's identity in the lock manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpenLock {
    /// The file.
    pub key: shoal_vfs::lock::FileKey,
    /// The open.
    pub id: shoal_vfs::lock::OpenId,
}

/// Connection-wide state (MS-SMB2 3.3.1.7).
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    /// `None` before NEGOTIATE; `SMB2_WILDCARD` after an SMB1 multi-protocol negotiate.
    pub dialect: Option<Dialect>,
    pub client_guid: [u8; 16],
    pub client_security_mode: u16,
    pub client_capabilities: u32,
    pub client_dialects: Vec<Dialect>,
    /// The dialect was chosen from an SMB1 NEGOTIATE (no SMB2 NEGOTIATE was seen).
    pub negotiated_via_smb1: bool,
    pub server_capabilities: u32,
    pub server_security_mode: u16,
    pub signing_algorithm: Option<SigningAlgorithm>,
    pub preauth: PreauthHash,
    pub credits: CreditWindow,
    pub sessions: HashMap<u64, Session>,
    pub opens: HashMap<FileId, Open>,
    pub next_file_id: u64,
    pub ever_authenticated: bool,
    /// Requests waiting for completion (async, `pending`), at most `smb.max_parked_requests`.
    pub pending: Vec<super::pending::Pending>,
    /// Rests of compound chains whose async CREATE completed, to run (`pending`).
    pub resumes: Vec<super::pending::Resume>,
    /// The last AsyncId handed out (`Conn::park_token`).
    pub next_async_id: u64,
    /// This connection's lock manager event sink (`events`): parked requests name it in
    /// their `Waiter { sink, token }`.
    pub sink: shoal_vfs::lock::SinkId,
    /// Frames to send before the reply being built (final responses of async requests).
    pub extra_frames: Vec<Vec<u8>>,
    /// Where other connections send "drop this session" (PreviousSessionId).
    pub expire_tx: tokio::sync::mpsc::Sender<u64>,
    /// Signing keys of recently removed sessions (at most [`MAX_TOMBSTONES`]), so that a
    /// request still signed for one gets a signed STATUS_USER_SESSION_DELETED.
    pub tombstones: Vec<(u64, Signer)>,
    /// Connection.CipherId: `None` when this connection cannot encrypt (2.x, policy
    /// `disabled`, a 3.0.x client without the capability, no cipher in common on 3.1.1).
    pub cipher: Option<shoal_smb_proto::crypto::encryption::Cipher>,
    /// Close the connection once the pending replies are written (a request that had to be
    /// encrypted arrived in clear).
    pub close_after_reply: bool,
    /// A macOS client's `AAPL` server query was answered (only the first one per connection
    /// is; `handlers/aapl.rs`).
    pub aapl_negotiated: bool,
    /// Per open with READs in flight (`inflight`): each such READ holds a read guard until
    /// its reply is queued; CLOSE takes the write side first, so it waits for them. Entries
    /// whose READs are all done are pruned whenever a READ is deferred, so there are at most
    /// `max_reads_in_flight` + 1.
    pub read_gates: HashMap<FileId, Arc<tokio::sync::RwLock<()>>>,
}

/// How many removed sessions' keys a connection remembers.
pub(crate) const MAX_TOMBSTONES: usize = 16;

static NEXT_SESSION: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x0000_1000_0000_0001);

impl Conn {
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        expire_tx: tokio::sync::mpsc::Sender<u64>,
        sink: shoal_vfs::lock::SinkId,
    ) -> Conn {
        let max = shared.config.max_credits;
        Conn {
            shared,
            peer,
            dialect: None,
            client_guid: [0; 16],
            client_security_mode: 0,
            client_capabilities: 0,
            client_dialects: Vec::new(),
            negotiated_via_smb1: false,
            server_capabilities: 0,
            server_security_mode: 0,
            signing_algorithm: None,
            preauth: PreauthHash::default(),
            credits: CreditWindow::new(max),
            sessions: HashMap::new(),
            opens: HashMap::new(),
            next_file_id: 1,
            ever_authenticated: false,
            pending: Vec::new(),
            resumes: Vec::new(),
            next_async_id: 0,
            sink,
            extra_frames: Vec::new(),
            expire_tx,
            tombstones: Vec::new(),
            cipher: None,
            close_after_reply: false,
            aapl_negotiated: false,
            read_gates: HashMap::new(),
        }
    }

    /// The negotiated dialect, once a real one is.
    pub fn negotiated(&self) -> Option<Dialect> {
        self.dialect.filter(|d| *d != Dialect::SMB2_WILDCARD)
    }

    pub fn new_session_id() -> u64 {
        NEXT_SESSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new_file_id(&mut self) -> FileId {
        let v = self.next_file_id;
        self.next_file_id += 1;
        FileId {
            persistent: v,
            volatile: v,
        }
    }

    /// The VFS caller for a request of `session` on a share in `zone`.
    pub fn caller(&self, identity: &Identity, zone: ZoneId) -> Caller {
        let protocol = if self.negotiated().is_some_and(Dialect::is_smb3) {
            Protocol::Smb3
        } else {
            Protocol::Smb2
        };
        Caller {
            uid: identity.uid,
            gid: identity.gid,
            groups: Vec::new(),
            sid: Some(identity.sid.clone()),
            client_addr: self.peer,
            zone,
            protocol,
        }
    }

    /// Drops a session with its trees and opens.
    pub fn remove_session(&mut self, id: u64) {
        // While the session still exists: final responses of its waiting requests may need
        // its key.
        self.drop_pending(id, None);
        if let Some(signer) = self
            .sessions
            .remove(&id)
            .and_then(|s| s.established)
            .and_then(|e| e.signer)
        {
            if self.tombstones.len() >= MAX_TOMBSTONES {
                self.tombstones.remove(0);
            }
            self.tombstones.push((id, signer));
        }
        self.shared.unregister(id);
        self.release_opens(|o| o.session_id == id);
    }

    /// Closes the opens `which` selects without a CLOSE (tree disconnect, logoff, session
    /// expiry, connection end): each leaves the lock manager, and a delete-pending file whose
    /// last open it was is unlinked (on the blocking pool; only the object opened, never what
    /// holds its name by then).
    pub fn release_opens(&mut self, which: impl Fn(&Open) -> bool) {
        let ids: Vec<FileId> = self
            .opens
            .iter()
            .filter(|(_, o)| which(o))
            .map(|(id, _)| *id)
            .collect();
        let mut unlinks = Vec::new();
        for id in ids {
            let Some(open) = self.opens.remove(&id) else {
                continue;
            };
            self.read_gates.remove(&id);
            let Some(lock) = open.lock else { continue };
            let out = self.shared.config.locks.close(lock.key, lock.id);
            if let (Some(link), OpenKind::File { is_dir, caller, .. }) = (out.unlink, open.kind) {
                unlinks.push((caller, link, lock.key, is_dir));
            }
        }
        if !unlinks.is_empty() {
            let vfs = self.shared.vfs.clone();
            tokio::task::spawn_blocking(move || {
                for (caller, link, key, is_dir) in unlinks {
                    let object = (key.fsid, key.ino);
                    if let Err(e) =
                        vfs.remove_if_same(&caller, &link.parent, &link.name, object, is_dir)
                    {
                        tracing::debug!(error = %e, "delete on close failed");
                    }
                }
            });
        }
    }
}
