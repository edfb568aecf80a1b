//! ONC RPC record marking over TCP (RFC 5531 section 11).
//!
//! "A record is composed of one or more record fragments. A record fragment is a four-byte
//! header followed by 0 to (2**31) - 1 bytes of fragment data. [...] the highest-order bit of
//! the header [...] indicates whether the fragment is the last fragment in the record."
//!
//! [`RecordDecoder`] is fed the bytes read from a socket (in a `BytesMut` the caller owns) and
//! yields whole records. A fragment header whose length would make the record exceed the cap
//! is refused as soon as the four header bytes are seen, before any of its data is buffered,
//! so a header claiming 2 GiB costs nothing.

use bytes::{Buf, BytesMut};

use crate::FrameError;

/// Bit set in a fragment header on the last fragment of a record.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;

/// Most fragments accepted in one record (stops an endless stream of empty fragments).
pub const MAX_FRAGMENTS: usize = 1024;

/// Reassembles records from a byte stream. Sans-IO: the caller reads into a buffer and calls
/// [`RecordDecoder::decode`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct RecordDecoder {
    max_record: usize,
    /// Data of the fragments of the current record received so far (not the last one).
    partial: BytesMut,
    fragments: usize,
}

impl RecordDecoder {
    /// A decoder refusing records larger than `max_record` bytes (data, without headers).
    pub fn new(max_record: usize) -> RecordDecoder {
        RecordDecoder {
            max_record,
            partial: BytesMut::new(),
            fragments: 0,
        }
    }

    /// True when fragments of an unfinished record have been taken already.
    pub fn is_mid_record(&self) -> bool {
        self.fragments > 0
    }

    /// The cap.
    pub fn max_record(&self) -> usize {
        self.max_record
    }

    /// Takes one complete record out of `input` if there is one. `Ok(None)` means more bytes
    /// are needed; the caller never needs to buffer more than `max_record + 4` bytes.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        loop {
            let Some(header) = input.get(..4) else {
                return Ok(None);
            };
            let mut h = [0u8; 4];
            h.copy_from_slice(header);
            let header = u32::from_be_bytes(h);
            let last = header & LAST_FRAGMENT != 0;
            let len = (header & !LAST_FRAGMENT) as usize;
            let total = self.partial.len() as u64 + len as u64;
            if total > self.max_record as u64 {
                return Err(FrameError::RecordTooLarge {
                    len: total,
                    max: self.max_record,
                });
            }
            if input.len() - 4 < len {
                // Make room for the rest of this fragment only (bounded by the check above).
                input.reserve(len + 4 - input.len());
                return Ok(None);
            }
            input.advance(4);
            let data = input.split_to(len);
            self.fragments += 1;
            if last {
                self.fragments = 0;
                if self.partial.is_empty() {
                    return Ok(Some(data));
                }
                let mut record = std::mem::take(&mut self.partial);
                record.extend_from_slice(&data);
                return Ok(Some(record));
            }
            if self.fragments >= MAX_FRAGMENTS {
                return Err(FrameError::TooManyFragments(MAX_FRAGMENTS));
            }
            self.partial.extend_from_slice(&data);
        }
    }
}

/// The header of a single-fragment record carrying `len` bytes (`len` < 2^31).
pub fn encode_record_header(len: usize) -> [u8; 4] {
    let len = u32::try_from(len).unwrap_or(u32::MAX) & !LAST_FRAGMENT;
    (LAST_FRAGMENT | len).to_be_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn frag(last: bool, data: &[u8]) -> Vec<u8> {
        let mut v = ((data.len() as u32) | if last { LAST_FRAGMENT } else { 0 })
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn single_fragment_record_byte_by_byte() {
        let wire = frag(true, b"abcdefgh");
        let mut d = RecordDecoder::new(64);
        let mut input = BytesMut::new();
        for (i, b) in wire.iter().enumerate() {
            input.extend_from_slice(&[*b]);
            let got = d.decode(&mut input).unwrap();
            if i + 1 < wire.len() {
                assert!(got.is_none());
            } else {
                assert_eq!(&got.unwrap()[..], b"abcdefgh");
            }
        }
    }

    #[test]
    fn multi_fragment_record_and_two_records_in_one_read() {
        let mut wire = frag(false, b"ab");
        wire.extend(frag(false, b""));
        wire.extend(frag(true, b"cd"));
        wire.extend(frag(true, b"xyz"));
        let mut d = RecordDecoder::new(64);
        let mut input = BytesMut::from(&wire[..]);
        assert_eq!(&d.decode(&mut input).unwrap().unwrap()[..], b"abcd");
        assert_eq!(&d.decode(&mut input).unwrap().unwrap()[..], b"xyz");
        assert!(d.decode(&mut input).unwrap().is_none());
    }

    #[test]
    fn two_gib_header_is_refused_without_allocating() {
        let mut d = RecordDecoder::new(1 << 20);
        let mut input = BytesMut::from(&0xffff_ffffu32.to_be_bytes()[..]);
        let err = d.decode(&mut input).unwrap_err();
        assert!(matches!(err, FrameError::RecordTooLarge { .. }));
        assert!(input.capacity() < 1024);
    }

    #[test]
    fn fragments_summing_over_the_cap_are_refused() {
        let mut wire = frag(false, &[0; 40]);
        wire.extend(frag(true, &[0; 40]));
        let mut d = RecordDecoder::new(64);
        let mut input = BytesMut::from(&wire[..]);
        assert!(d.decode(&mut input).is_err());
    }

    #[test]
    fn endless_empty_fragments_are_refused() {
        let mut wire = Vec::new();
        for _ in 0..=MAX_FRAGMENTS {
            wire.extend(frag(false, b""));
        }
        let mut d = RecordDecoder::new(64);
        let mut input = BytesMut::from(&wire[..]);
        assert_eq!(
            d.decode(&mut input),
            Err(FrameError::TooManyFragments(MAX_FRAGMENTS))
        );
    }

    #[test]
    fn header_encoding() {
        assert_eq!(encode_record_header(5), [0x80, 0, 0, 5]);
    }
}
