//! Test harness: starts the release `shoal` binary on free loopback ports with a config made
//! for the test, and stops it (SIGTERM, then SIGKILL) when dropped.
//!
//! The binary is `target/release/shoal` (build it once with `cargo build --release`;
//! `scripts/test` does) or `$SHOAL_BIN`.

#![allow(dead_code)]

pub mod nfs_raw;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Path of the shoal binary under test.
pub fn shoal_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SHOAL_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let p = target.join("release/shoal");
    assert!(
        p.exists(),
        "{} missing: run `cargo build --release` (scripts/test does)",
        p.display()
    );
    p
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "shoal-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SHOAL_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What the test wants in its config besides the parts the harness sets
/// (`[server]` dirs, listen addresses on port 0).
#[derive(Clone, Default)]
pub struct Opts {
    /// Lines added under `[nfs]` (e.g. `max_record = 9000`).
    pub nfs_extra: String,
    /// Lines added under `[smb]` (e.g. `signing = "enabled"`).
    pub smb_extra: String,
    /// Tables appended at the end: `[[zones]]`, `[[nfs.exports]]`, `[[smb.shares]]`, ...
    pub body: String,
}

impl Opts {
    /// Export `/data` over the whole backing dir, read-write for loopback without squash,
    /// and SMB share `data` over the same directory.
    pub fn standard() -> Opts {
        Opts {
            body: r#"
[[nfs.exports]]
path = "/data"
dir = "."
[[nfs.exports.clients]]
hosts = ["127.0.0.0/8"]
access = "rw"
squash = "none"

[[smb.shares]]
name = "data"
dir = "."
"#
            .to_string(),
            ..Opts::default()
        }
    }
}

/// A running shoal.
pub struct Server {
    pub dir: TempDir,
    pub backing: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub nfs_port: u16,
    pub smb_port: u16,
    child: Option<Child>,
}

