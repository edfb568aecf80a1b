//! The bounded reader the descriptor codec decodes with (the same contract as the protocol
//! crates' readers: every length and offset is checked against what remains before anything
//! is allocated).

/// Why a descriptor could not be decoded. Always the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The buffer ends before a field does.
    #[error("descriptor truncated")]
    Truncated,
    /// An offset/length pair points outside the buffer.
    #[error("offset or length outside the descriptor")]
    OutOfBounds,
    /// Some other malformed field.
    #[error("invalid descriptor: {0}")]
    Invalid(&'static str),
}

/// Bounded little-endian reader over a borrowed slice.
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

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Borrows the next `n` bytes, or fails without consuming anything.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.rest().get(..n).ok_or(DecodeError::Truncated)?;
        self.pos = self.pos.saturating_add(n);
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
}
