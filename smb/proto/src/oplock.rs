//! OPLOCK_BREAK (MS-SMB2 2.2.23-2.2.25): the server's break notifications (oplock and
//! lease), the client's acknowledgments and the server's responses to them.

use bytes::BufMut;

use crate::misc::FileId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