impl Server {
    /// Starts shoal with `opts` and waits until every listener is bound.
    pub fn start(opts: Opts) -> Server {
        let dir = TempDir::new("srv");
        let backing = dir.0.join("backing");
        let state = dir.0.join("state");
        std::fs::create_dir_all(&backing).unwrap();
        let config = dir.0.join("shoal.toml");
        let text = format!(
            "[server]\nnode_name = \"test-node\"\nbacking_dir = {backing:?}\nstate_dir = {state:?}\n\n\
             [nfs]\nlisten = \"127.0.0.1:0\"\nregister_rpcbind = false\n{}\n\n\
             [smb]\nlisten = \"127.0.0.1:0\"\n{}\n\n{}\n",
            opts.nfs_extra, opts.smb_extra, opts.body
        );
        std::fs::write(&config, text).unwrap();
        let mut s = Server {
            dir,
            backing,
            state,
            config,
            nfs_port: 0,
            smb_port: 0,
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let ready = self.dir.0.join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.0.join("shoal.log"))
            .unwrap();
        let child = Command::new(shoal_bin())
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .arg("--ready-file")
            .arg(&ready)
            .env(
                "RUST_LOG",
                std::env::var("SHOAL_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn shoal");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                for line in text.lines() {
                    if let Some((proto, addr)) = line.split_once('=') {
                        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
                        match proto {
                            "nfs" => self.nfs_port = port,
                            "smb" => self.smb_port = port,
                            _ => {}
                        }
                    }
                }
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("shoal exited during start ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "shoal not ready in 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and starts the server again with the same config and directories.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends SIGTERM and waits (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_kill(c.id(), 15);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("shoal.log")).unwrap_or_default()
    }

    /// PID of the server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `nfs://127.0.0.1{export}{path}?version=3&nfsport=N&mountport=N` for libnfs tools.
    pub fn nfs_url(&self, export: &str, path: &str) -> String {
        format!(
            "nfs://127.0.0.1{export}{path}?version=3&nfsport={p}&mountport={p}",
            p = self.nfs_port
        )
    }

    /// Runs `shoal --config <this config> <args>` with `stdin` fed in.
    pub fn shoal(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(shoal_bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs `smbclient ARGS -p <smb port>` (5 min limit); returns success and stdout+stderr.
    pub fn smbclient(&self, args: &[&str]) -> (bool, String) {
        let out = run(
            Command::new("smbclient")
                .args(args)
                .arg("-p")
                .arg(self.smb_port.to_string()),
            Duration::from_secs(300),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Adds an SMB user through the CLI.
    /// `shoal audit view --topic <topic>`: the logged events, one JSON value each.
    pub fn audit_view(&self, topic: &str) -> Vec<serde_json::Value> {
        let out = self.shoal(&["audit", "view", "--topic", topic], "");
        assert!(
            out.status.success(),
            "audit view: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    pub fn add_user(&self, name: &str, password: &str) {
        let out = self.shoal(
            &["user", "add", name, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(
            out.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Runs a command with a timeout; returns its output. Stdout and stderr are drained while the
/// command runs (a full pipe cannot stall it). Panics naming the command on timeout.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    use std::io::Read;
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            panic!(
                "{desc}: timed out after {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The Python of the venv with smbprotocol (`$SHOAL_VENV` or `.venv` at the repository root;
/// scripts/test creates it).
pub fn venv_python() -> PathBuf {
    let venv = std::env::var("SHOAL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "{} missing: Python smbprotocol is needed; run scripts/test (it creates the venv: \
         python3 -m venv .venv && .venv/bin/pip install smbprotocol) or set SHOAL_VENV",
        py.display()
    );
    py
}

/// Deterministic pseudo-random bytes (xorshift), for test files.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Writes a pseudo-random file of `len` bytes.
pub fn write_random_file(path: &Path, len: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

/// SHA-256-free file equality: compares two files chunk by chunk.
pub fn files_equal(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = match (std::fs::File::open(a), std::fs::File::open(b)) {
        (Ok(x), Ok(y)) => (x, y),
        _ => return false,
    };
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Builds `tests/tools/nfs_op.c` against libnfs (once per test binary) and returns its path:
/// mkdir/rmdir/unlink/rename/chmod through the libnfs library, which the Debian command-line
/// tools do not offer.
pub fn nfs_op_tool() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/nfs_op.c");
            let out = std::env::temp_dir().join(format!("shoal-nfs-op-{}", std::process::id()));
            let st = Command::new("cc")
                .arg("-O1")
                .arg("-o")
                .arg(&out)
                .arg(&src)
                .arg("-lnfs")
                .status()
                .expect("cc");
            assert!(
                st.success(),
                "building nfs-op needs libnfs-dev (scripts/test installs it)"
            );
            out
        })
        .clone()
}

/// Runs the nfs-op tool against an export URL.
pub fn nfs_op(url: &str, args: &[&str]) -> Output {
    run(
        Command::new(nfs_op_tool()).arg(url).args(args),
        Duration::from_secs(60),
    )
}

/// Connects to `127.0.0.1:port` from `src` (any port when `src.port()` is 0; loopback
/// clients may use any 127.0.0.0/8 source address, so tests can play several hosts).
pub fn connect_from(
    src: std::net::SocketAddr,
    port: u16,
    recv_buffer: Option<u32>,
) -> std::io::Result<std::net::TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4()?;
        if let Some(n) = recv_buffer {
            sock.set_recv_buffer_size(n)?;
        }
        sock.set_reuseaddr(true)?;
        sock.bind(src)?;
        let s = sock
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await?;
        let s = s.into_std()?;
        s.set_nonblocking(false)?;
        Ok(s)
    })
}

/// Connects to `127.0.0.1:port` from a privileged source port (< 1024; the tests run as
/// root), as the kernel NFS client and the libnfs tools do: NFS exports are `secure`.
pub fn connect_reserved(port: u16) -> std::net::TcpStream {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(7919);
    let mut last = None;
    for _ in 0..400 {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let src_port = 600 + (base.wrapping_add(n) % 400) as u16;
        match connect_from(([127, 0, 0, 1], src_port).into(), port, None) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
    }
    panic!("no free reserved source port: {last:?}");
}

impl Server {
    /// Runs the Python `script` (smbprotocol in the venv) with this server's SMB port as its
    /// argument; asserts it exits 0 (showing its output and the server log otherwise) and
    /// returns its stdout.
    pub fn run_python(&self, script: &str) -> String {
        self.run_python_with(script, &[], &[])
    }

    /// [`Server::run_python`] with more arguments after the port and environment variables.
    pub fn run_python_with(&self, script: &str, args: &[String], env: &[(&str, &str)]) -> String {
        let out = run(
            Command::new(venv_python())
                .envs(env.iter().copied())
                .arg("-c")
                .arg(script)
                .arg(self.smb_port.to_string())
                .args(args),
            Duration::from_secs(120),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }
}
