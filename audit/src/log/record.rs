//! One log record on disk:
//!
//! ```text
//! 0   u32 LE  payload length (≤ MAX_PAYLOAD)
//! 4   u32 LE  CRC-32 (IEEE) of bytes 8..28+len
//! 8   u64 LE  id (monotonic per topic)
//! 16  i64 LE  timestamp, µs UTC
//! 24  u32 LE  flags (bit 0: selected for syslog by the zone's syslog_audit_events)
//! 28  payload: the event as JSON (UTF-8)
//! ```
//! A record is valid when its length is in range, the bytes are all there and the checksum
//! matches. A crash can leave a torn record only at the tail of the last segment; recovery
//! truncates there. Anything else that fails the check is corruption, skipped by resync.

/// Header size.
pub const HEADER: usize = 28;
/// Largest payload accepted (a JSON event is a few hundred bytes; paths are ≤ 4 KiB).
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Flag: forward to syslog sinks (zone's `syslog_audit_events`).
pub const FLAG_SYSLOG: u32 = 1;

/// A decoded record, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Id.
    pub id: u64,
    /// Timestamp (µs).
    pub ts: i64,
    /// Flags.
    pub flags: u32,
    /// JSON payload.
    pub payload: &'a [u8],
}

/// An owned record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Id.
    pub id: u64,
    /// Timestamp (µs).
    pub ts: i64,
    /// Flags.
    pub flags: u32,
    /// JSON payload.
    pub payload: Vec<u8>,
}

impl RecordRef<'_> {
    /// Copies into an owned record.
    pub fn to_owned(&self) -> Record {
        Record {
            id: self.id,
            ts: self.ts,
            flags: self.flags,
            payload: self.payload.to_vec(),
        }
    }
}

/// Outcome of decoding at a position.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid record and its total size.
    Ok(RecordRef<'a>, usize),
    /// Not enough bytes for the record the header announces (or for a header).
    Short,
    /// Bad length or checksum.
    Corrupt,
}

/// Appends the encoding of one record to `out`.
pub fn encode(out: &mut Vec<u8>, id: u64, ts: i64, flags: u32, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER {
        return Decoded::Short;
    }
    let len = u32_at(buf, 0) as usize;
    if len > MAX_PAYLOAD {
        return Decoded::Corrupt;
    }
    let total = HEADER + len;
    if buf.len() < total {
        return Decoded::Short;
    }
    if crc32fast::hash(&buf[8..total]) != u32_at(buf, 4) {
        return Decoded::Corrupt;
    }
    Decoded::Ok(
        RecordRef {
            id: u64_at(buf, 8),
            ts: u64_at(buf, 16) as i64,
            flags: u32_at(buf, 24),
            payload: &buf[HEADER..total],
        },
        total,
    )
}

/// Peeks the total length a header announces (for reading the rest), if plausible.
pub fn announced_len(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER {
        return None;
    }
    let len = u32_at(header, 0) as usize;
    (len <= MAX_PAYLOAD).then_some(HEADER + len)
}

/// Finds the next offset ≥ `from` in `buf` where a valid record starts (resync after
/// corruption).
pub fn resync(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find(|&i| matches!(decode(&buf[i..]), Decoded::Ok(..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_and_corruption() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, 10, 0, b"{\"a\":1}");
        encode(&mut buf, 2, 11, FLAG_SYSLOG, b"{\"b\":2}");
        let Decoded::Ok(r, n) = decode(&buf) else {
            panic!()
        };
        assert_eq!((r.id, r.ts, r.payload), (1, 10, &b"{\"a\":1}"[..]));
        let Decoded::Ok(r2, _) = decode(&buf[n..]) else {
            panic!()
        };
        assert_eq!((r2.id, r2.flags), (2, FLAG_SYSLOG));
        // Torn tail.
        assert_eq!(decode(&buf[n..buf.len() - 1]), Decoded::Short);
        // Flipped payload bit.
        let mut bad = buf.clone();
        bad[HEADER + 2] ^= 1;
        assert_eq!(decode(&bad), Decoded::Corrupt);
        assert_eq!(resync(&bad, 1), Some(n));
        // Absurd length.
        let mut bad = buf.clone();
        bad[3] = 0xff;
        assert_eq!(decode(&bad), Decoded::Corrupt);
    }
}
