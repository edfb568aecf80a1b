//! The export table, wire handles and client rules (R1).
//!
//! A wire handle is the 8-byte id of its export followed by the VFS handle (at most 56
//! bytes, so at most 64 in all, `NFS3_FHSIZE`). The id is a hash of the export path, so
//! handles survive restarts and every handle says whose rules apply: unknown export →
//! `NFS3ERR_STALE`, client not allowed by that export → `NFS3ERR_ACCES`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use shoal_auth::clients::ClientList;
use shoal_nfs_proto::nfs3::types::NfsFh3;
use shoal_nfs_proto::nfs3::Nfsstat3;
use shoal_nfs_proto::rpc::Credential;
use shoal_vfs::{Caller, FileHandle, Protocol, ZoneId};

use crate::{ClientEntry, ExportConfig, Squash};

/// Bytes of the export id at the start of every wire handle.
pub(crate) const EXPORT_ID_LEN: usize = 8;

/// One export, ready to serve.
#[derive(Debug)]
pub(crate) struct Export {
    pub(crate) id: [u8; EXPORT_ID_LEN],
    pub(crate) path: String,
    pub(crate) root: FileHandle,
    pub(crate) zone: ZoneId,
    pub(crate) clients: ClientList<ClientEntry>,
    /// Every pattern, for MOUNT EXPORT.
    pub(crate) patterns: Vec<String>,
}

/// FNV-1a, 64 bits: stable across runs and builds (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `/data/` and `/data` name the same export.
pub(crate) fn normalize_path(path: &[u8]) -> &[u8] {
    let mut p = path;
    while p.len() > 1 && p.ends_with(b"/") {
        p = p.get(..p.len() - 1).unwrap_or(p);
    }
    p
}

/// All exports.
#[derive(Debug)]
pub(crate) struct Exports {
    list: Vec<Arc<Export>>,
}

impl Exports {
    pub(crate) fn new(configs: &[ExportConfig]) -> io::Result<Exports> {
        let mut list: Vec<Arc<Export>> = Vec::new();
        for c in configs {
            let path = String::from_utf8_lossy(normalize_path(c.path.as_bytes())).into_owned();
            let id = fnv1a(path.as_bytes()).to_be_bytes();
            if list.iter().any(|e| e.id == id) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("export {path} is listed twice (or its id collides)"),
                ));
            }
            let clients =
                ClientList::new(c.clients.iter().map(|e| (e.patterns.clone(), e.clone())))
                    .map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("export {path}: {e}"))
                    })?;
            let patterns = c
                .clients
                .iter()
                .flat_map(|e| e.patterns.iter().cloned())
                .collect();
            list.push(Arc::new(Export {
                id,
                path,
                root: c.root.clone(),
                zone: c.zone,
                clients,
                patterns,
            }));
        }
        Ok(Exports { list })
    }

    pub(crate) fn all(&self) -> &[Arc<Export>] {
        &self.list
    }

    #[cfg(test)]
    pub(crate) fn by_path(&self, path: &[u8]) -> Option<&Arc<Export>> {
        let path = normalize_path(path);
        self.list.iter().find(|e| e.path.as_bytes() == path)
    }

    /// The export a MOUNT path falls in (the longest export path that is the path or one of
    /// its ancestors) and the components below it, so clients may mount a subdirectory of an
    /// export (as with knfsd). `.` and `..` components are refused (`None`).
    pub(crate) fn for_mount<'p>(&self, path: &'p [u8]) -> Option<(&Arc<Export>, Vec<&'p [u8]>)> {
        let path = normalize_path(path);
        let mut best: Option<(&Arc<Export>, &'p [u8])> = None;
        for e in &self.list {
            let ep = e.path.as_bytes();
            let rest = if path == ep {
                Some(&b""[..])
            } else if ep == b"/" {
                path.strip_prefix(b"/")
            } else {
                path.strip_prefix(ep).and_then(|r| r.strip_prefix(b"/"))
            };
            if let Some(rest) = rest {
                let better = match best {
                    Some((b, _)) => ep.len() > b.path.len(),
                    None => true,
                };
                if better {
                    best = Some((e, rest));
                }
            }
        }
        let (export, rest) = best?;
        let parts: Vec<&[u8]> = rest
            .split(|c| *c == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        if parts.iter().any(|p| *p == b"." || *p == b"..") {
            return None;
        }
        Some((export, parts))
    }

    /// Splits a wire handle into its export and VFS handle.
    pub(crate) fn split(&self, fh: &NfsFh3) -> Result<(&Arc<Export>, FileHandle), Nfsstat3> {
        let (id, rest) =
            fh.0.split_at_checked(EXPORT_ID_LEN)
                .ok_or(Nfsstat3::NFS3ERR_BADHANDLE)?;
        let export = self
            .list
            .iter()
            .find(|e| e.id == id)
            .ok_or(Nfsstat3::NFS3ERR_STALE)?;
        let handle = FileHandle::from_bytes(rest).ok_or(Nfsstat3::NFS3ERR_BADHANDLE)?;
        Ok((export, handle))
    }
}

impl Export {
    /// The wire handle of a VFS handle of this export.
    pub(crate) fn wrap(&self, handle: &FileHandle) -> NfsFh3 {
        let mut v = Vec::with_capacity(EXPORT_ID_LEN + handle.as_bytes().len());
        v.extend_from_slice(&self.id);
        v.extend_from_slice(handle.as_bytes());
        NfsFh3(v)
    }

    /// The client entry deciding for `peer`, or `None` when the client is not allowed.
    pub(crate) fn entry_for(&self, peer: SocketAddr) -> Option<&ClientEntry> {
        self.clients.lookup(peer.ip())
    }

    /// The client entry deciding for `peer`, when it admits the request: the address is
    /// listed, and the source port is privileged (< 1024) unless the entry is `insecure`
    /// (knfsd's `secure` default, exports(5)).
    pub(crate) fn admit(&self, peer: SocketAddr) -> Result<&ClientEntry, Denied> {
        let entry = self.entry_for(peer).ok_or(Denied::NotListed)?;
        if !entry.insecure && peer.port() >= 1024 {
            return Err(Denied::InsecurePort);
        }
        Ok(entry)
    }
}

/// Why an export refused a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No client entry matches the address: `NFS3ERR_ACCES` / `MNT3ERR_ACCES`.
    NotListed,
    /// The matching entry requires a privileged source port: `NFS3ERR_PERM` (knfsd's
    /// `nfsd_setuser_and_check_port`) / `MNT3ERR_PERM`.
    InsecurePort,
}

