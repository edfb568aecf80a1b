//! Self-relative security descriptors: SID (MS-DTYP 2.4.2.2), ACE (2.4.4), ACL (2.4.5) and
//! SECURITY_DESCRIPTOR (2.4.6), decoded from what a client sends (SMB SET_INFO, MS-SMB2
//! 2.2.39, or the SecD create context, 2.2.13.2.1) or from the stored copy, merged part by part
//! as SECURITY_INFORMATION says (MS-DTYP 2.4.7; MS-SMB2 2.2.37 AdditionalInformation), and
//! encoded back.
//!
//! Decoding is bounded: every offset, size and count is checked against the buffer before it
//! is followed, nothing is allocated from a count that the bytes cannot back, and a descriptor
//! is at most [`MAX_DESCRIPTOR_LEN`] bytes. Encoding is canonical (owner, group, SACL, DACL in
//! that order, ACL sizes exact), so `decode(encode(sd)) == sd` but not every accepted input is
//! re-encoded byte for byte.

use bytes::BufMut;

use super::reader::{DecodeError, Reader};

/// Largest descriptor accepted or stored (the Linux extended-attribute value limit).
pub const MAX_DESCRIPTOR_LEN: usize = 64 * 1024;
/// Length of the fixed SECURITY_DESCRIPTOR header (MS-DTYP 2.4.6).
pub const HEADER_LEN: usize = 20;
/// Most sub-authorities a SID may have (MS-DTYP 2.4.2.2).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// SECURITY_DESCRIPTOR Control bits (MS-DTYP 2.4.6).
pub mod control {
    /// SE_OWNER_DEFAULTED.
    pub const OWNER_DEFAULTED: u16 = 0x0001;
    /// SE_GROUP_DEFAULTED.
    pub const GROUP_DEFAULTED: u16 = 0x0002;
    /// SE_DACL_PRESENT.
    pub const DACL_PRESENT: u16 = 0x0004;
    /// SE_DACL_DEFAULTED.
    pub const DACL_DEFAULTED: u16 = 0x0008;
    /// SE_SACL_PRESENT.
    pub const SACL_PRESENT: u16 = 0x0010;
    /// SE_SACL_DEFAULTED.
    pub const SACL_DEFAULTED: u16 = 0x0020;
    /// SE_DACL_AUTO_INHERIT_REQ.
    pub const DACL_AUTO_INHERIT_REQ: u16 = 0x0100;
    /// SE_SACL_AUTO_INHERIT_REQ.
    pub const SACL_AUTO_INHERIT_REQ: u16 = 0x0200;
    /// SE_DACL_AUTO_INHERITED.
    pub const DACL_AUTO_INHERITED: u16 = 0x0400;
    /// SE_SACL_AUTO_INHERITED.
    pub const SACL_AUTO_INHERITED: u16 = 0x0800;
    /// SE_DACL_PROTECTED.
    pub const DACL_PROTECTED: u16 = 0x1000;
    /// SE_SACL_PROTECTED.
    pub const SACL_PROTECTED: u16 = 0x2000;
    /// SE_SELF_RELATIVE.
    pub const SELF_RELATIVE: u16 = 0x8000;
    /// The bits that describe the DACL.
    pub const DACL_BITS: u16 = DACL_PRESENT
        | DACL_DEFAULTED
        | DACL_AUTO_INHERIT_REQ
        | DACL_AUTO_INHERITED
        | DACL_PROTECTED;
    /// The bits that describe the SACL.
    pub const SACL_BITS: u16 = SACL_PRESENT
        | SACL_DEFAULTED
        | SACL_AUTO_INHERIT_REQ
        | SACL_AUTO_INHERITED
        | SACL_PROTECTED;
}

/// SECURITY_INFORMATION bits (MS-DTYP 2.4.7; SMB's AdditionalInformation, MS-SMB2 2.2.37).
pub mod info {
    /// OWNER_SECURITY_INFORMATION.
    pub const OWNER: u32 = 0x0000_0001;
    /// GROUP_SECURITY_INFORMATION.
    pub const GROUP: u32 = 0x0000_0002;
    /// DACL_SECURITY_INFORMATION.
    pub const DACL: u32 = 0x0000_0004;
    /// SACL_SECURITY_INFORMATION.
    pub const SACL: u32 = 0x0000_0008;
    /// LABEL_SECURITY_INFORMATION.
    pub const LABEL: u32 = 0x0000_0010;
}

