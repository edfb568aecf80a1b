//! Dell Common Event Enabler (CEE/CEPA) sink: each event is one HTTP/1.1
//! `PUT http://HOST:12228/cee` whose body is a `CheckFileRequest` (the shape OneFS sends):
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <CheckFileRequest><Args action="11" sourceIP="…" sourceID="1" name="B64(UTF-16LE \\host\path)" protocol="1|0">
//!   <Cluster id="NODE" name="B64(hostname)"/><Zone id="1" name="B64(System)"/></Args>
//!   <NFSEventArgs eventType="BIT" desiredAccess="0x…" createDispo="0x…" numberOfWrites="…"
//!     numberOfReads="…" bytesRead="…" bytesWritten="…" userSid="S-…" clientIP="…"
//!     serverName="B64(hostname)" ntStatus="0x…" userId="…" timeStamp="SECS"
//!     timeStampMicroSeconds="USECS" inode="…" fsId="1"/></CheckFileRequest>
//! ```
//! `eventType` is the CEE bitmask bit of the event ([`crate::EventName::cee_bit`]);
//! `action="9"` is the heartbeat. `protocol` is 1 for NFS, 0 for SMB. Events without a CEE
//! type (logon, get_security, ...) are not sent. Several URIs are used in parallel: a batch is
//! cut into one contiguous chunk per endpoint, sent concurrently; a chunk whose endpoint
//! fails is retried on the others. The HTTP client is a minimal keep-alive HTTP/1.1 client
//! (no TLS: CEE listens on plain HTTP).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use super::{Sink, SinkRecord};
use crate::event::{AuditEvent, EventName, Topic};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
const MAX_RESPONSE_BODY: usize = 1 << 20;

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// base64 of the UTF-16LE encoding of `s` (how CEE carries names).
pub fn b64_utf16le(s: &str) -> String {
    let bytes: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    base64(&bytes)
}

fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn unc(hostname: &str, path: &str) -> String {
    format!("\\\\{hostname}{}", path.replace('/', "\\"))
}

/// The `CheckFileRequest` body of an event, or `None` when the event has no CEE type.
pub fn event_xml(e: &AuditEvent, hostname: &str, source_ip: &str) -> Option<String> {
    let bit = EventName::parse(&e.detail_type)?.cee_bit()?;
    let protocol = if e.protocol == "NFS3" { 1 } else { 0 };
    let secs = e.timestamp.div_euclid(1_000_000);
    let usecs = e.timestamp.rem_euclid(1_000_000);
    let mut args = format!(
        "<NFSEventArgs eventType=\"{bit}\" desiredAccess=\"0x{:x}\" createDispo=\"0x{:x}\" \
         numberOfWrites=\"{}\" numberOfReads=\"{}\" bytesRead=\"{}\" bytesWritten=\"{}\" \
         userSid=\"{}\" clientIP=\"{}\" serverName=\"{}\" ntStatus=\"0x{:x}\" userId=\"{}\" \
         timeStamp=\"{secs}\" timeStampMicroSeconds=\"{usecs}\" inode=\"{}\" fsId=\"1\"",
        e.desired_access.unwrap_or(0),
        e.create_dispo.unwrap_or(0),
        u8::from(e.bytes_written.is_some_and(|b| b > 0)),
        u8::from(e.bytes_read.is_some_and(|b| b > 0)),
        e.bytes_read.unwrap_or(0),
        e.bytes_written.unwrap_or(0),
        xml_attr(&e.user_sid),
        xml_attr(&e.client_ip_addr),
        b64_utf16le(hostname),
        e.nt_status,
        e.user_id,
        e.inode.unwrap_or(0),
    );
    if let Some(n) = &e.new_file_name {
        args.push_str(&format!(" newName=\"{}\"", b64_utf16le(&unc(hostname, n))));
    }
    args.push_str("/>");
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <CheckFileRequest><Args action=\"11\" sourceIP=\"{}\" sourceID=\"1\" name=\"{}\" protocol=\"{protocol}\">\
         <Cluster id=\"{}\" name=\"{}\"/><Zone id=\"{}\" name=\"{}\"/></Args>{args}</CheckFileRequest>",
        xml_attr(source_ip),
        b64_utf16le(&unc(hostname, &e.file_name)),
        xml_attr(&e.node),
        b64_utf16le(hostname),
        e.zone_id,
        b64_utf16le(&e.zone_name),
    ))
}

/// The heartbeat body (`action="9"`).
pub fn heartbeat_xml(hostname: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CheckFileRequest><Args action=\"9\" name=\"{}\"/></CheckFileRequest>",
        b64_utf16le(hostname)
    )
}

