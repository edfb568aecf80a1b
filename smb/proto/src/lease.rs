//! The lease create contexts: SMB2_CREATE_REQUEST_LEASE (MS-SMB2 2.2.13.2.8) and
//! SMB2_CREATE_REQUEST_LEASE_V2 (2.2.13.2.10), both named `RqLs` and told apart by their
//! length (32 and 52 bytes, as Samba's `smb2_lease_pull` does), and the responses
//! SMB2_CREATE_RESPONSE_LEASE (2.2.14.2.10) and SMB2_CREATE_RESPONSE_LEASE_V2 (2.2.14.2.11).

use bytes::BufMut;

use crate::reader::{DecodeError, Reader};

/// The create context name of both versions, request and response.
pub const CONTEXT_NAME: &[u8] = b"RqLs";
/// Length of a v1 lease context.
pub const V1_LEN: usize = 32;
/// Length of a v2 lease context.
pub const V2_LEN: usize = 52;

/// Lease state bits (2.2.13.2.8 LeaseState).
pub mod state {
    /// SMB2_LEASE_READ_CACHING.
    pub const READ: u32 = 0x01;
    /// SMB2_LEASE_HANDLE_CACHING.
    pub const HANDLE: u32 = 0x02;
    /// SMB2_LEASE_WRITE_CACHING.
    pub const WRITE: u32 = 0x04;
}

/// Lease flags (2.2.13.2.10, 2.2.14.2.10).
pub mod flags {
    /// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS (responses).
    pub const BREAK_IN_PROGRESS: u32 = 0x02;
    /// SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET (v2): ParentLeaseKey is meaningful.
    pub const PARENT_LEASE_KEY_SET: u32 = 0x04;
}

/// A lease context, request or response: v1 has no parent key and no epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseContext {
    /// LeaseKey.
    pub key: [u8; 16],
    /// LeaseState ([`state`] bits).
    pub state: u32,
    /// LeaseFlags ([`flags`]).
    pub flags: u32,
    /// LeaseDuration (reserved: 0).
    pub duration: u64,
    /// The v2 fields, `None` for v1.
    pub v2: Option<LeaseV2>,
}

/// The fields only a v2 context has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseV2 {
    /// ParentLeaseKey (meaningful with [`flags::PARENT_LEASE_KEY_SET`]).
    pub parent: [u8; 16],
    /// Epoch.
    pub epoch: u16,
    /// Reserved.
    pub reserved: u16,
}

impl LeaseContext {
    /// Decodes a context's data: exactly 32 bytes (v1) or 52 (v2).
    pub fn decode(data: &[u8]) -> Result<LeaseContext, DecodeError> {
        if data.len() != V1_LEN && data.len() != V2_LEN {
            return Err(DecodeError::Invalid("lease context length"));
        }
        let mut r = Reader::new(data);
        let key = r.array()?;
        let state = r.u32()?;
        let flags = r.u32()?;
        let duration = r.u64()?;
        let v2 = if data.len() == V2_LEN {
            Some(LeaseV2 {
                parent: r.array()?,
                epoch: r.u16()?,
                reserved: r.u16()?,
            })
        } else {
            None
        };
        Ok(LeaseContext {
            key,
            state,
            flags,
            duration,
            v2,
        })
    }

    /// The ParentLeaseKey, when a v2 context says it is set.
    pub fn parent(&self) -> Option<[u8; 16]> {
        self.v2
            .filter(|_| self.flags & flags::PARENT_LEASE_KEY_SET != 0)
            .map(|v| v.parent)
    }

    /// Encodes the context data (32 or 52 bytes).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.key);
        out.put_u32_le(self.state);
        out.put_u32_le(self.flags);
        out.put_u64_le(self.duration);
        if let Some(v2) = &self.v2 {
            out.put_slice(&v2.parent);
            out.put_u16_le(v2.epoch);
            out.put_u16_le(v2.reserved);
        }
    }
}

/// The response context data for a granted lease (2.2.14.2.10 / 2.2.14.2.11): LeaseDuration
/// and Reserved zero; `parent` (v2) sets SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET.
pub fn encode_response(
    out: &mut impl BufMut,
    key: &[u8; 16],
    lease_state: u32,
    lease_flags: u32,
    v2: Option<(Option<[u8; 16]>, u16)>,
) {
    let mut flags = lease_flags & flags::BREAK_IN_PROGRESS;
    let v2 = v2.map(|(parent, epoch)| {
        if parent.is_some() {
            flags |= flags::PARENT_LEASE_KEY_SET;
        }
        LeaseV2 {
            parent: parent.unwrap_or([0; 16]),
            epoch,
            reserved: 0,
        }
    });
    LeaseContext {
        key: *key,
        state: lease_state,
        flags,
        duration: 0,
        v2,
    }
    .encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_by_length() {
        let mut v1 = vec![7u8; 16];
        v1.extend_from_slice(&7u32.to_le_bytes());
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        let c = LeaseContext::decode(&v1).unwrap();
        assert_eq!((c.key, c.state, c.v2, c.parent()), ([7; 16], 7, None, None));
        let mut again = Vec::new();
        c.encode(&mut again);
        assert_eq!(again, v1);

        let mut v2 = v1.clone();
        v2[20..24].copy_from_slice(&flags::PARENT_LEASE_KEY_SET.to_le_bytes());
        v2.extend_from_slice(&[9; 16]);
        v2.extend_from_slice(&0x4711u16.to_le_bytes());
        v2.extend_from_slice(&[0, 0]);
        let c = LeaseContext::decode(&v2).unwrap();
        assert_eq!(c.parent(), Some([9; 16]));
        assert_eq!(c.v2.map(|v| v.epoch), Some(0x4711));
        let mut again = Vec::new();
        c.encode(&mut again);
        assert_eq!(again, v2);
    }

    #[test]
    fn other_lengths_are_refused() {
        for n in [0, 31, 33, 51, 53, 64] {
            assert!(LeaseContext::decode(&vec![0; n]).is_err(), "{n}");
        }
    }

    #[test]
    fn responses() {
        let mut v = Vec::new();
        encode_response(&mut v, &[1; 16], 3, flags::BREAK_IN_PROGRESS, None);
        assert_eq!(v.len(), V1_LEN);
        let c = LeaseContext::decode(&v).unwrap();
        assert_eq!((c.state, c.flags), (3, flags::BREAK_IN_PROGRESS));
        let mut v = Vec::new();
        encode_response(&mut v, &[1; 16], 7, 0, Some((Some([2; 16]), 5)));
        assert_eq!(v.len(), V2_LEN);
        let c = LeaseContext::decode(&v).unwrap();
        assert_eq!(c.flags, flags::PARENT_LEASE_KEY_SET);
        assert_eq!(c.parent(), Some([2; 16]));
        assert_eq!(c.v2.map(|x| x.epoch), Some(5));
    }
}
