use super::eval;
use super::*;

fn sid(s: &str) -> Sid {
    Sid::parse(s).unwrap()
}

/// O:S-1-5-21-1-2-3-1000 G:S-1-22-2-100 D:(A;;FA;;;S-1-5-21-1-2-3-1000)(D;OICI;WD;;;WD)
fn sample() -> SecurityDescriptor {
    let user = sid("S-1-5-21-1-2-3-1000");
    SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_PROTECTED,
        owner: Some(user.clone()),
        group: Some(sid("S-1-22-2-100")),
        sacl: None,
        dacl: Some(Acl::new(vec![
            Ace::new(ace_type::ACCESS_ALLOWED, 0, 0x001F_01FF, &user),
            Ace::new(ace_type::ACCESS_DENIED, 0x03, 0x0004_0000, &sid("S-1-1-0")),
        ])),
    }
}

#[test]
fn sid_string_and_binary_forms() {
    let s = sid("S-1-5-21-1-2-3-1000");
    assert_eq!(s.to_string(), "S-1-5-21-1-2-3-1000");
    assert_eq!(s.len(), 8 + 4 * 5);
    let b = s.to_bytes();
    assert_eq!(&b[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
    assert_eq!(Sid::decode(&mut Reader::new(&b)).unwrap(), s);
    assert_eq!(s.rid_under(5, &[21, 1, 2, 3]), Some(1000));
    assert_eq!(s.rid_under(5, &[21, 1, 2]), None);
    assert!(Sid::parse("S-2-1-0").is_none());
    assert!(Sid::parse("S-1-x").is_none());
    assert!(Sid::parse(&format!("S-1-1{}", "-0".repeat(15))).is_some());
    assert!(Sid::parse(&format!("S-1-1{}", "-0".repeat(16))).is_none());
    // Revision 2, 16 sub-authorities, truncated.
    assert!(Sid::decode(&mut Reader::new(&[2, 0, 0, 0, 0, 0, 0, 0])).is_err());
    assert!(Sid::decode(&mut Reader::new(&[1, 16, 0, 0, 0, 0, 0, 0])).is_err());
    assert!(Sid::decode(&mut Reader::new(&[1, 1, 0, 0, 0, 0, 0, 1, 0])).is_err());
}

#[test]
fn descriptor_round_trips() {
    let sd = sample();
    let b = sd.to_bytes();
    assert_eq!(b.len(), sd.encoded_len());
    assert_eq!(SecurityDescriptor::decode(&b).unwrap(), sd);
    // Layout: header, owner at 20, group after it, DACL last.
    assert_eq!(&b[..4], &[1, 0, 0x04, 0x90]);
    assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 20);
    assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), 0);
    let d = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
    assert_eq!(b[d], 2);
    // Empty descriptor: header only.
    let empty = SecurityDescriptor::decode(&[
        1, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ])
    .unwrap();
    assert_eq!(empty.parts(), 0);
    assert_eq!(empty.to_bytes().len(), HEADER_LEN);
}

#[test]
fn null_dacl_and_empty_dacl_differ() {
    // DACL_PRESENT with offset 0: NULL DACL.
    let mut b = vec![1, 0, 0x04, 0x80];
    b.extend_from_slice(&[0; 16]);
    let null = SecurityDescriptor::decode(&b).unwrap();
    assert!(null.dacl.is_none());
    assert_eq!(null.parts(), info::DACL);
    assert_eq!(null.max_access(&[], false), 0x001F_01FF);
    let empty = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        dacl: Some(Acl::new(vec![])),
        owner: None,
        group: None,
        sacl: None,
    };
    assert_eq!(empty.max_access(&[sid("S-1-1-0")], false), 0);
    assert_eq!(empty.max_access(&[], true), 0x0006_0000);
    let back = SecurityDescriptor::decode(&empty.to_bytes()).unwrap();
    assert_eq!(back.dacl, Some(Acl::new(vec![])));
}

