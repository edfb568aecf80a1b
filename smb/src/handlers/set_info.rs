//! SET_INFO (MS-SMB2 3.3.5.21): file information classes Basic (timestamps, attributes),
//! Rename, Disposition / DispositionEx (delete on close), EndOfFile, Allocation, Position and
//! Mode.
//!
//! READONLY of a file is stored the way Samba's `map readonly = yes` does: as the absence of
//! every write bit in the mode; all the attributes (READONLY too, HIDDEN, SYSTEM, ARCHIVE, ...)
//! and the CreationTime go to the `user.DOSATTRIB` extended attribute ([`super::dos`]).
//! ChangeTime cannot be set (POSIX ctime) and is ignored.

use shoal_smb_proto::query_info::{attributes, INFO_FILE, INFO_SECURITY};
use shoal_smb_proto::set_info::{
    decode_u32, decode_u64, decode_u8, disposition_ex, encode_set_info_response, set_class,
    BasicInfo, RenameInfo, SetInfoRequest,
};
use shoal_smb_proto::NtStatus;
use shoal_vfs::{FileKind, SetAttr, SetTime, Timespec, VfsError};

use super::dos::{self, DosInfo};
use super::{caller_for, tree_of};
use crate::blocking::blocking;
use crate::conn::state::{Conn, OpenKind, OpenLock, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::{Park, Reply, Req};
use shoal_vfs::lock::lease::IoKind;
use shoal_vfs::lock::{FileKey, Link};

const WRITE_DATA: u32 = 0x0000_0002;
const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
const DELETE: u32 = 0x0001_0000;

/// A FILETIME from the wire as a time to set: 0 and -1 leave it (MS-FSCC 2.4.7), -2 too.
fn set_time(ft: i64) -> SetTime {
    if ft <= 0 {
        return SetTime::Keep;
    }
    let secs = ft / 10_000_000 - 11_644_473_600;
    let nanos = u32::try_from(ft % 10_000_000).unwrap_or(0) * 100;
    SetTime::Client(Timespec { secs, nanos })
}

/// SET_INFO.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let s = SetInfoRequest::decode(req.msg)?;
    let id = req.file_id(s.file_id);
    let (identity, share) = tree_of(conn, req)?;
    tracing::debug!(
        info_type = s.info_type,
        class = s.class,
        len = s.buffer.len(),
        "set_info"
    );
    let (handle, granted, is_dir, lock) = match conn.opens.get(&id) {
        Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => match &o.kind {
            OpenKind::File { handle, is_dir, .. } => (handle.clone(), o.granted, *is_dir, o.lock),
            OpenKind::Pipe(_) => return fail(NtStatus::NOT_SUPPORTED),
        },
        _ => return fail(NtStatus::FILE_CLOSED),
    };
    let Some(lock) = lock else {
        return fail(NtStatus::FILE_CLOSED);
    };
    let locks = conn.shared.config.locks.clone();
    let TreeShare::Disk(disk) = &share else {
        return fail(NtStatus::NOT_SUPPORTED);
    };
    let disk = disk.clone();
    let need = |mask: u32| {
        if granted & mask == 0 {
            fail(NtStatus::ACCESS_DENIED)
        } else {
            Ok(())
        }
    };
    // Changes through a handle are made as the user who opened it; the handle's granted
    // access decides what may change (`need`), as Windows and Samba do: a session
    // re-authenticated since (e.g. as anonymous) still works through the handles its owner
    // opened (smbtorture smb2.session reauth4).
    let vfs = conn.shared.vfs.clone();
    let caller = match conn.opens.get(&id).map(|o| &o.kind) {
        Some(OpenKind::File { caller, .. }) => caller.clone(),
        _ => caller_for(conn, &identity, &share),
    };
    if s.info_type == INFO_SECURITY {
        // MS-SMB2 3.3.5.21.3 ([`super::security`]).
        super::security::set(
            vfs,
            caller,
            identity,
            handle,
            granted,
            s.additional,
            s.buffer,
        )
        .await?;
        let mut body = Vec::new();
        encode_set_info_response(&mut body);
        return Ok(Reply::ok(body));
    }
    if s.info_type != INFO_FILE {
        return fail(NtStatus::INVALID_INFO_CLASS);
    }
    match s.class {
        set_class::BASIC => {
            need(WRITE_ATTRIBUTES)?;
            if s.buffer.len() < 36 {
                return fail(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let b = BasicInfo::decode(s.buffer)?;
            if b.attributes & 0xFFFF_8048 != 0 {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            if b.attributes & attributes::DIRECTORY != 0 && !is_dir {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            // MS-FSA 2.1.5.14.2: "If InputBuffer.FileAttributes.FILE_ATTRIBUTE_TEMPORARY is TRUE
            // and Open.File.FileType is DirectoryFile, the operation MUST be failed with
            // STATUS_INVALID_PARAMETER."
            if b.attributes & attributes::TEMPORARY != 0 && is_dir {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            blocking(move || {
                let a = vfs.getattr(&caller, &handle)?;
                let mut set = SetAttr {
                    atime: set_time(b.last_access_time),
                    mtime: set_time(b.last_write_time),
                    ..SetAttr::default()
                };
                if b.attributes != 0 && a.kind != FileKind::Directory {
                    let want_ro = b.attributes & attributes::READONLY != 0;
                    let is_ro = a.mode & 0o222 == 0;
                    if want_ro && !is_ro {
                        set.mode = Some(a.mode & !0o222);
                    } else if !want_ro && is_ro {
                        set.mode = Some(a.mode | 0o200);
                    }
                }
                if set != SetAttr::default() {
                    vfs.setattr(&caller, &handle, &set, None)?;
                }
                // 0 leaves the attributes (MS-FSCC 2.4.7), as 0 and -1 leave the time.
                if b.attributes != 0 || b.creation_time > 0 {
                    let stored = dos::load(&*vfs, &caller, &handle);
                    let old = stored.unwrap_or_else(|| DosInfo::fallback(&a));
                    let mut new = old;
                    if b.attributes != 0 {
                        new.attributes = b.attributes & dos::STORED;
                    }
                    if b.creation_time > 0 {
                        new.creation_time = b.creation_time as u64;
                    }
                    if stored != Some(new) {
                        dos::store(&*vfs, &caller, &handle, &new)?;
                    }
                }
                Ok(())
            })
            .await?;
        }
        set_class::RENAME => {
            need(DELETE)?;
            let r = RenameInfo::decode(s.buffer)?;
            let target = r.name.trim_start_matches('\\').to_string();
            let parts: Vec<String> = super::mac_names::disk_components(&target, &disk)?;
            let Some((to_name, to_walk)) = parts.split_last() else {
                return fail(NtStatus::INVALID_PARAMETER);
            };
            let (to_name, to_walk) = (to_name.clone(), to_walk.to_vec());
            let Some((link, delete_pending)) = locks.link_of(lock.key, lock.id) else {
                return fail(NtStatus::FILE_CLOSED);
            };
            let Some(from) = link.filter(|l| !l.name.is_empty()) else {
                return fail(NtStatus::ACCESS_DENIED);
            };
            if delete_pending {
                return fail(NtStatus::DELETE_PENDING);
            }
            let (from_dir, from_name) = (from.parent, from.name);
            if is_dir {
                // A directory with an open file (or directory) below it cannot be renamed
                // (Windows, Samba: ACCESS_DENIED; smbtorture smb2.rename rename_dir_openfile).
                let here = match conn.opens.get(&id).map(|o| &o.kind) {
                    Some(OpenKind::File { audit_name, .. }) => audit_name.to_lowercase(),
                    _ => return fail(NtStatus::FILE_CLOSED),
                };
                if locks.open_below(&here) {
                    return fail(NtStatus::ACCESS_DENIED);
                }
            }
            // Others' handle caching goes before the name changes (MS-SMB2 3.3.4.7; smbtorture
            // smb2.lease rename_wait): wait for their acknowledgment.
            if let Some(parked) = break_first(conn, req, id, lock, IoKind::Namespace)? {
                return Ok(parked);
            }
            let locks2 = locks.clone();
            let root = disk.root.clone();
            let read_only = disk.read_only;
            let replace = r.replace_if_exists;
            let to_dir = blocking(move || {
                if read_only {
                    return fail(NtStatus::MEDIA_WRITE_PROTECTED);
                }
                let mut dir = root;
                for p in &to_walk {
                    match vfs.lookup(&caller, &dir, p.as_bytes()) {
                        Ok((h, a)) if a.kind == FileKind::Directory => dir = h,
                        Ok(_) | Err(VfsError::NotFound) | Err(VfsError::NotDir) => {
                            return fail(NtStatus::OBJECT_PATH_NOT_FOUND)
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                // The source's directory is opened for DELETE without FILE_SHARE_DELETE, as
                // Windows and Samba do: an open of it that holds DELETE, or does not share
                // delete, refuses the rename (smbtorture smb2.rename).
                let parent = vfs.getattr(&caller, &from_dir)?;
                locks2
                    .check_share(
                        FileKey::of(&parent),
                        DELETE,
                        shoal_vfs::lock::share_access::READ | shoal_vfs::lock::share_access::WRITE,
                    )
                    .map_err(|e| SmbError::Client(NtStatus(e.nt_status())))?;
                let same = dir == from_dir && to_name.as_bytes() == from_name.as_slice();
                if !same {
                    match vfs.lookup(&caller, &dir, to_name.as_bytes()) {
                        Ok((_, a)) => {
                            let case_only = dir == from_dir
                                && to_name
                                    .eq_ignore_ascii_case(&String::from_utf8_lossy(&from_name));
                            if !case_only {
                                if !replace {
                                    return fail(NtStatus::OBJECT_NAME_COLLISION);
                                }
                                if a.kind == FileKind::Directory {
                                    return fail(NtStatus::ACCESS_DENIED);
                                }
                                // An open file cannot be replaced (MS-FSA 2.1.5.14.11).
                                if locks2.has_other_opens(FileKey::of(&a), None) {
                                    return fail(NtStatus::ACCESS_DENIED);
                                }
                            }
                        }
                        Err(VfsError::NotFound) => {}
                        Err(e) => return Err(e.into()),
                    }
                    vfs.rename(&caller, &from_dir, &from_name, &dir, to_name.as_bytes())?;
                }
                Ok(dir)
            })
            .await?;
            let new_name = parts.last().cloned().unwrap_or_default().into_bytes();
            let new_audit = super::audit_name(conn, &share, &target);
            locks.relink(
                lock.key,
                lock.id,
                Link {
                    parent: to_dir,
                    name: new_name,
                },
                Some(&new_audit.to_lowercase()),
            );
            // Every open of this file on this connection now has the new path and audit name.
            for o in conn.opens.values_mut() {
                if o.lock.is_some_and(|l| l.key == lock.key) {
                    o.path = target.clone();
                    if let OpenKind::File { audit_name, .. } = &mut o.kind {
                        *audit_name = new_audit.clone();
                    }
                }
            }
        }
        set_class::DISPOSITION | set_class::DISPOSITION_EX => {
            need(DELETE)?;
            let delete = if s.class == set_class::DISPOSITION {
                decode_u8(s.buffer)? != 0
            } else {
                decode_u32(s.buffer)? & disposition_ex::DELETE != 0
            };
            let ignore_ro = s.class == set_class::DISPOSITION_EX
                && decode_u32(s.buffer)? & disposition_ex::IGNORE_READONLY != 0;
            if delete {
                let linked = locks
                    .link_of(lock.key, lock.id)
                    .and_then(|(l, _)| l)
                    .is_some_and(|l| !l.name.is_empty());
                if !linked {
                    return fail(NtStatus::CANNOT_DELETE);
                }
                if let Some(parked) = break_first(conn, req, id, lock, IoKind::Namespace)? {
                    return Ok(parked);
                }
                let h = handle.clone();
                blocking(move || {
                    let a = vfs.getattr(&caller, &h)?;
                    if !is_dir && a.mode & 0o222 == 0 && !ignore_ro {
                        return fail(NtStatus::CANNOT_DELETE);
                    }
                    if is_dir {
                        // MS-FSA 2.1.5.14.3: a non-empty directory cannot be marked.
                        let (entries, _) = vfs.readdir(&caller, &h, 0, 3, false)?;
                        if entries.iter().any(|e| e.name != b"." && e.name != b"..") {
                            return fail(NtStatus::DIRECTORY_NOT_EMPTY);
                        }
                    }
                    Ok(())
                })
                .await?;
            }
            locks
                .set_delete_pending(lock.key, lock.id, delete)
                .map_err(|_| SmbError::Client(NtStatus::FILE_CLOSED))?;
        }
        set_class::END_OF_FILE | set_class::ALLOCATION => {
            need(WRITE_DATA)?;
            let v = decode_u64(s.buffer)?;
            if is_dir {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            // A size change breaks others' caching to none (smbtorture smb2.oplock batch11/12).
            if let Some(parked) = break_first(conn, req, id, lock, IoKind::Write)? {
                return Ok(parked);
            }
            let eof = s.class == set_class::END_OF_FILE;
            blocking(move || {
                if eof {
                    vfs.setattr(
                        &caller,
                        &handle,
                        &SetAttr {
                            size: Some(v),
                            ..SetAttr::default()
                        },
                        None,
                    )?;
                } else {
                    // AllocationSize below the end of file truncates; above it is a hint.
                    let a = vfs.getattr(&caller, &handle)?;
                    if v < a.size {
                        vfs.setattr(
                            &caller,
                            &handle,
                            &SetAttr {
                                size: Some(v),
                                ..SetAttr::default()
                            },
                            None,
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        }
        set_class::POSITION => {
            let v = decode_u64(s.buffer)?;
            if v > i64::MAX as u64 {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            if let Some(OpenKind::File { io, .. }) = conn.opens.get(&id).map(|o| &o.kind) {
                io.position.store(v, std::sync::atomic::Ordering::Relaxed);
            }
        }
        set_class::MODE => {
            let m = decode_u32(s.buffer)?;
            // MS-FSCC 2.4.26: only these bits may be set.
            if m & !(0x2 | 0x4 | 0x10 | 0x20 | 0x1000) != 0 {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            if let Some(OpenKind::File { mode, .. }) = conn.opens.get_mut(&id).map(|o| &mut o.kind)
            {
                *mode = m;
            }
        }
        set_class::VALID_DATA_LENGTH | set_class::LINK => return fail(NtStatus::NOT_SUPPORTED),
        _ => return fail(NtStatus::INVALID_INFO_CLASS),
    }
    let mut body = Vec::new();
    encode_set_info_response(&mut body);
    Ok(Reply::ok(body))
}

/// Breaks other opens' oplocks and leases before this open changes the file (`kind`), parking
/// the request (`Some` reply: interim STATUS_PENDING) while a holder must acknowledge; the
/// connection runs it again when the break ends or times out.
fn break_first(
    conn: &mut Conn,
    req: &Req<'_>,
    id: shoal_smb_proto::misc::FileId,
    lock: OpenLock,
    kind: IoKind,
) -> Result<Option<Reply>, SmbError> {
    let locks = conn.shared.config.locks.clone();
    let token = conn.park_token(req);
    match locks.break_caching(lock.key, kind, Some(lock.id), token.map(|t| conn.waiter(t))) {
        Ok(()) => Ok(None),
        Err(VfsError::WouldBlock) => match token {
            Some(async_id) => Ok(Some(Reply::parked(Park::for_break(
                async_id,
                lock.key,
                Some(id),
                locks.config().break_timeout,
            )))),
            // Too many requests wait on this connection already.
            None => fail(NtStatus::SHARING_VIOLATION),
        },
        Err(e) => Err(SmbError::Client(NtStatus(e.nt_status()))),
    }
}
