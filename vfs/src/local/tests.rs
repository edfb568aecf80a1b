//! LocalFs tests on a real temporary directory (run as root, as the server does).

use super::*;
use crate::perm::{ACCESS_MODIFY, ACCESS_READ};
use crate::{CreateHow, SetAttr, ZoneId};
use std::path::PathBuf;

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup() -> (Tmp, LocalFs, FileHandle) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "shoal-vfs-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let backing = base.join("backing");
    std::fs::create_dir_all(backing.join("export")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(base.join("outside/secret"), b"secret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(backing.join("export"), std::fs::Permissions::from_mode(0o777))
        .unwrap();
    let fs = LocalFs::open(&backing, &base.join("state/key")).unwrap();
    let root = fs.root("export").unwrap();
    (Tmp(base), fs, root)
}

fn user(uid: u32) -> Caller {
    Caller {
        uid,
        gid: uid,
        groups: vec![],
        sid: None,
        client_addr: "127.0.0.1:700".parse().unwrap(),
        zone: ZoneId::SYSTEM,
        protocol: Protocol::Smb3,
    }
}

fn unchecked() -> CreateHow {
    CreateHow::Unchecked(SetAttr { mode: Some(0o640), ..SetAttr::default() })
}

#[test]
fn dotdot_of_root_is_root_and_names_cannot_escape() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    let (h, a) = fs.lookup(&c, &root, b"..").unwrap();
    assert_eq!(h, root);
    assert_eq!(a.fileid, fs.getattr(&c, &root).unwrap().fileid);
    for bad in [&b"../outside"[..], b"/etc/passwd", b"a\0", b"", &[b'a'; 300]] {
        assert!(fs.lookup(&c, &root, bad).is_err(), "{bad:?}");
        assert!(fs.create(&c, &root, bad, &unchecked()).is_err(), "{bad:?}");
    }
    // A symlink pointing outside is returned as a symlink and never followed.
    std::os::unix::fs::symlink(tmp.0.join("outside"), tmp.0.join("backing/export/esc")).unwrap();
    let (lh, la) = fs.lookup(&c, &root, b"esc").unwrap();
    assert_eq!(la.kind, FileKind::Symlink);
    assert!(matches!(fs.lookup(&c, &lh, b"secret"), Err(VfsError::NotDir)));
    assert!(matches!(fs.read(&c, &lh, 0, 10), Err(VfsError::Invalid)));
    // The backing dir above the export root is not reachable through the export.
    assert!(fs.root("../outside").is_err());
}

#[test]
fn forged_and_stale_handles_are_refused() {
    let (_tmp, fs, root) = setup();
    let c = user(0);
    let (h, _) = fs.create(&c, &root, b"f", &unchecked()).unwrap();
    let mut b = h.as_bytes().to_vec();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    let forged = FileHandle::from_bytes(&b).unwrap();
    assert!(matches!(fs.getattr(&c, &forged), Err(VfsError::Stale)));
    fs.remove(&c, &root, b"f").unwrap();
    assert!(matches!(fs.getattr(&c, &h), Err(VfsError::Stale)));
}

#[test]
fn handles_survive_a_restart() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    let (h, _) = fs.mkdir(&c, &root, b"d", &SetAttr::default()).unwrap();
    drop(fs);
    let fs2 = LocalFs::open(&tmp.0.join("backing"), &tmp.0.join("state/key")).unwrap();
    let root2 = fs2.root("export").unwrap();
    assert_eq!(root, root2);
    assert_eq!(fs2.getattr(&c, &h).unwrap().kind, FileKind::Directory);
}

