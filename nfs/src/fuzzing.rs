//! Fuzzing entry point (feature `fuzzing`, used by `fuzz/fuzz_targets/nfs_dispatch.rs` only):
//! feeds sequences of RPC records to the dispatcher ([`crate::dispatch::call`]: RPC header,
//! credentials, duplicate-request cache, MOUNT and the 22 NFSv3 procedures) over a
//! [`shoal_vfs::LocalFs`] on a temp directory, no socket.
//!
//! Exports: `/data` (read-write, no squash) and `/ro` (read-only, all squashed), both for
//! 127.0.0.0/8 and both on the backing directory's root. Per input the harness mounts both
//! (MOUNT MNT with AUTH_SYS uid 0), which gives handles 0 and 1 of its handle table; every
//! handle seen in a later reply (a `nfs_fh3` of the handle length carrying an export id) is
//! added to the table, up to [`MAX_HANDLES`].
//!
//! Input format (all of it fuzzed):
//! - byte 0: options; bit 0 set: the client's source port is 40000 (unprivileged) instead of
//!   700.
//! - then records `[len: u16 LE][len bytes: one RPC call record, without record mark]`. In a
//!   record, each 4-byte marker `F7 48 00 k` is replaced by the XDR `nfs_fh3` (length and
//!   bytes) of handle `k` modulo the table size; so a call names the export roots and the
//!   files it made without knowing the handles' MAC, which is keyed per process.
//!
//! Asserted: no panic (libFuzzer's hook aborts on any, including on the blocking pool), and
//! each call is answered or dropped within [`CALL_DEADLINE`].
//!
//! `SHOAL_FUZZ_VERBOSE=1` prints each call's procedure and reply status.
//!
//! The backing directory is `$SHOAL_FUZZ_DIR` (default: the system temp dir) plus
//! `shoal-nfs-fuzz-<pid>`; it is emptied before each input so that runs are reproducible.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::BytesMut;

use crate::dispatch::{Shared, DRC_CAPACITY, DRC_PER_CLIENT};
use crate::drc::Drc;
use crate::export::Exports;
use crate::{ClientEntry, ExportConfig, Squash};

/// How long one call may take before it counts as a hang.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// Most records sent per input.
const MAX_RECORDS: usize = 64;
/// Most handles remembered per input.
pub const MAX_HANDLES: usize = 32;
/// Marks a handle substitution: `F7 48 00 k`.
const MARKER: [u8; 3] = [0xF7, 0x48, 0x00];

struct Harness {
    rt: tokio::runtime::Runtime,
    vfs: Arc<dyn shoal_vfs::Vfs>,
    exports: Vec<ExportConfig>,
    backing: PathBuf,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let base = std::env::var_os("SHOAL_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("shoal-nfs-fuzz-{}", std::process::id()));
        let backing = base.join("backing");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&backing).unwrap_or_else(|e| panic!("fuzz dir {base:?}: {e}"));
        let vfs = shoal_vfs::LocalFs::open(&backing, &base.join("handle.key"))
            .unwrap_or_else(|e| panic!("LocalFs: {e}"));
        let vfs: Arc<dyn shoal_vfs::Vfs> = Arc::new(vfs);
        let root = vfs.root("").unwrap_or_else(|e| panic!("root: {e}"));
        let export = |path: &str, read_only: bool, squash: Squash| ExportConfig {
            path: path.into(),
            root: root.clone(),
            zone: shoal_vfs::ZoneId::SYSTEM,
            clients: vec![ClientEntry {
                patterns: vec!["127.0.0.0/8".into()],
                read_only,
                squash,
                anon_uid: 65534,
                anon_gid: 65534,
                insecure: false,
            }],
        };
        let exports = vec![
            export("/data", false, Squash::None),
            export("/ro", true, Squash::All),
        ];
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        Harness {
            rt,
            vfs,
            exports,
            backing,
        }
    })
}

