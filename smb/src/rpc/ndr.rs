//! NDR (C706 chapter 14, little-endian) writer and a bounded reader for the few shapes used.

/// NDR writer with referent ids for unique pointers.
pub(crate) struct NdrWriter {
    pub buf: Vec<u8>,
    next_ref: u32,
}

impl NdrWriter {
    pub fn new() -> Self {
        NdrWriter {
            buf: Vec::new(),
            next_ref: 0x0002_0000,
        }
    }
    pub fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A non-null unique pointer's referent id.
    pub fn ptr(&mut self) {
        let r = self.next_ref;
        self.next_ref += 4;
        self.u32(r);
    }
    /// A conformant varying `[string] wchar_t*` body (terminating NUL included).
    pub fn string(&mut self, s: &str) {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        let n = u32::try_from(units.len()).unwrap_or(0);
        self.u32(n);
        self.u32(0);
        self.u32(n);
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
        self.align(4);
    }
}

/// Bounded NDR reader.
pub(crate) struct NdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> NdrReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        NdrReader { buf, pos: 0 }
    }
    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.align(4);
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(<[u8; 4]>::try_from(b).ok()?))
    }
    /// A conformant varying string body; lengths are checked against what remains.
    pub fn string(&mut self) -> Option<String> {
        let _max = self.u32()?;
        let _offset = self.u32()?;
        let actual = usize::try_from(self.u32()?).ok()?;
        let bytes = self
            .buf
            .get(self.pos..self.pos.checked_add(actual.checked_mul(2)?)?)?;
        self.pos += bytes.len();
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let s = String::from_utf16_lossy(&units);
        Some(s.trim_end_matches('\0').to_string())
    }
    /// A unique pointer to a string: `None` inside when null.
    pub fn unique_string(&mut self) -> Option<Option<String>> {
        if self.u32()? == 0 {
            return Some(None);
        }
        Some(Some(self.string()?))
    }
}