/// ACE types (MS-DTYP 2.4.4.1) the access check reads; others are kept and ignored.
pub mod ace_type {
    /// ACCESS_ALLOWED_ACE_TYPE.
    pub const ACCESS_ALLOWED: u8 = 0x00;
    /// ACCESS_DENIED_ACE_TYPE.
    pub const ACCESS_DENIED: u8 = 0x01;
    /// SYSTEM_AUDIT_ACE_TYPE.
    pub const SYSTEM_AUDIT: u8 = 0x02;
}

/// ACE flags (MS-DTYP 2.4.4.1).
pub mod ace_flags {
    /// OBJECT_INHERIT_ACE.
    pub const OBJECT_INHERIT: u8 = 0x01;
    /// CONTAINER_INHERIT_ACE.
    pub const CONTAINER_INHERIT: u8 = 0x02;
    /// NO_PROPAGATE_INHERIT_ACE: inherited one level only.
    pub const NO_PROPAGATE: u8 = 0x04;
    /// INHERIT_ONLY_ACE: not applied to the object itself.
    pub const INHERIT_ONLY: u8 = 0x08;
    /// INHERITED_ACE: came from the parent.
    pub const INHERITED: u8 = 0x10;
}

/// A security identifier (MS-DTYP 2.4.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sid {
    /// IdentifierAuthority (48 bits, big-endian on the wire).
    pub authority: u64,
    /// SubAuthority values (at most [`MAX_SUB_AUTHORITIES`]).
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// Parses the string form `S-1-<authority>-<sub>...` (MS-DTYP 2.4.2.1).
    pub fn parse(s: &str) -> Option<Sid> {
        let mut parts = s.strip_prefix("S-")?.split('-');
        if parts.next()? != "1" {
            return None;
        }
        let authority: u64 = parts.next()?.parse().ok()?;
        let sub_authorities = parts
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        if sub_authorities.len() > MAX_SUB_AUTHORITIES || authority >= 1 << 48 {
            return None;
        }
        Some(Sid {
            authority,
            sub_authorities,
        })
    }

    /// Decodes a binary SID from the reader.
    pub fn decode(r: &mut Reader<'_>) -> Result<Sid, DecodeError> {
        if r.u8()? != 1 {
            return Err(DecodeError::Invalid("SID revision"));
        }
        let count = usize::from(r.u8()?);
        if count > MAX_SUB_AUTHORITIES {
            return Err(DecodeError::Invalid("SID sub-authority count"));
        }
        let a: [u8; 6] = r.array()?;
        let authority = a.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let raw = r.take(4 * count)?;
        let sub_authorities = raw
            .chunks_exact(4)
            .map(|c| <[u8; 4]>::try_from(c).map(u32::from_le_bytes).unwrap_or(0))
            .collect();
        Ok(Sid {
            authority,
            sub_authorities,
        })
    }

    /// Length of the binary form.
    pub fn len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }

    /// Never true: a SID has at least its 8-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the binary form.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(1);
        out.put_u8(u8::try_from(self.sub_authorities.len()).unwrap_or(0));
        out.put_slice(self.authority.to_be_bytes().get(2..).unwrap_or(&[0; 6]));
        for s in &self.sub_authorities {
            out.put_u32_le(*s);
        }
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.encode(&mut v);
        v
    }

    /// The relative identifier when this SID is `S-1-<authority>-<prefix...>-<rid>`.
    pub fn rid_under(&self, authority: u64, prefix: &[u32]) -> Option<u32> {
        let (last, head) = self.sub_authorities.split_last()?;
        (self.authority == authority && head == prefix).then_some(*last)
    }
}

impl core::fmt::Display for Sid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// One access control entry (MS-DTYP 2.4.4). The bytes after the mask are kept as sent
/// (`body`), so object and callback ACEs round-trip; [`Ace::sid`] reads the trustee of the
/// types whose SID follows the mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    /// AceType.
    pub ace_type: u8,
    /// AceFlags.
    pub flags: u8,
    /// Mask.
    pub mask: u32,
    /// Everything after the mask (SID, and for some types more).
    pub body: Vec<u8>,
}

/// ACE types whose trustee SID directly follows the mask (MS-DTYP 2.4.4.2-2.4.4.17 without the
/// object types, which put flags and GUIDs first).
fn sid_follows_mask(t: u8) -> bool {
    matches!(t, 0x00..=0x03 | 0x09 | 0x0A | 0x0D | 0x0E | 0x11..=0x13)
}