#[test]
fn bad_offsets_sizes_and_counts_are_refused() {
    let good = sample().to_bytes();
    assert!(SecurityDescriptor::decode(&good[..19]).is_err());
    assert_eq!(
        SecurityDescriptor::decode(&good[..19]),
        Err(DecodeError::Truncated)
    );
    let mutate = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        SecurityDescriptor::decode(&b)
    };
    assert!(mutate(0, &[2]).is_err()); // revision
    assert!(mutate(4, &9u32.to_le_bytes()).is_err()); // owner inside the header
    assert!(mutate(4, &(good.len() as u32).to_le_bytes()).is_err()); // owner past the end
    assert!(mutate(4, &u32::MAX.to_le_bytes()).is_err());
    let d = u32::from_le_bytes(good[16..20].try_into().unwrap()) as usize;
    assert!(mutate(d, &[3]).is_err()); // ACL revision
    assert!(mutate(d + 2, &7u16.to_le_bytes()).is_err()); // AclSize below 8
    assert!(mutate(d + 2, &0xFFFFu16.to_le_bytes()).is_err()); // AclSize past the end
    assert!(mutate(d + 4, &3u16.to_le_bytes()).is_err()); // more ACEs than bytes
    assert!(mutate(d + 4, &0xFFFFu16.to_le_bytes()).is_err());
    assert!(mutate(d + 8 + 2, &4u16.to_le_bytes()).is_err()); // AceSize below 8
    assert!(mutate(d + 8 + 2, &30u16.to_le_bytes()).is_err()); // AceSize not 4-aligned
    assert!(mutate(d + 8 + 8, &[5]).is_err()); // ACE SID revision
                                               // A DACL offset without DACL_PRESENT is ignored.
    let no_dacl = mutate(2, &[0x00, 0x80]).unwrap();
    assert!(no_dacl.dacl.is_none());
    assert_eq!(no_dacl.parts(), info::OWNER | info::GROUP);
    let too_long = vec![0u8; MAX_DESCRIPTOR_LEN + 1];
    assert!(SecurityDescriptor::decode(&too_long).is_err());
}

#[test]
fn unknown_ace_types_round_trip() {
    let mut sd = sample();
    let object_ace = Ace {
        ace_type: 0x05,
        flags: 0,
        mask: 1,
        body: vec![0; 12],
    };
    sd.dacl.as_mut().unwrap().aces.push(object_ace.clone());
    let back = SecurityDescriptor::decode(&sd.to_bytes()).unwrap();
    assert_eq!(back, sd);
    assert_eq!(object_ace.sid(), None);
}

#[test]
fn select_and_merge_follow_additional_information() {
    let sd = sample();
    let owner_only = sd.select(info::OWNER);
    assert!(owner_only.group.is_none() && owner_only.dacl.is_none());
    assert_eq!(owner_only.control, control::SELF_RELATIVE);
    let dacl_only = sd.select(info::DACL);
    assert!(dacl_only.owner.is_none());
    assert_eq!(
        dacl_only.control,
        control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_PROTECTED
    );

    let mut stored = sd.clone();
    let new = SecurityDescriptor {
        control: control::SELF_RELATIVE,
        owner: Some(sid("S-1-1-0")),
        group: None,
        sacl: None,
        dacl: None,
    };
    // OWNER|GROUP|DACL with only an owner: owner replaced, group kept, DACL becomes NULL.
    stored.merge(&new, info::OWNER | info::GROUP | info::DACL);
    assert_eq!(stored.owner, Some(sid("S-1-1-0")));
    assert_eq!(stored.group, sd.group);
    assert!(stored.dacl.is_none());
    assert_eq!(stored.control & control::DACL_BITS, control::DACL_PRESENT);
    // Not named: untouched.
    let mut stored = sd.clone();
    stored.merge(&new, info::GROUP);
    assert_eq!(stored, sd);
}

#[test]
fn access_check_reads_aces_in_order() {
    let sd = sample();
    let user = sid("S-1-5-21-1-2-3-1000");
    let everyone = sid("S-1-1-0");
    // The allow comes first: everything, WRITE_DAC included.
    assert_eq!(
        sd.max_access(&[user.clone(), everyone.clone()], false),
        0x001F_01FF
    );
    // Someone else: only the DENY of WRITE_DAC to Everyone applies (its flags are OI|CI, not
    // INHERIT_ONLY), and nothing allows.
    assert_eq!(sd.max_access(std::slice::from_ref(&everyone), false), 0);
    let deny_first = SecurityDescriptor {
        dacl: Some(Acl::new(vec![
            Ace::new(ace_type::ACCESS_DENIED, 0, 0x0000_0002, &everyone),
            Ace::new(ace_type::ACCESS_ALLOWED, 0, 0x1000_0000, &user),
            Ace::new(
                ace_type::ACCESS_DENIED,
                ace_flags::INHERIT_ONLY,
                0x001F_01FF,
                &user,
            ),
        ])),
        ..sample()
    };
    assert_eq!(
        deny_first.max_access(&[user, everyone], false),
        0x001F_01FF & !0x2
    );
}

