//! Oplocks and leases on the SMB side: what a CREATE asks for (RequestedOplockLevel and the
//! RqLs create context) as a [`lease::Request`] for the lock manager, what the reply says
//! about what was granted, and OPLOCK_BREAK acknowledgments (MS-SMB2 3.3.5.22).

use shoal_smb_proto::create::CreateContext;
use shoal_smb_proto::lease::{self as lease_ctx, LeaseContext};
use shoal_smb_proto::negotiate::capabilities;
use shoal_smb_proto::oplock::{
    encode_lease_break_response, encode_oplock_break_response, BreakAck, OPLOCK_LEVEL_LEASE,
};
use shoal_smb_proto::{Dialect, NtStatus};
use shoal_vfs::lock::lease::{self, Granted, LeaseRequest};
use shoal_vfs::lock::OplockLevel;

use crate::conn::state::Conn;
use crate::error::{fail, SmbError};
use crate::req::{Reply, Req};

/// RequestedOplockLevel / OplockLevel values (MS-SMB2 2.2.13).
pub(crate) mod level {
    /// SMB2_OPLOCK_LEVEL_NONE.
    pub const NONE: u8 = 0x00;
    /// SMB2_OPLOCK_LEVEL_II.
    pub const II: u8 = 0x01;
    /// SMB2_OPLOCK_LEVEL_EXCLUSIVE.
    pub const EXCLUSIVE: u8 = 0x08;
    /// SMB2_OPLOCK_LEVEL_BATCH.
    pub const BATCH: u8 = 0x09;
    /// SMB2_OPLOCK_LEVEL_LEASE.
    pub const LEASE: u8 = super::OPLOCK_LEVEL_LEASE;
}

/// The oplock level a wire value names (`None` for the lease value and unknown ones).
pub(crate) fn oplock_level(v: u8) -> Option<OplockLevel> {
    match v {
        level::NONE => Some(OplockLevel::None),
        level::II => Some(OplockLevel::Level2),
        level::EXCLUSIVE => Some(OplockLevel::Exclusive),
        level::BATCH => Some(OplockLevel::Batch),
        _ => None,
    }
}

/// The wire value of an oplock level.
pub(crate) fn wire_level(l: OplockLevel) -> u8 {
    match l {
        OplockLevel::None => level::NONE,
        OplockLevel::Level2 => level::II,
        OplockLevel::Exclusive => level::EXCLUSIVE,
        OplockLevel::Batch => level::BATCH,
    }
}