impl Ace {
    /// An ACE of a type whose SID follows the mask.
    pub fn new(ace_type: u8, flags: u8, mask: u32, sid: &Sid) -> Ace {
        Ace {
            ace_type,
            flags,
            mask,
            body: sid.to_bytes(),
        }
    }

    /// The trustee, for the types whose SID follows the mask.
    pub fn sid(&self) -> Option<Sid> {
        if !sid_follows_mask(self.ace_type) {
            return None;
        }
        Sid::decode(&mut Reader::new(&self.body)).ok()
    }

    fn decode(r: &mut Reader<'_>) -> Result<Ace, DecodeError> {
        let ace_type = r.u8()?;
        let flags = r.u8()?;
        let size = usize::from(r.u16()?);
        // AceSize covers the 4-byte header and the 4-byte mask at least, and is a multiple of 4
        // (MS-DTYP 2.4.4.1: "AceSize ... MUST be a multiple of 4").
        let rest = size
            .checked_sub(8)
            .ok_or(DecodeError::Invalid("ACE size"))?;
        if size % 4 != 0 {
            return Err(DecodeError::Invalid("ACE size alignment"));
        }
        let mask = r.u32()?;
        let body = r.take(rest)?;
        if sid_follows_mask(ace_type) {
            Sid::decode(&mut Reader::new(body))?;
        }
        Ok(Ace {
            ace_type,
            flags,
            mask,
            body: body.to_vec(),
        })
    }

    fn encoded_len(&self) -> usize {
        8 + self.body.len()
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.ace_type);
        out.put_u8(self.flags);
        out.put_u16_le(u16::try_from(self.encoded_len()).unwrap_or(u16::MAX));
        out.put_u32_le(self.mask);
        out.put_slice(&self.body);
    }
}

/// An access control list (MS-DTYP 2.4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// AclRevision (2, or 4 with object ACEs).
    pub revision: u8,
    /// The ACEs in order.
    pub aces: Vec<Ace>,
}

impl Acl {
    /// An empty ACL of revision 2.
    pub fn new(aces: Vec<Ace>) -> Acl {
        Acl { revision: 2, aces }
    }

    /// Decodes an ACL that starts at `off` of the descriptor `b`.
    fn decode_at(b: &[u8], off: usize) -> Result<Acl, DecodeError> {
        let mut r = Reader::at(b, off)?;
        let revision = r.u8()?;
        if !matches!(revision, 2 | 4) {
            return Err(DecodeError::Invalid("ACL revision"));
        }
        r.skip(1)?;
        let size = usize::from(r.u16()?);
        let count = usize::from(r.u16()?);
        r.skip(2)?;
        let body_len = size
            .checked_sub(8)
            .ok_or(DecodeError::Invalid("ACL size"))?;
        let body = r.take(body_len)?;
        // Each ACE is at least 8 bytes: a count the ACL size cannot hold is refused before
        // anything is allocated for it.
        if count > body_len / 8 {
            return Err(DecodeError::Invalid("ACE count"));
        }
        let mut ar = Reader::new(body);
        let mut aces = Vec::with_capacity(count);
        for _ in 0..count {
            aces.push(Ace::decode(&mut ar)?);
        }
        Ok(Acl { revision, aces })
    }

    /// Length of the binary form.
    pub fn encoded_len(&self) -> usize {
        8 + self.aces.iter().map(Ace::encoded_len).sum::<usize>()
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.revision);
        out.put_u8(0);
        out.put_u16_le(u16::try_from(self.encoded_len()).unwrap_or(u16::MAX));
        out.put_u16_le(u16::try_from(self.aces.len()).unwrap_or(u16::MAX));
        out.put_u16_le(0);
        for a in &self.aces {
            a.encode(out);
        }
    }
}

/// A security descriptor (MS-DTYP 2.4.6). `dacl` is `Some` only when [`control::DACL_PRESENT`]
/// is set; DACL_PRESENT with `dacl == None` is a NULL DACL (everyone has every right). The
/// same holds for the SACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityDescriptor {
    /// Control (always with [`control::SELF_RELATIVE`]).
    pub control: u16,
    /// OwnerSid.
    pub owner: Option<Sid>,
    /// GroupSid.
    pub group: Option<Sid>,
    /// Sacl.
    pub sacl: Option<Acl>,
    /// Dacl.
    pub dacl: Option<Acl>,
}

/// The offset field at `pos` of the header as a usize; 0 means absent.
fn offset(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)
}

