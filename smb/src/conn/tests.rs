//! Socket-free session tests: a scripted client over `tokio::io::duplex` drives a connection
//! through NEGOTIATE, NTLMv2 SESSION_SETUP (raw NTLMSSP, computed here), and checks the
//! signature rules: a tampered signature and a missing one are refused with ACCESS_DENIED, a
//! good one is accepted and the reply is signed with the derived key. Compound chains: a
//! chain starting with a related request is refused, and a signed request on an unknown
//! session gets a reply flagged signed. Overlapped READs: a READ held up in the VFS does not
//! hold up the requests after it (they are answered first), a CLOSE of its file waits for it,
//! and at the in-flight cap the connection waits.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use shoal_smb_proto::crypto::kdf::derive_session_keys;
use shoal_smb_proto::crypto::signing::{sign, verify, Role, SigningAlgorithm};
use shoal_smb_proto::header::{flags, Header};
use shoal_smb_proto::{Command, Dialect, NtStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::Shared;
use crate::config::{ShareConfig, SmbConfig};

type HmacMd5 = Hmac<md5::Md5>;

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut m = <HmacMd5 as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

struct Client {
    io: DuplexStream,
    next_id: u64,
    session_id: u64,
    tree_id: u32,
}

impl Client {
    fn header(&mut self, command: Command) -> Vec<u8> {
        let mut v = Vec::new();
        Header {
            command,
            credits: 8,
            credit_charge: 1,
            message_id: self.next_id,
            session_id: self.session_id,
            tree_id: self.tree_id,
            ..Header::default()
        }
        .encode(&mut v);
        self.next_id += 1;
        v
    }

    async fn send(&mut self, msg: &[u8]) {
        let mut f = (msg.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(msg);
        self.io.write_all(&f).await.unwrap();
    }

    async fn recv(&mut self) -> Vec<u8> {
        let mut h = [0u8; 4];
        self.io.read_exact(&mut h).await.unwrap();
        let mut b = vec![0u8; u32::from_be_bytes(h) as usize];
        self.io.read_exact(&mut b).await.unwrap();
        b
    }

    async fn call(&mut self, msg: &[u8]) -> (Header, Vec<u8>) {
        self.send(msg).await;
        let r = self.recv().await;
        (Header::decode(&r).unwrap(), r)
    }
}

fn setup_request(c: &mut Client, token: &[u8]) -> Vec<u8> {
    let mut m = c.header(Command::SESSION_SETUP);
    m.extend_from_slice(&25u16.to_le_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&88u16.to_le_bytes());
    m.extend_from_slice(&(token.len() as u16).to_le_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(token);
    m
}

fn tree_connect(c: &mut Client, path: &str) -> Vec<u8> {
    let p = utf16(path);
    let mut m = c.header(Command::TREE_CONNECT);
    m.extend_from_slice(&9u16.to_le_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&72u16.to_le_bytes());
    m.extend_from_slice(&(p.len() as u16).to_le_bytes());
    m.extend_from_slice(&p);
    m
}

const NEG_FLAGS: u32 =
    0x0000_0001 | 0x0000_0200 | 0x0008_0000 | 0x0080_0000 | 0x2000_0000 | 0x0000_0010;

/// Negotiates 3.0.2 and authenticates `user`/`password`; returns the session key on success
/// or the failing status.
async fn logon(c: &mut Client, user: &str, password: &str) -> Result<[u8; 16], NtStatus> {
    logon_with(c, user, password, 0)
        .await
        .map(|(signing, _)| signing)
}

/// [`logon`] with the client's NEGOTIATE capabilities; returns the signing and session keys.
async fn logon_with(
    c: &mut Client,
    user: &str,
    password: &str,
    caps: u32,
) -> Result<([u8; 16], [u8; 16]), NtStatus> {
    negotiate(c, caps).await;
    authenticate(c, user, password).await
}

/// Negotiates 3.0.2 with the client's capabilities `caps`.
async fn negotiate(c: &mut Client, caps: u32) {
    let mut neg = c.header(Command::NEGOTIATE);
    neg.extend_from_slice(&36u16.to_le_bytes());
    neg.extend_from_slice(&1u16.to_le_bytes());
    neg.extend_from_slice(&1u16.to_le_bytes());
    neg.extend_from_slice(&[0; 2]);
    neg.extend_from_slice(&caps.to_le_bytes());
    neg.extend_from_slice(&[9; 16]);
    neg.extend_from_slice(&[0; 8]);
    neg.extend_from_slice(&0x0302u16.to_le_bytes());
    let (h, r) = c.call(&neg).await;
    assert_eq!(h.status, NtStatus::SUCCESS);
    assert_eq!(u16::from_le_bytes([r[68], r[69]]), 0x0302);
}

/// Authenticates `user`/`password` on a negotiated connection; returns the signing and
/// session keys on success or the failing status.
async fn authenticate(
    c: &mut Client,
    user: &str,
    password: &str,
) -> Result<([u8; 16], [u8; 16]), NtStatus> {
    let mut t1 = b"NTLMSSP\0\x01\0\0\0".to_vec();
    t1.extend_from_slice(&NEG_FLAGS.to_le_bytes());
    t1.extend_from_slice(&[0; 16]);
    let m = setup_request(c, &t1);
    let (h, r) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::MORE_PROCESSING_REQUIRED);
    c.session_id = h.session_id;
    let off = u16::from_le_bytes([r[68], r[69]]) as usize;
    let len = u16::from_le_bytes([r[70], r[71]]) as usize;
    let chal = &r[off..off + len];
    let server_challenge = &chal[24..32];
    let ti_len = u16::from_le_bytes([chal[40], chal[41]]) as usize;
    let ti_off = u32::from_le_bytes(chal[44..48].try_into().unwrap()) as usize;
    let target_info = &chal[ti_off..ti_off + ti_len];

    let hash = shoal_auth::db::nt_hash(password);
    let key = hmac_md5(&hash, &[&utf16(&user.to_uppercase()), &utf16("WG")]);
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0; 8]);
    blob.extend_from_slice(&[0x5a; 8]);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(target_info);
    blob.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(&key, &[server_challenge, &blob]);
    let session_key = hmac_md5(&key, &[&proof]);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    let fields = [
        vec![0u8; 24],
        nt,
        utf16("WG"),
        utf16(user),
        utf16("WS"),
        Vec::new(),
    ];
    let mut t3 = b"NTLMSSP\0\x03\0\0\0".to_vec();
    let mut off = 64usize;
    let mut payload = Vec::new();
    for f in &fields {
        t3.extend_from_slice(&(f.len() as u16).to_le_bytes());
        t3.extend_from_slice(&(f.len() as u16).to_le_bytes());
        t3.extend_from_slice(&(off as u32).to_le_bytes());
        off += f.len();
        payload.extend_from_slice(f);
    }
    t3.extend_from_slice(&NEG_FLAGS.to_le_bytes());
    t3.extend_from_slice(&payload);
    let m = setup_request(c, &t3);
    let (h, r) = c.call(&m).await;
    if h.status != NtStatus::SUCCESS {
        return Err(h.status);
    }
    let keys = derive_session_keys(&session_key, Dialect::SMB3_0_2, &[0; 64]);
    assert!(h.is_signed(), "final SESSION_SETUP response must be signed");
    assert!(verify(
        SigningAlgorithm::AesCmac,
        &keys.signing,
        &r,
        Role::Server
    ));
    Ok((keys.signing, session_key))
}