/// The caching a CREATE asks for: `level` is its RequestedOplockLevel, `contexts` its create
/// contexts (a lease request when `level` is SMB2_OPLOCK_LEVEL_LEASE).
///
/// MS-SMB2 3.3.5.9.8 / 3.3.5.9.11: the RqLs context is ignored unless the level asks for a
/// lease and the connection negotiated leasing (SMB 2.1 or later, SMB2_GLOBAL_CAP_LEASING);
/// a v2 context counts only on SMB 3.x (on 2.1 its first 32 bytes are read as v1, as
/// Windows does); a lease level without the context, or on a connection without leasing,
/// asks for nothing. A malformed context fails the CREATE with INVALID_PARAMETER. Unknown
/// levels ask for nothing.
pub(crate) fn caching_request(
    conn: &Conn,
    level: u8,
    contexts: &[CreateContext<'_>],
) -> Result<lease::Request, SmbError> {
    if level != level::LEASE {
        return Ok(match oplock_level(level) {
            Some(OplockLevel::None) | None => lease::Request::None,
            Some(l) => lease::Request::Oplock(l),
        });
    }
    let dialect = conn.negotiated().unwrap_or(Dialect::SMB2_0_2);
    let leasing =
        dialect != Dialect::SMB2_0_2 && conn.server_capabilities & capabilities::LEASING != 0;
    if !leasing {
        return Ok(lease::Request::None);
    }
    let Some(ctx) = contexts.iter().find(|c| c.name == lease_ctx::CONTEXT_NAME) else {
        return Ok(lease::Request::None);
    };
    let data = if dialect.is_smb3() {
        ctx.data
    } else {
        ctx.data.get(..lease_ctx::V1_LEN).unwrap_or(ctx.data)
    };
    let c = LeaseContext::decode(data)?;
    Ok(lease::Request::Lease(LeaseRequest {
        client: conn.client_guid,
        key: c.key,
        state: c.state,
        parent: c.parent(),
        v2: c.v2.is_some(),
        epoch: c.v2.map_or(0, |v| v.epoch),
    }))
}

/// A response create context: (name, data).
pub(crate) type ReplyContext = (&'static [u8], Vec<u8>);

/// The reply's OplockLevel and, for a lease, the response create context: v1 or v2 as the
/// request was (MS-SMB2 2.2.14.2.10, 2.2.14.2.11).
pub(crate) fn caching_reply(granted: &Granted) -> (u8, Option<ReplyContext>) {
    match granted {
        Granted::None => (level::NONE, None),
        Granted::Oplock(l) => (wire_level(*l), None),
        Granted::Lease {
            key,
            state,
            epoch,
            flags,
            parent,
            v2,
        } => {
            let mut data = Vec::new();
            let v2 = v2.then_some((*parent, *epoch));
            lease_ctx::encode_response(&mut data, key, *state, *flags, v2);
            (level::LEASE, Some((lease_ctx::CONTEXT_NAME, data)))
        }
    }
}

/// OPLOCK_BREAK from the client: an oplock or lease break acknowledgment
/// (MS-SMB2 3.3.5.22.1, 3.3.5.22.2).
pub(crate) async fn acknowledge(conn: &mut Conn, req: &Req<'_>) -> Result<Reply, SmbError> {
    let ack = BreakAck::decode(req.msg)?;
    super::tree_of(conn, req)?;
    let locks = conn.shared.config.locks.clone();
    let mut body = Vec::new();
    match ack {
        BreakAck::Oplock { level, file_id } => {
            let id = req.file_id(file_id);
            let lock = match conn.opens.get(&id) {
                Some(o) if o.session_id == req.session_id && o.tree_id == req.tree_id => o.lock,
                _ => return fail(NtStatus::FILE_CLOSED),
            };
            let Some(lock) = lock else {
                // A pipe: it never had an oplock.
                return Err(SmbError::Vfs(shoal_vfs::VfsError::InvalidOplockProtocol));
            };
            let Some(new) = oplock_level(level) else {
                // SMB2_OPLOCK_LEVEL_LEASE (or garbage) in an oplock acknowledgment: the
                // break in progress, if any, completes to none, and the request fails.
                let _ = locks.ack_oplock(lock.key, lock.id, OplockLevel::None);
                return fail(NtStatus::INVALID_PARAMETER);
            };
            let now = locks.ack_oplock(lock.key, lock.id, new)?;
            encode_oplock_break_response(&mut body, wire_level(now), id);
        }
        BreakAck::Lease { key, state } => {
            // MS-SMB2 3.3.5.22.2: not on 2.0.2 (no leases there).
            if conn.negotiated().unwrap_or(Dialect::SMB2_0_2) == Dialect::SMB2_0_2 {
                return fail(NtStatus::INVALID_PARAMETER);
            }
            let now = locks.ack_lease(conn.client_guid, key, state)?;
            encode_lease_break_response(&mut body, &key, now);
        }
    }
    Ok(Reply::ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip() {
        for v in [level::NONE, level::II, level::EXCLUSIVE, level::BATCH] {
            assert_eq!(oplock_level(v).map(wire_level), Some(v));
        }
        assert_eq!(oplock_level(level::LEASE), None);
        assert_eq!(oplock_level(2), None);
    }

    #[test]
    fn lease_replies_carry_the_context_of_the_request_version() {
        let g = Granted::Lease {
            key: [3; 16],
            state: 3,
            epoch: 9,
            flags: lease::lease_flags::BREAK_IN_PROGRESS,
            parent: Some([4; 16]),
            v2: true,
        };
        let (lvl, ctx) = caching_reply(&g);
        assert_eq!(lvl, level::LEASE);
        let (name, data) = ctx.unwrap();
        assert_eq!(name, b"RqLs");
        let c = LeaseContext::decode(&data).unwrap();
        assert_eq!(c.v2.map(|v| v.epoch), Some(9));
        assert_eq!(c.parent(), Some([4; 16]));
        assert_eq!(
            c.flags,
            lease_ctx::flags::BREAK_IN_PROGRESS | lease_ctx::flags::PARENT_LEASE_KEY_SET
        );
        let g = Granted::Lease {
            key: [3; 16],
            state: 1,
            epoch: 0,
            flags: 0,
            parent: None,
            v2: false,
        };
        let (_, ctx) = caching_reply(&g);
        assert_eq!(ctx.unwrap().1.len(), lease_ctx::V1_LEN);
        assert_eq!(
            caching_reply(&Granted::Oplock(OplockLevel::Batch)),
            (level::BATCH, None)
        );
    }
}
