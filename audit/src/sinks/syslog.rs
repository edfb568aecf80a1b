//! Syslog sink: RFC 5424 messages over UDP (RFC 5426, one message per datagram), TCP (RFC 6587
//! 3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`) or TLS (RFC 5425 4.3, the same framing over
//! TLS; rustls with the ring provider, server certificate verified against `ca_file`).
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [shoal@32473 id="N" node="NODE"] JSON
//! ```
//! PRI = facility × 8 + severity (6 informational for successes, 5 notice for failures).
//! MSGID is the event name (`create_file`, `config_change`). 32473 is the private enterprise
//! number reserved for documentation (RFC 5612). TCP and TLS deliveries count as done when
//! written to the socket (syslog has no application acknowledgement); UDP may lose messages.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::{Sink, SinkRecord};
use crate::config::SyslogTransport;
use crate::event::Topic;
use crate::log::record::FLAG_SYSLOG;
use crate::time::format_rfc3339;

const APP_NAME: &str = "shoal-audit";
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest UDP message sent (IPv4 UDP payload limit; RFC 5426 3.2 asks receivers for ≥ 2048).
const MAX_UDP: usize = 65_000;

fn sd_escape(s: &str) -> String {
    // RFC 5424 6.3.3: `"`, `\` and `]` are escaped in PARAM-VALUE.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn header_field(s: &str, max: usize) -> String {
    // PRINTUSASCII, no spaces; `-` when empty.
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v
    }
}

/// Formats one RFC 5424 message for a record.
pub fn format_5424(facility: u8, hostname: &str, procid: u32, rec: &SinkRecord) -> String {
    let (severity, msgid, node) = match &rec.event {
        Some(e) => (
            if e.succeeded() { 6 } else { 5 },
            e.detail_type.as_str(),
            e.node.as_str(),
        ),
        None => (6, "-", ""),
    };
    let pri = u32::from(facility) * 8 + severity;
    format!(
        "<{pri}>1 {} {} {APP_NAME} {procid} {} [shoal@32473 id=\"{}\" node=\"{}\"] {}",
        format_rfc3339(rec.ts),
        header_field(hostname, 255),
        header_field(msgid, 32),
        rec.id,
        sd_escape(node),
        String::from_utf8_lossy(&rec.json)
    )
}

/// Appends the RFC 6587 octet-counted frame of `msg`.
pub fn frame_octet_counted(out: &mut Vec<u8>, msg: &str) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg.as_bytes());
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A syslog destination.
pub struct SyslogSink {
    transport: SyslogTransport,
    address: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    facility: u8,
    hostname: String,
    conn: Option<Conn>,
}

fn tcp_connect(address: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{address}: no address"));
    for a in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A rustls client config trusting the CA certificates of a PEM file.
pub fn tls_client_config(ca_file: &Path) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", ca_file.display()),
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", ca_file.display()),
            )
        })?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

impl SyslogSink {
    /// A sink; TLS settings are loaded now (a bad CA file fails here).
    pub fn new(
        transport: SyslogTransport,
        address: String,
        ca_file: Option<&Path>,
        server_name: Option<String>,
        facility: u8,
        hostname: String,
    ) -> io::Result<SyslogSink> {
        let tls = match transport {
            SyslogTransport::Tls => {
                let ca = ca_file.ok_or_else(|| io::Error::other("tls needs ca_file"))?;
                let name = server_name.unwrap_or_else(|| {
                    let host = address
                        .rsplit_once(':')
                        .map_or(address.as_str(), |(h, _)| h);
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                });
                let sn = ServerName::try_from(name)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                Some((tls_client_config(ca)?, sn))
            }
            _ => None,
        };
        Ok(SyslogSink {
            transport,
            address,
            tls,
            facility,
            hostname,
            conn: None,
        })
    }

    fn connect(&mut self) -> io::Result<&mut Conn> {
        if self.conn.is_none() {
            let conn = match self.transport {
                SyslogTransport::Udp => {
                    let target =
                        self.address.to_socket_addrs()?.next().ok_or_else(|| {
                            io::Error::other(format!("{}: no address", self.address))
                        })?;
                    let bind = if target.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let s = UdpSocket::bind(bind)?;
                    s.connect(target)?;
                    Conn::Udp(s)
                }
                SyslogTransport::Tcp => Conn::Tcp(tcp_connect(&self.address)?),
                SyslogTransport::Tls => {
                    let (cfg, name) = self
                        .tls
                        .clone()
                        .ok_or_else(|| io::Error::other("no tls config"))?;
                    let tcp = tcp_connect(&self.address)?;
                    let conn =
                        rustls::ClientConnection::new(cfg, name).map_err(io::Error::other)?;
                    let mut s = rustls::StreamOwned::new(conn, tcp);
                    // Complete the handshake now so certificate errors surface here.
                    while s.conn.is_handshaking() {
                        s.conn.complete_io(&mut s.sock)?;
                    }
                    Conn::Tls(Box::new(s))
                }
            };
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| io::Error::other("syslog: not connected"))
    }
}

impl Sink for SyslogSink {
    fn send(&mut self, topic: Topic, batch: &[SinkRecord]) -> io::Result<()> {
        let procid = std::process::id();
        let msgs: Vec<String> = batch
            .iter()
            .filter(|r| topic == Topic::Config || r.flags & FLAG_SYSLOG != 0)
            .map(|r| format_5424(self.facility, &self.hostname, procid, r))
            .collect();
        if msgs.is_empty() {
            return Ok(());
        }
        match self.connect()? {
            Conn::Udp(s) => {
                for m in &msgs {
                    let b = m.as_bytes();
                    s.send(&b[..b.len().min(MAX_UDP)])?;
                }
            }
            Conn::Tcp(s) => {
                let mut buf = Vec::new();
                for m in &msgs {
                    frame_octet_counted(&mut buf, m);
                }
                s.write_all(&buf)?;
                s.flush()?;
            }
            Conn::Tls(s) => {
                let mut buf = Vec::new();
                for m in &msgs {
                    frame_octet_counted(&mut buf, m);
                }
                s.write_all(&buf)?;
                s.flush()?;
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.close();
    }
}

impl SyslogSink {
    fn close(&mut self) {
        if let Some(Conn::Tls(mut s)) = self.conn.take() {
            // RFC 5425 4.4: close with a TLS closure alert.
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_shape_and_framing() {
        let json = br#"{"id":7,"detailType":"create_file"}"#.to_vec();
        let rec = SinkRecord {
            id: 7,
            ts: 1_764_078_395_123_456,
            flags: FLAG_SYSLOG,
            json,
            event: None,
        };
        let m = format_5424(13, "filer one", 42, &rec);
        assert_eq!(
            m,
            "<110>1 2025-11-25T13:46:35.123456Z filerone shoal-audit 42 - [shoal@32473 id=\"7\" node=\"\"] {\"id\":7,\"detailType\":\"create_file\"}"
        );
        let mut out = Vec::new();
        frame_octet_counted(&mut out, "abc");
        frame_octet_counted(&mut out, "héllo");
        assert_eq!(out, b"3 abc6 h\xc3\xa9llo");
        assert_eq!(sd_escape("a\"b]c\\"), "a\\\"b\\]c\\\\");
    }
}
