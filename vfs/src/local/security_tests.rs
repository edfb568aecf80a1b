//! LocalFs tests of issue 11 (items 1-6 of the VFS slice): temporary names, containment of
//! directory handles, protected hard links, sticky directories, remove-if-same, setuid
//! clearing; and the cost of the subtree check (ignored by default, prints figures).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::tests::{setup, unchecked, user};
use super::*;
use crate::SetAttr;

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn temporary_names_cannot_be_named_by_clients() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    let t = b".shoal-new.0123456789abcdef0123456789abcdef";
    std::fs::write(tmp.0.join("backing/export").join("plain"), b"").unwrap();
    std::fs::write(
        tmp.0
            .join("backing/export")
            .join(std::str::from_utf8(t).unwrap()),
        b"",
    )
    .unwrap();
    let (ph, _) = fs.lookup(&c, &root, b"plain").unwrap();
    assert!(matches!(
        fs.lookup(&c, &root, t),
        Err(VfsError::InvalidName)
    ));
    assert!(fs.create(&c, &root, t, &unchecked()).is_err());
    assert!(fs.mkdir(&c, &root, t, &SetAttr::default()).is_err());
    assert!(fs.remove(&c, &root, t).is_err());
    assert!(fs.rename(&c, &root, t, &root, b"x").is_err());
    assert!(fs.rename(&c, &root, b"plain", &root, t).is_err());
    assert!(fs.link(&c, &ph, &root, t).is_err());
    assert!(fs
        .symlink(&c, &root, t, b"plain", &SetAttr::default())
        .is_err());
}

#[test]
fn a_fresh_object_check_refuses_what_the_server_did_not_make() {
    let (tmp, _fs, _root) = setup();
    let p = tmp.0.join("backing/export/victim");
    std::fs::write(&p, b"v").unwrap();
    chmod(&p, 0o600);
    let fd = sys::open_dir_path(&tmp.0.join("backing/export")).unwrap();
    let f = sys::openat(fd.as_fd(), b"victim", libc::O_PATH, 0).unwrap();
    born::check_fresh(&f, FileKind::Regular, 0o600).unwrap();
    std::os::unix::fs::chown(&p, Some(1000), None).unwrap();
    assert!(
        born::check_fresh(&f, FileKind::Regular, 0o600).is_err(),
        "not root's"
    );
    std::os::unix::fs::chown(&p, Some(0), None).unwrap();
    std::fs::hard_link(&p, tmp.0.join("backing/export/second")).unwrap();
    assert!(
        born::check_fresh(&f, FileKind::Regular, 0o600).is_err(),
        "two links"
    );
    assert!(
        born::check_fresh(&f, FileKind::Directory, 0o700).is_err(),
        "type"
    );
}

