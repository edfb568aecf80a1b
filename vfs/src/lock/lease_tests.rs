//! The oplock and lease policy through [`LockManager`]: scenarios as smbtorture's
//! `smb2.oplock` and `smb2.lease` drive them (who is granted what, which breaks go out,
//! who waits), and the acknowledgment rules.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::lock::access::{READ_DATA, WRITE_DATA};
use crate::lock::share_access::{ALL, READ as SR};
use crate::lock::{EventSink, LockConfig, LockManager, OpenGrant, OpenRequest, Waiter};

const FILE: FileKey = FileKey { fsid: 1, ino: 7 };
const RW_ACCESS: u32 = READ_DATA | WRITE_DATA;
const KEY1: [u8; 16] = [1; 16];
const KEY2: [u8; 16] = [2; 16];
const GUID_A: [u8; 16] = [0xa; 16];
const GUID_B: [u8; 16] = [0xb; 16];

#[derive(Default)]
struct Recorder(Mutex<Vec<LockEvent>>);

impl EventSink for Recorder {
    fn send(&self, event: LockEvent) -> bool {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
        true
    }
}

/// One client connection: its sink, what it received, its ClientGuid.
struct Client {
    sink: SinkId,
    rec: Arc<Recorder>,
    guid: [u8; 16],
}

impl Client {
    fn new(m: &LockManager, guid: [u8; 16]) -> Client {
        let rec = Arc::new(Recorder::default());
        let sink = m.register_sink(rec.clone());
        Client { sink, rec, guid }
    }

    /// The breaks received since the last call (wake-ups left out).
    fn breaks(&self) -> Vec<LockEvent> {
        let mut v = self
            .rec
            .0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap();
        v.retain(|e| !matches!(e, LockEvent::Wake { .. }));
        v
    }

    fn lease(&self, key: [u8; 16], state: u32) -> Request {
        Request::Lease(LeaseRequest {
            client: self.guid,
            key,
            state,
            parent: None,
            v2: false,
            epoch: 0,
        })
    }

    fn lease_v2(&self, key: [u8; 16], state: u32, epoch: u16) -> Request {
        Request::Lease(LeaseRequest {
            client: self.guid,
            key,
            state,
            parent: Some([9; 16]),
            v2: true,
            epoch,
        })
    }
}

fn manager() -> Arc<LockManager> {
    LockManager::in_memory(LockConfig::default())
}

/// An open of FILE by `c` with the given access, share mode and disposition.
fn open_as(
    m: &LockManager,
    c: &Client,
    access: u32,
    share: u32,
    overwrite: bool,
    caching: &Request,
) -> Result<OpenGrant, VfsError> {
    m.open(&OpenRequest {
        key: FILE,
        sink: c.sink,
        access,
        share,
        delete_on_close: false,
        is_dir: false,
        overwrite,
        link: None,
        path: None,
        caching,
        waiter: Some(Waiter {
            sink: c.sink,
            token: 1,
        }),
    })
}

fn open(m: &LockManager, c: &Client, caching: &Request) -> Result<OpenGrant, VfsError> {
    open_as(m, c, RW_ACCESS, ALL, false, caching)
}

fn oplock(l: OplockLevel) -> Request {
    Request::Oplock(l)
}

fn lease_state_of(g: &OpenGrant) -> u32 {
    match g.granted {
        Granted::Lease { state, .. } => state,
        _ => panic!("not a lease: {:?}", g.granted),
    }
}

fn obreak(open: OpenId, to: OplockLevel) -> LockEvent {
    LockEvent::OplockBreak {
        file: FILE,
        open,
        to,
    }
}

fn lbreak(c: &Client, key: [u8; 16], from: u32, to: u32, ack: bool) -> LockEvent {
    LockEvent::LeaseBreak {
        file: FILE,
        client: c.guid,
        key,
        from,
        to,
        epoch: 0,
        ack_required: ack,
    }
}

const RH: u32 = R | H;

/// A result with the error as its NTSTATUS (VfsError is not PartialEq: it carries io::Error).
fn code<T>(r: Result<T, VfsError>) -> Result<T, u32> {
    r.map_err(|e| e.nt_status())
}
const RW: u32 = R | W;
const RWH: u32 = R | W | H;

// ---- oplocks ----

#[test]
fn exclusive_and_batch_only_for_the_only_open() {
    for level in [
        OplockLevel::Batch,
        OplockLevel::Exclusive,
        OplockLevel::Level2,
    ] {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let g = open(&m, &a, &oplock(level)).unwrap();
        assert_eq!(g.granted, Granted::Oplock(level));
        m.close(FILE, g.id);
    }
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &Request::None).unwrap();
    let g = open(&m, &b, &oplock(OplockLevel::Batch)).unwrap();
    assert_eq!(g.granted, Granted::Oplock(OplockLevel::Level2));
    assert!(a.breaks().is_empty());
}

