//! The one decode contract: a bounded reader over a borrowed byte slice.
//!
//! Every length and offset that comes from the wire goes through [`Reader::take`] or
//! [`slice_at`], which check it against what remains **before** anything is allocated.

/// Why a message could not be decoded. Always the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ends before a field does.
    #[error("message truncated")]
    Truncated,
    /// A fixed `StructureSize` field has the wrong value.
    #[error("wrong structure size {got} (expected {expected})")]
    StructureSize {
        /// Value the spec fixes.
        expected: u16,
        /// Value received.
        got: u16,
    },
    /// An offset/length pair points outside the message.
    #[error("offset or length outside the message")]
    OutOfBounds,
    /// Some other malformed field.
    #[error("invalid message: {0}")]
    Invalid(&'static str),
}

/// Bounded little-endian reader.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reader over `buf` starting at 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Reader over `buf` starting at `pos` (fails when `pos` is past the end).
    pub fn at(buf: &'a [u8], pos: usize) -> Result<Self, DecodeError> {
        if pos > buf.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(Reader { buf, pos })
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Current position from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread rest, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Borrows the next `n` bytes, or fails without consuming anything.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.rest().get(..n).ok_or(DecodeError::Truncated)?;
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    /// Fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a `StructureSize` field and checks it.
    pub fn structure_size(&mut self, expected: u16) -> Result<(), DecodeError> {
        let got = self.u16()?;
        if got != expected {
            return Err(DecodeError::StructureSize { expected, got });
        }
        Ok(())
    }
}

/// `len` bytes of `msg` at `offset` (both from the wire), checked; `len == 0` gives an empty
/// slice whatever the offset, as clients often send offset 0 with no buffer.
pub fn slice_at(msg: &[u8], offset: usize, len: usize) -> Result<&[u8], DecodeError> {
    if len == 0 {
        return Ok(&[]);
    }
    let end = offset.checked_add(len).ok_or(DecodeError::OutOfBounds)?;
    msg.get(offset..end).ok_or(DecodeError::OutOfBounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_checks_before_consuming() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.take(4), Err(DecodeError::Truncated));
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(r.remaining(), 1);
        assert!(r.u16().is_err());
        assert_eq!(r.u8(), Ok(3));
    }

    #[test]
    fn slice_at_rejects_overflow() {
        assert!(slice_at(&[0; 4], usize::MAX, 2).is_err());
        assert!(slice_at(&[0; 4], 3, 2).is_err());
        assert_eq!(slice_at(&[0; 4], 99, 0), Ok(&[][..]));
        assert_eq!(slice_at(&[1, 2, 3, 4], 2, 2), Ok(&[3, 4][..]));
    }
}