#[test]
fn files_belong_to_the_caller_and_modes_are_enforced() {
    let (_tmp, fs, root) = setup();
    let alice = user(1000);
    let bob = user(1001);
    let (h, a) = fs.create(&alice, &root, b"a.txt", &unchecked()).unwrap();
    assert_eq!((a.uid, a.gid, a.mode), (1000, 1000, 0o640));
    fs.write(&alice, &h, 0, b"hello", WriteStability::FileSync).unwrap();
    assert!(matches!(fs.read(&bob, &h, 0, 5), Err(VfsError::Access)));
    assert!(matches!(
        fs.write(&bob, &h, 0, b"x", WriteStability::Unstable),
        Err(VfsError::Access)
    ));
    let (data, eof, _) = fs.read(&alice, &h, 0, 100).unwrap();
    assert_eq!((&data[..], eof), (&b"hello"[..], true));
    let (granted, _) = fs.access(&bob, &h, ACCESS_READ | ACCESS_MODIFY).unwrap();
    assert_eq!(granted, 0);
    assert!(matches!(
        fs.setattr(&bob, &h, &SetAttr { mode: Some(0o777), ..Default::default() }, None),
        Err(VfsError::NotOwner)
    ));
    // Bob cannot create in a directory Alice made 0755.
    let (d, _) =
        fs.mkdir(&alice, &root, b"priv", &SetAttr { mode: Some(0o755), ..Default::default() }).unwrap();
    assert!(matches!(fs.create(&bob, &d, b"x", &unchecked()), Err(VfsError::Access)));
}

#[test]
fn create_modes() {
    let (_tmp, fs, root) = setup();
    let c = user(0);
    let g = CreateHow::Guarded(SetAttr::default());
    fs.create(&c, &root, b"g", &g).unwrap();
    assert!(matches!(fs.create(&c, &root, b"g", &g), Err(VfsError::Exists)));
    let v = CreateHow::Exclusive(*b"12345678");
    let (h1, _) = fs.create(&c, &root, b"x", &v).unwrap();
    let (h2, _) = fs.create(&c, &root, b"x", &v).unwrap();
    assert_eq!(h1, h2, "retransmitted exclusive create succeeds");
    assert!(matches!(
        fs.create(&c, &root, b"x", &CreateHow::Exclusive(*b"87654321")),
        Err(VfsError::Exists)
    ));
}

#[test]
fn readdir_cookies_resume_without_repeats() {
    let (_tmp, fs, root) = setup();
    let c = user(0);
    for i in 0..299 {
        fs.create(&c, &root, format!("f{i:03}").as_bytes(), &unchecked()).unwrap();
    }
    fs.symlink(&c, &root, b"link", b"/etc", &SetAttr::default()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut cookie = 0;
    loop {
        let (entries, eof) = fs.readdir(&c, &root, cookie, 37, true).unwrap();
        for e in &entries {
            assert!(seen.insert(e.name.clone()), "repeated {:?}", e.name);
            if e.name != b"." && e.name != b".." {
                let (h, a) = e.plus.as_ref().expect("plus entry");
                let want = if e.name == b"link" { FileKind::Symlink } else { FileKind::Regular };
                assert_eq!(a.kind, want, "readdirplus never follows symlinks");
                assert_eq!(fs.getattr(&c, h).unwrap().fileid, a.fileid);
            }
            cookie = e.cookie;
        }
        if eof {
            break;
        }
    }
    assert_eq!(seen.len(), 302);
}

#[test]
fn rename_link_remove() {
    let (_tmp, fs, root) = setup();
    let c = user(0);
    let (d, _) = fs.mkdir(&c, &root, b"d", &SetAttr::default()).unwrap();
    let (h, _) = fs.create(&c, &root, b"a", &unchecked()).unwrap();
    fs.rename(&c, &root, b"a", &d, b"b").unwrap();
    assert_eq!(fs.lookup(&c, &d, b"b").unwrap().0, h, "handle survives rename");
    let a = fs.link(&c, &h, &root, b"hard").unwrap();
    assert_eq!(a.nlink, 2);
    assert!(matches!(fs.rmdir(&c, &root, b"d"), Err(VfsError::NotEmpty)));
    assert!(matches!(fs.remove(&c, &root, b"d"), Err(VfsError::IsDir)));
    fs.remove(&c, &d, b"b").unwrap();
    fs.rmdir(&c, &root, b"d").unwrap();
    let (s, _) = fs.symlink(&c, &root, b"s", b"/etc/passwd", &SetAttr::default()).unwrap();
    assert_eq!(fs.readlink(&c, &s).unwrap(), b"/etc/passwd");
}