/// Table: holder's oplock, the second open (overwrite?, sharing violation?) -> the break
/// the holder receives, whether the second open waits, and what it finally gets.
#[test]
fn second_open_breaks_oplocks_as_samba_does() {
    use OplockLevel::{Batch, Exclusive, Level2};
    struct Case {
        held: OplockLevel,
        overwrite: bool,
        deny: bool,
        brk: Option<OplockLevel>,
        wait: bool,
    }
    let cases = [
        Case {
            held: Batch,
            overwrite: false,
            deny: false,
            brk: Some(Level2),
            wait: true,
        },
        Case {
            held: Exclusive,
            overwrite: false,
            deny: false,
            brk: Some(Level2),
            wait: true,
        },
        Case {
            held: Level2,
            overwrite: false,
            deny: false,
            brk: None,
            wait: false,
        },
        Case {
            held: Batch,
            overwrite: true,
            deny: false,
            brk: Some(OplockLevel::None),
            wait: true,
        },
        Case {
            held: Exclusive,
            overwrite: true,
            deny: false,
            brk: Some(OplockLevel::None),
            wait: true,
        },
        Case {
            held: Level2,
            overwrite: true,
            deny: false,
            brk: Some(OplockLevel::None),
            wait: false,
        },
        // A sharing violation takes handle caching: batch breaks and the open waits (the
        // holder may close); exclusive and level II hold no H and are left alone.
        Case {
            held: Batch,
            overwrite: false,
            deny: true,
            brk: Some(Level2),
            wait: true,
        },
        Case {
            held: Exclusive,
            overwrite: false,
            deny: true,
            brk: None,
            wait: false,
        },
        Case {
            held: Level2,
            overwrite: false,
            deny: true,
            brk: None,
            wait: false,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let b = Client::new(&m, GUID_B);
        let share_a = if c.deny { SR } else { ALL };
        let ga = open_as(&m, &a, RW_ACCESS, share_a, false, &oplock(c.held)).unwrap();
        let r = open_as(&m, &b, RW_ACCESS, ALL, c.overwrite, &oplock(Batch));
        let expect_breaks: Vec<_> = c.brk.iter().map(|l| obreak(ga.id, *l)).collect();
        assert_eq!(a.breaks(), expect_breaks, "case {i}");
        match (&r, c.wait, c.deny) {
            (Err(VfsError::WouldBlock), true, _) => {}
            (Err(VfsError::SharingViolation), false, true) => {}
            (Ok(g), false, false) => assert_eq!(g.granted, Granted::Oplock(Level2), "case {i}"),
            _ => panic!("case {i}: {r:?}"),
        }
        if c.wait {
            let to = c.brk.unwrap_or(OplockLevel::None);
            assert_eq!(code(m.ack_oplock(FILE, ga.id, to)), Ok(to), "case {i}");
            let r = open_as(&m, &b, RW_ACCESS, ALL, c.overwrite, &oplock(Batch));
            if c.deny {
                assert_eq!(
                    r.unwrap_err().nt_status(),
                    VfsError::SharingViolation.nt_status(),
                    "case {i}"
                );
            } else {
                // Still another open: level II at most.
                assert_eq!(r.unwrap().granted, Granted::Oplock(Level2), "case {i}");
            }
            assert!(a.breaks().is_empty(), "case {i}");
        }
    }
}

#[test]
fn batch_holder_that_closes_lets_the_conflicting_open_in() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open_as(&m, &a, RW_ACCESS, 0, false, &oplock(OplockLevel::Batch)).unwrap();
    let r = open(&m, &b, &oplock(OplockLevel::Batch));
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::Level2)]);
    m.close(FILE, ga.id);
    // b was woken by the close and retries: alone now, it gets batch.
    assert!(b
        .rec
        .0
        .lock()
        .unwrap()
        .contains(&LockEvent::Wake { token: 1 }));
    let g = open(&m, &b, &oplock(OplockLevel::Batch)).unwrap();
    assert_eq!(g.granted, Granted::Oplock(OplockLevel::Batch));
}

#[test]
fn attribute_only_opens_break_nothing_and_get_no_oplock() {
    // smbtorture smb2.oplock.exclusive4.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &oplock(OplockLevel::Exclusive)).unwrap();
    let g = open_as(
        &m,
        &b,
        0x80 | 0x100 | 0x0010_0000,
        0,
        false,
        &oplock(OplockLevel::Exclusive),
    )
    .unwrap();
    assert_eq!(g.granted, Granted::None);
    assert!(a.breaks().is_empty());
    // smb2.oplock.batch9: alone (creating the file), a stat open gets its batch oplock.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let g = open_as(
        &m,
        &a,
        0x80 | 0x100 | 0x0010_0000,
        0,
        false,
        &oplock(OplockLevel::Batch),
    )
    .unwrap();
    assert_eq!(g.granted, Granted::Oplock(OplockLevel::Batch));
}

#[test]
fn stat_opens_and_leases() {
    // smbtorture smb2.lease.statopen: a stat open may hold a lease; another open of that
    // key joins it; another key breaks it and, beside it, gets no W.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let g = open_as(&m, &a, 0x80, 0, false, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(lease_state_of(&g), RWH);
    let g = open(&m, &a, &a.lease(KEY1, 0)).unwrap();
    assert_eq!(lease_state_of(&g), RWH);
    m.close(FILE, g.id);
    let r = open(&m, &a, &a.lease(KEY2, RWH));
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RWH, RH, true)]);
    m.ack_lease(GUID_A, KEY1, RH).unwrap();
    assert_eq!(
        lease_state_of(&open(&m, &a, &a.lease(KEY2, RWH)).unwrap()),
        RH
    );
    // smb2.lease.statopen3: a bare stat open does not keep a later lease from W and H.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    open_as(&m, &a, 0x80, ALL, false, &Request::None).unwrap();
    let g = open_as(&m, &a, WRITE_DATA, ALL, false, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(lease_state_of(&g), RWH);
}

