//! MOUNT v3 (RFC 1813 appendix I): MNT hands out an export's root handle to allowed clients,
//! DUMP / UMNT / UMNTALL keep the (advisory) list of mounts, EXPORT lists exports.

use std::net::SocketAddr;

use bytes::BytesMut;
use shoal_nfs_proto::mount::{self, ExportEntry, MntRes, MountEntry, MountProc, Mountstat3};
use shoal_nfs_proto::rpc::{AuthFlavor, Credential};
use shoal_nfs_proto::{DecodeError, Encode, Reader};
use std::sync::Arc;

use crate::dispatch::Shared;

/// Most (client, path) pairs remembered for DUMP; further MNTs still succeed, unrecorded.
const MAX_MOUNT_RECORDS: usize = 10_000;

/// Decoded MOUNT arguments.
#[derive(Debug)]
pub(crate) enum MountArgs {
    Null,
    Mnt(Vec<u8>),
    Dump,
    Umnt(Vec<u8>),
    Umntall,
    Export,
}

pub(crate) fn decode(
    proc_: MountProc,
    r: &mut Reader<'_>,
) -> Result<Option<MountArgs>, DecodeError> {
    Ok(Some(match proc_ {
        MountProc::NULL => MountArgs::Null,
        MountProc::MNT => MountArgs::Mnt(mount::decode_dirpath(r)?),
        MountProc::DUMP => MountArgs::Dump,
        MountProc::UMNT => MountArgs::Umnt(mount::decode_dirpath(r)?),
        MountProc::UMNTALL => MountArgs::Umntall,
        MountProc::EXPORT => MountArgs::Export,
        _ => return Ok(None),
    }))
}

fn lock(
    shared: &Shared,
) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<(String, String)>> {
    match shared.mounts.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub(crate) async fn run(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    cred: &Credential,
    args: MountArgs,
    out: &mut BytesMut,
) {
    let client = peer.ip().to_string();
    match args {
        MountArgs::Null => {}
        MountArgs::Mnt(path) => mnt(shared, peer, cred, &path, &client).await.encode(out),
        MountArgs::Dump => {
            let entries: Vec<MountEntry> = lock(shared)
                .iter()
                .map(|(host, dir)| MountEntry {
                    hostname: host.as_bytes().to_vec(),
                    directory: dir.as_bytes().to_vec(),
                })
                .collect();
            mount::encode_mountlist(&entries, out);
        }
        MountArgs::Umnt(path) => {
            let path = String::from_utf8_lossy(crate::export::normalize_path(&path)).into_owned();
            lock(shared).remove(&(client, path));
        }
        MountArgs::Umntall => lock(shared).retain(|(host, _)| *host != client),
        MountArgs::Export => {
            let entries: Vec<ExportEntry> = shared
                .exports
                .all()
                .iter()
                .map(|e| ExportEntry {
                    dir: e.path.as_bytes().to_vec(),
                    groups: e.patterns.iter().map(|p| p.as_bytes().to_vec()).collect(),
                })
                .collect();
            mount::encode_exports(&entries, out);
        }
    }
}

/// MNT: the export must exist (`MNT3ERR_NOENT`) and allow the client (`MNT3ERR_ACCES`) from
/// a privileged source port unless its entry is `insecure` (`MNT3ERR_PERM`).
/// A path below an export is looked up component by component (never following symlinks)
/// and must be a directory.
async fn mnt(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    cred: &Credential,
    path: &[u8],
    client: &str,
) -> MntRes {
    let Some((export, parts)) = shared.exports.for_mount(path) else {
        tracing::debug!(path = %String::from_utf8_lossy(path), "MNT of an unknown export");
        return MntRes::Err(Mountstat3::MNT3ERR_NOENT);
    };
    let entry = match export.admit(peer) {
        Ok(e) => e,
        Err(crate::export::Denied::NotListed) => {
            tracing::info!(export = %export.path, "MNT refused: client not in the export's list");
            return MntRes::Err(Mountstat3::MNT3ERR_ACCES);
        }
        Err(crate::export::Denied::InsecurePort) => {
            // exports(5) `secure`: the entry requires a source port below 1024.
            tracing::info!(export = %export.path, "MNT refused: unprivileged source port");
            return MntRes::Err(Mountstat3::MNT3ERR_PERM);
        }
    };
    let caller = crate::export::caller(entry, cred, peer, export.zone);
    let (vfs, root) = (shared.vfs.clone(), export.root.clone());
    let parts: Vec<Vec<u8>> = parts.into_iter().map(<[u8]>::to_vec).collect();
    let walked = tokio::task::spawn_blocking(move || {
        let mut handle = root;
        let mut attr = vfs.getattr(&caller, &handle)?;
        for name in &parts {
            (handle, attr) = vfs.lookup(&caller, &handle, name)?;
        }
        if attr.kind != shoal_vfs::FileKind::Directory {
            return Err(shoal_vfs::VfsError::NotDir);
        }
        Ok(handle)
    })
    .await;
    let handle = match walked {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return MntRes::Err(crate::error::mountstat(crate::error::nfsstat(&e))),
        Err(_) => return MntRes::Err(Mountstat3::MNT3ERR_SERVERFAULT),
    };
    let mounted = String::from_utf8_lossy(crate::export::normalize_path(path)).into_owned();
    {
        let mut mounts = lock(shared);
        if mounts.len() < MAX_MOUNT_RECORDS {
            mounts.insert((client.to_string(), mounted));
        }
    }
    tracing::debug!(export = %export.path, "MNT");
    MntRes::Ok {
        handle: export.wrap(&handle).0,
        auth_flavors: vec![AuthFlavor::SYS.0],
    }
}
