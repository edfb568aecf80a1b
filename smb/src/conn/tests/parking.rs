//! Lock events and parked requests (`events`, `pending`): a break event becomes a well-formed
//! OPLOCK_BREAK notification; a request that parks on the lock manager gets an interim
//! STATUS_PENDING in the async form, the connection keeps serving other requests, and a
//! wake-up gives the final response under the same AsyncId; CANCEL answers
//! STATUS_CANCELLED and takes the waiter out of the manager. LOCK is answered by a
//! test-only stand-in ([`Shared::test_handler`]) that takes byte-range locks through the
//! manager with a waiter, as the LOCK handler will.

use super::*;
use crate::conn::pending::Park;
use crate::conn::state::{Open, OpenKind, OpenLock};
use crate::req::Reply;
use shoal_smb_proto::misc::FileId;
use shoal_vfs::lock::brl::ByteLock;
use shoal_vfs::lock::{lease, FileKey, LockEvent, LockManager, OpenId, OpenRequest, SinkId};
use shoal_vfs::VfsError;
use std::time::Duration;

const ALG: SigningAlgorithm = SigningAlgorithm::AesCmac;
const LOCK_NOT_GRANTED: NtStatus = NtStatus(0xC000_0055);
const GRANTED_FILE: FileId = FileId {
    persistent: 0x55,
    volatile: 0x55,
};
const KEY: FileKey = FileKey { fsid: 9, ino: 42 };

/// Admits an open of [`KEY`] in the manager (held by some other client).
fn manager_open(locks: &LockManager) -> OpenId {
    locks
        .open(&OpenRequest {
            key: KEY,
            sink: SinkId(u64::MAX),
            access: 0x3,
            share: 0x7,
            delete_on_close: false,
            is_dir: false,
            overwrite: false,
            link: None,
            path: None,
            caching: &lease::Request::None,
            waiter: None,
        })
        .unwrap()
        .id
}

fn range(open: OpenId) -> ByteLock {
    ByteLock {
        open,
        start: 0,
        len: 10,
        exclusive: true,
    }
}

/// A connection whose LOCK requests take bytes 0..10 of [`KEY`] for open `waiting`,
/// parking when another open holds them; logged on and connected to `data`.
async fn parking_connection() -> (
    Client,
    [u8; 16],
    Arc<LockManager>,
    OpenId,
    tokio::task::JoinHandle<()>,
    std::path::PathBuf,
) {
    parking_connection_for(Command::LOCK, None).await
}

/// [`parking_connection`], the stand-in answering `command`, parking with a deadline `wait`
/// from now; a timed-out retry fails with STATUS_LOCK_NOT_GRANTED (as a blocking lock that
/// gave up would). A success names FileId [`GRANTED_FILE`] (as a CREATE would).
async fn parking_connection_for(
    command: Command,
    wait: Option<Duration>,
) -> (
    Client,
    [u8; 16],
    Arc<LockManager>,
    OpenId,
    tokio::task::JoinHandle<()>,
    std::path::PathBuf,
) {
    let mut locks = None;
    let mut holder = None;
    let (mut c, task, dir) = start_shared(
        |v| v,
        SmbConfig::default().max_reads_in_flight,
        |shared| {
            let m = shared.config.locks.clone();
            let h = manager_open(&m);
            let waiting = manager_open(&m);
            m.lock(KEY, &[range(h)], None).unwrap();
            locks = Some(m);
            holder = Some(h);
            shared.test_handler = Some((
                command,
                Arc::new(move |conn, req| {
                    let Some(token) = conn.park_token(req) else {
                        return Err(crate::SmbError::Client(NtStatus::INSUFFICIENT_RESOURCES));
                    };
                    if req.retry.is_some_and(|r| r.timed_out) {
                        // The connection takes the waiter out of the manager once it completes.
                        return Err(crate::SmbError::Client(LOCK_NOT_GRANTED));
                    }
                    let waiter = conn.waiter(token);
                    match conn
                        .shared
                        .config
                        .locks
                        .lock(KEY, &[range(waiting)], Some(waiter))
                    {
                        Ok(()) => Ok(Reply {
                            file_id: Some(GRANTED_FILE),
                            ..Reply::ok(vec![4, 0, 0, 0])
                        }),
                        Err(VfsError::WouldBlock) => Ok(Reply::parked(Park {
                            async_id: token,
                            key: Some(KEY),
                            handle: None,
                            deadline: wait.map(|w| std::time::Instant::now() + w),
                            cleanup: NtStatus::CANCELLED,
                        })),
                        Err(e) => Err(crate::SmbError::Client(NtStatus(e.nt_status()))),
                    }
                }),
            ));
        },
    )
    .await;
    let key = logon(&mut c, "alice", "s3cret").await.unwrap();
    let mut m = tree_connect(&mut c, "\\\\srv\\data");
    sign(ALG, &key, &mut m, Role::Client);
    let (h, _) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::SUCCESS);
    c.tree_id = h.tree_id;
    (c, key, locks.unwrap(), holder.unwrap(), task, dir)
}

