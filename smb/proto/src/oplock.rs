//! OPLOCK_BREAK (MS-SMB2 2.2.23-2.2.25): the server's break notifications (oplock and
//! lease), the client's acknowledgments and the server's responses to them.

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{DecodeError, Reader};

/// StructureSize of an oplock break notification, acknowledgment and response (2.2.23.1).
pub const OPLOCK_BREAK_SIZE: u16 = 24;
/// StructureSize of a lease break notification (2.2.23.2).
pub const LEASE_BREAK_NOTIFICATION_SIZE: u16 = 44;
/// StructureSize of a lease break acknowledgment and response (2.2.24.2, 2.2.25.2).
pub const LEASE_BREAK_ACK_SIZE: u16 = 36;
/// SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED (2.2.23.2).
pub const LEASE_FLAG_ACK_REQUIRED: u32 = 0x01;

/// Oplock break notification body (2.2.23.1): break `file_id`'s oplock to `level`.
pub fn encode_oplock_break(out: &mut impl BufMut, level: u8, file_id: FileId) {
    out.put_u16_le(OPLOCK_BREAK_SIZE);
    out.put_u8(level);
    out.put_u8(0); // Reserved
    out.put_u32_le(0); // Reserved2
    file_id.encode(out);
}

/// Lease break notification body (2.2.23.2).
pub fn encode_lease_break(
    out: &mut impl BufMut,
    new_epoch: u16,
    flags: u32,
    lease_key: &[u8; 16],
    current: u32,
    new: u32,
) {
    out.put_u16_le(LEASE_BREAK_NOTIFICATION_SIZE);
    out.put_u16_le(new_epoch);
    out.put_u32_le(flags);
    out.put_slice(lease_key);
    out.put_u32_le(current);
    out.put_u32_le(new);
    out.put_u32_le(0); // BreakReason
    out.put_u32_le(0); // AccessMaskHint
    out.put_u32_le(0); // ShareMaskHint
}

/// SMB2_OPLOCK_LEVEL_LEASE: not a level an acknowledgment may name (3.3.5.22.1).
pub const OPLOCK_LEVEL_LEASE: u8 = 0xFF;

/// An OPLOCK_BREAK request: the client's acknowledgment of an oplock break (2.2.24.1) or of a
/// lease break (2.2.24.2), told apart by StructureSize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakAck {
    /// Oplock Break Acknowledgment.
    Oplock {
        /// OplockLevel the client now holds.
        level: u8,
        /// The open.
        file_id: FileId,
    },
    /// Lease Break Acknowledgment.
    Lease {
        /// LeaseKey.
        key: [u8; 16],
        /// LeaseState the client now holds.
        state: u32,
    },
}

impl BreakAck {
    /// Decodes the request body following the 64-byte header of `msg`. Reserved fields,
    /// Flags and LeaseDuration are ignored, as the spec says the server must.
    pub fn decode(msg: &[u8]) -> Result<BreakAck, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        let size = r.u16()?;
        match size {
            OPLOCK_BREAK_SIZE => {
                let level = r.u8()?;
                r.skip(1 + 4)?; // Reserved, Reserved2
                let file_id = FileId::decode(&mut r)?;
                Ok(BreakAck::Oplock { level, file_id })
            }
            LEASE_BREAK_ACK_SIZE => {
                r.skip(2 + 4)?; // Reserved, Flags
                let key = r.array()?;
                let state = r.u32()?;
                r.skip(8)?; // LeaseDuration
                Ok(BreakAck::Lease { key, state })
            }
            got => Err(DecodeError::StructureSize {
                expected: OPLOCK_BREAK_SIZE,
                got,
            }),
        }
    }

    /// Encodes the body (client side and tests); canonical: reserved fields zero.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            BreakAck::Oplock { level, file_id } => encode_oplock_break(out, *level, *file_id),
            BreakAck::Lease { key, state } => encode_lease_break_response(out, key, *state),
        }
    }
}

/// Oplock Break Response body (2.2.25.1): the level now held by `file_id`.
pub fn encode_oplock_break_response(out: &mut impl BufMut, level: u8, file_id: FileId) {
    // Same layout as the notification (2.2.23.1).
    encode_oplock_break(out, level, file_id);
}

/// Lease Break Response body (2.2.25.2): Reserved, Flags and LeaseDuration zero.
pub fn encode_lease_break_response(out: &mut impl BufMut, lease_key: &[u8; 16], state: u32) {
    out.put_u16_le(LEASE_BREAK_ACK_SIZE);
    out.put_u16_le(0); // Reserved
    out.put_u32_le(0); // Flags
    out.put_slice(lease_key);
    out.put_u32_le(state);
    out.put_u64_le(0); // LeaseDuration
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(body: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN];
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn acknowledgments_decode_and_reencode() {
        let fid = FileId {
            persistent: 3,
            volatile: 4,
        };
        for ack in [
            BreakAck::Oplock {
                level: 1,
                file_id: fid,
            },
            BreakAck::Lease {
                key: [5; 16],
                state: 3,
            },
        ] {
            let mut body = Vec::new();
            ack.encode(&mut body);
            assert_eq!(BreakAck::decode(&with_header(&body)), Ok(ack));
        }
        let mut body = Vec::new();
        encode_lease_break_response(&mut body, &[5; 16], 1);
        assert_eq!(body.len(), 36);
        let mut body = Vec::new();
        encode_oplock_break_response(&mut body, 0, fid);
        assert_eq!(body.len(), 24);
    }

    #[test]
    fn truncated_or_wrong_size_acknowledgments_fail() {
        let mut body = Vec::new();
        encode_lease_break_response(&mut body, &[5; 16], 1);
        for n in 0..body.len() {
            assert!(BreakAck::decode(&with_header(&body[..n])).is_err(), "{n}");
        }
        body[0] = 44;
        assert!(BreakAck::decode(&with_header(&body)).is_err());
        assert!(BreakAck::decode(&[0; 10]).is_err());
    }

    #[test]
    fn notification_sizes() {
        let mut v = Vec::new();
        encode_oplock_break(
            &mut v,
            1,
            FileId {
                persistent: 1,
                volatile: 2,
            },
        );
        assert_eq!(v.len(), 24);
        let mut v = Vec::new();
        encode_lease_break(&mut v, 2, LEASE_FLAG_ACK_REQUIRED, &[7; 16], 7, 1);
        assert_eq!(v.len(), 44);
        assert_eq!(&v[8..24], &[7; 16]);
    }
}