#[test]
fn owner_rights_replace_the_implicit_owner_rights() {
    let alice = sid("S-1-5-21-1-2-3-1000");
    let with = |aces| SecurityDescriptor {
        dacl: Some(Acl::new(aces)),
        ..sample()
    };
    let owner_rights = sid("S-1-3-4");
    // Only OWNER RIGHTS read: the owner gets that, and no implicit WRITE_DAC.
    let sd = with(vec![Ace::new(
        ace_type::ACCESS_ALLOWED,
        0,
        0x0012_0089,
        &owner_rights,
    )]);
    assert_eq!(
        sd.max_access(std::slice::from_ref(&alice), true),
        0x0012_0089
    );
    assert_eq!(sd.max_access(std::slice::from_ref(&alice), false), 0);
    // An inherit-only OWNER RIGHTS ACE does not count.
    let sd = with(vec![Ace::new(
        ace_type::ACCESS_ALLOWED,
        ace_flags::INHERIT_ONLY,
        0x0012_0089,
        &owner_rights,
    )]);
    assert_eq!(sd.max_access(&[alice], true), 0x0006_0000);
}

#[test]
fn generic_rights_are_mapped_except_in_inherit_only_aces() {
    let everyone = sid("S-1-1-0");
    let mut sd = SecurityDescriptor {
        dacl: Some(Acl::new(vec![
            Ace::new(
                ace_type::ACCESS_ALLOWED,
                0,
                0x8000_0000 | 0x0001_0000,
                &everyone,
            ),
            Ace::new(ace_type::ACCESS_ALLOWED, 0x0B, 0x1000_0000, &everyone),
        ])),
        ..sample()
    };
    sd.map_generic_rights();
    let aces = &sd.dacl.as_ref().unwrap().aces;
    assert_eq!(aces[0].mask, 0x0013_0089);
    assert_eq!(aces[1].mask, 0x1000_0000);
}

#[test]
fn inheritance_to_files_and_directories() {
    let (alice, users) = (sid("S-1-5-21-1-2-3-1000"), sid("S-1-22-2-100"));
    let (everyone, creator) = (sid("S-1-1-0"), sid("S-1-3-0"));
    let parent = SecurityDescriptor {
        dacl: Some(Acl::new(vec![
            // This folder only: not inherited.
            Ace::new(ace_type::ACCESS_ALLOWED, 0, 0x001F_01FF, &everyone),
            // Files and folders.
            Ace::new(ace_type::ACCESS_ALLOWED, 0x03, 0x0012_0089, &everyone),
            // CREATOR OWNER, inherit only, generic all.
            Ace::new(ace_type::ACCESS_DENIED, 0x0B, 0x1000_0000, &creator),
            // Files only, one level.
            Ace::new(ace_type::ACCESS_ALLOWED, 0x05, 0x2, &users),
        ])),
        ..sample()
    };
    let file = inherited_dacl(&parent, false, &alice, &users).unwrap();
    assert_eq!(
        file.aces,
        vec![
            Ace::new(ace_type::ACCESS_ALLOWED, 0x10, 0x0012_0089, &everyone),
            Ace::new(ace_type::ACCESS_DENIED, 0x10, 0x001F_01FF, &alice),
            Ace::new(ace_type::ACCESS_ALLOWED, 0x10, 0x2, &users),
        ]
    );
    let dir = inherited_dacl(&parent, true, &alice, &users).unwrap();
    assert_eq!(
        dir.aces,
        vec![
            Ace::new(ace_type::ACCESS_ALLOWED, 0x13, 0x0012_0089, &everyone),
            Ace::new(ace_type::ACCESS_DENIED, 0x10, 0x001F_01FF, &alice),
            Ace::new(ace_type::ACCESS_DENIED, 0x1B, 0x1000_0000, &creator),
        ]
    );
    // Nothing inheritable: no inherited DACL.
    let flat = SecurityDescriptor {
        dacl: Some(Acl::new(vec![Ace::new(0, 0, 0x1F_01FF, &everyone)])),
        ..sample()
    };
    assert!(inherited_dacl(&flat, false, &alice, &users).is_none());
    assert!(inherited_dacl(&flat, true, &alice, &users).is_none());
}

#[test]
fn descriptors_too_big_to_encode_are_detected() {
    let everyone = sid("S-1-1-0");
    assert!(sample().fits());
    let big = SecurityDescriptor {
        dacl: Some(Acl::new(vec![Ace::new(0, 0, 1, &everyone); 6000])),
        ..sample()
    };
    assert!(!big.fits());
}

/// Replayed cases of the `smb_security_descriptor` fuzz target.
#[test]
fn fuzz_replays() {
    for case in [
        &[][..],
        &[
            1, 0, 0x14, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0, 0,
        ][..],
        &[
            1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 2, 0, 8, 0,
        ][..],
        &[
            1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 2, 0, 8, 0, 0, 0,
            0, 0,
        ][..],
        &[
            1, 0, 0, 0x80, 0x14, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 15, 0, 0,
        ][..],
    ] {
        fuzz_one(case);
    }
}

