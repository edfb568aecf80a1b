//! XDR (RFC 4506): a bounded [`Reader`] and [`XdrWrite`] over `bytes::BufMut`.
//!
//! Decode contract (STYLE.md 2): `decode(&mut Reader) -> Result<T, DecodeError>`. Every length
//! read from the wire is checked against the item's XDR bound *and* against the bytes that
//! remain before anything is allocated, so a small request cannot make us allocate much.

use bytes::{BufMut, Bytes};

use crate::DecodeError;

/// A cursor over received bytes that never reads past the end and never allocates by itself.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
    /// The buffer `rest` lies in, when it is shared: [`Reader::opaque_bytes`] then borrows
    /// from it instead of copying.
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: buf,
            shared: None,
        }
    }

    /// Reads from a shared buffer: large opaques ([`Reader::opaque_bytes`]) are slices of it,
    /// not copies.
    pub fn new_shared(buf: &'a Bytes) -> Reader<'a> {
        Reader {
            rest: buf,
            shared: Some(buf),
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Fails with [`DecodeError::Trailing`] unless everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.rest.len()))
        }
    }

    /// Borrows the next `n` bytes, or fails without consuming anything.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// A reader over the next `n` bytes (which are consumed from this one).
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader {
            rest: self.take(n)?,
            shared: self.shared,
        })
    }

    /// `unsigned int`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    /// `unsigned hyper`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// `bool`: 0 or 1, anything else is invalid (RFC 4506 section 4.4).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::Invalid {
                what: "bool",
                value: v,
            }),
        }
    }

    /// `opaque[n]`: fixed length, padded to a multiple of four.
    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let padded = n
            .checked_add(3)
            .map(|p| p & !3)
            .ok_or(DecodeError::Truncated {
                needed: usize::MAX,
                remaining: self.rest.len(),
            })?;
        if padded > self.rest.len() {
            return Err(DecodeError::Truncated {
                needed: padded,
                remaining: self.rest.len(),
            });
        }
        let data = self.take(n)?;
        self.take(padded - n)?;
        Ok(data)
    }

    /// `opaque<max>` / `string<max>`: a length, checked against `max` and against what
    /// remains before anything else happens, then the bytes and their padding.
    pub fn opaque(&mut self, max: u32) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::TooLong { len, max });
        }
        self.fixed(len as usize)
    }

    /// [`Reader::opaque`] as [`Bytes`]: a slice of the shared buffer when the reader has one
    /// (WRITE data: no copy), else a copy.
    pub fn opaque_bytes(&mut self, max: u32) -> Result<Bytes, DecodeError> {
        let data = self.opaque(max)?;
        Ok(match self.shared {
            // `data` was taken from `rest`, which lies inside `b`; checked anyway, since
            // `slice_ref` panics on a slice from elsewhere.
            Some(b) if !data.is_empty() && within(b, data) => b.slice_ref(data),
            _ => Bytes::copy_from_slice(data),
        })
    }

    /// `T<max>`: a count checked against `max` and against what remains (each item takes at
    /// least `min_item_size` bytes on the wire), then the items.
    pub fn array<T: Decode>(
        &mut self,
        max: u32,
        min_item_size: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.u32()?;
        if n > max {
            return Err(DecodeError::TooLong { len: n, max });
        }
        let needed = (n as usize).saturating_mul(min_item_size.max(1));
        if needed > self.rest.len() {
            return Err(DecodeError::Truncated {
                needed,
                remaining: self.rest.len(),
            });
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(T::decode(self)?);
        }
        Ok(out)
    }

    /// `T *` (an optional value: a bool, then the value when true).
    pub fn optional<T: Decode>(&mut self) -> Result<Option<T>, DecodeError> {
        if self.bool()? {
            Ok(Some(T::decode(self)?))
        } else {
            Ok(None)
        }
    }
}

/// A value that can be read from XDR.
pub trait Decode: Sized {
    /// Reads one value; on error the reader position is unspecified.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer, refusing trailing bytes.
    fn decode_all(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl Decode for u32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
}

impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
}

/// A value that can be written as XDR.
pub trait Encode {
    /// Appends the XDR form of `self`.
    fn encode<B: BufMut>(&self, out: &mut B);
}

impl Encode for u32 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u32(*self);
    }
}

impl Encode for u64 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u64(*self);
    }
}