async fn start() -> (Client, tokio::task::JoinHandle<()>, std::path::PathBuf) {
    start_with(|v| v, SmbConfig::default().max_reads_in_flight).await
}

/// [`start`] with the VFS wrapped by `wrap` and a READ cap.
async fn start_with(
    wrap: impl FnOnce(Arc<dyn shoal_vfs::Vfs>) -> Arc<dyn shoal_vfs::Vfs>,
    max_reads_in_flight: usize,
) -> (Client, tokio::task::JoinHandle<()>, std::path::PathBuf) {
    start_shared(wrap, max_reads_in_flight, |_| {}).await
}

/// [`start_with`], with `adjust` applied to what the connection shares.
async fn start_shared(
    wrap: impl FnOnce(Arc<dyn shoal_vfs::Vfs>) -> Arc<dyn shoal_vfs::Vfs>,
    max_reads_in_flight: usize,
    adjust: impl FnOnce(&mut Shared),
) -> (Client, tokio::task::JoinHandle<()>, std::path::PathBuf) {
    let (shared, dir) = shared_for(wrap, max_reads_in_flight, adjust);
    let (client, task) = connect(shared);
    (client, task, dir)
}

/// A new connection to a server sharing `shared`.
fn connect(shared: Arc<Shared>) -> (Client, tokio::task::JoinHandle<()>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let _keep = _tx;
        super::run(b, "127.0.0.1:1".parse().unwrap(), shared, rx).await;
    });
    (
        Client {
            io: a,
            next_id: 0,
            session_id: 0,
            tree_id: 0,
        },
        task,
    )
}