#[test]
fn attribute_only_overwrite_breaks_like_any_overwrite() {
    // smbtorture smb2.oplock.exclusive5: the overwriting stat open breaks the exclusive
    // oplock and, once that is acknowledged, gets level II.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Exclusive)).unwrap();
    let stat = 0x80 | 0x100 | 0x0010_0000;
    let r = open_as(&m, &b, stat, ALL, true, &oplock(OplockLevel::Level2));
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::None)]);
    m.ack_oplock(FILE, ga.id, OplockLevel::None).unwrap();
    let g = open_as(&m, &b, stat, ALL, true, &oplock(OplockLevel::Level2)).unwrap();
    assert_eq!(g.granted, Granted::Oplock(OplockLevel::Level2));
}

#[test]
fn level2_breaks_to_none_on_a_write_through_another_open_without_ack() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Level2)).unwrap();
    let gb = open(&m, &b, &oplock(OplockLevel::Level2)).unwrap();
    assert_eq!(gb.granted, Granted::Oplock(OplockLevel::Level2));
    // b's write breaks a's level II and its own (smbtorture smb2.oplock.batch1: "writing
    // should generate a self break to none").
    m.check_io(FILE, gb.id, 0, 1, true).unwrap();
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::None)]);
    assert_eq!(b.breaks(), vec![obreak(gb.id, OplockLevel::None)]);
    // No acknowledgment is expected: one fails.
    assert_eq!(
        code(m.ack_oplock(FILE, ga.id, OplockLevel::None)),
        Err(VfsError::InvalidOplockProtocol.nt_status())
    );
    // Reads break nothing; neither does a write by an exclusive holder.
    m.check_io(FILE, ga.id, 0, 1, false).unwrap();
    assert!(b.breaks().is_empty());
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let ga = open(&m, &a, &oplock(OplockLevel::Exclusive)).unwrap();
    m.check_io(FILE, ga.id, 0, 1, true).unwrap();
    assert!(a.breaks().is_empty());
}

#[test]
fn oplock_acknowledgments_above_the_break_are_refused_and_end_the_oplock() {
    use OplockLevel::*;
    // (break to, ack level, accepted)
    let cases = [
        (Level2, Level2, true),
        (Level2, None, true),
        (Level2, Exclusive, false),
        (Level2, Batch, false),
        (None, None, true),
        (None, Level2, false),
    ];
    for (to, ack, ok) in cases {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let b = Client::new(&m, GUID_B);
        let ga = open(&m, &a, &oplock(Batch)).unwrap();
        let overwrite = to == None;
        let _ = open_as(&m, &b, RW_ACCESS, ALL, overwrite, &Request::None);
        assert_eq!(a.breaks(), vec![obreak(ga.id, to)]);
        let r = m.ack_oplock(FILE, ga.id, ack);
        let held = m.opens_of(FILE)[0].held.clone();
        if ok {
            assert_eq!(code(r), Ok(ack));
            let want = if ack == None {
                Held::None
            } else {
                Held::Oplock(ack)
            };
            assert_eq!(held, want);
        } else {
            assert_eq!(code(r), Err(VfsError::InvalidOplockProtocol.nt_status()));
            assert_eq!(held, Held::None);
        }
        // A second acknowledgment has no break to answer.
        assert_eq!(
            code(m.ack_oplock(FILE, ga.id, None)),
            Err(VfsError::InvalidOplockProtocol.nt_status())
        );
    }
}

#[test]
fn a_conflict_during_an_oplock_break_is_finished_after_the_ack() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let c = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Batch)).unwrap();
    assert_eq!(
        open(&m, &b, &Request::None).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    // An overwrite during the break to II: no second notification, and it waits too.
    let r = open_as(&m, &c, RW_ACCESS, ALL, true, &Request::None);
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::Level2)]);
    // The ack to II is accepted, then II goes to none at once (no ack for that).
    assert_eq!(
        code(m.ack_oplock(FILE, ga.id, OplockLevel::Level2)),
        Ok(OplockLevel::Level2)
    );
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::None)]);
    assert_eq!(m.opens_of(FILE)[0].held, Held::None);
    open_as(&m, &c, RW_ACCESS, ALL, true, &Request::None).unwrap();
}

#[test]
fn unanswered_breaks_expire_to_none() {
    let mut file = FileRecord::default();
    let now = Instant::now();
    let id = OpenId { node: 0, seq: 1 };
    file.opens.push(OpenRecord {
        id,
        sink: SinkId(1),
        access: RW_ACCESS,
        share: ALL,
        delete_on_close: false,
        is_dir: false,
        held: Held::Oplock(OplockLevel::Batch),
        path: None,
        link: None,
    });
    let (ev, wait) = break_for_io(&mut file, FILE, IoKind::Read, None, now);
    assert!(wait);
    assert_eq!(ev, vec![(SinkId(1), obreak(id, OplockLevel::Level2))]);
    let timeout = Duration::from_secs(35);
    assert!(!expire(&mut file, now + Duration::from_secs(34), timeout));
    assert!(expire(&mut file, now + timeout, timeout));
    assert_eq!(file.opens[0].held, Held::None);
    // Reads no longer wait or break anything.
    let (ev, wait) = break_for_io(&mut file, FILE, IoKind::Read, None, now);
    assert!(ev.is_empty() && !wait);
}