/// `SHOAL_FUZZ_VERBOSE` set: print each call's procedure and reply status (to check seeds).
fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("SHOAL_FUZZ_VERBOSE").is_some())
}

/// Removes everything under `dir` (not `dir` itself).
fn empty_dir(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if let Err(err) = r {
                panic!("cannot clean {p:?}: {err}");
            }
        }
    }
}

/// An RPC call record (no record mark) with an AUTH_SYS credential for uid/gid 0.
fn call_record(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [xid, 0, 2, prog, vers, proc_, 1] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    // AUTH_SYS body: stamp, machinename "fz", uid 0, gid 0, no groups.
    let body: [u32; 6] = [0, 2, u32::from_be_bytes(*b"fz\0\0"), 0, 0, 0];
    v.extend_from_slice(&24u32.to_be_bytes());
    for w in body {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(&[0; 8]); // verifier AUTH_NONE
    v.extend_from_slice(args);
    v
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, *s.get(3)?]) as usize)
}

/// Runs one call; panics when it takes longer than [`CALL_DEADLINE`].
async fn run_call(shared: &Arc<Shared>, peer: SocketAddr, record: &[u8]) -> Vec<u8> {
    let call = crate::dispatch::call(shared, peer, BytesMut::from(record), None);
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(Some(out)) => {
            let mut v = out.head.to_vec();
            v.extend_from_slice(&out.data);
            v
        }
        Ok(None) => Vec::new(),
        Err(_) => panic!("RPC call not answered within {CALL_DEADLINE:?}: hang"),
    }
}

/// Adds to `table` each wire handle found in `reply`: at an XDR word boundary, a length equal
/// to the root handles' length followed by that many bytes starting with an export id.
fn collect_handles(reply: &[u8], table: &mut Vec<Vec<u8>>, ids: &[Vec<u8>]) {
    let Some(len) = table.first().map(Vec::len) else {
        return;
    };
    let mut at = 0usize;
    while at + 4 + len <= reply.len() && table.len() < MAX_HANDLES {
        if be32(reply, at) == Some(len) {
            if let Some(h) = reply.get(at + 4..at + 4 + len) {
                let known_export = ids.iter().any(|id| h.starts_with(id));
                if known_export && !table.iter().any(|t| t == h) {
                    table.push(h.to_vec());
                }
            }
        }
        at += 4;
    }
}

/// Replaces each marker in `record` by the `nfs_fh3` of a table handle.
fn substitute(record: &[u8], table: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 64);
    let mut i = 0usize;
    while i < record.len() {
        let rest = record.get(i..).unwrap_or_default();
        if let (true, Some(&k), false) = (rest.starts_with(&MARKER), rest.get(3), table.is_empty())
        {
            if let Some(h) = table.get(usize::from(k) % table.len()) {
                out.extend_from_slice(&(h.len() as u32).to_be_bytes());
                out.extend_from_slice(h);
                out.resize(out.len() + (4 - h.len() % 4) % 4, 0);
            }
            i += 4;
        } else {
            out.extend_from_slice(rest.get(..1).unwrap_or_default());
            i += 1;
        }
    }
    out
}

/// Runs one fuzz input (format in the module docs). Panics on a hang.
pub fn nfs_dispatch(input: &[u8]) {
    run_input(input);
}

/// Calls sent after the mounts, and of their replies how many were accepted with NFS3_OK.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    calls: usize,
    ok: usize,
}