/// Checks an offset from the header: absent (0), or inside the buffer and past the header.
fn checked(off: usize, len: usize) -> Result<Option<usize>, DecodeError> {
    match off {
        0 => Ok(None),
        o if o < HEADER_LEN || o >= len => Err(DecodeError::OutOfBounds),
        o => Ok(Some(o)),
    }
}

impl SecurityDescriptor {
    /// Decodes a self-relative descriptor. A buffer shorter than the header is
    /// [`DecodeError::Truncated`]; every other malformation is another error.
    pub fn decode(b: &[u8]) -> Result<SecurityDescriptor, DecodeError> {
        if b.len() > MAX_DESCRIPTOR_LEN {
            return Err(DecodeError::Invalid("security descriptor too long"));
        }
        let mut r = Reader::new(b);
        let revision = r.u8()?;
        r.skip(1)?; // Sbz1 (the resource-manager byte when RM_CONTROL_VALID)
        let control = r.u16()? | control::SELF_RELATIVE;
        let (o, g, s, d) = (
            offset(&mut r)?,
            offset(&mut r)?,
            offset(&mut r)?,
            offset(&mut r)?,
        );
        if revision != 1 {
            return Err(DecodeError::Invalid("security descriptor revision"));
        }
        let sid_at = |off: Option<usize>| -> Result<Option<Sid>, DecodeError> {
            off.map(|o| Sid::decode(&mut Reader::at(b, o)?)).transpose()
        };
        let owner = sid_at(checked(o, b.len())?)?;
        let group = sid_at(checked(g, b.len())?)?;
        // An ACL offset counts only with its PRESENT bit; PRESENT with offset 0 is a NULL ACL.
        let acl_at = |present: bool, off: usize| -> Result<Option<Acl>, DecodeError> {
            if !present {
                return Ok(None);
            }
            checked(off, b.len())?
                .map(|o| Acl::decode_at(b, o))
                .transpose()
        };
        let sacl = acl_at(control & control::SACL_PRESENT != 0, s)?;
        let dacl = acl_at(control & control::DACL_PRESENT != 0, d)?;
        Ok(SecurityDescriptor {
            control,
            owner,
            group,
            sacl,
            dacl,
        })
    }

