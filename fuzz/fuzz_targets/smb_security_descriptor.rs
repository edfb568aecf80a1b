//! Self-relative security descriptors (MS-DTYP 2.4.6) as SET_INFO and the SecD create context
//! carry them (and as they are stored): decoding never panics, what decodes re-encodes
//! canonically, and the access check and inheritance (`shoal_vfs::acl`, which binds NFS
//! callers too) never panic on it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal_smb_proto::security_descriptor::decode_status;
use shoal_vfs::acl::eval::{decode_stored, encode_stored, narrow_access};
use shoal_vfs::acl::{inherited_dacl, SecurityDescriptor, Sid};
use shoal_vfs::FileKind;

fuzz_target!(|data: &[u8]| {
    let _ = decode_status(data);
    if let Ok(sd) = SecurityDescriptor::decode(data) {
        let b = sd.to_bytes();
        assert_eq!(b.len(), sd.encoded_len());
        assert_eq!(SecurityDescriptor::decode(&b).as_ref(), Ok(&sd));
        let token = [Sid::parse("S-1-1-0").unwrap_or(Sid {
            authority: 1,
            sub_authorities: vec![0],
        })];
        let granted = sd.max_access(&token, true);
        for kind in [FileKind::Regular, FileKind::Directory] {
            assert_eq!(narrow_access(0x3f, granted, kind) & !0x3f, 0);
        }
        if let Some(stored) = encode_stored(&sd) {
            assert_eq!(decode_stored(&stored).as_ref(), Some(&sd));
        }
        for is_dir in [false, true] {
            if let Some(acl) = inherited_dacl(&sd, is_dir, &token[0], &token[0]) {
                assert!(!acl.aces.is_empty());
            }
        }
        let mut m = sd.clone();
        m.map_generic_rights();
        m.merge(&sd.select(0x1F), 0x1F);
        assert_eq!(SecurityDescriptor::decode(&m.to_bytes()).as_ref(), Ok(&m));
    }
});