#[test]
fn a_waiting_open_proceeds_after_the_break_timeout() {
    let m = LockManager::in_memory(LockConfig {
        break_timeout: Duration::ZERO,
        ..LockConfig::default()
    });
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(
        open(&m, &b, &Request::None).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    // The retry finds the break expired: a's lease is at none (smb2.lease.timeout), and a
    // late acknowledgment has no break to answer.
    open(&m, &b, &Request::None).unwrap();
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, RH)),
        Err(VfsError::BreakNotInProgress.nt_status())
    );
    let g = open(&m, &a, &a.lease(KEY1, 0)).unwrap();
    assert_eq!(lease_state_of(&g), 0);
}

#[test]
fn directories_get_no_caching() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    for req in [oplock(OplockLevel::Batch), a.lease(KEY1, RWH)] {
        let g = m
            .open(&OpenRequest {
                key: FILE,
                sink: a.sink,
                access: READ_DATA,
                share: ALL,
                delete_on_close: false,
                is_dir: true,
                overwrite: false,
                link: None,
                path: None,
                caching: &req,
                waiter: None,
            })
            .unwrap();
        assert_eq!(g.granted, Granted::None);
        m.close(FILE, g.id);
    }
}

// ---- leases ----

#[test]
fn requested_lease_states_as_granted() {
    // smbtorture smb2.lease.request: H, W and HW alone are not granted.
    let cases = [
        (0, 0),
        (R, R),
        (H, 0),
        (W, 0),
        (RH, RH),
        (RW, RW),
        (W | H, 0),
        (RWH, RWH),
    ];
    for (ask, got) in cases {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let g = open(&m, &a, &a.lease(KEY1, ask)).unwrap();
        assert_eq!(lease_state_of(&g), got, "asked {ask:#x}");
    }
}

#[test]
fn lease_upgrades_only_to_strict_supersets() {
    // smbtorture smb2.lease.upgrade: (first, second request, state after the second).
    let table = [
        (R, R, R),
        (R, RH, RH),
        (R, RW, RW),
        (R, RWH, RWH),
        (RH, R, RH),
        (RH, RH, RH),
        (RH, RW, RH),
        (RH, RWH, RWH),
        (RW, R, RW),
        (RW, RH, RW),
        (RW, RW, RW),
        (RW, RWH, RWH),
        (RWH, R, RWH),
        (RWH, RH, RWH),
        (RWH, RW, RWH),
        (RWH, RWH, RWH),
    ];
    for (first, second, after) in table {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let g1 = open(&m, &a, &a.lease(KEY1, first)).unwrap();
        assert_eq!(lease_state_of(&g1), first);
        let g2 = open(&m, &a, &a.lease(KEY1, second)).unwrap();
        assert_eq!(lease_state_of(&g2), after, "{first:#x} then {second:#x}");
        assert!(a.breaks().is_empty());
    }
}

#[test]
fn v2_epochs_count_every_state_change() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let g = open(&m, &a, &a.lease_v2(KEY1, RH, 0x4711)).unwrap();
    let Granted::Lease {
        epoch,
        flags,
        parent,
        v2,
        ..
    } = g.granted
    else {
        panic!()
    };
    assert_eq!((epoch, v2, parent), (0x4712, true, Some([9; 16])));
    assert_eq!(flags, lease_flags::PARENT_LEASE_KEY_SET);
    // Upgrade: +1.
    let g = open(&m, &a, &a.lease_v2(KEY1, RWH, 0)).unwrap();
    let Granted::Lease { epoch, state, .. } = g.granted else {
        panic!()
    };
    assert_eq!((state, epoch), (RWH, 0x4713));
    // Break: +1, carried by the notification.
    assert_eq!(
        open(&m, &b, &Request::None).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    let ev = a.breaks();
    assert!(
        matches!(
            ev.as_slice(),
            [LockEvent::LeaseBreak {
                epoch: 0x4714,
                from: RWH,
                to: RH,
                ack_required: true,
                ..
            }]
        ),
        "{ev:?}"
    );
    // Unchanged state: same epoch.
    assert_eq!(code(m.ack_lease(GUID_A, KEY1, RH)), Ok(RH));
    let g = open(&m, &a, &a.lease_v2(KEY1, RH, 0)).unwrap();
    let Granted::Lease { epoch, .. } = g.granted else {
        panic!()
    };
    assert_eq!(epoch, 0x4714);
}