fn run_input(input: &[u8]) -> Outcome {
    let h = harness();
    empty_dir(&h.backing);
    let Some((&options, rest)) = input.split_first() else {
        return Outcome::default();
    };
    let rest = rest.to_vec();
    let exports = Exports::new(&h.exports).unwrap_or_else(|e| panic!("exports: {e}"));
    let ids: Vec<Vec<u8>> = exports.all().iter().map(|e| e.id.to_vec()).collect();
    let shared = Arc::new(Shared {
        exports,
        vfs: h.vfs.clone(),
        drc: Drc::new(DRC_CAPACITY, DRC_PER_CLIENT),
        mounts: Mutex::new(Default::default()),
        io_max: 1 << 20,
        locks: shoal_vfs::lock::LockManager::in_memory(Default::default()),
    });
    let port = if options & 1 != 0 { 40000 } else { 700 };
    let peer = SocketAddr::from(([127, 0, 0, 1], port));
    // On a worker, as the server runs calls (VFS calls then run in place).
    let run = h.rt.spawn(async move {
        let mut table: Vec<Vec<u8>> = Vec::new();
        for (xid, path) in [(1u32, "/data"), (2, "/ro")] {
            let mut args = (path.len() as u32).to_be_bytes().to_vec();
            args.extend_from_slice(path.as_bytes());
            args.resize(args.len() + (4 - path.len() % 4) % 4, 0);
            let record = call_record(xid, 100_005, 3, 1, &args);
            let reply = run_call(&shared, peer, &record).await;
            // Record mark, xid, REPLY, MSG_ACCEPTED, verifier (8), SUCCESS, then mountstat3.
            // Exports are `secure`: from an unprivileged port MNT is refused (MNT3ERR_PERM) and
            // the input runs without handles, exercising the refusal paths.
            if port >= 1024 && be32(&reply, 28) != Some(0) {
                continue;
            }
            assert_eq!(be32(&reply, 28), Some(0), "setup: MNT {path} failed");
            let len = be32(&reply, 32).unwrap_or(0);
            let handle = reply.get(36..36 + len).unwrap_or_default();
            assert!(!handle.is_empty(), "setup: MNT {path}: no handle");
            table.push(handle.to_vec());
        }
        let mut seen = Outcome::default();
        let mut rest = &rest[..];
        for _ in 0..MAX_RECORDS {
            let Some(&[lo, hi]) = rest.get(..2) else {
                break;
            };
            let len = usize::from(u16::from_le_bytes([lo, hi]));
            let body = rest.get(2..).unwrap_or_default();
            let take = len.min(body.len());
            let (record, after) = body.split_at(take);
            rest = after;
            let record = substitute(record, &table);
            let reply = run_call(&shared, peer, &record).await;
            seen.calls += 1;
            // accept_stat SUCCESS, then nfsstat3 NFS3_OK (NULL: no status word).
            seen.ok +=
                usize::from(be32(&reply, 24) == Some(0) && be32(&reply, 28).unwrap_or(0) == 0);
            if verbose() {
                // proc, then accept_stat and the first result word (nfsstat3) of the reply.
                eprintln!(
                    "nfs_dispatch: proc {:?} -> accept {:?} status {:?}",
                    be32(&record, 20),
                    be32(&reply, 24),
                    be32(&reply, 28)
                );
            }
            collect_handles(&reply, &mut table, &ids);
        }
        seen
    });
    match h.rt.block_on(run) {
        Ok(seen) => seen,
        Err(e) => panic!("input task failed: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// Every committed seed runs (no panic, no hang); the hand-made ones (libnfs exchanges and
    /// the every-procedure sequence, not `cmin-*`) also get past the
    /// mounts and its calls succeed: the handle markers resolve to live handles.
    #[test]
    fn seeds_are_answered() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/nfs_dispatch");
        let mut seeds = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let seen = super::run_input(&input);
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("cmin-")
            {
                continue; // found by a campaign: runs without panic or hang, nothing more
            }
            assert!(seen.calls > 0, "{path:?}: no calls");
            assert!(seen.ok * 2 > seen.calls, "{path:?}: {seen:?}");
            seeds += 1;
        }
        assert!(seeds >= 4, "{seeds} seeds");
        let every = std::fs::read(dir.join("every-proc.seed")).unwrap();
        let seen = super::run_input(&every);
        // 24 calls; CREATE on the read-only export (ROFS) and RMDIR of a non-empty directory
        // (NOTEMPTY) fail, as they should.
        assert_eq!((seen.calls, seen.ok), (24, 22), "{seen:?}");
    }
}
