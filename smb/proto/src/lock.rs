//! LOCK (MS-SMB2 2.2.26 request with its SMB2_LOCK_ELEMENTs 2.2.26.1, 2.2.27 response).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{DecodeError, Reader};

/// StructureSize of a LOCK request (2.2.26: the fixed part plus one element).
pub const LOCK_REQUEST_SIZE: u16 = 48;
/// Size of one SMB2_LOCK_ELEMENT (2.2.26.1).
pub const LOCK_ELEMENT_LEN: usize = 24;

/// SMB2_LOCK_ELEMENT Flags (2.2.26.1).
pub mod flags {
    /// SMB2_LOCKFLAG_SHARED_LOCK.
    pub const SHARED: u32 = 0x01;
    /// SMB2_LOCKFLAG_EXCLUSIVE_LOCK.
    pub const EXCLUSIVE: u32 = 0x02;
    /// SMB2_LOCKFLAG_UNLOCK.
    pub const UNLOCK: u32 = 0x04;
    /// SMB2_LOCKFLAG_FAIL_IMMEDIATELY.
    pub const FAIL_IMMEDIATELY: u32 = 0x10;
}

/// One range to lock or unlock (SMB2_LOCK_ELEMENT, 2.2.26.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockElement {
    /// Offset: the first byte.
    pub offset: u64,
    /// Length in bytes (may be 0).
    pub length: u64,
    /// Flags (bits of [`flags`]); which combinations are valid is the server's check
    /// (MS-SMB2 3.3.5.14.1/3.3.5.14.2), not the codec's.
    pub flags: u32,
}

impl LockElement {
    fn decode(r: &mut Reader<'_>) -> Result<LockElement, DecodeError> {
        let offset = r.u64()?;
        let length = r.u64()?;
        let flags = r.u32()?;
        r.skip(4)?; // Reserved
        Ok(LockElement {
            offset,
            length,
            flags,
        })
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.offset);
        out.put_u64_le(self.length);
        out.put_u32_le(self.flags);
        out.put_u32_le(0);
    }
}

/// SMB2 LOCK request (2.2.26).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRequest {
    /// LockSequenceNumber: the low 4 bits of the LockSequenceNumber/LockSequenceIndex field.
    pub lock_sequence_number: u8,
    /// LockSequenceIndex: the upper 28 bits (0 to 64 are meaningful, 3.3.5.14).
    pub lock_sequence_index: u32,
    /// FileId.
    pub file_id: FileId,
    /// The Locks array, `LockCount` long (empty when the client sent LockCount 0, which the
    /// server refuses with STATUS_INVALID_PARAMETER).
    pub locks: Vec<LockElement>,
}

impl LockRequest {
    /// Decodes; `msg` starts at the SMB2 header. The Locks array must fit in the message
    /// before anything is allocated for it (at most one element per 24 bytes received).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(LOCK_REQUEST_SIZE)?;
        let count = usize::from(r.u16()?);
        let seq = r.u32()?;
        let file_id = FileId::decode(&mut r)?;
        let bytes = r.take(count * LOCK_ELEMENT_LEN)?;
        let mut er = Reader::new(bytes);
        let mut locks = Vec::with_capacity(count);
        for _ in 0..count {
            locks.push(LockElement::decode(&mut er)?);
        }
        Ok(LockRequest {
            lock_sequence_number: (seq & 0xF) as u8,
            lock_sequence_index: seq >> 4,
            file_id,
            locks,
        })
    }

    /// Encodes the request body (after the header). With no locks, a zeroed element is
    /// still sent: StructureSize counts one (clients do the same).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(LOCK_REQUEST_SIZE);
        out.put_u16_le(u16::try_from(self.locks.len()).unwrap_or(u16::MAX));
        out.put_u32_le(
            u32::from(self.lock_sequence_number & 0xF) | (self.lock_sequence_index << 4),
        );
        self.file_id.encode(out);
        for l in self.locks.iter().take(usize::from(u16::MAX)) {
            l.encode(out);
        }
        if self.locks.is_empty() {
            out.put_bytes(0, LOCK_ELEMENT_LEN);
        }
    }
}

/// Encodes a LOCK response body (2.2.27: StructureSize 4, Reserved).
pub fn encode_lock_response(out: &mut impl BufMut) {
    out.put_u16_le(4);
    out.put_u16_le(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn round_trip_with_two_elements() {
        let req = LockRequest {
            lock_sequence_number: 0xA,
            lock_sequence_index: 64,
            file_id: FileId {
                persistent: 7,
                volatile: 9,
            },
            locks: vec![
                LockElement {
                    offset: u64::MAX,
                    length: 1,
                    flags: flags::EXCLUSIVE | flags::FAIL_IMMEDIATELY,
                },
                LockElement {
                    offset: 0,
                    length: 0,
                    flags: flags::SHARED,
                },
            ],
        };
        let mut body = Vec::new();
        req.encode(&mut body);
        assert_eq!(body.len(), 24 + 2 * LOCK_ELEMENT_LEN);
        assert_eq!(&body[4..8], &0x40Au32.to_le_bytes());
        assert_eq!(LockRequest::decode(&message(&body)), Ok(req));
    }

    #[test]
    fn zero_count_still_carries_one_element() {
        let req = LockRequest {
            lock_sequence_number: 0,
            lock_sequence_index: 0,
            file_id: FileId::default(),
            locks: Vec::new(),
        };
        let mut body = Vec::new();
        req.encode(&mut body);
        assert_eq!(body.len(), 48);
        assert_eq!(LockRequest::decode(&message(&body)), Ok(req));
    }

    #[test]
    fn count_past_the_message_is_refused() {
        let mut body = Vec::new();
        LockRequest {
            lock_sequence_number: 0,
            lock_sequence_index: 0,
            file_id: FileId::default(),
            locks: vec![LockElement {
                offset: 1,
                length: 1,
                flags: flags::UNLOCK,
            }],
        }
        .encode(&mut body);
        body[2..4].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(
            LockRequest::decode(&message(&body)),
            Err(DecodeError::Truncated)
        );
        body[0] = 49;
        assert!(matches!(
            LockRequest::decode(&message(&body)),
            Err(DecodeError::StructureSize { .. })
        ));
    }

    #[test]
    fn response_is_four_bytes() {
        let mut b = Vec::new();
        encode_lock_response(&mut b);
        assert_eq!(b, [4, 0, 0, 0]);
    }
}