/// Table: holder's lease, the second open (another client: overwrite?, sharing violation?)
/// -> the break, whether it needs an ack, whether the open waits, and the second open's
/// lease (RWH asked) once it is let in.
#[test]
fn conflicting_opens_break_leases_to_what_they_allow() {
    struct Case {
        held: u32,
        overwrite: bool,
        deny: bool,
        brk: Option<(u32, bool)>,
        wait: bool,
        second: Option<u32>,
    }
    let cases = [
        Case {
            held: RWH,
            overwrite: false,
            deny: false,
            brk: Some((RH, true)),
            wait: true,
            second: Some(RH),
        },
        Case {
            held: RW,
            overwrite: false,
            deny: false,
            brk: Some((R, true)),
            wait: true,
            second: Some(RH),
        },
        Case {
            held: RH,
            overwrite: false,
            deny: false,
            brk: None,
            wait: false,
            second: Some(RH),
        },
        Case {
            held: R,
            overwrite: false,
            deny: false,
            brk: None,
            wait: false,
            second: Some(RH),
        },
        Case {
            held: RWH,
            overwrite: true,
            deny: false,
            brk: Some((0, true)),
            wait: true,
            second: Some(RH),
        },
        Case {
            held: RH,
            overwrite: true,
            deny: false,
            brk: Some((0, true)),
            wait: false,
            second: Some(RH),
        },
        Case {
            held: R,
            overwrite: true,
            deny: false,
            brk: Some((0, false)),
            wait: false,
            second: Some(RH),
        },
        Case {
            held: RWH,
            overwrite: false,
            deny: true,
            brk: Some((RW, true)),
            wait: true,
            second: None,
        },
        Case {
            held: RH,
            overwrite: false,
            deny: true,
            brk: Some((R, true)),
            wait: true,
            second: None,
        },
        Case {
            held: RW,
            overwrite: false,
            deny: true,
            brk: None,
            wait: false,
            second: None,
        },
        Case {
            held: R,
            overwrite: false,
            deny: true,
            brk: None,
            wait: false,
            second: None,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        let b = Client::new(&m, GUID_B);
        let share_a = if c.deny { SR } else { ALL };
        let ga = open_as(&m, &a, RW_ACCESS, share_a, false, &a.lease(KEY1, c.held)).unwrap();
        assert_eq!(lease_state_of(&ga), c.held);
        let req_b = b.lease(KEY2, RWH);
        let r = open_as(&m, &b, RW_ACCESS, ALL, c.overwrite, &req_b);
        let expect: Vec<_> = c
            .brk
            .iter()
            .map(|(to, ack)| lbreak(&a, KEY1, c.held, *to, *ack))
            .collect();
        assert_eq!(a.breaks(), expect, "case {i}");
        let r = if c.wait {
            assert_eq!(
                r.unwrap_err().nt_status(),
                VfsError::WouldBlock.nt_status(),
                "case {i}"
            );
            let (to, _) = c.brk.unwrap();
            assert_eq!(code(m.ack_lease(GUID_A, KEY1, to)), Ok(to), "case {i}");
            open_as(&m, &b, RW_ACCESS, ALL, c.overwrite, &req_b)
        } else {
            r
        };
        match c.second {
            Some(s) => assert_eq!(lease_state_of(&r.unwrap()), s, "case {i}"),
            None => assert_eq!(
                r.unwrap_err().nt_status(),
                VfsError::SharingViolation.nt_status(),
                "case {i}"
            ),
        }
    }
}

#[test]
fn h_lease_holder_closing_lets_the_sharing_violation_through() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open_as(&m, &a, RW_ACCESS, SR, false, &a.lease(KEY1, RH)).unwrap();
    assert_eq!(
        open(&m, &b, &Request::None).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RH, R, true)]);
    m.close(FILE, ga.id);
    open(&m, &b, &Request::None).unwrap();
    // The lease went with its last open.
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, R)),
        Err(VfsError::NotFound.nt_status())
    );
}

#[test]
fn opens_with_the_same_lease_key_share_one_lease_and_never_break_it() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let g1 = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    let g2 = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(lease_state_of(&g2), RWH);
    assert!(a.breaks().is_empty());
    // Same client, other key: that is another lease, and it breaks the first.
    let r = open(&m, &a, &a.lease(KEY2, RWH));
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RWH, RH, true)]);
    // While breaking, an open with the key sees the old state and the flag, and does not
    // wait for its own lease.
    let g3 = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    let Granted::Lease { state, flags, .. } = g3.granted else {
        panic!()
    };
    assert_eq!((state, flags), (RWH, lease_flags::BREAK_IN_PROGRESS));
    // The lease stays until its last open closes.
    m.close(FILE, g1.id);
    m.close(FILE, g2.id);
    assert_eq!(code(m.ack_lease(GUID_A, KEY1, RH)), Ok(RH));
    m.close(FILE, g3.id);
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, RH)),
        Err(VfsError::NotFound.nt_status())
    );
}

#[test]
fn a_lease_key_names_one_file() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    let other = FileKey { fsid: 1, ino: 8 };
    let r = m.open(&OpenRequest {
        key: other,
        sink: a.sink,
        access: READ_DATA,
        share: ALL,
        delete_on_close: false,
        is_dir: false,
        overwrite: false,
        link: None,
        path: None,
        caching: &a.lease(KEY1, R),
        waiter: None,
    });
    assert_eq!(r.unwrap_err().nt_status(), VfsError::Invalid.nt_status());
    // Another client may use the same key value.
    let b = Client::new(&m, GUID_B);
    let r = m.open(&OpenRequest {
        key: other,
        sink: b.sink,
        access: READ_DATA,
        share: ALL,
        delete_on_close: false,
        is_dir: false,
        overwrite: false,
        link: None,
        path: None,
        caching: &b.lease(KEY1, R),
        waiter: None,
    });
    assert!(r.is_ok());
}

