//! CREATE (MS-SMB2 3.3.5.9): opens of files and directories of a disk share, resolved
//! component by component with `vfs.lookup` from the share root (never by joining strings),
//! and opens of the named pipes of `IPC$`.

use shoal_smb_proto::create::{
    action, context, disposition, encode_create_response, encode_create_response_with, options,
    parse_contexts, CreateRequest,
};
use shoal_smb_proto::query_info::{attributes, FileInfo};
use shoal_smb_proto::NtStatus;
use shoal_vfs::perm::{
    ACCESS_DELETE, ACCESS_EXECUTE, ACCESS_EXTEND, ACCESS_LOOKUP, ACCESS_MODIFY, ACCESS_READ,
};
use shoal_vfs::{CreateHow, FileKind, SetAttr, VfsError};

use super::dos::{self, DosInfo};
use super::{caller_for, file_info, tree_of};
use crate::conn::state::{Conn, Open, OpenKind, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};
use crate::rpc::{Pipe, PipeKind, RpcContext, ShareEntry};

/// Access mask bits (MS-SMB2 2.2.13.1).
mod access {
    pub const READ_DATA: u32 = 0x0000_0001;
    pub const WRITE_DATA: u32 = 0x0000_0002;
    pub const APPEND_DATA: u32 = 0x0000_0004;
    pub const READ_EA: u32 = 0x0000_0008;
    pub const WRITE_EA: u32 = 0x0000_0010;
    pub const EXECUTE: u32 = 0x0000_0020;
    pub const DELETE_CHILD: u32 = 0x0000_0040;
    pub const READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0001_0000;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const SYSTEM_SECURITY: u32 = 0x0100_0000;
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
}

