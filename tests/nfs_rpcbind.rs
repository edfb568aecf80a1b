//! Registration with rpcbind: inside a private network and mount namespace (so a host
//! rpcbind, if any, is untouched), a real `rpcbind` listens on 127.0.0.1:111, shoal registers
//! NFS v3 and MOUNT v3 with it, `rpcinfo -p` shows them on shoal's port, and `nfs-ls` finds
//! the server through the portmapper alone (no ports in the URL).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, shoal_bin, TempDir};

#[test]
fn registers_with_rpcbind_and_libnfs_finds_it_without_ports() {
    let dir = TempDir::new("rpcbind");
    let backing = dir.0.join("backing");
    std::fs::create_dir_all(&backing).unwrap();
    std::fs::write(backing.join("found-via-portmapper.txt"), b"x").unwrap();
    let cfg = dir.0.join("shoal.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbacking_dir = {backing:?}\nstate_dir = {:?}\n[nfs]\nlisten = \"127.0.0.1:0\"\n\
             register_rpcbind = true\n[smb]\nenabled = false\n[[nfs.exports]]\npath = \"/data\"\n\
             [[nfs.exports.clients]]\nhosts = [\"127.0.0.1\"]\n",
            dir.0.join("state")
        ),
    )
    .unwrap();
    let ready = dir.0.join("ready");
    let script = format!(
        r#"set -e
mount -t tmpfs tmpfs /run
ip link set lo up
rpcbind -w -f & RB=$!
for i in $(seq 100); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.05; done
{shoal} --config {cfg} serve --ready-file {ready} 2>{log} & S=$!
for i in $(seq 200); do [ -f {ready} ] && break; sleep 0.05; done
sleep 0.3
echo "PORT $(sed -n 's/^nfs=.*://p' {ready})"
rpcinfo -p 127.0.0.1
echo "LS"
nfs-ls 'nfs://127.0.0.1/data?version=3' || echo "nfs-ls failed"
kill $S; wait $S || true
kill $RB; wait $RB || true
"#,
        shoal = shoal_bin().display(),
        cfg = cfg.display(),
        ready = ready.display(),
        log = dir.0.join("shoal.log").display(),
    );
    let out = run(
        Command::new("unshare").args(["-nm", "bash", "-c", &script]),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(dir.0.join("shoal.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{text}\n{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("PORT "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port: {text}\n{log}"));
    let registered = |prog: &str| {
        text.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[0] == prog && f[1] == "3" && f[2] == "tcp" && f[3] == port.to_string()
        })
    };
    assert!(
        registered("100003"),
        "NFS v3 not registered on port {port}:\n{text}"
    );
    assert!(
        registered("100005"),
        "MOUNT v3 not registered on port {port}:\n{text}"
    );
    let ls = text.split("LS\n").nth(1).unwrap_or("");
    assert!(
        ls.contains("found-via-portmapper.txt"),
        "nfs-ls via portmapper:\n{ls}\n{log}"
    );
}