/// The fuzz target's body: decode, and when that works, re-encode and decode again.
pub fn fuzz_one(data: &[u8]) {
    if let Ok(sd) = SecurityDescriptor::decode(data) {
        assert!(sd.fits());
        let b = sd.to_bytes();
        assert_eq!(b.len(), sd.encoded_len());
        assert_eq!(SecurityDescriptor::decode(&b).as_ref(), Ok(&sd));
        let _ = sd.max_access(&[], true);
        for is_dir in [false, true] {
            let s = sid("S-1-1-0");
            let _ = inherited_dacl(&sd, is_dir, &s, &s);
        }
        let mut m = sd.clone();
        m.map_generic_rights();
        m.merge(&sd.select(0x1F), 0x1F);
    }
}

#[test]
fn nfs_access_bits_need_the_matching_rights() {
    use crate::perm::{
        ACCESS_DELETE, ACCESS_EXECUTE, ACCESS_EXTEND, ACCESS_LOOKUP, ACCESS_MODIFY, ACCESS_READ,
    };
    use crate::FileKind;
    use eval::narrow_access;
    let all = 0x3f;
    // A file (the mode bits never grant DELETE on one).
    let file_all = all & !ACCESS_DELETE;
    assert_eq!(
        narrow_access(file_all, rights::READ_DATA, FileKind::Regular),
        ACCESS_READ | ACCESS_LOOKUP
    );
    // Write data gives MODIFY and EXTEND; execute EXECUTE.
    assert_eq!(
        narrow_access(
            file_all,
            rights::WRITE_DATA | rights::EXECUTE,
            FileKind::Regular
        ),
        ACCESS_MODIFY | ACCESS_EXTEND | ACCESS_EXECUTE | ACCESS_LOOKUP
    );
    // A directory: adding without deleting is EXTEND, not MODIFY or DELETE.
    assert_eq!(
        narrow_access(all, rights::ADD_FILE, FileKind::Directory),
        ACCESS_EXTEND | ACCESS_LOOKUP
    );
    assert_eq!(
        narrow_access(
            all,
            rights::ADD_FILE | rights::DELETE_CHILD,
            FileKind::Directory
        ),
        ACCESS_MODIFY | ACCESS_EXTEND | ACCESS_DELETE | ACCESS_LOOKUP
    );
    // Never more than the mode bits granted.
    assert_eq!(
        narrow_access(ACCESS_READ, u32::MAX, FileKind::Regular),
        ACCESS_READ
    );
}

#[test]
fn delete_needs_delete_child_on_the_parent_or_delete_on_the_object() {
    assert!(eval::may_delete(rights::DELETE_CHILD, None));
    assert!(!eval::may_delete(0, None));
    assert!(eval::may_delete(0, Some(rights::DELETE)));
    assert!(!eval::may_delete(0, Some(rights::ALL & !rights::DELETE)));
}

#[test]
fn the_token_holds_the_callers_mapped_and_unix_sids() {
    let c = crate::Caller {
        uid: 1001,
        gid: 100,
        groups: vec![7],
        sid: None,
        client_addr: "127.0.0.1:1".parse().unwrap(),
        zone: crate::ZoneId::SYSTEM,
        protocol: crate::Protocol::Nfs3,
    };
    let bob = sid("S-1-5-21-1-2-3-1001");
    let t = eval::token(&c, vec![bob.clone()]);
    for s in [
        bob,
        sid("S-1-22-1-1001"),
        sid("S-1-22-2-100"),
        sid("S-1-22-2-7"),
        sid("S-1-1-0"),
        sid("S-1-5-11"),
    ] {
        assert!(t.contains(&s), "{s} missing");
    }
    // A deny for the mapped SID takes READ away from the limit; root is never limited.
    let attr = crate::Attr {
        kind: crate::FileKind::Regular,
        mode: 0o666,
        nlink: 1,
        uid: 1000,
        gid: 100,
        size: 0,
        used: 0,
        rdev: (0, 0),
        fsid: 0,
        fileid: 1,
        atime: Default::default(),
        mtime: Default::default(),
        ctime: Default::default(),
    };
    let sd = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        owner: None,
        group: None,
        sacl: None,
        dacl: Some(Acl::new(vec![
            Ace::new(
                ace_type::ACCESS_DENIED,
                0,
                rights::READ_DATA,
                &sid("S-1-5-21-1-2-3-1001"),
            ),
            Ace::new(ace_type::ACCESS_ALLOWED, 0, rights::ALL, &sid("S-1-1-0")),
        ])),
    };
    let l = eval::limit(&c, &attr, &sd, vec![sid("S-1-5-21-1-2-3-1001")]);
    assert_eq!(l & rights::READ_DATA, 0);
    assert_ne!(l & rights::WRITE_DATA, 0);
    assert_ne!(eval::limit(&c, &attr, &sd, vec![]) & rights::READ_DATA, 0);
    let root = crate::Caller { uid: 0, ..c };
    assert_eq!(eval::limit(&root, &attr, &sd, vec![]), u32::MAX);
}