    /// Length of the self-relative form.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self.owner.as_ref().map_or(0, Sid::len)
            + self.group.as_ref().map_or(0, Sid::len)
            + self.sacl.as_ref().map_or(0, Acl::encoded_len)
            + self.dacl.as_ref().map_or(0, Acl::encoded_len)
    }

    /// True when the self-relative form can be written faithfully: each ACL within the 16-bit
    /// AclSize and AceCount, the whole within [`MAX_DESCRIPTOR_LEN`]. A descriptor built by
    /// merging or inheriting can outgrow what any single decoded one had.
    pub fn fits(&self) -> bool {
        let acl_fits = |a: &Option<Acl>| {
            a.as_ref().is_none_or(|a| {
                a.encoded_len() <= usize::from(u16::MAX) && a.aces.len() <= usize::from(u16::MAX)
            })
        };
        acl_fits(&self.dacl) && acl_fits(&self.sacl) && self.encoded_len() <= MAX_DESCRIPTOR_LEN
    }

    /// Writes the self-relative form: header, owner, group, SACL, DACL.
    pub fn encode(&self, out: &mut impl BufMut) {
        let mut at = HEADER_LEN;
        let mut place = |len: Option<usize>| match len {
            Some(l) => {
                let o = at;
                at += l;
                u32::try_from(o).unwrap_or(0)
            }
            None => 0,
        };
        let o = place(self.owner.as_ref().map(Sid::len));
        let g = place(self.group.as_ref().map(Sid::len));
        let s = place(self.sacl.as_ref().map(Acl::encoded_len));
        let d = place(self.dacl.as_ref().map(Acl::encoded_len));
        let mut ctl = self.control | control::SELF_RELATIVE;
        if self.sacl.is_some() {
            ctl |= control::SACL_PRESENT;
        }
        if self.dacl.is_some() {
            ctl |= control::DACL_PRESENT;
        }
        out.put_u8(1);
        out.put_u8(0);
        out.put_u16_le(ctl);
        for v in [o, g, s, d] {
            out.put_u32_le(v);
        }
        if let Some(x) = &self.owner {
            x.encode(out);
        }
        if let Some(x) = &self.group {
            x.encode(out);
        }
        if let Some(x) = &self.sacl {
            x.encode(out);
        }
        if let Some(x) = &self.dacl {
            x.encode(out);
        }
    }

    /// The self-relative form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Only the parts `additional` asks for (MS-SMB2 3.3.5.20.3: "The fields required in the
    /// resulting security descriptor are denoted by the flags given in the
    /// AdditionalInformation field"), with the control bits of those parts.
    pub fn select(&self, additional: u32) -> SecurityDescriptor {
        let mut ctl = control::SELF_RELATIVE;
        let owner = (additional & info::OWNER != 0)
            .then(|| self.owner.clone())
            .flatten();
        if owner.is_some() {
            ctl |= self.control & control::OWNER_DEFAULTED;
        }
        let group = (additional & info::GROUP != 0)
            .then(|| self.group.clone())
            .flatten();
        if group.is_some() {
            ctl |= self.control & control::GROUP_DEFAULTED;
        }
        let mut sacl = None;
        if additional & info::SACL != 0 {
            ctl |= self.control & control::SACL_BITS;
            sacl = self.sacl.clone();
        }
        let mut dacl = None;
        if additional & info::DACL != 0 {
            ctl |= self.control & control::DACL_BITS;
            dacl = self.dacl.clone();
        }
        SecurityDescriptor {
            control: ctl,
            owner,
            group,
            sacl,
            dacl,
        }
    }

    /// Replaces the parts `additional` names with those of `new` (SET_INFO, MS-SMB2
    /// 3.3.5.21.3, and the object store's merge of MS-FSA 2.1.5.16). An owner or group that
    /// `new` lacks leaves the stored one; a DACL (SACL) named but not present in `new` becomes
    /// a NULL DACL (SACL), as on Windows.
    pub fn merge(&mut self, new: &SecurityDescriptor, additional: u32) {
        if additional & info::OWNER != 0 {
            if let Some(o) = &new.owner {
                self.owner = Some(o.clone());
                self.control = (self.control & !control::OWNER_DEFAULTED)
                    | (new.control & control::OWNER_DEFAULTED);
            }
        }
        if additional & info::GROUP != 0 {
            if let Some(g) = &new.group {
                self.group = Some(g.clone());
                self.control = (self.control & !control::GROUP_DEFAULTED)
                    | (new.control & control::GROUP_DEFAULTED);
            }
        }
        if additional & info::DACL != 0 {
            self.dacl = new.dacl.clone();
            self.control = (self.control & !control::DACL_BITS)
                | (new.control & control::DACL_BITS)
                | control::DACL_PRESENT;
        }
        if additional & info::SACL != 0 {
            self.sacl = new.sacl.clone();
            self.control = (self.control & !control::SACL_BITS)
                | (new.control & control::SACL_BITS)
                | control::SACL_PRESENT;
        }
        self.control |= control::SELF_RELATIVE;
    }

    /// Replaces generic rights by file rights in every ACE that applies to the object itself
    /// (not INHERIT_ONLY), as Windows stores a DACL it is given; inherit-only ACEs keep their
    /// generic bits for the objects that will inherit them.
    pub fn map_generic_rights(&mut self) {
        for acl in [&mut self.dacl, &mut self.sacl].into_iter().flatten() {
            for ace in &mut acl.aces {
                if ace.flags & ace_flags::INHERIT_ONLY == 0 {
                    ace.mask = map_generic_file(ace.mask);
                }
            }
        }
    }

    /// The AdditionalInformation bits that name the parts this descriptor carries (what a
    /// SecD create context sets).
    pub fn parts(&self) -> u32 {
        let mut p = 0;
        if self.owner.is_some() {
            p |= info::OWNER;
        }
        if self.group.is_some() {
            p |= info::GROUP;
        }
        if self.control & control::DACL_PRESENT != 0 {
            p |= info::DACL;
        }
        if self.control & control::SACL_PRESENT != 0 {
            p |= info::SACL;
        }
        p
    }
}

/// Maps generic rights in an ACE mask to the file rights (MS-SMB2 2.2.13.1.1 generic mapping).
pub fn map_generic_file(mut m: u32) -> u32 {
    if m & 0x8000_0000 != 0 {
        m |= 0x0012_0089;
    }
    if m & 0x4000_0000 != 0 {
        m |= 0x0012_0116;
    }
    if m & 0x2000_0000 != 0 {
        m |= 0x0012_00A0;
    }
    if m & 0x1000_0000 != 0 {
        m |= 0x001F_01FF;
    }
    m & !0xF000_0000
}
