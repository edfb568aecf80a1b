//! CEE over HTTP: a test endpoint checks the `CheckFileRequest` XML shape and heartbeats;
//! stop it, generate 10,000 events, start it again: all 10,000 arrive, in order. Two URIs
//! share the load.

mod audit_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_support::{caller, file_event, free_port, wait_until, TempDir};
use shoal_audit::sinks::cee::b64_utf16le;
use shoal_audit::{AuditConfig, AuditEvent, Auditor, EventName, SinkConfig, SinkKind, Topic};

/// A minimal CEE stand-in: answers every PUT /cee with 200 and records the bodies.
struct Endpoint {
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    fn start(port: u16, bodies: Arc<Mutex<Vec<String>>>) -> Endpoint {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).unwrap();
                        c.lock().unwrap().push(sock.try_clone().unwrap());
                        let b = bodies.clone();
                        std::thread::spawn(move || serve(sock, b));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Endpoint {
            stop,
            conns,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn serve(sock: TcpStream, bodies: Arc<Mutex<Vec<String>>>) {
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let mut w = sock;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        assert!(line.starts_with("PUT /cee HTTP/1.1"), "{line:?}");
        let mut len = 0usize;
        let mut ctype = String::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
            if k.eq_ignore_ascii_case("content-type") {
                ctype = v.trim().to_string();
            }
        }
        assert!(ctype.starts_with("application/xml"), "{ctype}");
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        // Record before answering: what is acknowledged has arrived.
        bodies
            .lock()
            .unwrap()
            .push(String::from_utf8(body).unwrap());
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn attr<'a>(xml: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let i = xml
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + key.len();
    let j = xml[i..].find('"').unwrap() + i;
    &xml[i..j]
}

fn events_only(bodies: &Mutex<Vec<String>>) -> Vec<String> {
    bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains("action=\"11\""))
        .cloned()
        .collect()
}

fn cee_config(log_dir: &std::path::Path, uris: Vec<String>) -> AuditConfig {
    let mut cfg = AuditConfig::new("n1", log_dir);
    cfg.hostname = "filer1".into();
    cfg.sinks.push(SinkConfig {
        name: "cee".into(),
        topics: vec![Topic::Protocol],
        kind: SinkKind::Cee {
            uris,
            heartbeat: Some(Duration::from_millis(300)),
        },
    });
    cfg
}