#[test]
fn lease_acknowledgments_must_name_the_state_broken_to_or_less() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, RH)),
        Err(VfsError::BreakNotInProgress.nt_status())
    );
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY2, RH)),
        Err(VfsError::NotFound.nt_status())
    );
    assert_eq!(
        code(m.ack_lease(GUID_B, KEY1, RH)),
        Err(VfsError::NotFound.nt_status())
    );
    let _ = open(&m, &b, &Request::None);
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, RWH)),
        Err(VfsError::BreakAckMismatch.nt_status())
    );
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, RW)),
        Err(VfsError::BreakAckMismatch.nt_status())
    );
    // Less than asked is fine.
    assert_eq!(code(m.ack_lease(GUID_A, KEY1, R)), Ok(R));
    assert_eq!(
        code(m.ack_lease(GUID_A, KEY1, R)),
        Err(VfsError::BreakNotInProgress.nt_status())
    );
    assert_eq!(VfsError::BreakNotInProgress.nt_status(), 0xC000_0001);
    assert_eq!(VfsError::BreakAckMismatch.nt_status(), 0xC000_00D0);
}

#[test]
fn a_conflict_during_a_lease_break_is_sent_after_the_ack() {
    // smbtorture smb2.lease.breaking3.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let c = Client::new(&m, GUID_B);
    let g1 = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(lease_state_of(&g1), RWH);
    assert_eq!(
        open(&m, &b, &Request::None).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RWH, RH, true)]);
    // The holder's own key still opens, with the flag.
    let g = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    let Granted::Lease { state, flags, .. } = g.granted else {
        panic!()
    };
    assert_eq!((state, flags), (RWH, lease_flags::BREAK_IN_PROGRESS));
    // An overwrite: no break of its own now, and it waits.
    let r = open_as(&m, &c, RW_ACCESS, ALL, true, &Request::None);
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert!(a.breaks().is_empty());
    // The ack to RH starts the next break, to R; nobody proceeds yet.
    assert_eq!(m.ack_lease(GUID_A, KEY1, RH).ok(), Some(RH));
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RH, R, true)]);
    assert!(!b
        .rec
        .0
        .lock()
        .unwrap()
        .contains(&LockEvent::Wake { token: 1 }));
    let g = open(&m, &a, &a.lease(KEY1, 0)).unwrap();
    let Granted::Lease { state, flags, .. } = g.granted else {
        panic!()
    };
    assert_eq!((state, flags), (RH, lease_flags::BREAK_IN_PROGRESS));
    // The ack to R: R goes to none at once (no ack for that), and both proceed.
    assert_eq!(m.ack_lease(GUID_A, KEY1, R).ok(), Some(R));
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, R, 0, false)]);
    assert!(b
        .rec
        .0
        .lock()
        .unwrap()
        .contains(&LockEvent::Wake { token: 1 }));
    open(&m, &b, &Request::None).unwrap();
    open_as(&m, &c, RW_ACCESS, ALL, true, &Request::None).unwrap();
    assert!(a.breaks().is_empty());
}

#[test]
fn an_overwrite_beside_a_breaking_rh_lease_does_not_wait() {
    // smbtorture smb2.lease.breaking4.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, RH)).unwrap();
    let g = open_as(&m, &b, RW_ACCESS, ALL, true, &Request::None).unwrap();
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RH, 0, true)]);
    m.close(FILE, g.id);
    // Again while the break is in progress: no new break, no wait.
    let g = open_as(&m, &b, RW_ACCESS, ALL, true, &Request::None).unwrap();
    assert!(a.breaks().is_empty());
    m.close(FILE, g.id);
    let g = open(&m, &a, &a.lease(KEY1, 0)).unwrap();
    let Granted::Lease { state, flags, .. } = g.granted else {
        panic!()
    };
    assert_eq!((state, flags), (RH, lease_flags::BREAK_IN_PROGRESS));
    assert_eq!(m.ack_lease(GUID_A, KEY1, 0).ok(), Some(0));
    assert!(a.breaks().is_empty());
}

#[test]
fn replies_carry_the_version_the_lease_was_created_with() {
    // smbtorture smb2.lease.v2_epoch2/3.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    open(&m, &a, &a.lease_v2(KEY1, R, 0x4711)).unwrap();
    let g = open(&m, &a, &a.lease(KEY1, RH)).unwrap();
    let Granted::Lease {
        v2, epoch, state, ..
    } = g.granted
    else {
        panic!()
    };
    assert_eq!((v2, epoch, state), (true, 0x4713, RH));
    let m = manager();
    let a = Client::new(&m, GUID_A);
    open(&m, &a, &a.lease(KEY1, R)).unwrap();
    let g = open(&m, &a, &a.lease_v2(KEY1, RW, 0x4711)).unwrap();
    let Granted::Lease { v2, state, .. } = g.granted else {
        panic!()
    };
    assert_eq!((v2, state), (false, RW));
}

#[test]
fn oplocks_and_leases_together() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    // Beside handle caching no oplock is granted.
    open(&m, &a, &a.lease(KEY1, RH)).unwrap();
    let g = open(&m, &b, &oplock(OplockLevel::Batch)).unwrap();
    assert_eq!(g.granted, Granted::None);
    // Beside an oplock (or a plain open) a lease gets no H.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &oplock(OplockLevel::Level2)).unwrap();
    let g = open(&m, &b, &b.lease(KEY2, RWH)).unwrap();
    assert_eq!(lease_state_of(&g), R);
    // A batch oplock is broken by a lease open like by any other.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Batch)).unwrap();
    assert_eq!(
        open(&m, &b, &b.lease(KEY2, RWH)).unwrap_err().nt_status(),
        VfsError::WouldBlock.nt_status()
    );
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::Level2)]);
}