/// What the connections of a test server share, with user alice/s3cret and share `data`.
fn shared_for(
    wrap: impl FnOnce(Arc<dyn shoal_vfs::Vfs>) -> Arc<dyn shoal_vfs::Vfs>,
    max_reads_in_flight: usize,
    adjust: impl FnOnce(&mut Shared),
) -> (Arc<Shared>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "shoal-smb-conn-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(dir.join("backing")).unwrap();
    let users = shoal_auth::UserDb::open(&dir.join("users.sqlite")).unwrap();
    users.add("alice", "s3cret", Some(0), Some(0)).unwrap();
    let vfs = shoal_vfs::LocalFs::open(&dir.join("backing"), &dir.join("handle.key")).unwrap();
    let vfs = wrap(Arc::new(vfs));
    let root = vfs.root("").unwrap();
    let config = SmbConfig {
        shares: vec![ShareConfig {
            name: "data".into(),
            root,
            read_only: false,
            comment: String::new(),
            zone: shoal_vfs::ZoneId::SYSTEM,
            encrypt: false,
            macos_name_mapping: true,
        }],
        max_reads_in_flight,
        ..SmbConfig::default()
    };
    let mut shared = Shared::new(config, Arc::new(users), vfs);
    adjust(&mut shared);
    (Arc::new(shared), dir)
}

mod binding;
mod parking;

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

#[tokio::test]
async fn signatures_are_verified_and_replies_signed() {
    let (mut c, _task, dir) = start().await;
    let key = logon(&mut c, "alice", "s3cret").await.unwrap();

    // Unsigned TREE_CONNECT on a session that requires signing: refused.
    let m = tree_connect(&mut c, "\\\\srv\\data");
    let (h, _) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::ACCESS_DENIED);

    // Tampered signature: refused.
    let mut m = tree_connect(&mut c, "\\\\srv\\data");
    sign(SigningAlgorithm::AesCmac, &key, &mut m, Role::Client);
    m[50] ^= 0x40;
    let (h, _) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::ACCESS_DENIED);

    // Properly signed: accepted, and the reply is signed with the same key.
    let mut m = tree_connect(&mut c, "\\\\srv\\data");
    sign(SigningAlgorithm::AesCmac, &key, &mut m, Role::Client);
    let (h, r) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::SUCCESS);
    assert!(h.is_signed() && verify(SigningAlgorithm::AesCmac, &key, &r, Role::Server));
    assert_eq!(h.flags & flags::SERVER_TO_REDIR, flags::SERVER_TO_REDIR);

    // Unknown share, signed request: BAD_NETWORK_NAME, signed reply.
    let mut m = tree_connect(&mut c, "\\\\srv\\nosuch");
    sign(SigningAlgorithm::AesCmac, &key, &mut m, Role::Client);
    let (h, r) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::BAD_NETWORK_NAME);
    assert!(verify(SigningAlgorithm::AesCmac, &key, &r, Role::Server));

    // LOGOFF, then the session is gone.
    let mut m = c.header(Command::LOGOFF);
    m.extend_from_slice(&[4, 0, 0, 0]);
    sign(SigningAlgorithm::AesCmac, &key, &mut m, Role::Client);
    let (h, _) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::SUCCESS);
    let mut m = tree_connect(&mut c, "\\\\srv\\data");
    sign(SigningAlgorithm::AesCmac, &key, &mut m, Role::Client);
    let (h, r) = c.call(&m).await;
    assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);
    assert!(
        verify(SigningAlgorithm::AesCmac, &key, &r, Role::Server),
        "deleted-session reply signed with the old key"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike() {
    for (user, pw) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let (mut c, _task, dir) = start().await;
        assert_eq!(logon(&mut c, user, pw).await, Err(NtStatus::LOGON_FAILURE));
        // The failed session is gone.
        let mut m = c.header(Command::TREE_CONNECT);
        m.extend_from_slice(&[9, 0, 0, 0, 72, 0, 0, 0]);
        let (h, _) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);
        let _ = std::fs::remove_dir_all(dir);
    }
}