#[test]
fn cee_xml_shape_heartbeat_and_catch_up_in_order() {
    let t = TempDir::new("cee");
    let port = free_port();
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let ep = Endpoint::start(port, bodies.clone());
    let auditor = Auditor::start(cee_config(
        &t.0,
        vec![format!("http://127.0.0.1:{port}/cee")],
    ))
    .unwrap();

    // Shape.
    let mut e = AuditEvent::new(EventName::RenameFile, &caller(1000)).with_file("/export/a.txt");
    e.new_file_name = Some("/export/b.txt".into());
    e.inode = Some(77);
    auditor.emit(e).unwrap();
    auditor
        .emit(AuditEvent::new(EventName::Logon, &caller(1000)))
        .unwrap(); // not a CEE event
    auditor
        .emit(file_event(0).with_status(0xC000_0022))
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || events_only(&bodies)
        .len()
        >= 2));
    let ev = events_only(&bodies);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    let x = &ev[0];
    assert!(
        x.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CheckFileRequest><Args action=\"11\""
        ),
        "{x}"
    );
    assert_eq!(attr(x, "eventType"), "512"); // CEPP_RENAME_FILE
    assert_eq!(attr(x, "name"), b64_utf16le("\\\\filer1\\export\\a.txt"));
    assert_eq!(attr(x, "newName"), b64_utf16le("\\\\filer1\\export\\b.txt"));
    assert_eq!(attr(x, "userSid"), "S-1-22-1-1000");
    assert_eq!(attr(x, "clientIP"), "198.51.100.7");
    assert_eq!(attr(x, "serverName"), b64_utf16le("filer1"));
    assert_eq!(attr(x, "protocol"), "1");
    assert_eq!(attr(x, "inode"), "77");
    assert_eq!(attr(x, "sourceIP"), "127.0.0.1");
    assert!(attr(x, "timeStamp").parse::<i64>().unwrap() > 1_700_000_000);
    assert!(attr(x, "timeStampMicroSeconds").parse::<u32>().unwrap() < 1_000_000);
    assert!(
        x.contains("<Zone id=\"1\" name=\"") && x.ends_with("/></CheckFileRequest>"),
        "{x}"
    );
    assert_eq!(attr(&ev[1], "eventType"), "8");
    assert_eq!(attr(&ev[1], "ntStatus"), "0xc0000022");
    // Heartbeats while idle.
    assert!(wait_until(Duration::from_secs(10), || bodies
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.contains("action=\"9\""))));

    // Stop the endpoint, log 10,000 events, start it again.
    ep.stop();
    bodies.lock().unwrap().clear();
    for i in 0..10_000 {
        auditor.emit(file_event(i)).unwrap();
    }
    assert!(auditor.flush(Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(1500)); // forwarder fails and backs off meanwhile
    assert!(events_only(&bodies).is_empty());
    let ep = Endpoint::start(port, bodies.clone());
    assert!(
        wait_until(Duration::from_secs(90), || events_only(&bodies).len()
            >= 10_000),
        "only {} arrived",
        events_only(&bodies).len()
    );
    let ev = events_only(&bodies);
    // At-least-once: a batch interrupted by the stop may repeat a prefix; after dropping
    // such repeats, the 10,000 are there exactly once, in order.
    let names: Vec<&str> = ev.iter().map(|x| attr(x, "name")).collect();
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&str> = names.iter().copied().filter(|n| seen.insert(*n)).collect();
    let expect: Vec<String> = (0..10_000)
        .map(|i| b64_utf16le(&format!("\\\\filer1\\export\\file-{i}")))
        .collect();
    assert_eq!(unique.len(), 10_000);
    assert!(
        unique.iter().zip(&expect).all(|(a, b)| a == b),
        "out of order"
    );
    assert_eq!(
        ev.len(),
        10_000,
        "no duplicates expected: nothing was in flight at the stop"
    );
    auditor.shutdown();
    ep.stop();
}

#[test]
fn cee_load_balances_over_several_uris() {
    let t = TempDir::new("cee2");
    let (p1, p2) = (free_port(), free_port());
    let (b1, b2): (Arc<Mutex<Vec<String>>>, Arc<Mutex<Vec<String>>>) =
        (Arc::default(), Arc::default());
    let e1 = Endpoint::start(p1, b1.clone());
    let e2 = Endpoint::start(p2, b2.clone());
    let auditor = Auditor::start(cee_config(
        &t.0,
        vec![
            format!("http://127.0.0.1:{p1}/cee"),
            format!("http://127.0.0.1:{p2}/cee"),
        ],
    ))
    .unwrap();
    for i in 0..2_000 {
        auditor.emit(file_event(i)).unwrap();
    }
    assert!(wait_until(Duration::from_secs(60), || events_only(&b1)
        .len()
        + events_only(&b2).len()
        >= 2_000));
    let (n1, n2) = (events_only(&b1).len(), events_only(&b2).len());
    assert_eq!(n1 + n2, 2_000);
    assert!(n1 > 200 && n2 > 200, "unbalanced: {n1} / {n2}");
    // One endpoint down: the other takes everything.
    e2.stop();
    for i in 2_000..2_500 {
        auditor.emit(file_event(i)).unwrap();
    }
    assert!(wait_until(Duration::from_secs(60), || events_only(&b1)
        .len()
        >= n1 + 500));
    auditor.shutdown();
    e1.stop();
}
