//! Self-relative security descriptors (MS-DTYP 2.4.6) built from POSIX ownership and mode
//! bits, for QUERY_INFO with SMB2_0_INFO_SECURITY (MS-SMB2 2.2.37).

use bytes::BufMut;

/// AdditionalInformation: owner.
pub const OWNER_SECURITY_INFORMATION: u32 = 0x1;
/// AdditionalInformation: group.
pub const GROUP_SECURITY_INFORMATION: u32 = 0x2;
/// AdditionalInformation: DACL.
pub const DACL_SECURITY_INFORMATION: u32 = 0x4;

/// FILE_GENERIC_READ.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// FILE_GENERIC_WRITE plus DELETE.
pub const FILE_GENERIC_WRITE_DELETE: u32 = 0x0013_0116;
/// FILE_GENERIC_EXECUTE.
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
/// WRITE_DAC | WRITE_OWNER | READ_CONTROL: what an owner may always do.
pub const OWNER_RIGHTS: u32 = 0x000E_0000;

/// A SID in binary form (MS-DTYP 2.4.2.2), parsed from `S-1-<auth>-<sub>...`.
pub fn sid_from_string(s: &str) -> Option<Vec<u8>> {
    let mut parts = s.strip_prefix("S-")?.split('-');
    let revision: u8 = parts.next()?.parse().ok()?;
    let authority: u64 = parts.next()?.parse().ok()?;
    let subs: Vec<u32> = parts
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    if revision != 1 || subs.len() > 15 || authority >= 1 << 48 {
        return None;
    }
    let mut out = Vec::with_capacity(8 + 4 * subs.len());
    out.put_u8(1);
    out.put_u8(u8::try_from(subs.len()).ok()?);
    out.put_slice(&authority.to_be_bytes()[2..]);
    for s in subs {
        out.put_u32_le(s);
    }
    Some(out)
}

/// Access mask granted by POSIX rwx bits (`rwx` in 0..=7).
pub fn mask_from_rwx(rwx: u32) -> u32 {
    let mut m = 0;
    if rwx & 4 != 0 {
        m |= FILE_GENERIC_READ;
    }
    if rwx & 2 != 0 {
        m |= FILE_GENERIC_WRITE_DELETE;
    }
    if rwx & 1 != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    m
}

/// Builds a self-relative descriptor with the parts `info` asks for. `aces` are
/// ACCESS_ALLOWED entries `(sid, mask)`.
pub fn encode_descriptor(
    info: u32,
    owner: &[u8],
    group: &[u8],
    aces: &[(Vec<u8>, u32)],
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut offsets = [0u32; 3];
    let hdr = 20usize;
    if info & OWNER_SECURITY_INFORMATION != 0 {
        offsets[0] = u32::try_from(hdr + body.len()).unwrap_or(0);
        body.extend_from_slice(owner);
    }
    if info & GROUP_SECURITY_INFORMATION != 0 {
        offsets[1] = u32::try_from(hdr + body.len()).unwrap_or(0);
        body.extend_from_slice(group);
    }
    let mut control: u16 = 0x8000; // SE_SELF_RELATIVE
    if info & DACL_SECURITY_INFORMATION != 0 {
        control |= 0x0004; // SE_DACL_PRESENT
        offsets[2] = u32::try_from(hdr + body.len()).unwrap_or(0);
        let mut ace_bytes = Vec::new();
        for (sid, mask) in aces {
            ace_bytes.put_u8(0); // ACCESS_ALLOWED_ACE_TYPE
            ace_bytes.put_u8(0);
            ace_bytes.put_u16_le(u16::try_from(8 + sid.len()).unwrap_or(0));
            ace_bytes.put_u32_le(*mask);
            ace_bytes.put_slice(sid);
        }
        body.put_u8(2); // ACL_REVISION
        body.put_u8(0);
        body.put_u16_le(u16::try_from(8 + ace_bytes.len()).unwrap_or(0));
        body.put_u16_le(u16::try_from(aces.len()).unwrap_or(0));
        body.put_u16_le(0);
        body.extend_from_slice(&ace_bytes);
    }
    let mut out = Vec::with_capacity(hdr + body.len());
    out.put_u8(1);
    out.put_u8(0);
    out.put_u16_le(control);
    out.put_u32_le(offsets[0]);
    out.put_u32_le(offsets[1]);
    out.put_u32_le(0); // no SACL
    out.put_u32_le(offsets[2]);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_descriptor_layout() {
        assert_eq!(
            sid_from_string("S-1-1-0").unwrap(),
            [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        let user = sid_from_string("S-1-5-21-1-2-3-1000").unwrap();
        assert_eq!(user.len(), 8 + 4 * 5);
        assert!(sid_from_string("S-2-1-0").is_none());
        assert!(sid_from_string("S-1-x").is_none());
        let group = sid_from_string("S-1-22-2-100").unwrap();
        let sd = encode_descriptor(
            7,
            &user,
            &group,
            &[(user.clone(), mask_from_rwx(6) | OWNER_RIGHTS)],
        );
        assert_eq!(&sd[..4], &[1, 0, 0x04, 0x80]);
        assert_eq!(u32::from_le_bytes(sd[4..8].try_into().unwrap()), 20);
        let dacl = u32::from_le_bytes(sd[16..20].try_into().unwrap()) as usize;
        assert_eq!(sd[dacl], 2);
        assert_eq!(sd.len(), dacl + 8 + 8 + user.len());
        assert_eq!(encode_descriptor(0, &user, &group, &[]).len(), 20);
    }
}