impl Exports {
    /// Whether some export admits `peer` (address and source port): a call from it may
    /// authenticate its connection (`server` module doc).
    pub(crate) fn admits(&self, peer: SocketAddr) -> bool {
        self.list.iter().any(|e| e.admit(peer).is_ok())
    }
}

/// Builds the VFS caller: credentials after squash (R1), the client address, the zone.
/// `AUTH_NONE` (and any flavor without identity) maps to the anonymous ids.
pub(crate) fn caller(
    entry: &ClientEntry,
    cred: &Credential,
    peer: SocketAddr,
    zone: ZoneId,
) -> Caller {
    let (mut uid, mut gid, mut groups) = match cred {
        Credential::Sys(sys) => (sys.uid, sys.gid, sys.gids.clone()),
        _ => (entry.anon_uid, entry.anon_gid, Vec::new()),
    };
    match entry.squash {
        Squash::None => {}
        Squash::Root => {
            if uid == 0 {
                uid = entry.anon_uid;
            }
            if gid == 0 {
                gid = entry.anon_gid;
            }
            for g in groups.iter_mut() {
                if *g == 0 {
                    *g = entry.anon_gid;
                }
            }
        }
        Squash::All => {
            uid = entry.anon_uid;
            gid = entry.anon_gid;
            groups.clear();
        }
    }
    Caller {
        uid,
        gid,
        groups,
        sid: None,
        client_addr: peer,
        zone,
        protocol: Protocol::Nfs3,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use shoal_nfs_proto::rpc::AuthSys;

    fn entry(patterns: &[&str], squash: Squash) -> ClientEntry {
        ClientEntry {
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            read_only: false,
            squash,
            anon_uid: 65534,
            anon_gid: 65533,
            insecure: false,
        }
    }

    fn exports() -> Exports {
        Exports::new(&[ExportConfig {
            path: "/data/".into(),
            root: FileHandle::from_vec(vec![1, 2, 3]),
            zone: ZoneId::SYSTEM,
            clients: vec![entry(&["127.0.0.1"], Squash::Root)],
        }])
        .unwrap()
    }

    #[test]
    fn handles_carry_their_export() {
        let ex = exports();
        let e = ex.by_path(b"/data").unwrap();
        let fh = e.wrap(&e.root);
        let (e2, h) = ex.split(&fh).unwrap();
        assert_eq!(e2.path, "/data");
        assert_eq!(h, e.root);
        let mut forged = fh.clone();
        forged.0[0] ^= 1;
        assert_eq!(ex.split(&forged).unwrap_err(), Nfsstat3::NFS3ERR_STALE);
        assert_eq!(
            ex.split(&NfsFh3(vec![1, 2])).unwrap_err(),
            Nfsstat3::NFS3ERR_BADHANDLE
        );
        assert_eq!(
            ex.split(&NfsFh3(fh.0[..8].to_vec())).unwrap_err(),
            Nfsstat3::NFS3ERR_BADHANDLE
        );
    }

    #[test]
    fn mount_paths_and_subdirectories() {
        let ex = exports();
        assert_eq!(ex.for_mount(b"/data").unwrap().1.len(), 0);
        assert_eq!(
            ex.for_mount(b"/data/a//b/").unwrap().1,
            vec![&b"a"[..], &b"b"[..]]
        );
        assert!(ex.for_mount(b"/database").is_none());
        assert!(ex.for_mount(b"/data/../etc").is_none());
        assert!(ex.for_mount(b"/").is_none());
    }

    #[test]
    fn client_rules() {
        let ex = exports();
        let e = ex.by_path(b"/data").unwrap();
        assert!(e.entry_for("127.0.0.1:5".parse().unwrap()).is_some());
        assert!(e.entry_for("10.0.0.1:5".parse().unwrap()).is_none());
        assert!(e.admit("127.0.0.1:1023".parse().unwrap()).is_ok());
        assert_eq!(
            e.admit("127.0.0.1:1024".parse().unwrap()).unwrap_err(),
            Denied::InsecurePort
        );
        assert_eq!(
            e.admit("10.0.0.1:5".parse().unwrap()).unwrap_err(),
            Denied::NotListed
        );
        assert!(ex.admits("127.0.0.1:700".parse().unwrap()));
        assert!(!ex.admits("127.0.0.1:40000".parse().unwrap()));
        let mut insecure = entry(&["127.0.0.1"], Squash::Root);
        insecure.insecure = true;
        let ex = Exports::new(&[ExportConfig {
            path: "/data".into(),
            root: FileHandle::from_vec(vec![1]),
            zone: ZoneId::SYSTEM,
            clients: vec![insecure],
        }])
        .unwrap();
        assert!(ex.admits("127.0.0.1:40000".parse().unwrap()));
    }

    #[test]
    fn squash_modes() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let root = Credential::Sys(AuthSys {
            stamp: 0,
            machine_name: vec![],
            uid: 0,
            gid: 0,
            gids: vec![0, 5],
        });
        let user = Credential::Sys(AuthSys {
            stamp: 0,
            machine_name: vec![],
            uid: 1000,
            gid: 100,
            gids: vec![5],
        });
        let c = caller(&entry(&[], Squash::Root), &root, peer, ZoneId::SYSTEM);
        assert_eq!((c.uid, c.gid, c.groups), (65534, 65533, vec![65533, 5]));
        let c = caller(&entry(&[], Squash::None), &root, peer, ZoneId::SYSTEM);
        assert_eq!((c.uid, c.gid), (0, 0));
        let c = caller(&entry(&[], Squash::Root), &user, peer, ZoneId::SYSTEM);
        assert_eq!((c.uid, c.gid), (1000, 100));
        let c = caller(&entry(&[], Squash::All), &user, peer, ZoneId::SYSTEM);
        assert_eq!((c.uid, c.gid, c.groups.len()), (65534, 65533, 0));
        let c = caller(
            &entry(&[], Squash::None),
            &Credential::None,
            peer,
            ZoneId::SYSTEM,
        );
        assert_eq!((c.uid, c.gid), (65534, 65533));
    }
}
