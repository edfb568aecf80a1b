//! End-to-end: SMB3 encryption (issue 5, R2) with real clients.
//!
//! smbclient with each of the four ciphers (64 MiB put/get, byte-identical, MB/s printed
//! next to an unencrypted run), a share with `encrypt = true` (server-driven encryption, SMB
//! 2.1 refused), the global `required` policy with and without `allow_unencrypted_legacy`,
//! Python smbprotocol with `require_encryption=True` on 3.1.1 and 3.0.2, and a tampered or
//! unencrypted request closing the connection.

mod common;

use common::{files_equal, run, venv_python, write_random_file, Opts, Server, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "alice%Pa55word!";

fn server(smb_extra: &str, shares: &str) -> Server {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start(Opts {
        smb_extra: smb_extra.into(),
        body: shares.into(),
        ..Opts::default()
    });
    s.add_user("alice", "Pa55word!");
    std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777)).unwrap();
    s
}

/// The server log without terminal colours.
fn plain_log(s: &Server) -> String {
    let log = s.log();
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

const DATA_AND_SECRET: &str = r#"
[[smb.shares]]
name = "data"
dir = "."

[[smb.shares]]
name = "secret"
dir = "."
encrypt = true
"#;

/// Runs one smbclient command and returns its wall time.
fn timed(s: &Server, share: &str, extra: &[&str], cmd: &str) -> Duration {
    let mut args = vec![share, "-U", USER];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-c", cmd]);
    let t = Instant::now();
    let (ok, text) = s.smbclient(&args);
    let took = t.elapsed();
    assert!(
        ok && !text.contains("NT_STATUS"),
        "{extra:?} {cmd}: {text}\n{}",
        s.log()
    );
    took
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// `smbclient --client-protection=encrypt` puts and gets 64 MiB with each cipher; the
/// server log names the cipher the session encrypted with; the copies are byte-identical.
#[test]
fn smbclient_encrypted_put_get_64mib_with_each_cipher() {
    let s = server("", DATA_AND_SECRET);
    let local = TempDir::new("enc-local");
    let src = local.0.join("src.bin");
    let size = 64 << 20;
    write_random_file(&src, size, 5);
    let src_s = src.to_str().unwrap().to_string();
    let mut table = Vec::new();
    for cipher in [
        "plain",
        "AES-128-CCM",
        "AES-128-GCM",
        "AES-256-CCM",
        "AES-256-GCM",
    ] {
        let algs = format!("--option=client smb3 encryption algorithms={cipher}");
        let extra: Vec<&str> = if cipher == "plain" {
            vec![]
        } else {
            vec!["--client-protection=encrypt", algs.as_str()]
        };
        let remote = format!("up-{cipher}.bin");
        let back = local.0.join(format!("down-{cipher}.bin"));
        let put = timed(
            &s,
            "//127.0.0.1/data",
            &extra,
            &format!("put {src_s} {remote}"),
        );
        let get = timed(
            &s,
            "//127.0.0.1/data",
            &extra,
            &format!("get {remote} {}", back.display()),
        );
        assert!(
            files_equal(&src, &s.backing.join(&remote)),
            "{cipher}: uploaded copy differs"
        );
        assert!(
            files_equal(&src, &back),
            "{cipher}: downloaded copy differs"
        );
        if cipher != "plain" {
            assert!(
                plain_log(&s).contains(&format!("cipher={cipher}")),
                "{cipher} not used:\n{}",
                s.log()
            );
        }
        table.push(format!(
            "{cipher:>12}: put {:7.1} MB/s  get {:7.1} MB/s",
            mbps(size, put),
            mbps(size, get)
        ));
        let _ = std::fs::remove_file(s.backing.join(&remote));
        let _ = std::fs::remove_file(&back);
    }
    eprintln!(
        "64 MiB smbclient put/get over loopback (SMB 3.1.1):\n{}",
        table.join("\n")
    );
}

/// A share with `encrypt = true`: an SMB3 smbclient that did not ask for encryption gets it
/// anyway (SHAREFLAG_ENCRYPT_DATA); an SMB 2.1 client is refused with ACCESS_DENIED but still
/// reaches the unencrypted share.
#[test]
fn encrypted_share_is_server_driven_and_refuses_smb21() {
    let s = server("", DATA_AND_SECRET);
    std::fs::write(s.backing.join("hello.txt"), b"hello, secret").unwrap();
    for proto in ["SMB3_11", "SMB3_02", "SMB3_00"] {
        let max = format!("--option=client max protocol={proto}");
        let back = s.dir.0.join(format!("back-{proto}.txt"));
        let cmd = format!("ls; get hello.txt {}", back.display());
        let (ok, text) = s.smbclient(&["//127.0.0.1/secret", "-U", USER, &max, "-c", &cmd]);
        assert!(
            ok && text.contains("hello.txt") && !text.contains("NT_STATUS"),
            "{proto}: {text}\n{}",
            s.log()
        );
        assert_eq!(std::fs::read(&back).unwrap(), b"hello, secret", "{proto}");
    }
    assert!(plain_log(&s).contains("client encrypts"), "{}", s.log());
    let legacy = "--option=client max protocol=SMB2_10";
    let (ok, text) = s.smbclient(&["//127.0.0.1/secret", "-U", USER, legacy, "-c", "ls"]);
    assert!(
        !ok && text.contains("NT_STATUS_ACCESS_DENIED"),
        "{text}\n{}",
        s.log()
    );
    let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", USER, legacy, "-c", "ls"]);
    assert!(ok && text.contains("hello.txt"), "{text}\n{}", s.log());
}

/// Global `required`: SMB3 sessions are encrypted even when the client did not ask; SMB 2.1
/// clients are refused at SESSION_SETUP; an SMB3 client that will not encrypt cannot use the
/// server.
#[test]
fn required_policy_encrypts_every_smb3_session_and_refuses_the_rest() {
    let s = server("encryption = \"required\"", DATA_AND_SECRET);
    std::fs::write(s.backing.join("r.txt"), b"r").unwrap();
    let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", USER, "-c", "ls"]);
    assert!(ok && text.contains("r.txt"), "{text}\n{}", s.log());
    assert!(plain_log(&s).contains("client encrypts"), "{}", s.log());
    let (ok, text) = s.smbclient(&[
        "//127.0.0.1/data",
        "-U",
        USER,
        "--option=client max protocol=SMB2_10",
        "-c",
        "ls",
    ]);
    assert!(!ok && text.contains("NT_STATUS_ACCESS_DENIED"), "{text}");
    // smbclient told not to encrypt still follows SESSION_FLAG_ENCRYPT_DATA (the server
    // decides); the clients that really do not encrypt are refused below.
    let (ok, text) = s.smbclient(&[
        "//127.0.0.1/data",
        "-U",
        USER,
        "--client-protection=off",
        "-c",
        "ls",
    ]);
    assert!(ok && text.contains("r.txt"), "{text}\n{}", s.log());
    let py = venv_python();
    for mode in ["nocap", "clear"] {
        let out = run(
            Command::new(&py)
                .arg("-c")
                .arg(TAMPER_SCRIPT)
                .arg(s.smb_port.to_string())
                .arg(mode),
            Duration::from_secs(60),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("refused") && !text.contains("still-open"),
            "{mode}: {text}\n{}",
            s.log()
        );
    }
    let log = plain_log(&s);
    assert!(
        log.contains("session refused: encryption required and the client offers no cipher"),
        "{log}"
    );
}

/// `required` with `allow_unencrypted_legacy`: the SMB 2.1 client reaches unencrypted shares
/// only.
#[test]
fn allow_unencrypted_legacy_admits_smb21_to_plain_shares_only() {
    let s = server(
        "encryption = \"required\"\nallow_unencrypted_legacy = true",
        DATA_AND_SECRET,
    );
    std::fs::write(s.backing.join("l.txt"), b"l").unwrap();
    let legacy = "--option=client max protocol=SMB2_10";
    let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", USER, legacy, "-c", "ls"]);
    assert!(ok && text.contains("l.txt"), "{text}\n{}", s.log());
    let (ok, text) = s.smbclient(&["//127.0.0.1/secret", "-U", USER, legacy, "-c", "ls"]);
    assert!(!ok && text.contains("NT_STATUS_ACCESS_DENIED"), "{text}");
    // SMB3 clients are still encrypted.
    let (ok, text) = s.smbclient(&["//127.0.0.1/secret", "-U", USER, "-c", "ls"]);
    assert!(ok && text.contains("l.txt"), "{text}\n{}", s.log());
}

const SMBPROTOCOL_SCRIPT: &str = r#"
import sys, uuid
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, CreateDisposition, ImpersonationLevel, ShareAccess,
    CreateOptions, FileAttributes, FilePipePrinterAccessMask)
port = int(sys.argv[1])
dialect = {"311": Dialects.SMB_3_1_1, "302": Dialects.SMB_3_0_2, "300": Dialects.SMB_3_0_0}[sys.argv[2]]
conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
conn.connect(dialect)
s = Session(conn, "alice", "Pa55word!", require_encryption=True)
s.connect()
t = TreeConnect(s, r"\\127.0.0.1\data")
t.connect()
f = Open(t, "py-%s.bin" % sys.argv[2])
f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE,
    FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ,
    CreateDisposition.FILE_OVERWRITE_IF, CreateOptions.FILE_NON_DIRECTORY_FILE)
