//! CREATE (MS-SMB2 3.3.5.9): opens of files and directories of a disk share, and opens of
//! the named pipes of `IPC$`.
//!
//! A disk CREATE is a pipeline with one owner per stage:
//! 1. [`check`]: parameters, create contexts, generic rights mapped (no I/O);
//! 2. [`open::resolve`]: name resolution from the share root, component by component;
//! 3. [`rights`]: the caller's rights (mode bits narrowed by a stored DACL);
//! 4. [`admit`]: the lock manager's atomic check (delete pending, oplock/lease breaks, share
//!    access), before anything is overwritten;
//! 5. [`open`]: open, overwrite or create, allocation size, then post-create (inherited
//!    descriptor and SecD context, `security::on_create`);
//! 6. here: the connection's open record and the reply with its create contexts.
//!
//! Stages 2-5 run as one blocking job; a later stage that fails undoes the earlier ones (the
//! admitted open is closed in the lock manager, a created object removed).

mod admit;
pub(crate) mod check;
mod open;
mod rights;

use std::sync::Arc;

use shoal_smb_proto::create::{
    action, context, encode_create_response, encode_create_response_with, options, parse_contexts,
    CreateRequest,
};
use shoal_smb_proto::query_info::{attributes, FileInfo};
use shoal_smb_proto::NtStatus;
use shoal_vfs::{FileKind, VfsError};

use super::{caller_for, dos, file_info, tree_of};
use crate::conn::state::{Conn, Open, OpenKind, OpenLock, TreeShare};
use crate::error::{fail, SmbError};
use crate::req::{Park, Reply, Req};
use crate::rpc::{Pipe, PipeKind, RpcContext, ShareEntry};
use admit::Admit;
use open::{Opened, Plan};

pub(crate) use check::components;

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
    // Stage 1: nothing touches the file system before these pass.
    let desired = check::parameters(&c)?;
    let contexts = parse_contexts(c.contexts)?;
    let secd = super::security::create_context(&contexts)?;
    super::aapl::validate(&contexts)?;
    check::options_and_contexts(&c, desired, &contexts)?;
    let parts: Vec<String> = super::mac_names::disk_components(&c.name, &disk)?;
    let alloc_size = check::allocation_size(&contexts)?;
    let caching = super::oplock::caching_request(conn, c.oplock_level, &contexts)?;
    // Parked (an oplock/lease break must be acknowledged first) under this AsyncId; the
    // connection runs the request again when the break ends or times out.
    let token = conn.park_token(req);
    let audit_name = super::audit_name(conn, &share, &c.name);
    let admit = Arc::new(Admit {
        locks: conn.shared.config.locks.clone(),
        sink: conn.sink,
        share: c.share_access,
        delete_on_close: c.options & options::DELETE_ON_CLOSE != 0,
        caching,
        waiter: token.map(|t| conn.waiter(t)),
        path: audit_name.to_lowercase(),
        parked_on: Default::default(),
    });

    let vfs = conn.shared.vfs.clone();
    let caller = caller_for(conn, &identity, &share);
    let root = disk.root.clone();
    let read_only = disk.read_only;
    let (disp, opts, file_attributes) = (c.disposition, c.options, c.file_attributes);
    let auditor = super::auditor(conn);
    let audit_ctx = shoal_audit::RequestContext {
        desired_access: Some(c.desired_access),
        create_disposition: Some(disp),
    };
    let desired_raw = c.desired_access;
    let caller2 = caller.clone();
    let audit_name2 = audit_name.clone();
    let identity2 = identity.clone();
    let admit2 = admit.clone();
    // Stages 2-5 as one blocking job. In place on the multi-threaded runtime: a pool round
    // trip's two thread hand-offs were most of an open's cost (smbtorture
    // smb2.bench.path-contention-shared).
    let opened = crate::blocking::run_blocking(move || {
        let admit = admit2;
        let plan = Plan {
            read_only,
            disposition: disp,
            options: opts,
            file_attributes,
            desired,
            admit: &admit,
        };
        let attempt = || {
            shoal_audit::with_request_context(audit_ctx, || {
                let t = open::resolve(&*vfs, &caller, &root, &parts)?;
                match t.existing.clone() {
                    Some((h, a)) => open::open_existing(&*vfs, &caller, &t, h, a, &plan),
                    None => open::create_new(&*vfs, &caller, &t, &plan),
                }
            })
        };
        let mut result = attempt();
        // Two clients creating the same name race between the lookup and the create: the
        // loser sees "exists". A disposition that opens an existing object opens the
        // winner's instead of failing (once: the object exists now).
        if matches!(result, Err(SmbError::Vfs(VfsError::Exists)))
            && matches!(
                disp,
                shoal_smb_proto::create::disposition::OPEN_IF
                    | shoal_smb_proto::create::disposition::OVERWRITE_IF
            )
        {
            result = attempt();
        }
        let result = result.and_then(|mut o| {
            match open::apply_allocation_size(&*vfs, &caller, &mut o, alloc_size) {
                Ok(()) => Ok(o),
                Err(e) => {
                    admit.undo(o.key, &o.grant);
                    Err(e)
                }
            }
        });
        let result = result.and_then(|o| {
            if o.action != action::CREATED {
                return Ok(o);
            }
            // Post-create: the DACL inherited from the parent and the SecD create context
            // (MS-SMB2 2.2.13.2.1) apply to what this CREATE made; on failure the new object
            // is removed again.
            let created = super::security::Created {
                handle: o.handle.clone(),
                parent: o.link.as_ref().map(|l| l.parent.clone()),
                name: o.link.as_ref().map(|l| l.name.clone()).unwrap_or_default(),
                is_dir: o.attr.kind == FileKind::Directory,
            };
            match super::security::on_create(&*vfs, &caller, &identity2, &created, secd.as_ref()) {
                Ok(()) => Ok(o),
                Err(e) => {
                    admit.undo(o.key, &o.grant);
                    Err(e)
                }
            }
        });
        audit_open(
            auditor.as_deref(),
            &caller2,
            &audit_name2,
            &result,
            opts,
            desired_raw,
            disp,
        )
        .inspect_err(|_| {
            if let Ok(o) = &result {
                admit.undo(o.key, &o.grant);
            }
        })?;
        result
    })
    .await;
    let opened = match opened {
        Err(SmbError::Vfs(VfsError::WouldBlock)) => {
            return match (token, admit.parked_on()) {
                (Some(async_id), Some(key)) => Ok(Reply::parked(Park::for_break(
                    async_id,
                    key,
                    None,
                    conn.shared.config.locks.config().break_timeout,
                ))),
                // A break must be acknowledged first and this request could not be parked:
                // refused as Samba refuses an open it cannot defer.
                _ => fail(NtStatus::SHARING_VIOLATION),
            };
        }
        other => other?,
    };
    Ok(finish(
        conn,
        req,
        &c,
        opened,
        &contexts,
        audit_name,
        caller_for(conn, &identity, &share),
    ))
}

