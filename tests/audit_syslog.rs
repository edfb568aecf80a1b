//! Real rsyslog (Debian) on loopback receives RFC 5424 messages over UDP, TCP (RFC 6587 octet
//! counting) and TLS (RFC 5425); the test reads rsyslog's output file.

mod audit_support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use audit_support::{file_event, free_port, make_certs, wait_until, ChildGuard, TempDir};
use shoal_audit::{AuditConfig, Auditor, SinkConfig, SinkKind, SyslogTransport, Topic};

fn rsyslogd() -> &'static str {
    let p = "/usr/sbin/rsyslogd";
    assert!(
        Path::new(p).exists(),
        "rsyslog is not installed (scripts/test installs rsyslog rsyslog-gnutls)"
    );
    p
}

#[test]
fn rsyslog_receives_rfc5424_over_udp_tcp_and_tls() {
    let bin = rsyslogd();
    let t = TempDir::new("rsyslog");
    let (ca, cert, key) = make_certs(&t.0);
    let (udp, tcp, tls) = (free_port(), free_port(), free_port());
    let out = t.0.join("out.log");
    let conf = t.0.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}" DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" port="{udp}" address="127.0.0.1")
input(type="imtcp" port="{tcp}" address="127.0.0.1")
input(type="imtcp" port="{tls}" address="127.0.0.1" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="t" type="string" string="%inputname%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\n")
*.* action(type="omfile" file="{out}" template="t")
"#,
            dir = t.0.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let _rsyslog = ChildGuard(
        Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(t.0.join("rsyslogd.pid"))
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(15), || {
            TcpStream::connect(("127.0.0.1", tcp)).is_ok()
                && TcpStream::connect(("127.0.0.1", tls)).is_ok()
        }),
        "rsyslogd did not start listening"
    );
    std::thread::sleep(Duration::from_millis(300)); // let imudp settle too

    for (name, transport, port) in [
        ("udp", SyslogTransport::Udp, udp),
        ("tcp", SyslogTransport::Tcp, tcp),
        ("tls", SyslogTransport::Tls, tls),
    ] {
        let log_dir = t.0.join(format!("audit-{name}"));
        let mut cfg = AuditConfig::new(&format!("node-{name}"), &log_dir);
        cfg.hostname = format!("host-{name}");
        cfg.sinks.push(SinkConfig {
            name: format!("syslog-{name}"),
            topics: vec![Topic::Protocol, Topic::Config],
            kind: SinkKind::Syslog {
                transport,
                address: format!("127.0.0.1:{port}"),
                ca_file: Some(ca.clone()),
                server_name: Some("localhost".into()),
                facility: 13,
            },
        });
        let auditor = Auditor::start(cfg).unwrap();
        for i in 0..20 {
            auditor.emit(file_event(i)).unwrap();
        }
        auditor.emit_config("admin", "audit.sinks").unwrap();
        let host = format!("|host-{name}|");
        let ok = wait_until(Duration::from_secs(15), || {
            std::fs::read_to_string(&out)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(&host))
                .count()
                >= 21
        });
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(ok, "{name}: rsyslog got:\n{text}");
        auditor.shutdown();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&host)).collect();
        let expect_input = if name == "udp" { "imudp" } else { "imtcp" };
        let protocol: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("|create_file|"))
            .collect();
        assert_eq!(protocol.len(), 20, "{name}: {lines:#?}");
        for (i, l) in protocol.iter().enumerate() {
            let f: Vec<&str> = l.splitn(6, '|').collect();
            assert_eq!(f[0], expect_input, "{l}");
            assert_eq!(f[2], "shoal-audit", "{l}");
            assert_eq!(
                f[4],
                format!("[shoal@32473 id=\"{}\" node=\"node-{name}\"]", i + 1),
                "{l}"
            );
            let json: serde_json::Value =
                serde_json::from_str(f[5].trim()).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(json["detailType"], "create_file");
            assert_eq!(json["fileName"], format!("/export/file-{i}"));
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("|config_change|") && l.contains("\"change\":\"audit.sinks\"")),
            "{lines:#?}"
        );
    }
}
