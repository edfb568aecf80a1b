//! NFSv3 end to end with the real libnfs command-line tools (Debian `libnfs-utils`:
//! `nfs-ls`, `nfs-cp`, `nfs-cat`) against the `shoal` binary. The tests run as root, so libnfs
//! sends AUTH_SYS uid 0.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{files_equal, run, write_random_file, Opts, Server, TempDir};

fn tool(name: &str, args: &[&str]) -> Output {
    run(Command::new(name).args(args), Duration::from_secs(300))
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn export(clients: &str) -> Opts {
    Opts {
        body: format!(
            "[[nfs.exports]]\npath = \"/data\"\ndir = \".\"\n[[nfs.exports.clients]]\n{clients}\n"
        ),
        ..Opts::default()
    }
}

#[test]
fn list_and_copy_256_mib_both_ways() {
    let server = Server::start(Opts::standard());
    std::fs::write(server.backing.join("hello.txt"), b"hello from shoal\n").unwrap();
    std::fs::create_dir(server.backing.join("subdir")).unwrap();
    std::fs::write(server.backing.join("subdir/inner.txt"), b"inner\n").unwrap();

    let listing = ok(&tool("nfs-ls", &[&server.nfs_url("/data", "")]), "nfs-ls");
    assert!(
        listing.contains("hello.txt") && listing.contains("subdir"),
        "listing:\n{listing}"
    );
    let cat = ok(
        &tool("nfs-cat", &[&server.nfs_url("/data", "/hello.txt")]),
        "nfs-cat",
    );
    assert_eq!(cat, "hello from shoal\n");
    let cat = ok(
        &tool("nfs-cat", &[&server.nfs_url("/data", "/subdir/inner.txt")]),
        "nfs-cat in a subdirectory",
    );
    assert_eq!(cat, "inner\n");

    let tmp = TempDir::new("nfs-cp");
    let local = tmp.0.join("big.bin");
    let size = 256 << 20;
    write_random_file(&local, size, 0x5eed);

    let t = Instant::now();
    ok(
        &tool(
            "nfs-cp",
            &[
                local.to_str().unwrap(),
                &server.nfs_url("/data", "/big.bin"),
            ],
        ),
        "nfs-cp put",
    );
    let put = t.elapsed();
    assert!(
        files_equal(&local, &server.backing.join("big.bin")),
        "uploaded file differs"
    );

    let back = tmp.0.join("back.bin");
    let t = Instant::now();
    ok(
        &tool(
            "nfs-cp",
            &[&server.nfs_url("/data", "/big.bin"), back.to_str().unwrap()],
        ),
        "nfs-cp get",
    );
    let get = t.elapsed();
    assert!(files_equal(&local, &back), "downloaded file differs");
    let mb = size as f64 / 1e6;
    eprintln!(
        "nfs-cp 256 MiB: put {:.1} MB/s, get {:.1} MB/s",
        mb / put.as_secs_f64(),
        mb / get.as_secs_f64()
    );
}

#[test]
fn symlinks_out_of_the_export_are_not_followed() {
    let server = Server::start(Opts::standard());
    std::os::unix::fs::symlink("/etc", server.backing.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", server.backing.join("pw")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", server.backing.join("rel")).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();

    let listing = ok(&tool("nfs-ls", &[&server.nfs_url("/data", "")]), "nfs-ls");
    assert!(
        listing.contains("escape"),
        "symlink listed as an object:\n{listing}"
    );
    for path in ["/escape/passwd", "/pw", "/rel"] {
        let out = tool("nfs-cat", &[&server.nfs_url("/data", path)]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("root:"),
            "{path} leaked the host's /etc/passwd"
        );
        assert_ne!(text, passwd);
    }
    let out = tool("nfs-ls", &[&server.nfs_url("/data", "/escape")]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("passwd"),
        "listed the host's /etc"
    );
}

#[test]
fn client_not_in_the_export_list_is_refused() {
    let server = Server::start(export(
        "hosts = [\"10.9.9.9\", \"192.168.77.0/24\", \"10.77.*\"]\naccess = \"rw\"",
    ));
    std::fs::write(server.backing.join("secret.txt"), b"secret").unwrap();
    let out = tool("nfs-ls", &[&server.nfs_url("/data", "")]);
    assert!(
        !out.status.success(),
        "nfs-ls succeeded for a refused client"
    );
    let out = tool("nfs-cat", &[&server.nfs_url("/data", "/secret.txt")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
}

#[test]
fn read_only_export_refuses_writes() {
    let server = Server::start(export(
        "hosts = [\"127.0.0.1\"]\naccess = \"ro\"\nsquash = \"none\"",
    ));
    std::fs::write(server.backing.join("r.txt"), b"readable").unwrap();
    let cat = ok(
        &tool("nfs-cat", &[&server.nfs_url("/data", "/r.txt")]),
        "nfs-cat on ro",
    );
    assert_eq!(cat, "readable");
    let tmp = TempDir::new("nfs-ro");
    let local = tmp.0.join("w.txt");
    std::fs::write(&local, b"should not land").unwrap();
    let out = tool(
        "nfs-cp",
        &[local.to_str().unwrap(), &server.nfs_url("/data", "/w.txt")],
    );
    assert!(!out.status.success(), "nfs-cp to a ro export succeeded");
    assert!(!server.backing.join("w.txt").exists());
    let out = tool(
        "nfs-cp",
        &[local.to_str().unwrap(), &server.nfs_url("/data", "/r.txt")],
    );
    assert!(!out.status.success(), "overwrite on a ro export succeeded");
    assert_eq!(
        std::fs::read(server.backing.join("r.txt")).unwrap(),
        b"readable"
    );
}

#[test]
fn root_squash_gives_new_files_the_anon_ids() {
    let server = Server::start(export(
        "hosts = [\"127.0.0.0/8\"]\naccess = \"rw\"\nsquash = \"root\"\nanon_uid = 4242\nanon_gid = 4343",
    ));
    // Squashed root is uid 4242: let it create files in the export root.
    std::fs::set_permissions(
        &server.backing,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let tmp = TempDir::new("nfs-squash");
    let local = tmp.0.join("s.txt");
    std::fs::write(&local, b"squashed").unwrap();
    ok(
        &tool(
            "nfs-cp",
            &[local.to_str().unwrap(), &server.nfs_url("/data", "/s.txt")],
        ),
        "nfs-cp squashed",
    );
    let meta = std::fs::metadata(server.backing.join("s.txt")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (4242, 4343),
        "root was not squashed"
    );

    // A root-owned 0600 file is not readable by squashed root.
    std::fs::write(server.backing.join("private"), b"root only").unwrap();
    std::fs::set_permissions(
        server.backing.join("private"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = tool("nfs-cat", &[&server.nfs_url("/data", "/private")]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("root only"),
        "squashed root read a 0600 root file"
    );
}