/// Logs an open of an existing object, or a failed open (creations are logged by the VFS
/// layer, and so are failures it saw). In guaranteed mode an open whose event cannot be made
/// durable is refused.
fn audit_open(
    auditor: Option<&shoal_audit::Auditor>,
    caller: &shoal_vfs::Caller,
    audit_name: &str,
    result: &Result<Opened, SmbError>,
    opts: u32,
    desired_access: u32,
    disp: u32,
) -> Result<(), SmbError> {
    let Some(a) = auditor else {
        return Ok(());
    };
    let (created, is_dir, inode, status) = match result {
        Ok(o) => (
            o.action == action::CREATED,
            o.attr.kind == FileKind::Directory,
            Some(o.attr.fileid),
            0,
        ),
        Err(SmbError::Vfs(_)) => (true, false, None, 0), // the layer saw it (or parked)
        Err(e) => (
            false,
            opts & options::DIRECTORY_FILE != 0,
            None,
            e.status().0,
        ),
    };
    let ev = shoal_audit::SmbOpen {
        file_name: audit_name,
        created,
        is_directory: is_dir,
        desired_access,
        create_disposition: disp,
        inode,
        nt_status: status,
    };
    if let Err(e) = a.smb_open(caller, &ev) {
        if result.is_ok() && !created && a.mode() == shoal_audit::FailureMode::Guaranteed {
            // Nothing was changed: creations and overwrites are refused by the layer.
            tracing::error!(error = %e, "audit: open event not durable; open refused");
            return fail(NtStatus::ACCESS_DENIED);
        }
        tracing::warn!(error = %e, "audit: open event not logged");
    }
    Ok(())
}

/// Stage 6: records the open on the connection and builds the reply.
fn finish(
    conn: &mut Conn,
    req: &Req<'_>,
    c: &CreateRequest<'_>,
    opened: Opened,
    contexts: &[shoal_smb_proto::create::CreateContext<'_>],
    audit_name: String,
    caller: shoal_vfs::Caller,
) -> Reply {
    let is_dir = opened.attr.kind == FileKind::Directory;
    let id = conn.new_file_id();
    let (oplock_level, lease_reply) = super::oplock::caching_reply(&opened.grant.granted);
    conn.opens.insert(
        id,
        Open {
            session_id: req.session_id,
            tree_id: req.tree_id,
            kind: OpenKind::File {
                handle: opened.handle,
                is_dir,
                listing: None,
                io: Default::default(),
                mode: c.options
                    & (0x0000_0002 | 0x0000_0004 | 0x0000_0010 | 0x0000_0020 | 0x0000_1000),
                audit_name,
                caller,
            },
            granted: opened.granted,
            path: c.name.clone(),
            lock: Some(OpenLock {
                key: opened.key,
                id: opened.grant.id,
            }),
            lock_sequences: Default::default(),
        },
    );
    let mut replies: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for ctx in contexts {
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
        // Other contexts (durable handles, ...) are ignored: MS-SMB2 3.3.5.9 lets a server
        // that does not support one skip it.
    }
    if let Some(l) = lease_reply {
        replies.push(l);
    }
    let mut info = file_info(&opened.attr);
    dos::apply(&mut info, opened.dos);
    let mut body = Vec::new();
    encode_create_response_with(&mut body, opened.action, &info, id, oplock_level, &replies);
    Reply {
        body,
        file_id: Some(id),
        ..Reply::default()
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