/// Maps generic rights to specific ones (MS-SMB2 3.3.5.9 / file generic mapping).
fn map_generic(mut m: u32) -> u32 {
    use access::*;
    if m & GENERIC_READ != 0 {
        m |= READ_DATA | READ_EA | READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_WRITE != 0 {
        m |= WRITE_DATA | APPEND_DATA | WRITE_EA | WRITE_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_EXECUTE != 0 {
        m |= EXECUTE | READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    }
    if m & GENERIC_ALL != 0 {
        m |= 0x001F_01FF;
    }
    m & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL)
}

/// The SMB rights a caller has on an object, from the VFS's POSIX answer.
fn granted_from(vfs_bits: u32, read_only: bool) -> u32 {
    use access::*;
    let mut g = READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE | READ_EA;
    if vfs_bits & ACCESS_READ != 0 {
        // FILE_EXECUTE on a file only lets the client map it for execution, which reading
        // already allows; POSIX x bits are not asked for (GENERIC_ALL on a 0644 file works,
        // as with Samba's default create mask 0744).
        g |= READ_DATA | EXECUTE;
    }
    if vfs_bits & (ACCESS_EXECUTE | ACCESS_LOOKUP) != 0 {
        g |= EXECUTE;
    }
    if !read_only && vfs_bits & (ACCESS_MODIFY | ACCESS_EXTEND) != 0 {
        // Not DELETE: removing a name is a right on the parent directory (write permission,
        // and FILE_DELETE_CHILD when the parent has a stored DACL), added by the caller.
        g |= WRITE_DATA | APPEND_DATA | WRITE_EA | WRITE_ATTRIBUTES | DELETE_CHILD;
    }
    g
}

/// Splits an SMB path into components (MS-SMB2 2.2.13: relative, `\`-separated).
pub(crate) fn components(name: &str) -> Result<Vec<&str>, SmbError> {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if name.starts_with('\\') {
        // MS-SMB2 3.3.5.9: a name that starts with a separator is INVALID_PARAMETER.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if name.contains('\0') || name.contains('/') {
        return fail(NtStatus::OBJECT_NAME_INVALID);
    }
    if name.contains(':') {
        // Alternate data streams are not supported.
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let trimmed = name.strip_suffix('\\').unwrap_or(name);
    let mut out = Vec::new();
    for c in trimmed.split('\\') {
        if c.is_empty() {
            return fail(NtStatus::OBJECT_NAME_INVALID);
        }
        if c != "." {
            out.push(c);
        }
    }
    Ok(out)
}

/// What a successful CREATE resolved to.
struct Opened {
    handle: shoal_vfs::FileHandle,
    attr: shoal_vfs::Attr,
    parent: Option<shoal_vfs::FileHandle>,
    name: Vec<u8>,
    action: u32,
    /// Maximal access of the caller (MxAc).
    maximal: u32,
    /// Access granted to this open.
    granted: u32,
    /// Stored DOS attributes and creation time ([`dos`]), when there are any.
    dos: Option<DosInfo>,
}

/// CREATE.
pub(crate) async fn handle(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let (identity, share) = tree_of(conn, req)?;
    let c = CreateRequest::decode(req.msg)?;
    if conn.opens.len() >= conn.shared.config.max_opens {
        return fail(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let disk = match &share {
        TreeShare::Ipc => return open_pipe(conn, req, &c.name),
        TreeShare::Disk(s) => s.clone(),
    };
    // MS-SMB2 3.3.5.9: parameter checks before anything touches the file system.
    if c.impersonation_level > 3 {
        return fail(NtStatus::BAD_IMPERSONATION_LEVEL);
    }
    // Access mask bits outside the defined ones (MS-DTYP 2.4.3), and no access at all.
    // SYNCHRONIZE alone is refused too, as Windows Server does (smbtorture smb2.create gentest
    // expects 0x0df0fe00 denied there; only its Windows 7 target grants SYNCHRONIZE alone).
    if c.desired_access & 0x0CE0_FE00 != 0
        || c.desired_access == 0
        || c.desired_access == SYNCHRONIZE_ONLY
    {
        return fail(NtStatus::ACCESS_DENIED);
    }
    if c.desired_access & access::SYSTEM_SECURITY != 0 {
        // SACL access needs SeSecurityPrivilege, which no SMB user holds here.
        return fail(NtStatus::PRIVILEGE_NOT_HELD);
    }
    if c.options & 0xFF00_0000 != 0 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    // FILE_CREATE_TREE_CONNECTION, FILE_OPEN_BY_FILE_ID, FILE_RESERVE_OPFILTER.
    if c.options & 0x0010_2080 != 0 {
        return fail(NtStatus::NOT_SUPPORTED);
    }
    let contexts = parse_contexts(c.contexts)?;
    let secd = super::security::create_context(&contexts)?;
    super::aapl::validate(&contexts)?;
    if c.disposition > disposition::OVERWRITE_IF
        || c.options & (options::DIRECTORY_FILE | options::NON_DIRECTORY_FILE)
            == (options::DIRECTORY_FILE | options::NON_DIRECTORY_FILE)
        || c.file_attributes & 0xFFFF_8048 != 0
    {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    if c.options & options::DIRECTORY_FILE != 0
        && !matches!(
            c.disposition,
            disposition::CREATE | disposition::OPEN | disposition::OPEN_IF
        )
    {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    // MS-FSA 2.1.5.1: "If CreateOptions.FILE_DIRECTORY_FILE is TRUE and
    // DesiredFileAttributes.FILE_ATTRIBUTE_TEMPORARY is TRUE, the operation MUST be failed with
    // STATUS_INVALID_PARAMETER."
    if c.options & options::DIRECTORY_FILE != 0 && c.file_attributes & attributes::TEMPORARY != 0 {
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let desired = map_generic(c.desired_access & !access::SYSTEM_SECURITY);
    if c.options & options::DELETE_ON_CLOSE != 0
        && desired & (access::DELETE | access::MAXIMUM_ALLOWED) == 0
    {
        // MS-FSA 2.1.5.1: FILE_DELETE_ON_CLOSE needs DELETE access.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let parts: Vec<String> = super::mac_names::disk_components(&c.name, &disk)?;
    let stale = {
        let registry = conn
            .shared
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        crate::open_table::stale(
            &|s| conn.sessions.contains_key(&s),
            &|s, id| conn.opens.get(&id).is_some_and(|o| o.session_id == s),
            &|s| registry.contains_key(&s),
        )
    };
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let root = disk.root.clone();
    let read_only = disk.read_only;
    let (disp, opts, file_attributes) = (c.disposition, c.options, c.file_attributes);
    let audit_name = super::audit_name(conn, &share, &c.name);
    let auditor = super::auditor(conn);
    let audit_ctx = shoal_audit::RequestContext {
        desired_access: Some(c.desired_access),
        create_disposition: Some(disp),
    };
    let desired_raw = c.desired_access;
    if contexts.iter().any(|c| c.name.len() < 4) {
        // Every create context tag is 4 bytes or more (MS-SMB2 2.2.13.2); Windows and Samba
        // refuse shorter ones (smbtorture smb2.create blob) and skip unknown longer ones.
        return fail(NtStatus::INVALID_PARAMETER);
    }
    let alloc_size = allocation_size(&contexts)?;
    if contexts.iter().any(|c| c.name == context::TWRP) {
        // MS-SMB2 3.3.5.9.4: the snapshot named by the timewarp token "MUST" exist, else
        // STATUS_OBJECT_NAME_NOT_FOUND; shoal keeps no snapshots.
        return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let caller2 = caller.clone();
    let audit_name2 = audit_name.clone();
    let identity2 = identity.clone();
    // One VFS job for the whole CREATE: resolve, open or create, allocation size, and the
    // descriptor of what it created (inherited DACL, SecD context).
    // In place on the multi-threaded runtime: a pool round trip's two thread hand-offs were
    // most of an open's cost (smbtorture smb2.bench.path-contention-shared).
    let opened = crate::blocking::run_blocking(move || {
        if !stale.is_empty() {
            crate::open_table::release(&vfs, &stale);
        }
        let attempt = || {
            shoal_audit::with_request_context(audit_ctx, || {
                open_or_create(
                    &*vfs,
                    &caller,
                    &root,
                    &parts,
                    read_only,
                    disp,
                    opts,
                    file_attributes,
                    desired,
                )
            })
        };
        let mut result = attempt();
        // Two clients creating the same name race between the lookup and the create: the
        // loser sees "exists". A disposition that opens an existing object opens the
        // winner's instead of failing (once: the object exists now).
        if matches!(result, Err(SmbError::Vfs(shoal_vfs::VfsError::Exists)))
            && matches!(disp, disposition::OPEN_IF | disposition::OVERWRITE_IF)
        {
            result = attempt();
        }
        let result = result
            .and_then(|o| apply_allocation_size(&*vfs, &caller, o, alloc_size))
            .and_then(|o| {
                if o.action == action::CREATED {
                    // The DACL inherited from the parent and the SecD create context
                    // (MS-SMB2 2.2.13.2.1) apply to what this CREATE made; on failure the
                    // new object is removed again.
                    let created = super::security::Created {
                        handle: o.handle.clone(),
                        parent: o.parent.clone(),
                        name: o.name.clone(),
                        is_dir: o.attr.kind == FileKind::Directory,
                    };
                    super::security::on_create(
                        &*vfs,
                        &caller,
                        &identity2,
                        &created,
                        secd.as_ref(),
                    )?;
                }
                Ok(o)
            });
        if let Some(a) = &auditor {
            // Creations are logged by the VFS layer; opens of existing objects (or failures
            // to open them) here.
            let (created, is_dir, inode, status) = match &result {
                Ok(o) => (
                    o.action == action::CREATED,
                    o.attr.kind == FileKind::Directory,
                    Some(o.attr.fileid),
                    0,
                ),
                Err(SmbError::Vfs(_)) => (true, false, None, 0), // the layer saw it
                Err(e) => (
                    false,
                    opts & options::DIRECTORY_FILE != 0,
                    None,
                    e.status().0,
                ),
            };
            let ev = shoal_audit::SmbOpen {
                file_name: &audit_name2,
                created,
                is_directory: is_dir,
                desired_access: desired_raw,
                create_disposition: disp,
                inode,
                nt_status: status,
            };
            if let Err(e) = a.smb_open(&caller2, &ev) {
                if result.is_ok() && !created && a.mode() == shoal_audit::FailureMode::Guaranteed {
                    // Guaranteed mode: an open whose event cannot be made durable is refused
                    // (nothing was changed: creations and overwrites are refused by the layer).
                    tracing::error!(error = %e, "audit: open event not durable; open refused");
                    return fail(NtStatus::ACCESS_DENIED);
                }
                tracing::warn!(error = %e, "audit: open event not logged");
            }
        }
        result
    })
    .await?;
    let effective = if desired & access::MAXIMUM_ALLOWED != 0 {
        opened.maximal
    } else {
        opened.granted
    };
    let is_dir = opened.attr.kind == FileKind::Directory;
    let id = conn.new_file_id();
    let file_key = (opened.attr.fsid, opened.attr.fileid);
    let delete_on_close = opts & options::DELETE_ON_CLOSE != 0;
    crate::open_table::insert(
        req.session_id,
        id,
        crate::open_table::OpenState {
            handle: opened.handle.clone(),
            file: file_key,
            is_dir,
            position: 0,
            mode: opts & (0x0000_0002 | 0x0000_0004 | 0x0000_0010 | 0x0000_0020 | 0x0000_1000),
            bytes_read: 0,
            bytes_written: 0,
            audit_name,
            caller: caller_for(conn, &identity, &share),
            dir_cookie: 0,
            dir_eof: false,
            dir_returned: false,
        },
        opened.parent.clone(),
        opened.name.clone(),
        delete_on_close,
    );
    conn.opens.insert(
        id,
        Open {
            session_id: req.session_id,
            tree_id: req.tree_id,
            kind: OpenKind::File {
                handle: opened.handle,
                is_dir,
                listing: None,
            },
            granted: effective,
            path: c.name.clone(),
            lock: None,
            lock_sequences: Default::default(),
        },
    );
    let mut replies: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for ctx in &contexts {
        if ctx.name == context::MXAC {
            let mut d = Vec::with_capacity(8);
            d.extend_from_slice(&0u32.to_le_bytes());
            d.extend_from_slice(&opened.maximal.to_le_bytes());
            replies.push((context::MXAC, d));
        } else if ctx.name == context::QFID {
            let mut d = Vec::with_capacity(32);
            d.extend_from_slice(&opened.attr.fileid.to_le_bytes());
            d.extend_from_slice(&opened.attr.fsid.to_le_bytes());
            d.extend_from_slice(&[0; 16]);
            replies.push((context::QFID, d));
        } else if let Some(d) = super::aapl::reply(conn, ctx) {
            replies.push((shoal_smb_proto::aapl::CONTEXT_NAME, d));
        }
        // Other contexts (leases, durable handles, ...) are ignored: MS-SMB2 3.3.5.9
        // lets a server that does not support one skip it.
    }
    let mut info = file_info(&opened.attr);
    dos::apply(&mut info, opened.dos);
    let mut body = Vec::new();
    encode_create_response_with(&mut body, opened.action, &info, id, 0, &replies);
    Ok(Reply {
        body,
        file_id: Some(id),
        ..Reply::default()
    })
}

/// DesiredAccess of SYNCHRONIZE and nothing else (MS-DTYP 2.4.3).
const SYNCHRONIZE_ONLY: u32 = 0x0010_0000;

/// The AllocationSize create context (`AlSi`, MS-SMB2 2.2.13.2.6), if sent: 8 bytes, else
/// the request is invalid.
fn allocation_size(
    contexts: &[shoal_smb_proto::create::CreateContext<'_>],
) -> Result<Option<u64>, SmbError> {
    let Some(ctx) = contexts.iter().find(|c| c.name == context::ALSI) else {
        return Ok(None);
    };
    match <[u8; 8]>::try_from(ctx.data) {
        Ok(b) => Ok(Some(u64::from_le_bytes(b))),
        Err(_) => fail(NtStatus::INVALID_PARAMETER),
    }
}

/// MS-SMB2 3.3.5.9.3 (AllocationSize): a file this create made, overwrote or superseded gets
/// `size` bytes reserved (the size stays 0); the reply's AllocationSize shows it. Opens of an
/// existing file and directories ignore it, as Windows does. A backend that cannot
/// preallocate ignores it too (it is advisory); running out of space fails the create.
fn apply_allocation_size(
    vfs: &dyn shoal_vfs::Vfs,
    caller: &shoal_vfs::Caller,
    mut o: Opened,
    size: Option<u64>,
) -> Result<Opened, SmbError> {
    let Some(size) = size.filter(|s| *s > 0) else {
        return Ok(o);
    };
    if o.attr.kind != FileKind::Regular || o.action == action::OPENED {
        return Ok(o);
    }
    // More than the caller could ever write is refused before anything is reserved, as NTFS
    // answers (a client must not be able to pin the whole volume with one empty file).
    let result = if vfs
        .fsstat(caller, &o.handle)
        .is_ok_and(|st| size > st.avail_bytes)
    {
        Err(SmbError::Client(NtStatus::DISK_FULL))
    } else {
        match vfs.allocate(caller, &o.handle, size) {
            Ok(a) => {
                o.attr = a;
                Ok(())
            }
            Err(VfsError::NotSupported | VfsError::Invalid) => Ok(()),
            Err(e) => Err(e.into()),
        }
    };
    if let Err(e) = result {
        if o.action == action::CREATED {
            // The create fails as a whole: the new, empty file goes again.
            if let Some(dir) = &o.parent {
                let object = (o.attr.fsid, o.attr.fileid);
                if let Err(e) = vfs.remove_if_same(caller, dir, &o.name, object, false) {
                    tracing::warn!(error = %e, "allocation failed and the new file not removed");
                }
            }
        }
        return Err(e);
    }
    Ok(o)
}

/// Resolves the path and opens, creates, overwrites or supersedes (blocking).
#[allow(clippy::too_many_arguments)]
fn open_or_create(
    vfs: &dyn shoal_vfs::Vfs,
    caller: &shoal_vfs::Caller,
    root: &shoal_vfs::FileHandle,
    parts: &[String],
    read_only: bool,
    disp: u32,
    opts: u32,
    file_attributes: u32,
    desired: u32,
) -> Result<Opened, SmbError> {
    let mut dir = root.clone();
    let (last, walk) = match parts.split_last() {
        Some((l, w)) => (Some(l), w),
        None => (None, &[][..]),
    };
    let mut parent = None;
    for p in walk {
        match vfs.lookup(caller, &dir, p.as_bytes()) {
            Ok((h, a)) if a.kind == FileKind::Directory => {
                parent = Some(dir);
                dir = h;
            }
            Ok(_) | Err(VfsError::NotFound) | Err(VfsError::NotDir) => {
                return fail(NtStatus::OBJECT_PATH_NOT_FOUND)
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mask = ACCESS_READ
        | ACCESS_LOOKUP
        | ACCESS_MODIFY
        | ACCESS_EXTEND
        | ACCESS_DELETE
        | ACCESS_EXECUTE;
    let wanted = desired & !access::MAXIMUM_ALLOWED;
    let existing = match &last {
        // The share root itself (no component): its attributes are needed only here; every
        // lookup checks the directory it looks in.
        None => Some((dir.clone(), vfs.getattr(caller, &dir)?)),
        Some(name) => match vfs.lookup(caller, &dir, name.as_bytes()) {
            Ok(found) => Some(found),
            Err(VfsError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let (link_parent, link_name) = match &last {
        Some(n) => (Some(dir.clone()), n.as_bytes().to_vec()),
        None => (parent, Vec::new()),
    };
    match existing {
        Some((h, a)) => {
            let is_dir = a.kind == FileKind::Directory;
            if opts & options::DIRECTORY_FILE != 0 && !is_dir {
                return fail(NtStatus::NOT_A_DIRECTORY);
            }
            if opts & options::NON_DIRECTORY_FILE != 0 && is_dir {
                return fail(NtStatus::FILE_IS_A_DIRECTORY);
            }
            if disp == disposition::CREATE {
                return fail(NtStatus::OBJECT_NAME_COLLISION);
            }
            if crate::open_table::file((a.fsid, a.fileid)).is_some_and(|f| f.delete_pending) {
                return fail(NtStatus::DELETE_PENDING);
            }
            let (bits, _) = vfs.access(caller, &h, mask)?;
            let mut maximal = granted_from(bits, read_only);
            if !read_only && (a.uid == caller.uid || caller.is_root()) {
                // The owner may always change attributes and the security descriptor (chmod).
                maximal |= access::WRITE_ATTRIBUTES | access::WRITE_DAC | access::WRITE_OWNER;
            }
            if !read_only && last.is_some() {
                // Deleting is a right on the parent directory in POSIX.
                if let Ok((pbits, pa)) = vfs.access(caller, &dir, ACCESS_MODIFY) {
                    // ... and FILE_DELETE_CHILD if the parent has a stored DACL.
                    if pbits & ACCESS_MODIFY != 0
                        && super::security::dacl_limit(vfs, caller, &dir, &pa)
                            & access::DELETE_CHILD
                            != 0
                    {
                        maximal |= access::DELETE;
                    }
                }
            }
            // A stored security descriptor's DACL narrows the mode bits' answer (security.rs).
            maximal &= super::security::dacl_limit(vfs, caller, &h, &a);
            if wanted & !maximal != 0 {
                tracing::debug!(
                    wanted = format_args!("{wanted:#x}"),
                    maximal = format_args!("{maximal:#x}"),
                    "access denied"
                );
                return fail(NtStatus::ACCESS_DENIED);
            }
            if opts & options::DELETE_ON_CLOSE != 0 && !is_dir && a.mode & 0o222 == 0 {
                // A read-only file cannot be deleted (MS-FSA 2.1.5.1.2.1).
                return fail(NtStatus::CANNOT_DELETE);
            }
            let stored = if matches!(a.kind, FileKind::Regular | FileKind::Directory) {
                dos::load(vfs, caller, &h)
            } else {
                None
            };
            let (attr, act, stored) = match disp {
                disposition::OVERWRITE | disposition::OVERWRITE_IF | disposition::SUPERSEDE => {
                    if is_dir {
                        return fail(NtStatus::INVALID_PARAMETER);
                    }
                    if read_only {
                        return fail(NtStatus::ACCESS_DENIED);
                    }
                    if maximal & access::WRITE_DATA == 0 {
                        return fail(NtStatus::ACCESS_DENIED);
                    }
                    // MS-FSA 2.1.5.1.2.1: overwriting a HIDDEN (SYSTEM) file without asking for
                    // HIDDEN (SYSTEM) again "MUST be failed with STATUS_ACCESS_DENIED".
                    let had = stored.map_or(0, |d| d.attributes);
                    if disp != disposition::SUPERSEDE
                        && had & (attributes::HIDDEN | attributes::SYSTEM) & !file_attributes != 0
                    {
                        return fail(NtStatus::ACCESS_DENIED);
                    }
                    let mut set = SetAttr {
                        size: Some(0),
                        ..SetAttr::default()
                    };
                    if file_attributes & attributes::READONLY != 0 {
                        set.mode = Some(a.mode & !0o222);
                    }
                    // The attributes are replaced (ARCHIVE added); the creation time stays.
                    let creation_time = stored
                        .unwrap_or_else(|| DosInfo::fallback(&a))
                        .creation_time;
                    vfs.setattr(caller, &h, &set, None)?;
                    let d = DosInfo {
                        attributes: (file_attributes & dos::STORED) | attributes::ARCHIVE,
                        creation_time,
                    };
                    dos::store_best_effort(vfs, caller, &h, &d);
                    let a = vfs.getattr(caller, &h)?;
                    (
                        a,
                        if disp == disposition::SUPERSEDE {
                            action::SUPERSEDED
                        } else {
                            action::OVERWRITTEN
                        },
                        Some(d),
                    )
                }
                _ => (a, action::OPENED, stored),
            };
            Ok(Opened {
                handle: h,
                attr,
                parent: link_parent,
                name: link_name,
                action: act,
                maximal,
                granted: wanted,
                dos: stored,
            })
        }
        None => {
            let Some(name) = last else {
                return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
            };
            if matches!(disp, disposition::OPEN | disposition::OVERWRITE) {
                return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
            }
            if read_only {
                return fail(NtStatus::MEDIA_WRITE_PROTECTED);
            }
            let ro = file_attributes & attributes::READONLY != 0;
            let new_dir = opts & options::DIRECTORY_FILE != 0;
            // MS-FSA 2.1.5.1.1: creating needs FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY on the
            // parent. The VFS checks the mode bits; a stored DACL of the parent may narrow them.
            let add = if new_dir { 0x4 } else { 0x2 };
            if super::security::dacl_limit(vfs, caller, &dir, &vfs.getattr(caller, &dir)?) & add
                == 0
            {
                return fail(NtStatus::ACCESS_DENIED);
            }
            let (h, a) = if new_dir {
                vfs.mkdir(
                    caller,
                    &dir,
                    name.as_bytes(),
                    &SetAttr {
                        mode: Some(0o755),
                        ..SetAttr::default()
                    },
                )?
            } else {
                let mode = if ro { 0o444 } else { 0o644 };
                let how = CreateHow::Guarded(SetAttr {
                    mode: Some(mode),
                    ..SetAttr::default()
                });
                vfs.create(caller, &dir, name.as_bytes(), &how)?
            };
            // The requested attributes (a new file gets ARCHIVE, as on NTFS) and the creation
            // time, which POSIX does not keep; storing them changes the ctime: stat again.
            let d = DosInfo {
                attributes: (file_attributes & dos::STORED)
                    | if new_dir { 0 } else { attributes::ARCHIVE },
                creation_time: file_info(&a).creation_time,
            };
            dos::store_best_effort(vfs, caller, &h, &d);
            let a = vfs.getattr(caller, &h)?;
            // The creator holds every right on what it created (MS-FSA: the new object's
            // security descriptor is inherited; here the owner's mode bits).
            let maximal = granted_from(mask, false)
                | access::DELETE
                | access::WRITE_ATTRIBUTES
                | access::WRITE_DAC
                | access::WRITE_OWNER;
            Ok(Opened {
                handle: h,
                attr: a,
                parent: link_parent,
                name: link_name,
                action: action::CREATED,
                maximal,
                granted: wanted,
                dos: Some(d),
            })
        }
    }
}

/// What the RPC interfaces report about this server.
fn rpc_context(conn: &Conn) -> RpcContext {
    let cfg = &conn.shared.config;
    let mut shares: Vec<ShareEntry> = cfg
        .shares
        .iter()
        .map(|s| ShareEntry {
            name: s.name.clone(),
            comment: s.comment.clone(),
            share_type: 0,
            path: format!("C:\\{}", s.name),
        })
        .collect();
    shares.push(ShareEntry {
        name: "IPC$".into(),
        comment: "IPC Service".into(),
        share_type: 0x8000_0003,
        path: String::new(),
    });
    RpcContext {
        server_name: cfg.server_name.clone(),
        domain: cfg.workgroup.clone(),
        shares,
    }
}

/// Opens a named pipe on `IPC$` (srvsvc, wkssvc).
fn open_pipe(conn: &mut Conn, req: &Req<'_>, name: &str) -> Result<Reply, SmbError> {
    let lower = name.to_ascii_lowercase();
    let bare = lower
        .strip_prefix("\\pipe\\")
        .or_else(|| lower.strip_prefix("pipe\\"))
        .unwrap_or(&lower);
    let kind = match bare {
        "srvsvc" => PipeKind::Srvsvc,
        "wkssvc" => PipeKind::Wkssvc,
        _ => {
            tracing::debug!(pipe = name, "no such pipe");
            return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
        }
    };
    let id = conn.new_file_id();
    conn.opens.insert(
        id,
        Open {
            session_id: req.session_id,
            tree_id: req.tree_id,
            kind: OpenKind::Pipe(Box::new(Pipe::new(kind, rpc_context(conn)))),
            granted: 0x0012_019F,
            path: name.to_string(),
            lock: None,
            lock_sequences: Default::default(),
        },
    );
    let info = FileInfo {
        attributes: attributes::NORMAL,
        nlink: 1,
        ..FileInfo::default()
    };
    let mut body = Vec::new();
    encode_create_response(&mut body, action::OPENED, &info, id);
    Ok(Reply {
        body,
        file_id: Some(id),
        ..Reply::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        assert_eq!(components("").unwrap(), Vec::<&str>::new());
        assert_eq!(components("a\\b").unwrap(), vec!["a", "b"]);
        assert_eq!(components("a\\.\\b\\").unwrap(), vec!["a", "b"]);
        assert_eq!(components("..\\x").unwrap(), vec!["..", "x"]);
        assert!(components("\\a").is_err());
        assert!(components("a\\\\b").is_err());
        assert!(components("a/b").is_err());
        assert!(components("a:stream").is_err());
    }

    #[test]
    fn generic_mapping() {
        assert_eq!(
            map_generic(access::GENERIC_READ) & access::READ_DATA,
            access::READ_DATA
        );
        assert_eq!(map_generic(access::GENERIC_ALL), 0x001F_01FF);
    }
}