/// A parsed `http://host[:port]/path` URI (port default 12228, path default `/cee`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` for connecting and the Host header.
    pub authority: String,
    /// Request path.
    pub path: String,
}

impl Endpoint {
    /// Parses a URI.
    pub fn parse(uri: &str) -> Result<Endpoint, String> {
        let rest = uri
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{uri}`: only http:// URIs (CEE speaks plain HTTP)"))?;
        let (auth, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/cee"),
        };
        if auth.is_empty() {
            return Err(format!("`{uri}`: no host"));
        }
        let has_port = match auth.rfind(':') {
            Some(i) => !auth[i..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            auth.to_string()
        } else {
            format!("{auth}:12228")
        };
        Ok(Endpoint {
            authority,
            path: path.to_string(),
        })
    }
}

struct Conn {
    stream: BufReader<TcpStream>,
    local_ip: String,
}

struct EndpointState {
    ep: Endpoint,
    conn: Mutex<Option<Conn>>,
}

impl EndpointState {
    fn connect(&self) -> io::Result<Conn> {
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no address", self.ep.authority),
        );
        for a in self.ep.authority.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    let local_ip = s.local_addr()?.ip().to_string();
                    return Ok(Conn {
                        stream: BufReader::new(s),
                        local_ip,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// PUTs each body in order on one keep-alive connection; each must get a 2xx.
    fn put_all(
        &self,
        bodies: &mut dyn Iterator<Item = Box<dyn Fn(&str) -> String + '_>>,
    ) -> io::Result<()> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        for body in bodies {
            if guard.is_none() {
                *guard = Some(self.connect()?);
            }
            let Some(conn) = guard.as_mut() else { continue };
            let body = body(&conn.local_ip);
            let res = put(conn, &self.ep, body.as_bytes());
            match res {
                Ok(keep) => {
                    if !keep {
                        *guard = None;
                    }
                }
                Err(e) => {
                    *guard = None;
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// One PUT; returns whether the connection may be reused.
fn put(conn: &mut Conn, ep: &Endpoint, body: &[u8]) -> io::Result<bool> {
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        ep.path,
        ep.authority,
        body.len()
    );
    let s = conn.stream.get_mut();
    let mut req = Vec::with_capacity(head.len() + body.len());
    req.extend_from_slice(head.as_bytes());
    req.extend_from_slice(body);
    s.write_all(&req)?;
    // Response head.
    let mut status_line = String::new();
    if conn.stream.read_line(&mut status_line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "CEE closed the connection",
        ));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let mut content_length = 0usize;
    let mut keep = !status_line.starts_with("HTTP/1.0");
    let mut head_len = status_line.len();
    loop {
        let mut line = String::new();
        if conn.stream.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated response",
            ));
        }
        head_len += line.len();
        if head_len > MAX_RESPONSE_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad content-length")
                })?;
            } else if k.eq_ignore_ascii_case("connection") {
                keep = !v.eq_ignore_ascii_case("close");
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                // Not needed by CEE; refuse rather than misparse.
                keep = false;
            }
        }
    }
    if content_length > MAX_RESPONSE_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "response body too large",
        ));
    }
    let mut body = vec![0u8; content_length];
    conn.stream.read_exact(&mut body)?;
    if !(200..300).contains(&status) {
        return Err(io::Error::other(format!("CEE answered HTTP {status}")));
    }
    Ok(keep)
}

/// Sends events to one or more CEE servers.
pub struct CeeSink {
    endpoints: Vec<EndpointState>,
    heartbeat: Option<Duration>,
    hostname: String,
    next: usize,
}

impl CeeSink {
    /// A sink for `uris`.
    pub fn new(
        uris: &[String],
        heartbeat: Option<Duration>,
        hostname: String,
    ) -> io::Result<CeeSink> {
        let endpoints = uris
            .iter()
            .map(|u| {
                Endpoint::parse(u).map(|ep| EndpointState {
                    ep,
                    conn: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if endpoints.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CEE URI"));
        }
        Ok(CeeSink {
            endpoints,
            heartbeat,
            hostname,
            next: 0,
        })
    }

    fn send_chunk(&self, first: usize, events: &[&AuditEvent]) -> io::Result<()> {
        let n = self.endpoints.len();
        let mut last = None;
        for k in 0..n {
            let ep = &self.endpoints[(first + k) % n];
            let host = &self.hostname;
            let mut it = events.iter().map(|e| -> Box<dyn Fn(&str) -> String + '_> {
                Box::new(move |ip: &str| event_xml(e, host, ip).unwrap_or_default())
            });
            match ep.put_all(&mut it) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(endpoint = %ep.ep.authority, error = %e, "CEE endpoint failed");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no CEE endpoint")))
    }
}

impl Sink for CeeSink {
    fn send(&mut self, _topic: Topic, batch: &[SinkRecord]) -> io::Result<()> {
        let events: Vec<&AuditEvent> = batch
            .iter()
            .filter_map(|r| r.event.as_ref())
            .filter(|e| e.name().and_then(EventName::cee_bit).is_some())
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let n = self.endpoints.len().min(events.len());
        let first = self.next;
        self.next = (self.next + 1) % self.endpoints.len();
        if n == 1 {
            return self.send_chunk(first, &events);
        }
        let per = events.len().div_ceil(n);
        let this = &*self;
        std::thread::scope(|s| {
            let handles: Vec<_> = events
                .chunks(per)
                .enumerate()
                .map(|(i, chunk)| s.spawn(move || this.send_chunk(first + i, chunk)))
                .collect();
            let mut res = Ok(());
            for h in handles {
                match h.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => res = Err(e),
                    Err(_) => res = Err(io::Error::other("CEE sender panicked")),
                }
            }
            res
        })
    }

    fn heartbeat(&mut self) -> io::Result<()> {
        let body = heartbeat_xml(&self.hostname);
        let mut res = Ok(());
        for ep in &self.endpoints {
            let b = body.clone();
            let mut it =
                std::iter::once(Box::new(move |_: &str| b.clone()) as Box<dyn Fn(&str) -> String>);
            if let Err(e) = ep.put_all(&mut it) {
                res = Err(e);
            }
        }
        res
    }

    fn heartbeat_interval(&self) -> Option<Duration> {
        self.heartbeat
    }

    fn reset(&mut self) {
        for ep in &self.endpoints {
            *ep.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        // "powerscale1" as OneFS sends it.
        assert_eq!(
            b64_utf16le("powerscale1"),
            "cABvAHcAZQByAHMAYwBhAGwAZQAxAA=="
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("http://10.0.0.1:12228/cee").unwrap(),
            Endpoint {
                authority: "10.0.0.1:12228".into(),
                path: "/cee".into()
            }
        );
        assert_eq!(
            Endpoint::parse("http://cee.example").unwrap().authority,
            "cee.example:12228"
        );
        assert_eq!(
            Endpoint::parse("http://[::1]/cee").unwrap().authority,
            "[::1]:12228"
        );
        assert!(Endpoint::parse("https://x/cee").is_err());
    }

    #[test]
    fn xml_shape() {
        let caller = shoal_vfs::Caller {
            uid: 1000,
            gid: 1000,
            groups: vec![],
            sid: None,
            client_addr: "10.26.1.222:900".parse().unwrap(),
            zone: shoal_vfs::ZoneId(1),
            protocol: shoal_vfs::Protocol::Nfs3,
        };
        let mut e = AuditEvent::new(EventName::CreateFile, &caller).with_file("/dir/a&b.txt");
        e.timestamp = 1_786_563_708_018_481;
        e.zone_name = "System".into();
        e.inode = Some(4_295_432_746);
        e.create_dispo = Some(3);
        let x = event_xml(&e, "powerscale1", "10.26.1.150").unwrap();
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><CheckFileRequest><Args action=\"11\" sourceIP=\"10.26.1.150\""), "{x}");
        assert!(x.contains("eventType=\"8\""), "{x}");
        assert!(
            x.contains(&format!(
                "name=\"{}\"",
                b64_utf16le("\\\\powerscale1\\dir\\a&b.txt")
            )),
            "{x}"
        );
        assert!(
            x.contains("userSid=\"S-1-22-1-1000\" clientIP=\"10.26.1.222\""),
            "{x}"
        );
        assert!(
            x.contains(
                "timeStamp=\"1786563708\" timeStampMicroSeconds=\"18481\" inode=\"4295432746\""
            ),
            "{x}"
        );
        assert!(x.contains("createDispo=\"0x3\""), "{x}");
        assert!(x.contains("protocol=\"1\""));
        assert!(x.ends_with("/></CheckFileRequest>"));
        // Not forwarded to CEE.
        assert!(event_xml(&AuditEvent::new(EventName::Logon, &caller), "h", "ip").is_none());
        assert!(heartbeat_xml("powerscale1")
            .contains("action=\"9\" name=\"cABvAHcAZQByAHMAYwBhAGwAZQAxAA==\""));
    }
}