/// A LOCK request (its body is not looked at by the stand-in), signed.
fn lock_request(c: &mut Client, key: &[u8; 16]) -> Vec<u8> {
    let mut m = c.header(Command::LOCK);
    m.extend_from_slice(&48u16.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&[0; 4 + 16 + 24]);
    sign(ALG, key, &mut m, Role::Client);
    m
}

fn echo(c: &mut Client, key: &[u8; 16]) -> Vec<u8> {
    let mut m = c.header(Command::ECHO);
    m.extend_from_slice(&[4, 0, 0, 0]);
    sign(ALG, key, &mut m, Role::Client);
    m
}

/// Receives one message; checks its signature; returns its header.
async fn reply(c: &mut Client, key: &[u8; 16]) -> Header {
    let r = tokio::time::timeout(Duration::from_secs(10), c.recv())
        .await
        .expect("a reply");
    assert!(verify(ALG, key, &r, Role::Server), "reply signed");
    Header::decode(&r).unwrap()
}

#[tokio::test]
async fn a_parked_request_goes_async_and_a_wake_up_completes_it() {
    let (mut c, key, locks, holder, _task, dir) = parking_connection().await;
    let m = lock_request(&mut c, &key);
    let mid = c.next_id - 1;
    c.send(&m).await;
    let interim = reply(&mut c, &key).await;
    assert_eq!(interim.status, NtStatus::PENDING);
    assert!(interim.is_async(), "interim in the async form");
    assert_eq!(interim.message_id, mid);
    assert_ne!(interim.async_id, 0);
    assert!(interim.credits >= 1, "credits granted as for any response");
    assert_eq!(
        locks.waiters_of(KEY).len(),
        1,
        "waiter parked in the manager"
    );

    // The connection keeps serving while the LOCK waits.
    let m = echo(&mut c, &key);
    let echo_mid = c.next_id - 1;
    c.send(&m).await;
    let h = reply(&mut c, &key).await;
    assert_eq!((h.command, h.message_id), (Command::ECHO, echo_mid));
    assert_eq!(h.status, NtStatus::SUCCESS);

    // Unlocking wakes the waiter: the LOCK runs again and completes, async form, same ids,
    // no credits.
    locks.unlock(KEY, holder, 0, 10).unwrap();
    let fin = reply(&mut c, &key).await;
    assert_eq!(fin.command, Command::LOCK);
    assert_eq!(fin.status, NtStatus::SUCCESS);
    assert!(fin.is_async());
    assert_eq!(fin.async_id, interim.async_id);
    assert_eq!(fin.message_id, mid);
    assert_eq!(fin.credits, 0);
    assert!(locks.waiters_of(KEY).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn cancel_of_a_parked_request_answers_cancelled_and_removes_its_waiter() {
    let (mut c, key, locks, _holder, _task, dir) = parking_connection().await;
    let m = lock_request(&mut c, &key);
    let mid = c.next_id - 1;
    c.send(&m).await;
    let interim = reply(&mut c, &key).await;
    assert_eq!(interim.status, NtStatus::PENDING);
    assert_eq!(locks.waiters_of(KEY).len(), 1);
    // CANCEL in the async form (MS-SMB2 2.2.30): no reply of its own.
    let mut cancel = Vec::new();
    Header {
        command: Command::CANCEL,
        flags: flags::ASYNC_COMMAND,
        async_id: interim.async_id,
        session_id: c.session_id,
        ..Header::default()
    }
    .encode(&mut cancel);
    cancel.extend_from_slice(&[4, 0, 0, 0]);
    sign(ALG, &key, &mut cancel, Role::Client);
    c.send(&cancel).await;
    let fin = reply(&mut c, &key).await;
    assert_eq!((fin.command, fin.message_id), (Command::LOCK, mid));
    assert_eq!(fin.status, NtStatus::CANCELLED);
    assert!(fin.is_async());
    assert_eq!(fin.async_id, interim.async_id);
    assert!(
        locks.waiters_of(KEY).is_empty(),
        "the waiter left the manager"
    );
    // Still serving.
    let m = echo(&mut c, &key);
    c.send(&m).await;
    assert_eq!(reply(&mut c, &key).await.status, NtStatus::SUCCESS);
    let _ = std::fs::remove_dir_all(dir);
}

/// Links `msgs` into one compound chain, each signed with `key`.
fn chain(mut msgs: Vec<Vec<u8>>, key: &[u8; 16]) -> Vec<u8> {
    let n = msgs.len();
    let mut out = Vec::new();
    for (i, m) in msgs.iter_mut().enumerate() {
        if i + 1 < n {
            while m.len() % 8 != 0 {
                m.push(0);
            }
            let len = m.len() as u32;
            m[20..24].copy_from_slice(&len.to_le_bytes());
        }
        sign(ALG, key, m, Role::Client);
        out.extend_from_slice(m);
    }
    out
}

/// The headers of a compound response.
async fn chain_reply(c: &mut Client) -> Vec<Header> {
    let r = c.recv().await;
    shoal_smb_proto::compound::split(&r, 8)
        .unwrap()
        .iter()
        .map(|rg| Header::decode(&r[rg.clone()]).unwrap())
        .collect()
}

#[tokio::test]
async fn the_last_request_of_a_chain_may_go_async() {
    let (mut c, key, locks, holder, _task, dir) = parking_connection().await;
    // ECHO then LOCK (parks): both answered in one frame, the LOCK in the async interim
    // form; its final response comes on the wake-up.
    let msgs = vec![echo(&mut c, &key), lock_request(&mut c, &key)];
    let lock_mid = c.next_id - 1;
    c.send(&chain(msgs, &key)).await;
    let hdrs = chain_reply(&mut c).await;
    assert_eq!(hdrs.len(), 2);
    assert_eq!(
        (hdrs[0].command, hdrs[0].status),
        (Command::ECHO, NtStatus::SUCCESS)
    );
    assert_eq!(
        (hdrs[1].command, hdrs[1].status),
        (Command::LOCK, NtStatus::PENDING)
    );
    assert!(hdrs[1].is_async());
    locks.unlock(KEY, holder, 0, 10).unwrap();
    let fin = reply(&mut c, &key).await;
    assert_eq!((fin.message_id, fin.status), (lock_mid, NtStatus::SUCCESS));
    assert_eq!(fin.async_id, hdrs[1].async_id);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_request_that_would_wait_inside_a_chain_fails_and_the_chain_goes_on() {
    let (mut c, key, locks, _holder, _task, dir) = parking_connection().await;
    // LOCK (would park) then ECHO: MS-SMB2 <206>, smbtorture compound.interim2: the LOCK
    // fails at once with STATUS_INTERNAL_ERROR, its waiter gone; the ECHO is answered.
    let msgs = vec![lock_request(&mut c, &key), echo(&mut c, &key)];
    c.send(&chain(msgs, &key)).await;
    let hdrs = chain_reply(&mut c).await;
    assert_eq!(hdrs.len(), 2);
    assert_eq!(hdrs[0].status, NtStatus::INTERNAL_ERROR);
    assert!(!hdrs[0].is_async());
    assert_eq!(
        (hdrs[1].command, hdrs[1].status),
        (Command::ECHO, NtStatus::SUCCESS)
    );
    assert!(locks.waiters_of(KEY).is_empty());
    // Still serving.
    let m = echo(&mut c, &key);
    c.send(&m).await;
    assert_eq!(reply(&mut c, &key).await.status, NtStatus::SUCCESS);
    let _ = std::fs::remove_dir_all(dir);
}

/// A CREATE (its body is not looked at by the stand-in), `related` to what precedes it.
fn create_request(c: &mut Client, related: bool) -> Vec<u8> {
    let mut m = c.header(Command::CREATE);
    if related {
        m[16] |= flags::RELATED_OPERATIONS as u8;
    }
    m.extend_from_slice(&57u16.to_le_bytes());
    m.extend_from_slice(&[0; 56]);
    m
}

fn related_echo(c: &mut Client) -> Vec<u8> {
    let mut m = c.header(Command::ECHO);
    m[16] |= flags::RELATED_OPERATIONS as u8;
    m.extend_from_slice(&[4, 0, 0, 0]);
    m
}

#[tokio::test]
async fn the_rest_of_a_chain_waits_for_a_create_that_went_async() {
    let (mut c, key, locks, holder, _task, dir) =
        parking_connection_for(Command::CREATE, None).await;
    // ECHO, CREATE (parks), related ECHO: the first two are answered now (the CREATE with
    // its interim response); the related ECHO only after the CREATE completes.
    let msgs = vec![
        echo(&mut c, &key),
        create_request(&mut c, false),
        related_echo(&mut c),
    ];
    let create_mid = c.next_id - 2;
    let echo_mid = c.next_id - 1;
    c.send(&chain(msgs, &key)).await;
    let hdrs = chain_reply(&mut c).await;
    assert_eq!(
        hdrs.len(),
        2,
        "the chain stops at the CREATE that went async"
    );
    assert_eq!(hdrs[0].status, NtStatus::SUCCESS);
    assert_eq!(
        (hdrs[1].command, hdrs[1].status),
        (Command::CREATE, NtStatus::PENDING)
    );
    locks.unlock(KEY, holder, 0, 10).unwrap();
    let fin = reply(&mut c, &key).await;
    assert_eq!(
        (fin.message_id, fin.status),
        (create_mid, NtStatus::SUCCESS)
    );
    assert_eq!(fin.async_id, hdrs[1].async_id);
    let rest = reply(&mut c, &key).await;
    assert_eq!(
        (rest.message_id, rest.status),
        (echo_mid, NtStatus::SUCCESS)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_cancelled_async_create_fails_the_related_rest_of_its_chain() {
    let (mut c, key, locks, _holder, _task, dir) =
        parking_connection_for(Command::CREATE, None).await;
    let msgs = vec![create_request(&mut c, false), related_echo(&mut c)];
    let create_mid = c.next_id - 2;
    let echo_mid = c.next_id - 1;
    c.send(&chain(msgs, &key)).await;
    let interim = reply(&mut c, &key).await;
    assert_eq!(
        (interim.message_id, interim.status),
        (create_mid, NtStatus::PENDING)
    );
    let mut cancel = Vec::new();
    Header {
        command: Command::CANCEL,
        message_id: create_mid,
        session_id: c.session_id,
        tree_id: c.tree_id,
        ..Header::default()
    }
    .encode(&mut cancel);
    cancel.extend_from_slice(&[4, 0, 0, 0]);
    sign(ALG, &key, &mut cancel, Role::Client);
    c.send(&cancel).await;
    let fin = reply(&mut c, &key).await;
    assert_eq!(
        (fin.message_id, fin.status),
        (create_mid, NtStatus::CANCELLED)
    );
    // MS-SMB2 3.3.5.2.7.2: a related request after a failed CREATE fails with its status.
    let rest = reply(&mut c, &key).await;
    assert_eq!(
        (rest.message_id, rest.status),
        (echo_mid, NtStatus::CANCELLED)
    );
    assert!(locks.waiters_of(KEY).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_parked_request_is_retried_at_its_deadline() {
    let (mut c, key, locks, _holder, _task, dir) =
        parking_connection_for(Command::LOCK, Some(Duration::from_millis(50))).await;
    let m = lock_request(&mut c, &key);
    let mid = c.next_id - 1;
    c.send(&m).await;
    let interim = reply(&mut c, &key).await;
    assert_eq!(interim.status, NtStatus::PENDING);
    // Nobody unlocks: the deadline runs the request again, flagged timed out.
    let fin = reply(&mut c, &key).await;
    assert_eq!((fin.message_id, fin.status), (mid, LOCK_NOT_GRANTED));
    assert_eq!(fin.async_id, interim.async_id);
    assert!(locks.waiters_of(KEY).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tree_disconnect_completes_a_parked_request_and_removes_its_waiter() {
    let (mut c, key, locks, _holder, _task, dir) = parking_connection().await;
    let m = lock_request(&mut c, &key);
    let mid = c.next_id - 1;
    c.send(&m).await;
    let interim = reply(&mut c, &key).await;
    assert_eq!(interim.status, NtStatus::PENDING);
    let mut m = c.header(Command::TREE_DISCONNECT);
    m.extend_from_slice(&[4, 0, 0, 0]);
    sign(ALG, &key, &mut m, Role::Client);
    c.send(&m).await;
    // The parked LOCK's final response (its cleanup status) comes before the reply.
    let fin = reply(&mut c, &key).await;
    assert_eq!((fin.message_id, fin.status), (mid, NtStatus::CANCELLED));
    assert!(fin.is_async());
    let h = reply(&mut c, &key).await;
    assert_eq!(
        (h.command, h.status),
        (Command::TREE_DISCONNECT, NtStatus::SUCCESS)
    );
    assert!(locks.waiters_of(KEY).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// A connection's state without a socket (for events that need an open with a lock).
fn bare_conn() -> (Conn, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "shoal-smb-events-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(dir.join("backing")).unwrap();
    let users = shoal_auth::UserDb::open(&dir.join("users.sqlite")).unwrap();
    let vfs: Arc<dyn shoal_vfs::Vfs> =
        Arc::new(shoal_vfs::LocalFs::open(&dir.join("backing"), &dir.join("handle.key")).unwrap());
    let shared = Arc::new(Shared::new(SmbConfig::default(), Arc::new(users), vfs));
    let (sink, _rx) = crate::conn::events::register(&shared.config.locks, 16);
    let (tx, _) = tokio::sync::mpsc::channel(1);
    (
        Conn::new(shared, "127.0.0.1:1".parse().unwrap(), tx, sink),
        dir,
    )
}

use crate::conn::Conn;

#[tokio::test]
async fn an_oplock_break_event_becomes_an_oplock_break_notification() {
    let (mut conn, dir) = bare_conn();
    let handle = conn.shared.vfs.root("").unwrap();
    let open = OpenId { node: 0, seq: 77 };
    let fid = FileId {
        persistent: 5,
        volatile: 6,
    };
    conn.opens.insert(
        fid,
        Open {
            session_id: 0x1234,
            tree_id: 3,
            kind: OpenKind::File {
                handle,
                is_dir: false,
                listing: None,
                io: Default::default(),
                mode: 0,
                audit_name: "/data/f".into(),
                caller: conn.caller(
                    &crate::conn::state::Identity {
                        user: "alice".into(),
                        uid: 0,
                        gid: 0,
                        sid: String::new(),
                        guest: false,
                    },
                    shoal_vfs::ZoneId::SYSTEM,
                ),
            },
            granted: 0,
            path: "f".into(),
            lock: Some(OpenLock { key: KEY, id: open }),
            lock_sequences: Default::default(),
        },
    );
    // Through the connection's sink, as the manager delivers it.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let sink = crate::conn::events::ConnSink(tx);
    assert!(shoal_vfs::lock::EventSink::send(
        &sink,
        LockEvent::OplockBreak {
            file: KEY,
            open,
            to: shoal_vfs::lock::OplockLevel::Level2,
        }
    ));
    let ev = rx.recv().await.unwrap();
    conn.on_lock_event(ev).await.unwrap();
    let frames = std::mem::take(&mut conn.extra_frames);
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert_eq!(
        u32::from_be_bytes(f[0..4].try_into().unwrap()) as usize,
        f.len() - 4
    );
    let msg = &f[4..];
    let h = Header::decode(msg).unwrap();
    assert_eq!(h.command, Command::OPLOCK_BREAK);
    assert_eq!(h.message_id, u64::MAX);
    assert_eq!(h.status, NtStatus::SUCCESS);
    assert!(h.is_response() && !h.is_async() && !h.is_signed());
    assert_eq!((h.tree_id, h.session_id, h.credits), (0, 0x1234, 0));
    let body = &msg[64..];
    assert_eq!(body.len(), 24);
    assert_eq!(u16::from_le_bytes([body[0], body[1]]), 24);
    assert_eq!(body[2], 1, "level II");
    assert_eq!(u64::from_le_bytes(body[8..16].try_into().unwrap()), 5);
    assert_eq!(u64::from_le_bytes(body[16..24].try_into().unwrap()), 6);
    // A break for an open that is gone sends nothing.
    conn.on_lock_event(LockEvent::OplockBreak {
        file: KEY,
        open: OpenId { node: 0, seq: 78 },
        to: shoal_vfs::lock::OplockLevel::None,
    })
    .await
    .unwrap();
    assert!(conn.extra_frames.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_lease_break_event_becomes_a_lease_break_notification() {
    let (mut conn, dir) = bare_conn();
    conn.on_lock_event(LockEvent::LeaseBreak {
        file: KEY,
        client: [1; 16],
        key: [7; 16],
        from: 7,
        to: 1,
        epoch: 3,
        ack_required: true,
    })
    .await
    .unwrap();
    let frames = std::mem::take(&mut conn.extra_frames);
    assert_eq!(frames.len(), 1);
    let msg = &frames[0][4..];
    let h = Header::decode(msg).unwrap();
    assert_eq!((h.command, h.message_id), (Command::OPLOCK_BREAK, u64::MAX));
    let body = &msg[64..];
    assert_eq!(body.len(), 44);
    assert_eq!(u16::from_le_bytes([body[2], body[3]]), 3, "NewEpoch");
    assert_eq!(
        u32::from_le_bytes(body[4..8].try_into().unwrap()),
        1,
        "ACK_REQUIRED"
    );
    assert_eq!(&body[8..24], &[7; 16]);
    assert_eq!(u32::from_le_bytes(body[24..28].try_into().unwrap()), 7);
    assert_eq!(u32::from_le_bytes(body[28..32].try_into().unwrap()), 1);
    let _ = std::fs::remove_dir_all(dir);
}
