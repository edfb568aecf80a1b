//! CREATE (MS-SMB2 3.3.5.9): opens of files and directories of a disk share, resolved
//! component by component with `vfs.lookup` from the share root (never by joining strings),
//! and opens of the named pipes of `IPC$`.

use shoal_smb_proto::create::{action, disposition, encode_create_response, options, CreateRequest};
use shoal_smb_proto::query_info::{attributes, FileInfo};
use shoal_smb_proto::NtStatus;
use shoal_vfs::perm::{ACCESS_DELETE, ACCESS_EXECUTE, ACCESS_EXTEND, ACCESS_LOOKUP, ACCESS_MODIFY, ACCESS_READ};
use shoal_vfs::{CreateHow, FileKind, SetAttr, VfsError};

use super::{blocking, caller_for, file_info, tree_of};
use crate::conn::dispatch::{Reply, Req};
use crate::conn::state::{Conn, Open, OpenKind, TreeShare};
use crate::error::{fail, SmbError};
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
        g |= WRITE_DATA | APPEND_DATA | WRITE_EA | WRITE_ATTRIBUTES | DELETE | DELETE_CHILD | WRITE_DAC | WRITE_OWNER;
    }
    g
}

/// Splits an SMB path into components (MS-SMB2 2.2.13: relative, `\`-separated).
fn components(name: &str) -> Result<Vec<&str>, SmbError> {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if name.starts_with('\\') || name.contains('\0') || name.contains('/') {
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
    let parts: Vec<String> = components(&c.name)?.into_iter().map(str::to_string).collect();
    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let root = disk.root.clone();
    let read_only = disk.read_only;
    let desired = map_generic(c.desired_access & !access::SYSTEM_SECURITY);
    let (disp, opts) = (c.disposition, c.options);
    let (handle, attr, create_action, granted) = blocking(move || {
        let mut dir = root.clone();
        let mut dir_attr = vfs.getattr(&caller, &dir)?;
        let (last, walk) = match parts.split_last() {
            Some((l, w)) => (Some(l.clone()), w.to_vec()),
            None => (None, Vec::new()),
        };
        for p in &walk {
            match vfs.lookup(&caller, &dir, p.as_bytes()) {
                Ok((h, a)) if a.kind == FileKind::Directory => {
                    dir = h;
                    dir_attr = a;
                }
                Ok(_) | Err(VfsError::NotFound) | Err(VfsError::NotDir) => return fail(NtStatus::OBJECT_PATH_NOT_FOUND),
                Err(e) => return Err(e.into()),
            }
        }
        let existing = match &last {
            None => Some((dir.clone(), dir_attr.clone())),
            Some(name) => match vfs.lookup(&caller, &dir, name.as_bytes()) {
                Ok(found) => Some(found),
                Err(VfsError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let (handle, attr, act) = match existing {
            Some((h, a)) => {
                let is_dir = a.kind == FileKind::Directory;
                if opts & options::DIRECTORY_FILE != 0 && !is_dir {
                    return fail(NtStatus::NOT_A_DIRECTORY);
                }
                if opts & options::NON_DIRECTORY_FILE != 0 && is_dir {
                    return fail(NtStatus::FILE_IS_A_DIRECTORY);
                }
                match disp {
                    disposition::CREATE => return fail(NtStatus::OBJECT_NAME_COLLISION),
                    disposition::OVERWRITE | disposition::OVERWRITE_IF | disposition::SUPERSEDE => {
                        if is_dir {
                            return fail(NtStatus::INVALID_PARAMETER);
                        }
                        if read_only {
                            return fail(NtStatus::ACCESS_DENIED);
                        }
                        let a = vfs.setattr(&caller, &h, &SetAttr { size: Some(0), ..SetAttr::default() }, None)?;
                        let act = if disp == disposition::SUPERSEDE { action::SUPERSEDED } else { action::OVERWRITTEN };
                        (h, a, act)
                    }
                    _ => (h, a, action::OPENED),
                }
            }
            None => {
                let Some(name) = last else { return fail(NtStatus::OBJECT_NAME_NOT_FOUND) };
                if matches!(disp, disposition::OPEN | disposition::OVERWRITE) {
                    return fail(NtStatus::OBJECT_NAME_NOT_FOUND);
                }
                if read_only {
                    return fail(NtStatus::MEDIA_WRITE_PROTECTED);
                }
                let (h, a) = if opts & options::DIRECTORY_FILE != 0 {
                    vfs.mkdir(&caller, &dir, name.as_bytes(), &SetAttr { mode: Some(0o755), ..SetAttr::default() })?
                } else {
                    let how = CreateHow::Guarded(SetAttr { mode: Some(0o644), ..SetAttr::default() });
                    vfs.create(&caller, &dir, name.as_bytes(), &how)?
                };
                (h, a, action::CREATED)
            }
        };
        let mask = ACCESS_READ | ACCESS_LOOKUP | ACCESS_MODIFY | ACCESS_EXTEND | ACCESS_DELETE | ACCESS_EXECUTE;
        let (bits, _) = vfs.access(&caller, &handle, mask)?;
        let mut granted = granted_from(bits, read_only);
        if act == action::CREATED {
            granted = granted_from(mask, read_only);
        }
        Ok((handle, attr, act, granted))
    })
    .await?;
    let effective = if desired & access::MAXIMUM_ALLOWED != 0 {
        granted
    } else {
        let wanted = desired & !access::MAXIMUM_ALLOWED;
        if wanted & !granted != 0 {
            tracing::debug!(wanted = format_args!("{wanted:#x}"), granted = format_args!("{granted:#x}"), "access denied");
            return fail(NtStatus::ACCESS_DENIED);
        }
        wanted
    };
    let is_dir = attr.kind == FileKind::Directory;
    let id = conn.new_file_id();
    conn.opens.insert(
        id,
        Open {
            session_id: req.session_id,
            tree_id: req.tree_id,
            kind: OpenKind::File { handle, is_dir, listing: None },
            granted: effective,
            path: c.name.clone(),
        },
    );
    let mut body = Vec::new();
    encode_create_response(&mut body, create_action, &file_info(&attr), id);
    Ok(Reply { body, file_id: Some(id), ..Reply::default() })
}

/// What the RPC interfaces report about this server.
fn rpc_context(conn: &Conn) -> RpcContext {
    let cfg = &conn.shared.config;
    let mut shares: Vec<ShareEntry> = cfg
        .shares
        .iter()
        .map(|s| ShareEntry { name: s.name.clone(), comment: s.comment.clone(), share_type: 0, path: format!("C:\\{}", s.name) })
        .collect();
    shares.push(ShareEntry { name: "IPC$".into(), comment: "IPC Service".into(), share_type: 0x8000_0003, path: String::new() });
    RpcContext { server_name: cfg.server_name.clone(), domain: cfg.workgroup.clone(), shares }
}

/// Opens a named pipe on `IPC$` (srvsvc, wkssvc).
fn open_pipe(conn: &mut Conn, req: &Req<'_>, name: &str) -> Result<Reply, SmbError> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("\\pipe\\").or_else(|| lower.strip_prefix("pipe\\")).unwrap_or(&lower);
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
        },
    );
    let info = FileInfo { attributes: attributes::NORMAL, nlink: 1, ..FileInfo::default() };
    let mut body = Vec::new();
    encode_create_response(&mut body, action::OPENED, &info, id);
    Ok(Reply { body, file_id: Some(id), ..Reply::default() })
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
        assert_eq!(map_generic(access::GENERIC_READ) & access::READ_DATA, access::READ_DATA);
        assert_eq!(map_generic(access::GENERIC_ALL), 0x001F_01FF);
    }
}