#[test]
fn a_byte_range_lock_breaks_level2_oplocks_and_read_leases() {
    use crate::lock::brl::ByteLock;
    // smbtorture smb2.oplock.brl1: the locker's own level II goes too.
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Level2)).unwrap();
    let gb = open(&m, &b, &b.lease(KEY2, RH)).unwrap();
    m.lock(
        FILE,
        &[ByteLock {
            open: ga.id,
            start: 0,
            len: 1,
            exclusive: true,
        }],
        None,
    )
    .unwrap();
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::None)]);
    // b's lease got R only beside a's oplock.
    assert_eq!(lease_state_of(&gb), R);
    assert_eq!(b.breaks(), vec![lbreak(&b, KEY2, R, 0, false)]);
}

#[test]
fn byte_range_locks_take_read_caching() {
    use crate::lock::brl::ByteLock;
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let ga = open(&m, &a, &Request::None).unwrap();
    m.lock(
        FILE,
        &[ByteLock {
            open: ga.id,
            start: 0,
            len: 1,
            exclusive: true,
        }],
        None,
    )
    .unwrap();
    let g = open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    assert_eq!(lease_state_of(&g), 0);
}

#[test]
fn lease_stat_opens_spare_leases_but_not_oplocks() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, RWH)).unwrap();
    // READ_CONTROL only.
    open_as(&m, &b, 0x0002_0000, ALL, false, &Request::None).unwrap();
    assert!(a.breaks().is_empty());
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    let ga = open(&m, &a, &oplock(OplockLevel::Batch)).unwrap();
    let r = open_as(&m, &b, 0x0002_0000, ALL, false, &Request::None);
    assert_eq!(r.unwrap_err().nt_status(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::Level2)]);
}

// ---- access without an open (NFS) and through another open ----

#[test]
fn nfs_access_breaks_what_it_conflicts_with_and_waits_for_w_and_h() {
    use crate::lock::NfsIntent;
    // (held, intent, break to, waits)
    let cases = [
        (RWH, NfsIntent::Read { offset: 0, len: 1 }, Some(RH), true),
        (RH, NfsIntent::Read { offset: 0, len: 1 }, None, false),
        (RWH, NfsIntent::Write { offset: 0, len: 1 }, Some(0), true),
        (RH, NfsIntent::Write { offset: 0, len: 1 }, Some(0), false),
        (RWH, NfsIntent::Truncate, Some(0), true),
        (RWH, NfsIntent::Namespace, Some(RW), true),
        (RH, NfsIntent::Namespace, Some(R), true),
        (RW, NfsIntent::Namespace, None, false),
    ];
    for (i, (held, intent, to, waits)) in cases.into_iter().enumerate() {
        let m = manager();
        let a = Client::new(&m, GUID_A);
        open(&m, &a, &a.lease(KEY1, held)).unwrap();
        let r = m.nfs_access(FILE, intent);
        let expect: Vec<_> = to
            .iter()
            .map(|t| lbreak(&a, KEY1, held, *t, held & (W | H) != 0))
            .collect();
        assert_eq!(a.breaks(), expect, "case {i}");
        if waits {
            assert_eq!(code(r), Err(VfsError::WouldBlock.nt_status()), "case {i}");
            // Retried before the ack: still waiting, nothing sent again.
            assert_eq!(
                code(m.nfs_access(FILE, intent)),
                Err(VfsError::WouldBlock.nt_status())
            );
            assert!(a.breaks().is_empty());
            m.ack_lease(GUID_A, KEY1, to.unwrap_or(0)).unwrap();
        } else {
            assert_eq!(code(r), Ok(()), "case {i}");
        }
        assert_eq!(code(m.nfs_access(FILE, intent)), Ok(()), "case {i}");
    }
}

#[test]
fn smb_write_through_another_open_breaks_read_leases_of_others_only() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, R)).unwrap();
    let gb1 = open(&m, &b, &b.lease(KEY2, R)).unwrap();
    open(&m, &b, &b.lease(KEY2, R)).unwrap();
    m.check_io(FILE, gb1.id, 0, 4, true).unwrap();
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, R, 0, false)]);
    assert!(b.breaks().is_empty());
}

#[test]
fn rename_through_one_open_breaks_handle_caching_of_the_others() {
    let m = manager();
    let a = Client::new(&m, GUID_A);
    let b = Client::new(&m, GUID_B);
    open(&m, &a, &a.lease(KEY1, RH)).unwrap();
    let gb = open(&m, &b, &b.lease(KEY2, RH)).unwrap();
    let w = Some(Waiter {
        sink: b.sink,
        token: 9,
    });
    let r = m.break_caching(FILE, IoKind::Namespace, Some(gb.id), w);
    assert_eq!(code(r), Err(VfsError::WouldBlock.nt_status()));
    assert_eq!(a.breaks(), vec![lbreak(&a, KEY1, RH, R, true)]);
    assert!(b.breaks().is_empty());
    m.ack_lease(GUID_A, KEY1, R).unwrap();
    assert!(b
        .rec
        .0
        .lock()
        .unwrap()
        .contains(&LockEvent::Wake { token: 9 }));
    m.break_caching(FILE, IoKind::Namespace, Some(gb.id), w)
        .unwrap();
}

/// SEC_RIGHTS_FILE_ALL, as smbtorture's oplock tests ask for.
const FILE_ALL: u32 = 0x001f_01ff;