payload = b"encrypted by smbprotocol " * 1000
f.write(payload, 0)
back = f.read(0, len(payload))
f.close()
print("dialect=%x encrypt=%s cipher=%s same=%s" % (conn.dialect, s.encrypt_data, conn.cipher_id, back == payload))
t.disconnect(); s.disconnect(); conn.disconnect()
"#;

/// Python smbprotocol with `require_encryption=True` on 3.1.1 and 3.0.x: CREATE, WRITE,
/// READ round-trip through encrypted messages.
#[test]
fn python_smbprotocol_require_encryption_311_and_30() {
    let py = venv_python();
    let s = server("", DATA_AND_SECRET);
    for dialect in ["311", "302", "300"] {
        let out = run(
            Command::new(&py)
                .arg("-c")
                .arg(SMBPROTOCOL_SCRIPT)
                .arg(s.smb_port.to_string())
                .arg(dialect),
            Duration::from_secs(60),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{dialect}: {text}\n{}", s.log());
        assert!(
            text.contains(&format!("dialect={dialect}")) && text.contains("encrypt=True"),
            "{text}"
        );
        assert!(text.contains("same=True"), "{text}");
    }
}

const TAMPER_SCRIPT: &str = r#"
import sys, uuid, struct, time
from smbprotocol.connection import Connection, Dialects
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
port = int(sys.argv[1]); mode = sys.argv[2]
conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
if mode == "nocap":
    # An SMB 3.0.2 client without SMB2_GLOBAL_CAP_ENCRYPTION: it cannot encrypt.
    conn.client_capabilities &= ~0x40
    conn.connect(Dialects.SMB_3_0_2)
    try:
        Session(conn, "alice", "Pa55word!", require_encryption=False).connect()
        print("still-open")
    except Exception as e:
        print("refused: %s" % type(e).__name__)
    sys.exit(0)
conn.connect(Dialects.SMB_3_1_1)
s = Session(conn, "alice", "Pa55word!", require_encryption=True)
s.connect()
if mode == "tamper":
    # A transform frame for the session whose tag cannot verify.
    body = b"\xfdSMB" + b"\x11" * 16 + b"\x22" * 16 + struct.pack("<IHHQ", 64, 0, 1, s.session_id) + b"\x33" * 64
    conn.transport.send(body)
elif mode == "clear":
    # The session requires encryption: switch it off on the client side and send in clear.
    s.encrypt_data = False
try:
    t = TreeConnect(s, r"\\127.0.0.1\secret")
    t.connect()
    print("still-open")
except Exception as e:
    print("refused: %s" % type(e).__name__)
"#;

/// A tampered TRANSFORM frame closes the connection with a warning naming the peer; a clear
/// request on a session that must encrypt is refused (ACCESS_DENIED) and the connection closed.
#[test]
fn tampered_or_clear_requests_close_the_connection() {
    let py = venv_python();
    let s = server("encryption = \"required\"", DATA_AND_SECRET);
    for mode in ["tamper", "clear"] {
        let out = run(
            Command::new(&py)
                .arg("-c")
                .arg(TAMPER_SCRIPT)
                .arg(s.smb_port.to_string())
                .arg(mode),
            Duration::from_secs(60),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("still-open"), "{mode}: {text}\n{}", s.log());
    }
    let log = plain_log(&s);
    assert!(
        log.contains("decryption failed; closing connection peer=127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("unencrypted request where encryption is required"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// A zone with `encrypt = true` makes every share in it require encryption.
#[test]
fn zone_encrypt_flag_encrypts_its_shares() {
    let shares = r#"
[[zones]]
name = "Secure"
id = 2
encrypt = true

[[smb.shares]]
name = "data"
dir = "."

[[smb.shares]]
name = "zoned"
dir = "."
zone = "Secure"
"#;
    let s = server("", shares);
    std::fs::write(s.backing.join("z.txt"), b"z").unwrap();
    let (ok, text) = s.smbclient(&["//127.0.0.1/zoned", "-U", USER, "-c", "ls"]);
    assert!(ok && text.contains("z.txt"), "{text}\n{}", s.log());
    assert!(plain_log(&s).contains("client encrypts"), "{}", s.log());
    let (ok, text) = s.smbclient(&[
        "//127.0.0.1/zoned",
        "-U",
        USER,
        "--option=client max protocol=SMB2_10",
        "-c",
        "ls",
    ]);
    assert!(!ok && text.contains("NT_STATUS_ACCESS_DENIED"), "{text}");
}

/// `encryption = "disabled"`: nothing is offered, so a client that insists on encryption
/// cannot connect, and one that does not is served in clear.
#[test]
fn disabled_policy_offers_no_encryption() {
    let s = server(
        "encryption = \"disabled\"",
        "[[smb.shares]]\nname = \"data\"\ndir = \".\"\n",
    );
    std::fs::write(s.backing.join("d.txt"), b"d").unwrap();
    let (ok, text) = s.smbclient(&[
        "//127.0.0.1/data",
        "-U",
        USER,
        "--client-protection=encrypt",
        "-c",
        "ls",
    ]);
    assert!(!ok, "{text}\n{}", s.log());
    let (ok, text) = s.smbclient(&["//127.0.0.1/data", "-U", USER, "-c", "ls"]);
    assert!(ok && text.contains("d.txt"), "{text}\n{}", s.log());
    assert!(!plain_log(&s).contains("client encrypts"), "{}", s.log());
}
