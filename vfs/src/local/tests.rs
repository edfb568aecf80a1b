//! LocalFs tests on a real temporary directory (run as root, as the server does).

use super::*;
use crate::perm::{ACCESS_MODIFY, ACCESS_READ};
use crate::{CreateHow, SetAttr, ZoneId};
use std::path::PathBuf;

pub(super) struct Tmp(pub(super) PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn setup() -> (Tmp, LocalFs, FileHandle) {
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
    std::fs::set_permissions(
        backing.join("export"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let fs = LocalFs::open(&backing, &base.join("state/key")).unwrap();
    let root = fs.root("export").unwrap();
    (Tmp(base), fs, root)
}

pub(super) fn user(uid: u32) -> Caller {
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

pub(super) fn unchecked() -> CreateHow {
    CreateHow::Unchecked(SetAttr {
        mode: Some(0o640),
        ..SetAttr::default()
    })
}

#[test]
fn dotdot_of_root_is_root_and_names_cannot_escape() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    let (h, a) = fs.lookup(&c, &root, b"..").unwrap();
    assert_eq!(h, root);
    assert_eq!(a.fileid, fs.getattr(&c, &root).unwrap().fileid);
    for bad in [
        &b"../outside"[..],
        b"/etc/passwd",
        b"a\0",
        b"",
        &[b'a'; 300],
    ] {
        assert!(fs.lookup(&c, &root, bad).is_err(), "{bad:?}");
        assert!(fs.create(&c, &root, bad, &unchecked()).is_err(), "{bad:?}");
    }
    // A symlink pointing outside is returned as a symlink and never followed.
    std::os::unix::fs::symlink(tmp.0.join("outside"), tmp.0.join("backing/export/esc")).unwrap();
    let (lh, la) = fs.lookup(&c, &root, b"esc").unwrap();
    assert_eq!(la.kind, FileKind::Symlink);
    assert!(matches!(
        fs.lookup(&c, &lh, b"secret"),
        Err(VfsError::NotDir)
    ));
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
    fs.write(&alice, &h, 0, b"hello", WriteStability::FileSync)
        .unwrap();
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
        fs.setattr(
            &bob,
            &h,
            &SetAttr {
                mode: Some(0o777),
                ..Default::default()
            },
            None
        ),
        Err(VfsError::NotOwner)
    ));
    // Bob cannot create in a directory Alice made 0755.
    let (d, _) = fs
        .mkdir(
            &alice,
            &root,
            b"priv",
            &SetAttr {
                mode: Some(0o755),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(matches!(
        fs.create(&bob, &d, b"x", &unchecked()),
        Err(VfsError::Access)
    ));
}

#[test]
fn create_modes() {
    let (_tmp, fs, root) = setup();
    let c = user(0);
    let g = CreateHow::Guarded(SetAttr::default());
    fs.create(&c, &root, b"g", &g).unwrap();
    assert!(matches!(
        fs.create(&c, &root, b"g", &g),
        Err(VfsError::Exists)
    ));
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
        fs.create(&c, &root, format!("f{i:03}").as_bytes(), &unchecked())
            .unwrap();
    }
    fs.symlink(&c, &root, b"link", b"/etc", &SetAttr::default())
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut cookie = 0;
    loop {
        let (entries, eof) = fs.readdir(&c, &root, cookie, 37, true).unwrap();
        for e in &entries {
            assert!(seen.insert(e.name.clone()), "repeated {:?}", e.name);
            if e.name != b"." && e.name != b".." {
                let (h, a) = e.plus.as_ref().expect("plus entry");
                let want = if e.name == b"link" {
                    FileKind::Symlink
                } else {
                    FileKind::Regular
                };
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
    assert_eq!(
        fs.lookup(&c, &d, b"b").unwrap().0,
        h,
        "handle survives rename"
    );
    let a = fs.link(&c, &h, &root, b"hard").unwrap();
    assert_eq!(a.nlink, 2);
    assert!(matches!(fs.rmdir(&c, &root, b"d"), Err(VfsError::NotEmpty)));
    assert!(matches!(fs.remove(&c, &root, b"d"), Err(VfsError::IsDir)));
    fs.remove(&c, &d, b"b").unwrap();
    fs.rmdir(&c, &root, b"d").unwrap();
    let (s, _) = fs
        .symlink(&c, &root, b"s", b"/etc/passwd", &SetAttr::default())
        .unwrap();
    assert_eq!(fs.readlink(&c, &s).unwrap(), b"/etc/passwd");
}

#[test]
fn xattrs_round_trip_in_the_user_namespace_only() {
    let (tmp, fs, root) = setup();
    let alice = user(1000);
    let (h, _) = fs.create(&alice, &root, b"x.txt", &unchecked()).unwrap();
    assert_eq!(fs.get_xattr(&alice, &h, "user.test").unwrap(), None);
    fs.set_xattr(&alice, &h, "user.test", Some(b"v1")).unwrap();
    assert_eq!(
        fs.get_xattr(&alice, &h, "user.test").unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    // Larger than the first buffer getxattr tries, and the 64 KiB limit.
    let big = vec![7u8; 4000];
    fs.set_xattr(&alice, &h, "user.test", Some(&big)).unwrap();
    assert_eq!(fs.get_xattr(&alice, &h, "user.test").unwrap(), Some(big));
    let too_big = vec![0u8; crate::MAX_XATTR_VALUE_LEN + 1];
    assert!(matches!(
        fs.set_xattr(&alice, &h, "user.test", Some(&too_big)),
        Err(VfsError::TooBig)
    ));
    // Removing twice succeeds.
    fs.set_xattr(&alice, &h, "user.test", None).unwrap();
    fs.set_xattr(&alice, &h, "user.test", None).unwrap();
    assert_eq!(fs.get_xattr(&alice, &h, "user.test").unwrap(), None);
    for bad in [
        "trusted.x",
        "security.selinux",
        "system.posix_acl_access",
        "user.",
        "x",
        "user.a\0b",
    ] {
        assert!(
            matches!(fs.get_xattr(&alice, &h, bad), Err(VfsError::Invalid)),
            "{bad}"
        );
        assert!(
            matches!(
                fs.set_xattr(&alice, &h, bad, Some(b"v")),
                Err(VfsError::Invalid)
            ),
            "{bad}"
        );
    }
    // Directories carry them too; symlinks do not.
    let (d, _) = fs
        .mkdir(
            &alice,
            &root,
            b"d",
            &SetAttr {
                mode: Some(0o755),
                ..Default::default()
            },
        )
        .unwrap();
    fs.set_xattr(&alice, &d, "user.test", Some(b"dir")).unwrap();
    assert_eq!(
        fs.get_xattr(&alice, &d, "user.test").unwrap().as_deref(),
        Some(&b"dir"[..])
    );
    let (l, _) = fs
        .symlink(&alice, &root, b"l", b"x.txt", &SetAttr::default())
        .unwrap();
    assert!(matches!(
        fs.get_xattr(&alice, &l, "user.test"),
        Err(VfsError::NotSupported)
    ));
    assert!(matches!(
        fs.set_xattr(&alice, &l, "user.test", Some(b"v")),
        Err(VfsError::NotSupported)
    ));
    // Stored on the file itself, visible outside the server.
    let on_disk = tmp.0.join("backing/export/d");
    let out = std::process::Command::new("getfattr")
        .args(["-n", "user.test", "--only-values"])
        .arg(&on_disk)
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            assert_eq!(out.stdout, b"dir");
        }
    }
}

#[test]
fn setting_xattrs_needs_ownership_or_write_permission() {
    let (_tmp, fs, root) = setup();
    let alice = user(1000);
    let bob = user(1001);
    let (h, _) = fs.create(&alice, &root, b"a.txt", &unchecked()).unwrap(); // 0640
    assert!(matches!(
        fs.set_xattr(&bob, &h, "user.test", Some(b"v")),
        Err(VfsError::Access)
    ));
    assert!(matches!(
        fs.set_xattr(&bob, &h, "user.test", None),
        Err(VfsError::Access)
    ));
    fs.set_xattr(&alice, &h, "user.test", Some(b"v")).unwrap();
    // Reading is metadata: bob may read it as he may stat the file.
    assert_eq!(
        fs.get_xattr(&bob, &h, "user.test").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    // Write permission without ownership is enough.
    fs.setattr(
        &alice,
        &h,
        &SetAttr {
            mode: Some(0o666),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    fs.set_xattr(&bob, &h, "user.test", Some(b"w")).unwrap();
    assert_eq!(
        fs.get_xattr(&alice, &h, "user.test").unwrap().as_deref(),
        Some(&b"w"[..])
    );
    // The owner may even without write bits (as for times).
    fs.setattr(
        &alice,
        &h,
        &SetAttr {
            mode: Some(0o444),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    fs.set_xattr(&alice, &h, "user.test", None).unwrap();
}

#[test]
fn readdir_with_xattr_reads_each_entry_once() {
    let (_tmp, fs, root) = setup();
    let alice = user(1000);
    let (f, _) = fs.create(&alice, &root, b"f", &unchecked()).unwrap();
    let (d, _) = fs
        .mkdir(
            &alice,
            &root,
            b"d",
            &SetAttr {
                mode: Some(0o755),
                ..Default::default()
            },
        )
        .unwrap();
    fs.create(&alice, &root, b"plain", &unchecked()).unwrap();
    fs.symlink(&alice, &root, b"l", b"f", &SetAttr::default())
        .unwrap();
    fs.set_xattr(&alice, &f, "user.k", Some(b"file")).unwrap();
    fs.set_xattr(&alice, &d, "user.k", Some(&[9u8; 1000]))
        .unwrap();
    fs.set_xattr(&alice, &root, "user.k", Some(b"root"))
        .unwrap();
    let (entries, eof) = fs
        .readdir_with_xattr(&alice, &root, 0, 100, "user.k")
        .unwrap();
    assert!(eof);
    let got: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> =
        entries.into_iter().map(|(e, v)| (e.name, v)).collect();
    assert_eq!(got[&b"f"[..]].as_deref(), Some(&b"file"[..]));
    assert_eq!(got[&b"d"[..]].as_deref(), Some(&[9u8; 1000][..]));
    assert_eq!(got[&b"."[..]].as_deref(), Some(&b"root"[..]));
    assert_eq!(got[&b"plain"[..]], None);
    assert_eq!(got[&b"l"[..]], None);
    assert!(matches!(
        fs.readdir_with_xattr(&alice, &root, 0, 100, "trusted.k"),
        Err(VfsError::Invalid)
    ));
    // The direct syscall and the /proc fallback agree.
    let (dfd, _, _) = fs.object(&root).unwrap();
    assert_eq!(
        sys::getxattr_at(dfd.as_fd(), b"d", b"user.k").unwrap(),
        sys::getxattr_path(
            &std::ffi::CString::new(format!(
                "/proc/self/fd/{}/d",
                std::os::fd::AsRawFd::as_raw_fd(&*dfd)
            ))
            .unwrap(),
            b"user.k",
            false
        )
        .unwrap()
    );
}

#[test]
fn allocate_reserves_blocks_without_changing_the_size() {
    let (_tmp, fs, root) = setup();
    let alice = user(1000);
    let bob = user(1001);
    let (h, _) = fs.create(&alice, &root, b"pre.bin", &unchecked()).unwrap();
    let a = fs.allocate(&alice, &h, 1 << 20).unwrap();
    assert_eq!(a.size, 0);
    assert!(a.used >= 1 << 20, "{} bytes used", a.used);
    // Write permission is needed; directories and absurd sizes are refused.
    assert!(matches!(fs.allocate(&bob, &h, 4096), Err(VfsError::Access)));
    assert!(matches!(
        fs.allocate(&alice, &root, 4096),
        Err(VfsError::IsDir)
    ));
    assert!(matches!(
        fs.allocate(&alice, &h, u64::MAX),
        Err(VfsError::TooBig)
    ));
}

#[test]
fn statx_attributes_match_stat() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    fs.create(&c, &root, b"f", &unchecked()).unwrap();
    let dir = sys::open_dir_path(&tmp.0.join("backing/export")).unwrap();
    let st = sys::fstatat(dir.as_fd(), b"f").unwrap();
    let stx = sys::statx_at(
        dir.as_fd(),
        b"f",
        libc::STATX_BASIC_STATS | libc::STATX_BTIME,
    )
    .unwrap();
    assert_eq!(attr::attr_from_statx(&stx), attr_from_stat(&st));
}

#[test]
fn listed_handles_are_the_lookup_handles_and_never_outlive_their_file() {
    let (tmp, fs, root) = setup();
    let c = user(0);
    for n in [b"a".as_slice(), b"b"] {
        fs.create(&c, &root, n, &unchecked()).unwrap();
    }
    let plus = |fs: &LocalFs| -> Vec<(Vec<u8>, FileHandle)> {
        let (entries, _) = fs.readdir(&c, &root, 0, 100, true).unwrap();
        entries
            .into_iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .map(|e| (e.name, e.plus.unwrap().0))
            .collect()
    };
    // First listing reads the generations, the second uses the cache: the same handles, and
    // each one the handle LOOKUP gives.
    let first = plus(&fs);
    let second = plus(&fs);
    assert_eq!(first, second);
    for (name, h) in &second {
        assert_eq!(&fs.lookup(&c, &root, name).unwrap().0, h);
    }
    // A file removed behind shoal's back and another created: the old handle is stale, the
    // listing gives the new file's handle (a reused inode number comes with a new birth time).
    let (_, old) = second.iter().find(|(n, _)| n == b"a").unwrap().clone();
    std::fs::remove_file(tmp.0.join("backing/export/a")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(tmp.0.join("backing/export/a"), b"new").unwrap();
    let third = plus(&fs);
    let (_, new) = third.iter().find(|(n, _)| n == b"a").unwrap().clone();
    assert_eq!(fs.lookup(&c, &root, b"a").unwrap().0, new);
    assert!(matches!(fs.getattr(&c, &old), Err(VfsError::Stale)));
    assert_eq!(fs.getattr(&c, &new).unwrap().size, 3);
}

#[test]
fn new_objects_appear_owned_and_leave_no_temporary_names() {
    let (tmp, fs, root) = setup();
    let alice = user(1000);
    let (_, a) = fs.create(&alice, &root, b"f", &unchecked()).unwrap();
    assert_eq!((a.uid, a.mode & 0o7777), (1000, 0o640));
    let (_, d) = fs.mkdir(&alice, &root, b"d", &SetAttr::default()).unwrap();
    assert_eq!((d.uid, d.mode & 0o7777), (1000, 0o755));
    // A name taken meanwhile: EXCLUSIVE-style create and mkdir answer Exists, nothing left.
    let guarded = CreateHow::Guarded(SetAttr::default());
    assert!(matches!(
        fs.create(&alice, &root, b"f", &guarded),
        Err(VfsError::Exists)
    ));
    assert!(matches!(
        fs.mkdir(&alice, &root, b"d", &SetAttr::default()),
        Err(VfsError::Exists)
    ));
    let on_disk: Vec<String> = std::fs::read_dir(tmp.0.join("backing/export"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        on_disk.iter().all(|n| !n.starts_with(".shoal-new.")),
        "{on_disk:?}"
    );
    // A temporary object (of a create in progress, or left by a crash) is not listed.
    std::fs::write(tmp.0.join("backing/export/.shoal-new.1.2"), b"").unwrap();
    let (entries, _) = fs.readdir(&alice, &root, 0, 100, false).unwrap();
    let mut names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
    names.sort();
    assert_eq!(names, [&b"."[..], b"..", b"d", b"f"]);
}