/// Whether `c` was sent a wake-up since its events were last taken (and forgets them).
fn woken(c: &Client) -> bool {
    let v = c.rec.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap();
    v.contains(&LockEvent::Wake { token: 1 })
}

#[test]
fn batch_oplocks_pass_round_robin_between_closing_holders() {
    // smbtorture smb2.bench.oplock1: four connections open one file in turn for everything,
    // sharing nothing, asking for batch; each holder closes its handle when broken.
    let m = manager();
    let cs: Vec<Client> = (0..4).map(|_| Client::new(&m, GUID_A)).collect();
    let batch = oplock(OplockLevel::Batch);
    let mut held = open_as(&m, &cs[0], FILE_ALL, 0, false, &batch).unwrap();
    for i in 1..40 {
        let (prev, next) = (&cs[(i - 1) % 4], &cs[i % 4]);
        let r = open_as(&m, next, FILE_ALL, 0, false, &batch);
        assert_eq!(code(r).unwrap_err(), VfsError::WouldBlock.nt_status());
        assert_eq!(prev.breaks(), vec![obreak(held.id, OplockLevel::Level2)]);
        m.close(FILE, held.id);
        assert!(woken(next));
        held = open_as(&m, next, FILE_ALL, 0, false, &batch).unwrap();
        assert_eq!(held.granted, Granted::Oplock(OplockLevel::Batch));
    }
    assert!(m.waiters_of(FILE).is_empty());
}

#[test]
fn openers_parked_on_one_break_retry_in_any_order_and_the_loser_waits_again() {
    // Two openers (two smbtorture processes) wait on the same batch break; the holder
    // closes; whichever retries first gets batch, the other breaks it and parks again,
    // never a sharing violation while a holder can still close.
    let m = manager();
    let (a, b, c) = (
        Client::new(&m, GUID_A),
        Client::new(&m, GUID_A),
        Client::new(&m, GUID_B),
    );
    let batch = oplock(OplockLevel::Batch);
    let ga = open_as(&m, &a, FILE_ALL, 0, false, &batch).unwrap();
    assert!(open_as(&m, &b, FILE_ALL, 0, false, &batch).is_err());
    // The second waiter is absorbed into the break in flight: no second notification.
    let r = open_as(&m, &c, FILE_ALL, 0, false, &batch);
    assert_eq!(code(r).unwrap_err(), VfsError::WouldBlock.nt_status());
    assert_eq!(a.breaks(), vec![obreak(ga.id, OplockLevel::Level2)]);
    assert_eq!(m.waiters_of(FILE).len(), 2);
    m.close(FILE, ga.id);
    assert!(woken(&b) && woken(&c));
    let gc = open_as(&m, &c, FILE_ALL, 0, false, &batch).unwrap();
    assert_eq!(gc.granted, Granted::Oplock(OplockLevel::Batch));
    let r = open_as(&m, &b, FILE_ALL, 0, false, &batch);
    assert_eq!(code(r).unwrap_err(), VfsError::WouldBlock.nt_status());
    assert_eq!(c.breaks(), vec![obreak(gc.id, OplockLevel::Level2)]);
    m.close(FILE, gc.id);
    assert!(woken(&b));
    let gb = open_as(&m, &b, FILE_ALL, 0, false, &batch).unwrap();
    assert_eq!(gb.granted, Granted::Oplock(OplockLevel::Batch));
}

#[test]
fn an_unlink_admitted_after_the_break_fails_the_next_exclusive_open() {
    // What several smbtorture smb2.bench.oplock1 processes on one share do to each other:
    // one ends (or starts) with an unlink of the shared test file, a DELETE open sharing
    // everything, delete-on-close, no oplock. It waits for the batch break like the next
    // opener of the other process; when it retries first it is admitted, and that opener,
    // which shares nothing, conflicts with an open that caches nothing and that no break
    // can make go away: SHARING_VIOLATION, as Samba answers.
    let m = manager();
    let (a, b, u) = (
        Client::new(&m, GUID_A),
        Client::new(&m, GUID_A),
        Client::new(&m, GUID_B),
    );
    let batch = oplock(OplockLevel::Batch);
    let ga = open_as(&m, &a, FILE_ALL, 0, false, &batch).unwrap();
    assert!(open_as(&m, &b, FILE_ALL, 0, false, &batch).is_err());
    let unlink = |m: &LockManager| {
        m.open(&OpenRequest {
            key: FILE,
            sink: u.sink,
            access: crate::lock::access::DELETE,
            share: ALL,
            delete_on_close: true,
            is_dir: false,
            overwrite: false,
            link: None,
            path: None,
            caching: &Request::None,
            waiter: Some(Waiter {
                sink: u.sink,
                token: 1,
            }),
        })
    };
    assert_eq!(
        code(unlink(&m)).unwrap_err(),
        VfsError::WouldBlock.nt_status()
    );
    m.close(FILE, ga.id);
    assert!(woken(&b) && woken(&u));
    let gu = unlink(&m).unwrap();
    let r = open_as(&m, &b, FILE_ALL, 0, false, &batch);
    assert_eq!(code(r).unwrap_err(), VfsError::SharingViolation.nt_status());
    assert!(m.waiters_of(FILE).is_empty());
    // The unlink's close makes the file delete pending and, as the last open, unlinks it.
    let out = m.close(FILE, gu.id);
    assert!(out.last);
}