mod encryption {
    use super::*;
    use shoal_smb_proto::crypto::encryption::{derive_cipher_keys, Cipher, CipherKey};
    use shoal_smb_proto::transform;

    /// Client-side keys: it seals with the server's decryption key and opens with its
    /// encryption key.
    fn client_keys(session_key: &[u8; 16]) -> (CipherKey, CipherKey) {
        let k = derive_cipher_keys(
            session_key,
            Dialect::SMB3_0_2,
            &[0; 64],
            Cipher::AES_128_CCM,
        )
        .unwrap();
        (
            CipherKey::new(Cipher::AES_128_CCM, &k.decryption).unwrap(),
            CipherKey::new(Cipher::AES_128_CCM, &k.encryption).unwrap(),
        )
    }

    fn seal(key: &CipherKey, nonce: u8, session_id: u64, msg: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; transform::HEADER_LEN];
        buf.extend_from_slice(msg);
        let mut n = [0u8; 16];
        n[0] = nonce;
        transform::seal(key, n, session_id, &mut buf).unwrap();
        buf
    }

    async fn closed(c: &mut Client) -> bool {
        let mut h = [0u8; 4];
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), c.io.read_exact(&mut h)).await,
            Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn encrypted_requests_get_encrypted_replies_and_replays_close_the_connection() {
        let (mut c, _task, dir) = start().await;
        let (_, sk) = logon_with(&mut c, "alice", "s3cret", 0x40).await.unwrap();
        let (seal_key, open_key) = client_keys(&sk);
        let sid = c.session_id;
        // An encrypted, unsigned TREE_CONNECT is accepted; the reply is encrypted.
        let m = tree_connect(&mut c, "\\\\srv\\data");
        let frame = seal(&seal_key, 1, sid, &m);
        c.send(&frame).await;
        let mut r = c.recv().await;
        assert_eq!(r[..4], transform::PROTOCOL_ID);
        let th = transform::open(&open_key, &mut r).unwrap();
        assert_eq!(th.session_id, sid);
        let h = Header::decode(&r[transform::HEADER_LEN..]).unwrap();
        assert_eq!(h.status, NtStatus::SUCCESS);
        assert!(!h.is_signed(), "an encrypted reply is not signed as well");
        // The same frame again: a replayed nonce closes the connection.
        c.send(&frame).await;
        assert!(closed(&mut c).await);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn unknown_session_bad_tag_or_foreign_session_close_the_connection() {
        for case in ["unknown session", "bad tag", "inner session differs"] {
            let (mut c, _task, dir) = start().await;
            let (_, sk) = logon_with(&mut c, "alice", "s3cret", 0x40).await.unwrap();
            let (seal_key, _) = client_keys(&sk);
            let sid = c.session_id;
            let mut m = tree_connect(&mut c, "\\\\srv\\data");
            let frame = match case {
                "unknown session" => seal(&seal_key, 1, sid + 1000, &m),
                "bad tag" => {
                    let mut f = seal(&seal_key, 1, sid, &m);
                    f[10] ^= 1;
                    f
                }
                _ => {
                    m[40..48].copy_from_slice(&(sid + 1).to_le_bytes());
                    seal(&seal_key, 1, sid, &m)
                }
            };
            c.send(&frame).await;
            assert!(closed(&mut c).await, "{case}");
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[tokio::test]
    async fn no_encryption_capability_means_no_encryption() {
        let (mut c, _task, dir) = start().await;
        let (_, sk) = logon_with(&mut c, "alice", "s3cret", 0).await.unwrap();
        let (seal_key, _) = client_keys(&sk);
        let m = tree_connect(&mut c, "\\\\srv\\data");
        let sid = c.session_id;
        c.send(&seal(&seal_key, 1, sid, &m)).await;
        assert!(closed(&mut c).await);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Compound chains (MS-SMB2 3.3.5.2.7.2) and replies that cannot be signed.
mod compound {
    use super::*;
    use shoal_smb_proto::compound;

    const ALG: SigningAlgorithm = SigningAlgorithm::AesCmac;

    /// A CLOSE of `FileId` all-ones (the related FileId), flagged related or not.
    fn close_all_ones(c: &mut Client, related: bool) -> Vec<u8> {
        let mut m = c.header(Command::CLOSE);
        if related {
            m[16] |= flags::RELATED_OPERATIONS as u8;
        }
        m.extend_from_slice(&24u16.to_le_bytes());
        m.extend_from_slice(&[0; 6]);
        m.extend_from_slice(&[0xff; 16]);
        m
    }

    /// Links `msgs` into one chain (8-byte aligned, NextCommand set), each signed with `key`.
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

    /// Logs on and connects to `data` with signed requests; returns the signing key.
    async fn connected(c: &mut Client) -> [u8; 16] {
        let key = logon(c, "alice", "s3cret").await.unwrap();
        let mut m = tree_connect(c, "\\\\srv\\data");
        sign(ALG, &key, &mut m, Role::Client);
        let (h, _) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::SUCCESS);
        c.tree_id = h.tree_id;
        key
    }

    #[tokio::test]
    async fn a_chain_starting_with_a_related_request_is_refused() {
        let (mut c, _task, dir) = start().await;
        let key = connected(&mut c).await;
        // smbtorture invalid1: related, related, unrelated.
        let msgs = vec![
            close_all_ones(&mut c, true),
            close_all_ones(&mut c, true),
            close_all_ones(&mut c, false),
        ];
        c.send(&chain(msgs, &key)).await;
        let r = c.recv().await;
        let ranges = compound::split(&r, 8).unwrap();
        let statuses: Vec<NtStatus> = ranges
            .iter()
            .map(|rg| {
                let m = &r[rg.clone()];
                assert!(verify(ALG, &key, m, Role::Server), "each reply signed");
                Header::decode(m).unwrap().status
            })
            .collect();
        assert_eq!(
            statuses,
            [
                NtStatus::INVALID_PARAMETER,
                NtStatus::INVALID_PARAMETER,
                NtStatus::FILE_CLOSED
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn unknown_session_reply_to_a_signed_request_carries_the_signed_flag() {
        let (mut c, _task, dir) = start().await;
        let key = connected(&mut c).await;
        // smbtorture invalid2: a signed request naming a session that does not exist.
        let real = c.session_id;
        c.session_id = u64::MAX;
        let mut m = close_all_ones(&mut c, false);
        sign(ALG, &key, &mut m, Role::Client);
        let (h, r) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);
        assert!(h.is_signed(), "SMB2_FLAGS_SIGNED set");
        assert_eq!(r[48..64], [0; 16], "no key to sign with: zero signature");
        // An unsigned request on an unknown session gets no flag.
        let m = close_all_ones(&mut c, false);
        let (h, _) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::USER_SESSION_DELETED);
        assert!(!h.is_signed());
        // smbtorture invalid4: an unknown command code is INVALID_PARAMETER (signed reply).
        c.session_id = real;
        let mut m = c.header(Command(0xff));
        m.extend_from_slice(&[4, 0, 0, 0]);
        sign(ALG, &key, &mut m, Role::Client);
        let (h, r) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::INVALID_PARAMETER);
        assert!(verify(ALG, &key, &r, Role::Server));
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// READs completed off the connection task (`inflight`).
mod overlapped_reads {
    use super::*;
    use shoal_vfs::testing::{GatedFs, GATED_LEN};
    use std::sync::Mutex;
    use std::time::Duration;

    const ALG: SigningAlgorithm = SigningAlgorithm::AesCmac;

    /// A connection over a [`GatedFs`] with a file `f` of 64 KiB (byte i = i % 251), logged
    /// on, connected to `data`, `f` opened for reading. Returns the client, the gate, the
    /// signing key, the FileId and the directory to remove.
    async fn opened(
        max_reads: usize,
    ) -> (
        Client,
        Arc<GatedFs>,
        [u8; 16],
        [u8; 16],
        tokio::task::JoinHandle<()>,
        std::path::PathBuf,
    ) {
        let gate: Arc<Mutex<Option<Arc<GatedFs>>>> = Arc::new(Mutex::new(None));
        let g = gate.clone();
        let (mut c, task, dir) = start_with(
            move |inner| {
                let fs = Arc::new(GatedFs::new(inner));
                *g.lock().unwrap() = Some(fs.clone());
                fs
            },
            max_reads,
        )
        .await;
        let fs = gate.lock().unwrap().clone().unwrap();
        let content: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("backing").join("f"), &content).unwrap();
        let key = logon(&mut c, "alice", "s3cret").await.unwrap();
        let mut m = tree_connect(&mut c, "\\\\srv\\data");
        sign(ALG, &key, &mut m, Role::Client);
        let (h, _) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::SUCCESS);
        c.tree_id = h.tree_id;
        // CREATE (MS-SMB2 2.2.13): FILE_READ_DATA, share all, FILE_OPEN.
        let name = utf16("f");
        let mut m = c.header(Command::CREATE);
        m.extend_from_slice(&57u16.to_le_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&2u32.to_le_bytes()); // impersonation
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&0x0012_0089u32.to_le_bytes()); // generic read set
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&7u32.to_le_bytes());
        m.extend_from_slice(&1u32.to_le_bytes()); // FILE_OPEN
        m.extend_from_slice(&0x40u32.to_le_bytes()); // FILE_NON_DIRECTORY_FILE
        m.extend_from_slice(&120u16.to_le_bytes());
        m.extend_from_slice(&(name.len() as u16).to_le_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&name);
        sign(ALG, &key, &mut m, Role::Client);
        let (h, r) = c.call(&m).await;
        assert_eq!(h.status, NtStatus::SUCCESS);
        let file_id: [u8; 16] = r[128..144].try_into().unwrap();
        (c, fs, key, file_id, task, dir)
    }

    fn read(c: &mut Client, key: &[u8; 16], file_id: &[u8; 16], offset: u64, len: u32) -> Vec<u8> {
        let mut m = c.header(Command::READ);
        m.extend_from_slice(&49u16.to_le_bytes());
        m.extend_from_slice(&[0x50, 0]);
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&offset.to_le_bytes());
        m.extend_from_slice(file_id);
        m.extend_from_slice(&[0; 16]);
        m.push(0);
        sign(ALG, key, &mut m, Role::Client);
        m
    }

    fn close(c: &mut Client, key: &[u8; 16], file_id: &[u8; 16]) -> Vec<u8> {
        let mut m = c.header(Command::CLOSE);
        m.extend_from_slice(&24u16.to_le_bytes());
        m.extend_from_slice(&[0; 6]);
        m.extend_from_slice(file_id);
        sign(ALG, key, &mut m, Role::Client);
        m
    }

    fn echo(c: &mut Client, key: &[u8; 16]) -> Vec<u8> {
        let mut m = c.header(Command::ECHO);
        m.extend_from_slice(&[4, 0, 0, 0]);
        sign(ALG, key, &mut m, Role::Client);
        m
    }

    /// Receives one reply, checks its signature, returns its header and READ data (if any).
    async fn reply(c: &mut Client, key: &[u8; 16]) -> (Header, Vec<u8>) {
        let r = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("a reply");
        assert!(verify(ALG, key, &r, Role::Server), "reply signed");
        let h = Header::decode(&r).unwrap();
        let data = if h.command == Command::READ && h.status == NtStatus::SUCCESS {
            let off = r[66] as usize;
            let len = u32::from_le_bytes(r[68..72].try_into().unwrap()) as usize;
            r[off..off + len].to_vec()
        } else {
            Vec::new()
        };
        (h, data)
    }

    fn expected(offset: usize, len: usize) -> Vec<u8> {
        (offset..offset + len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_slow_read_does_not_hold_up_later_reads_and_a_close_waits_for_it() {
        let (mut c, fs, key, fid, _task, dir) = opened(16).await;
        let slow = read(&mut c, &key, &fid, 100, GATED_LEN);
        let slow_mid = c.next_id - 1;
        let quick = read(&mut c, &key, &fid, 4096, 300);
        let quick_mid = c.next_id - 1;
        let e = echo(&mut c, &key);
        let echo_mid = c.next_id - 1;
        c.send(&slow).await;
        c.send(&quick).await;
        c.send(&e).await;
        // The second READ and the ECHO are answered while the first READ still waits in the
        // VFS: out of order, matched by MessageId.
        let mut early = Vec::new();
        for _ in 0..2 {
            let (h, data) = reply(&mut c, &key).await;
            assert_eq!(h.status, NtStatus::SUCCESS);
            assert!(h.credits >= 1, "credits granted as for any reply");
            if h.message_id == quick_mid {
                assert_eq!(data, expected(4096, 300));
            }
            early.push(h.message_id);
        }
        early.sort_unstable();
        assert_eq!(early, [quick_mid, echo_mid]);
        // A CLOSE of the file waits for its READ in flight (nothing is answered meanwhile);
        // the READ still completes with its data, then the CLOSE.
        let m = close(&mut c, &key, &fid);
        c.send(&m).await;
        let mut h4 = [0u8; 4];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), c.io.read_exact(&mut h4))
                .await
                .is_err(),
            "CLOSE answered while a READ of its file is in flight"
        );
        fs.release();
        let (h, data) = reply(&mut c, &key).await;
        assert_eq!((h.message_id, h.status), (slow_mid, NtStatus::SUCCESS));
        assert_eq!(data, expected(100, GATED_LEN as usize));
        let (h, _) = reply(&mut c, &key).await;
        assert_eq!((h.command, h.status), (Command::CLOSE, NtStatus::SUCCESS));
        // The handle is closed now: a later READ fails as before.
        let m = read(&mut c, &key, &fid, 0, 10);
        c.send(&m).await;
        let (h, _) = reply(&mut c, &key).await;
        assert_eq!(h.status, NtStatus::FILE_CLOSED);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn at_the_cap_the_connection_waits_for_a_read_to_finish() {
        let (mut c, fs, key, fid, _task, dir) = opened(1).await;
        let slow = read(&mut c, &key, &fid, 0, GATED_LEN);
        let slow_mid = c.next_id - 1;
        let next = read(&mut c, &key, &fid, 0, 10);
        let next_mid = c.next_id - 1;
        let e = echo(&mut c, &key);
        let echo_mid = c.next_id - 1;
        c.send(&slow).await;
        c.send(&next).await;
        c.send(&e).await;
        // One READ in flight: the second waits for a permit, and the ECHO behind it too.
        let mut h4 = [0u8; 4];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), c.io.read_exact(&mut h4))
                .await
                .is_err(),
            "nothing is answered while the cap is reached"
        );
        fs.release();
        let mut mids = Vec::new();
        for _ in 0..3 {
            let (h, _) = reply(&mut c, &key).await;
            assert_eq!(h.status, NtStatus::SUCCESS);
            mids.push(h.message_id);
        }
        assert_eq!(mids[0], slow_mid, "the gated READ frees the permit first");
        mids.sort_unstable();
        let mut want = vec![slow_mid, next_mid, echo_mid];
        want.sort_unstable();
        assert_eq!(mids, want);
        let _ = std::fs::remove_dir_all(dir);
    }
}