impl Encode for bool {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u32(u32::from(*self));
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            Some(v) => {
                out.put_u32(1);
                v.encode(out);
            }
            None => out.put_u32(0),
        }
    }
}

/// Whether `part` lies inside `whole`'s memory.
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    p >= w && p.saturating_add(part.len()) <= w.saturating_add(whole.len())
}

/// Padding needed after `len` bytes of opaque data.
pub fn pad_len(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

/// XDR encoding helpers for any `BufMut`.
pub trait XdrWrite: BufMut {
    /// `bool`.
    fn put_xdr_bool(&mut self, v: bool) {
        self.put_u32(u32::from(v));
    }

    /// `opaque[n]` (fixed length): the bytes and their padding.
    fn put_xdr_fixed(&mut self, data: &[u8]) {
        self.put_slice(data);
        self.put_bytes(0, pad_len(data.len()));
    }

    /// `opaque<>` / `string<>`: length, bytes, padding. The caller keeps `data` within the
    /// item's bound; lengths beyond `u32::MAX` cannot occur for in-memory replies we build.
    fn put_xdr_opaque(&mut self, data: &[u8]) {
        self.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.put_xdr_fixed(data);
    }

    /// Any [`Encode`] value.
    fn put_xdr<T: Encode + ?Sized>(&mut self, v: &T)
    where
        Self: Sized,
    {
        v.encode(self);
    }
}

impl<B: BufMut + ?Sized> XdrWrite for B {}

/// Encoded size of `opaque<>` holding `len` bytes.
pub fn opaque_size(len: usize) -> usize {
    4 + len + pad_len(len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn opaque_bytes_borrow_from_a_shared_buffer_and_copy_otherwise() {
        let mut out = Vec::new();
        out.put_u32(7);
        out.put_xdr_opaque(b"hello");
        out.put_xdr_opaque(b"");
        let shared = Bytes::from(out.clone());
        let mut r = Reader::new_shared(&shared);
        assert_eq!(r.u32().unwrap(), 7);
        let mut sub = r.sub(r.remaining()).unwrap();
        let d = sub.opaque_bytes(16).unwrap();
        assert_eq!(&d[..], b"hello");
        assert_eq!(d.as_ptr(), shared[8..].as_ptr(), "a slice, not a copy");
        assert!(sub.opaque_bytes(16).unwrap().is_empty());
        sub.finish().unwrap();
        let mut plain = Reader::new(&out);
        plain.u32().unwrap();
        assert_eq!(&plain.opaque_bytes(16).unwrap()[..], b"hello");
        assert!(Reader::new_shared(&shared).opaque_bytes(4).is_err());
    }

    #[test]
    fn opaque_round_trip_with_padding() {
        let mut out = Vec::new();
        out.put_xdr_opaque(b"hello");
        assert_eq!(out.len(), 12);
        let mut r = Reader::new(&out);
        assert_eq!(r.opaque(16).unwrap(), b"hello");
        r.finish().unwrap();
    }

    #[test]
    fn opaque_over_bound_is_rejected_before_reading() {
        let mut out = Vec::new();
        out.put_u32(1000);
        let mut r = Reader::new(&out);
        assert_eq!(
            r.opaque(255),
            Err(DecodeError::TooLong {
                len: 1000,
                max: 255
            })
        );
    }

    #[test]
    fn opaque_longer_than_input_is_truncated() {
        let mut out = Vec::new();
        out.put_u32(0xffff_fff0);
        out.put_u32(0);
        let mut r = Reader::new(&out);
        assert!(matches!(
            r.opaque(u32::MAX),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn huge_array_count_is_rejected_before_allocation() {
        let mut out = Vec::new();
        out.put_u32(0x4000_0000);
        let mut r = Reader::new(&out);
        assert!(matches!(
            r.array::<u32>(u32::MAX, 4),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn bool_other_than_0_or_1_is_invalid() {
        let mut r = Reader::new(&[0, 0, 0, 2]);
        assert!(matches!(r.bool(), Err(DecodeError::Invalid { .. })));
    }

    #[test]
    fn integers_and_truncation() {
        let mut out = Vec::new();
        out.put_u64(0x0102_0304_0506_0708);
        let mut r = Reader::new(&out[..7]);
        assert!(r.u64().is_err());
        let mut r = Reader::new(&out);
        assert_eq!(r.u64().unwrap(), 0x0102_0304_0506_0708);
    }
}