#[test]
fn new_objects_in_a_setgid_directory_take_its_group() {
    let (_tmp, fs, root) = setup();
    let alice = user(1000);
    let set = |mode| SetAttr {
        mode: Some(mode),
        ..Default::default()
    };
    let (d, _) = fs.mkdir(&user(0), &root, b"g", &set(0o2777)).unwrap();
    fs.setattr(
        &user(0),
        &d,
        &SetAttr {
            gid: Some(500),
            mode: Some(0o2777),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let (_, sub) = fs.mkdir(&alice, &d, b"sub", &set(0o755)).unwrap();
    assert_eq!((sub.uid, sub.gid, sub.mode), (1000, 500, 0o2755));
    let (_, f) = fs.create(&alice, &d, b"f", &unchecked()).unwrap();
    assert_eq!((f.uid, f.gid), (1000, 500));
    let (_, s) = fs
        .symlink(&alice, &d, b"s", b"f", &SetAttr::default())
        .unwrap();
    assert_eq!((s.uid, s.gid, s.kind), (1000, 500, FileKind::Symlink));
    let (_, p) = fs
        .mknod(&alice, &d, b"p", FileKind::Fifo, (0, 0), &set(0o640))
        .unwrap();
    assert_eq!(
        (p.uid, p.gid, p.mode, p.kind),
        (1000, 500, 0o640, FileKind::Fifo)
    );
}

#[test]
fn a_directory_moved_out_of_its_export_is_stale_and_dotdot_stays_inside() {
    let (tmp, fs, outer) = setup();
    let c = user(0);
    let ex = tmp.0.join("backing/export");
    std::fs::create_dir_all(ex.join("inner/a/b")).unwrap();
    std::fs::create_dir_all(ex.join("elsewhere")).unwrap();
    let inner = fs.root("export/inner").unwrap();
    let (a, _) = fs.lookup(&c, &inner, b"a").unwrap();
    let (b, _) = fs.lookup(&c, &a, b"b").unwrap();
    assert_eq!(fs.lookup(&c, &b, b"..").unwrap().0, a);
    assert_eq!(fs.lookup(&c, &a, b"..").unwrap().0, inner);
    assert_eq!(fs.lookup(&c, &inner, b"..").unwrap().0, inner);
    // Moved through the outer export: every handle of the inner export below it is stale.
    let (outer_inner, _) = fs.lookup(&c, &outer, b"inner").unwrap();
    let (ew, _) = fs.lookup(&c, &outer, b"elsewhere").unwrap();
    fs.rename(&c, &outer_inner, b"a", &ew, b"a").unwrap();
    for h in [&a, &b] {
        assert!(matches!(fs.getattr(&c, h), Err(VfsError::Stale)));
        assert!(matches!(fs.lookup(&c, h, b".."), Err(VfsError::Stale)));
        assert!(matches!(
            fs.readdir(&c, h, 0, 10, true),
            Err(VfsError::Stale)
        ));
        assert!(matches!(
            fs.create(&c, h, b"n", &unchecked()),
            Err(VfsError::Stale)
        ));
    }
    // The outer export reaches it, with its own handles.
    let (a2, _) = fs.lookup(&c, &ew, b"a").unwrap();
    assert_eq!(fs.lookup(&c, &a2, b"..").unwrap().0, ew);
    // Moved above the backing root (by a local user): stale too, never `/`.
    std::fs::rename(ex.join("elsewhere/a"), tmp.0.join("outside/a")).unwrap();
    assert!(matches!(fs.getattr(&c, &a2), Err(VfsError::Stale)));
    assert!(matches!(fs.lookup(&c, &a2, b".."), Err(VfsError::Stale)));
    // Moved back: valid again (the check is of where it is, not of where it was).
    std::fs::rename(tmp.0.join("outside/a"), ex.join("inner/a")).unwrap();
    assert!(fs.getattr(&c, &b).is_ok());
    // `..` of the backing root (an export of ".") is itself.
    let top = fs.root(".").unwrap();
    assert_eq!(fs.lookup(&c, &top, b"..").unwrap().0, top);
}

#[test]
fn link_follows_protected_hardlinks_for_the_caller() {
    let (_tmp, fs, root) = setup();
    let (alice, bob) = (user(1000), user(1001));
    let mk = |name: &[u8], mode: u32| {
        let (h, _) = fs.create(&alice, &root, name, &unchecked()).unwrap();
        fs.setattr(
            &alice,
            &h,
            &SetAttr {
                mode: Some(mode),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        h
    };
    let private = mk(b"private", 0o600);
    let readonly = mk(b"readonly", 0o644);
    let shared = mk(b"shared", 0o666);
    let setuid = mk(b"setuid", 0o4666);
    let setgid_x = mk(b"setgid_x", 0o2676);
    let setgid = mk(b"setgid", 0o2666);
    for (h, name) in [
        (&private, &b"l1"[..]),
        (&readonly, b"l2"),
        (&setuid, b"l3"),
        (&setgid_x, b"l4"),
    ] {
        assert!(
            matches!(fs.link(&bob, h, &root, name), Err(VfsError::NotOwner)),
            "{name:?}"
        );
    }
    assert_eq!(fs.link(&bob, &shared, &root, b"l5").unwrap().nlink, 2);
    assert_eq!(fs.link(&bob, &setgid, &root, b"l6").unwrap().nlink, 2);
    assert_eq!(fs.link(&alice, &private, &root, b"l7").unwrap().nlink, 2);
    assert_eq!(fs.link(&user(0), &setuid, &root, b"l8").unwrap().nlink, 2);
}

/// A root-owned sticky 1777 directory with one file of alice's and one of bob's.
fn sticky_dir(fs: &LocalFs, root: &FileHandle) -> FileHandle {
    let (d, _) = fs
        .mkdir(
            &user(0),
            root,
            b"tmp",
            &SetAttr {
                mode: Some(0o1777),
                ..Default::default()
            },
        )
        .unwrap();
    fs.create(&user(1000), &d, b"alice", &unchecked()).unwrap();
    fs.create(&user(1001), &d, b"bob", &unchecked()).unwrap();
    d
}

#[test]
fn sticky_directories_refuse_others_and_leave_no_trace() {
    let (tmp, fs, root) = setup();
    let (alice, bob) = (user(1000), user(1001));
    let d = sticky_dir(&fs, &root);
    let (ah, _) = fs.lookup(&alice, &d, b"alice").unwrap();
    assert!(matches!(
        fs.remove(&bob, &d, b"alice"),
        Err(VfsError::Access)
    ));
    assert!(matches!(
        fs.rename(&bob, &d, b"alice", &d, b"mine"),
        Err(VfsError::Access)
    ));
    assert!(matches!(
        fs.rename(&bob, &d, b"bob", &d, b"alice"),
        Err(VfsError::Access)
    ));
    assert!(matches!(fs.rename(&bob, &d, b"bob", &root, b"out"), Ok(())));
    assert!(matches!(
        fs.rename(&bob, &root, b"out", &d, b"alice"),
        Err(VfsError::Access)
    ));
    assert_eq!(fs.lookup(&alice, &d, b"alice").unwrap().0, ah);
    // Alice replaces and removes her own; a cross-directory replace goes through the swap.
    fs.create(&alice, &root, b"new", &unchecked()).unwrap();
    fs.rename(&alice, &root, b"new", &d, b"alice").unwrap();
    assert!(matches!(fs.getattr(&alice, &ah), Err(VfsError::Stale)));
    fs.remove(&alice, &d, b"alice").unwrap();
    fs.remove(&user(0), &root, b"out").unwrap();
    let left: Vec<String> = std::fs::read_dir(tmp.0.join("backing/export/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn remove_if_same_removes_only_the_object_opened() {
    let (tmp, fs, root) = setup();
    let (alice, bob) = (user(1000), user(1001));
    let (_, a) = fs.create(&alice, &root, b"mine", &unchecked()).unwrap();
    let (vh, _) = fs.create(&bob, &root, b"victim", &unchecked()).unwrap();
    let ex = tmp.0.join("backing/export");
    // The name now names bob's file (a hard link put over it).
    std::fs::hard_link(ex.join("victim"), ex.join("t")).unwrap();
    std::fs::rename(ex.join("t"), ex.join("mine")).unwrap();
    assert!(matches!(
        fs.remove_if_same(&alice, &root, b"mine", (a.fsid, a.fileid), false),
        Err(VfsError::NotFound)
    ));
    assert_eq!(fs.getattr(&bob, &vh).unwrap().nlink, 2);
    assert_eq!(
        std::fs::metadata(ex.join("mine")).unwrap().ino(),
        std::fs::metadata(ex.join("victim")).unwrap().ino()
    );
    // The right object goes.
    let (_, b) = fs.create(&alice, &root, b"own", &unchecked()).unwrap();
    fs.remove_if_same(&alice, &root, b"own", (b.fsid, b.fileid), false)
        .unwrap();
    assert!(!ex.join("own").exists());
}

#[test]
fn writes_and_truncation_by_others_clear_setuid_and_setgid() {
    let (_tmp, fs, root) = setup();
    let (alice, bob) = (user(1000), user(1001));
    let mk = |name: &[u8], mode: u32| {
        let (h, _) = fs.create(&alice, &root, name, &unchecked()).unwrap();
        let set = SetAttr {
            mode: Some(mode),
            ..Default::default()
        };
        fs.setattr(&alice, &h, &set, None).unwrap();
        h
    };
    let x = mk(b"x", 0o6777);
    fs.write(&alice, &x, 0, b"a", WriteStability::Unstable)
        .unwrap();
    assert_eq!(fs.getattr(&alice, &x).unwrap().mode, 0o6777, "owner keeps");
    fs.write(&bob, &x, 0, b"b", WriteStability::Unstable)
        .unwrap();
    assert_eq!(fs.getattr(&alice, &x).unwrap().mode, 0o777);
    // setgid without group-execute (mandatory locking) stays; setuid goes.
    let y = mk(b"y", 0o6766);
    let trunc = SetAttr {
        size: Some(0),
        ..Default::default()
    };
    fs.setattr(&bob, &y, &trunc, None).unwrap();
    assert_eq!(fs.getattr(&alice, &y).unwrap().mode, 0o2766);
    let z = mk(b"z", 0o4777);
    fs.write(&user(0), &z, 0, b"r", WriteStability::Unstable)
        .unwrap();
    assert_eq!(fs.getattr(&alice, &z).unwrap().mode, 0o4777, "root keeps");
}

/// Cost of the subtree check: GETATTR and LOOKUP of a directory at depth 1 and 10, with and
/// without the `..` walk. Prints figures; run with
/// `cargo test --release -p shoal-vfs subtree_check_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn subtree_check_cost() {
    let (tmp, fs, _) = setup();
    let c = user(0);
    let mut p = tmp.0.join("backing/export");
    for i in 0..10 {
        p = p.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("f"), b"").unwrap();
    std::fs::write(tmp.0.join("backing/export/d0/f"), b"").unwrap();
    let root = fs.root("export").unwrap();
    let mut dirs = vec![];
    let mut h = root.clone();
    for i in 0..10 {
        h = fs.lookup(&c, &h, format!("d{i}").as_bytes()).unwrap().0;
        dirs.push(h.clone());
    }
    const N: u32 = 100_000;
    for (depth, dir) in [(1, &dirs[0]), (10, &dirs[9])] {
        for skip in [true, false] {
            contain::SKIP.with(|s| s.set(skip));
            let t = std::time::Instant::now();
            for _ in 0..N {
                fs.getattr(&c, dir).unwrap();
            }
            let g = t.elapsed() / N;
            let t = std::time::Instant::now();
            for _ in 0..N {
                fs.lookup(&c, dir, b"f").unwrap();
            }
            let l = t.elapsed() / N;
            println!(
                "depth {depth:2} subtree_check {:3}: getattr {g:?}/op, lookup {l:?}/op",
                if skip { "off" } else { "on" }
            );
        }
    }
    contain::SKIP.with(|s| s.set(false));
}
