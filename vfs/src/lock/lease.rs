//! Oplocks and leases (MS-SMB2 3.3.5.9.8 oplocks, 3.3.5.9.11 leases, 3.3.4.6/3.3.4.7 breaks,
//! 3.3.5.22 acknowledgments; MS-FSA 2.1.5.17).
//!
//! What a new open may be granted given the other opens of the file, which holders must be
//! broken first and whether the open has to wait for their acknowledgment. The functions here
//! run under the file's lock ([`super::LockStore::with_file`]) and return the events to send;
//! they never send anything themselves.
//!
//! The policy is Windows' as Samba implements it (`delay_for_oplock` in
//! `source3/smbd/open.c`), on lease state bits: an oplock is the lease state it implies
//! (level II = R, exclusive = RW, batch = RWH). A new open that conflicts in share mode
//! takes handle caching (H) from the others, so a holder that keeps the handle open only
//! for caching can close it; one that does not conflicts takes write caching (W); one that
//! overwrites takes everything. The open waits for the acknowledgment when the holder loses
//! what the open conflicts with (H resp. W), never for a break of read caching alone. Opens
//! that only read attributes or the security descriptor break nothing.

use std::time::{Duration, Instant};

use super::events::{lease_state, LockEvent, OplockLevel, SinkId};
use super::store::{FileRecord, OpenRecord};
use super::{FileKey, OpenId};
use crate::VfsError;

use lease_state::{H, R, W};

/// Lease flags of a CREATE response context (MS-SMB2 2.2.14.2.10 / 2.2.14.2.11).
pub mod lease_flags {
    /// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS.
    pub const BREAK_IN_PROGRESS: u32 = 0x02;
    /// SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET (v2).
    pub const PARENT_LEASE_KEY_SET: u32 = 0x04;
}

/// A lease as requested in a CREATE (RqLs context, MS-SMB2 2.2.13.2.8 / 2.2.13.2.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// ClientGuid of the connection (leases belong to a client, not a connection).
    pub client: [u8; 16],
    /// LeaseKey.
    pub key: [u8; 16],
    /// Requested state ([`super::lease_state`] bits).
    pub state: u32,
    /// ParentLeaseKey (v2, when SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET).
    pub parent: Option<[u8; 16]>,
    /// Lease v2 (SMB 3.x create context).
    pub v2: bool,
    /// Epoch the client sent (v2).
    pub epoch: u16,
}

/// What caching a CREATE asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// None.
    None,
    /// An oplock of this level.
    Oplock(OplockLevel),
    /// A lease.
    Lease(LeaseRequest),
}

/// What an open holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Held {
    /// Nothing.
    #[default]
    None,
    /// An oplock.
    Oplock(OplockLevel),
    /// Its share of the lease (client, key) of [`FileLeases`].
    Lease {
        /// ClientGuid.
        client: [u8; 16],
        /// LeaseKey.
        key: [u8; 16],
    },
}

/// What a CREATE reply grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Granted {
    /// No caching.
    None,
    /// An oplock (never [`OplockLevel::None`]: that is [`Granted::None`]).
    Oplock(OplockLevel),
    /// A lease: its state, epoch and flags for the reply context.
    Lease {
        /// The lease key (echoed).
        key: [u8; 16],
        /// Lease state.
        state: u32,
        /// Epoch (v2).
        epoch: u16,
        /// [`lease_flags`]: BREAK_IN_PROGRESS, PARENT_LEASE_KEY_SET.
        flags: u32,
        /// ParentLeaseKey echoed (v2).
        parent: Option<[u8; 16]>,
        /// v2 context.
        v2: bool,
    },
}

/// One lease on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// ClientGuid.
    pub client: [u8; 16],
    /// LeaseKey.
    pub key: [u8; 16],
    /// Current state (while breaking: the state before the break, until acknowledged).
    pub state: u32,
    /// Epoch: incremented on every state change (the client sees it with v2 only).
    pub epoch: u16,
    /// A break to this state was sent and not acknowledged yet (Lease.Breaking,
    /// Lease.BreakToLeaseState).
    pub breaking_to: Option<u32>,
    /// While breaking: the state the lease must end in. Lower than `breaking_to` when
    /// another conflict arrived during the break; the acknowledgment then starts the next
    /// break.
    pub required: u32,
    /// When that break was sent.
    pub break_started: Option<Instant>,
    /// Where breaks go (the connection of the newest open holding it).
    pub sink: SinkId,
    /// v2 lease.
    pub v2: bool,
    /// ParentLeaseKey (v2).
    pub parent: Option<[u8; 16]>,
}

/// An oplock break sent and not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OplockBreak {
    /// The open whose oplock is breaking.
    pub open: OpenId,
    /// The level the notification asked for.
    pub to: OplockLevel,
    /// The level the oplock must end in (lower than `to` when another conflict arrived
    /// during the break: after the acknowledgment a level II oplock goes to none).
    pub required: OplockLevel,
    /// When the break was sent.
    pub started: Instant,
}

/// Leases of one file and oplock breaks in progress on it.
#[derive(Clone, Debug, Default)]
pub struct FileLeases {
    /// Leases, one per (client, key).
    pub leases: Vec<Lease>,
    /// Oplock breaks waiting for acknowledgment.
    pub oplock_breaks: Vec<OplockBreak>,
}

impl FileLeases {
    /// No lease and no break in progress.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty() && self.oplock_breaks.is_empty()
    }
}

/// A new open as the lease logic sees it.
pub struct NewOpen<'a> {
    /// Its id.
    pub id: OpenId,
    /// Its connection.
    pub sink: SinkId,
    /// Granted access.
    pub access: u32,
    /// ShareAccess.
    pub share: u32,
    /// The object is a directory (no oplocks; no leases without directory leasing).
    pub is_dir: bool,
    /// The CREATE overwrites or supersedes the file.
    pub overwrite: bool,
    /// The open conflicts in share mode with an existing one: it will fail with
    /// SHARING_VIOLATION unless a holder of handle caching closes its handle after the break.
    pub sharing_violation: bool,
    /// What caching it asks for.
    pub request: &'a Request,
}

/// The outcome of [`admit`].
#[derive(Debug, Default)]
pub struct Admission {
    /// Breaks to send.
    pub events: Vec<(SinkId, LockEvent)>,
    /// A break the open must wait for is in progress: park it.
    pub wait: bool,
}

/// FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | SYNCHRONIZE.
const OPLOCK_STAT_ACCESS: u32 = 0x0000_0080 | 0x0000_0100 | 0x0010_0000;
/// The same and READ_CONTROL.
const LEASE_STAT_ACCESS: u32 = OPLOCK_STAT_ACCESS | 0x0002_0000;

/// The lease state an oplock level stands for.
pub fn oplock_state(level: OplockLevel) -> u32 {
    match level {
        OplockLevel::None => 0,
        OplockLevel::Level2 => R,
        OplockLevel::Exclusive => R | W,
        OplockLevel::Batch => R | W | H,
    }
}

/// The oplock level a lease state allows (RH and R: level II).
pub fn oplock_for(state: u32) -> OplockLevel {
    if state & R == 0 {
        OplockLevel::None
    } else if state & (W | H) == W | H {
        OplockLevel::Batch
    } else if state & W != 0 {
        OplockLevel::Exclusive
    } else {
        OplockLevel::Level2
    }
}

/// A requested lease state as it can be granted: R, RH, RW or RWH; anything else (H, W, WH,
/// unknown bits alone) is none (smbtorture `smb2.lease.request`).
pub fn valid_lease_state(state: u32) -> u32 {
    let s = state & (R | W | H);
    if s & R == 0 {
        0
    } else {
        s
    }
}

/// Which holders a break is about: all but the open doing it and the lease it belongs to.
#[derive(Clone, Copy)]
struct Skip {
    open: Option<OpenId>,
    lease: Option<([u8; 16], [u8; 16])>,
    /// The skipped open's own level II oplock is broken too (a write through it:
    /// smbtorture smb2.oplock.batch1 "writing should generate a self break to none"; its
    /// own lease is not, smb2.lease.nobreakself).
    own_level2: bool,
}

/// How holders are broken.
#[derive(Clone, Copy)]
struct Conflict {
    /// What the new access conflicts with; a holder losing any of it must acknowledge before
    /// the access proceeds.
    delay_mask: u32,
    /// Everything goes (overwrite, write).
    to_none: bool,
    /// Leases are left alone (a lease stat open).
    spare_leases: bool,
    /// Any unfinished break is waited for (a new open, as Samba does), not only one of a
    /// holder that still has what the access conflicts with.
    wait_for_any_break: bool,
}

/// Breaks every holder but `skip` as `c` says; returns whether the caller must wait.
fn break_holders(
    file: &mut FileRecord,
    key: FileKey,
    skip: Skip,
    c: Conflict,
    now: Instant,
    events: &mut Vec<(SinkId, LockEvent)>,
) -> bool {
    let mut wait = false;
    // The state a holder with `e` is broken to, or None when it keeps all it has.
    let target = |e: u32, lease: bool| {
        let mut t = e & !c.delay_mask;
        if c.to_none {
            t &= !(H | R);
        }
        if e & !t == 0 {
            return None;
        }
        if c.to_none {
            t = 0;
        }
        if !lease {
            // Oplocks only break to level II or none.
            t &= !(H | W);
        }
        Some(t)
    };
    if !c.spare_leases {
        for l in file.leases.leases.iter_mut() {
            if skip.lease == Some((l.client, l.key)) {
                continue;
            }
            let breaking = l.breaking_to.is_some();
            let Some(t) = target(l.state, true) else {
                // Nothing more to take; an unfinished break may still have to be waited for.
                wait |= breaking && (c.wait_for_any_break || l.state & c.delay_mask != 0);
                continue;
            };
            let in_flight = l.breaking_to;
            start_lease_break(l, key, t, now, events);
            // Waited for when the holder loses what the access conflicts with, or when the
            // break in flight does not go far enough and another must follow its ack
            // (smbtorture smb2.lease.breaking3); an overwrite beside an RH lease already
            // breaking to none goes ahead (breaking4).
            wait |= l.breaking_to.is_some()
                && (l.state & c.delay_mask != 0 || in_flight.is_some_and(|b| b & !t != 0));
        }
    }
    let sinks: Vec<(OpenId, SinkId, OplockLevel)> = file
        .opens
        .iter()
        .filter(|o| {
            Some(o.id) != skip.open
                || (skip.own_level2 && o.held == Held::Oplock(OplockLevel::Level2))
        })
        .filter_map(|o| match o.held {
            Held::Oplock(l) if l != OplockLevel::None => Some((o.id, o.sink, l)),
            _ => None,
        })
        .collect();
    for (open, sink, level) in sinks {
        let e = oplock_state(level);
        let breaking = file
            .leases
            .oplock_breaks
            .iter_mut()
            .find(|b| b.open == open);
        let Some(t) = target(e, false) else {
            wait |= breaking.is_some() && (c.wait_for_any_break || e & c.delay_mask != 0);
            continue;
        };
        let to = oplock_for(t);
        if let Some(b) = breaking {
            // Absorbed into the break in progress: finished after its acknowledgment.
            if oplock_state(to) < oplock_state(b.required) {
                b.required = to;
            }
            wait |= e & c.delay_mask != 0;
            continue;
        }
        events.push((
            sink,
            LockEvent::OplockBreak {
                file: key,
                open,
                to,
            },
        ));
        if level == OplockLevel::Level2 {
            // A level II break (to none) needs no acknowledgment (MS-SMB2 3.3.4.6).
            set_oplock(file, open, OplockLevel::None);
            continue;
        }
        file.leases.oplock_breaks.push(OplockBreak {
            open,
            to,
            required: to,
            started: now,
        });
        wait |= e & c.delay_mask != 0;
    }
    wait
}

/// Starts (or, while one is in progress, lowers the goal of) the break of `l` to `to`.
fn start_lease_break(
    l: &mut Lease,
    file: FileKey,
    to: u32,
    now: Instant,
    events: &mut Vec<(SinkId, LockEvent)>,
) {
    start_lease_break_with(l, file, to, now, events, true);
}

/// [`start_lease_break`]; `new_epoch` false keeps the epoch: the further breaks an
/// acknowledgment starts carry the epoch of the break that began the chain (smbtorture
/// smb2.lease.v2_breaking3: RWH->RH, RH->R and R->none all with the same NewEpoch).
fn start_lease_break_with(
    l: &mut Lease,
    file: FileKey,
    to: u32,
    now: Instant,
    events: &mut Vec<(SinkId, LockEvent)>,
    new_epoch: bool,
) {
    if l.breaking_to.is_some() {
        l.required &= to;
        return;
    }
    let from = l.state;
    // MS-SMB2 3.3.4.7: a lease that only caches reads is broken without acknowledgment.
    let ack_required = from & (W | H) != 0;
    if new_epoch {
        l.epoch = l.epoch.wrapping_add(1);
    }
    if ack_required {
        l.breaking_to = Some(to);
        l.required = to;
        l.break_started = Some(now);
    } else {
        l.state = to;
    }
    events.push((
        l.sink,
        LockEvent::LeaseBreak {
            file,
            client: l.client,
            key: l.key,
            from,
            to,
            epoch: if l.v2 { l.epoch } else { 0 },
            ack_required,
        },
    ));
}

fn set_oplock(file: &mut FileRecord, open: OpenId, level: OplockLevel) {
    if let Some(o) = file.opens.iter_mut().find(|o| o.id == open) {
        o.held = if level == OplockLevel::None {
            Held::None
        } else {
            Held::Oplock(level)
        };
    }
}

/// Decides which holders `new` breaks and whether it must wait for them (MS-SMB2 3.3.5.9,
/// Samba's `delay_for_oplock`). Call before the share-mode verdict: with
/// `new.sharing_violation` the holders lose handle caching, so one that closes its handle
/// lets the retried open in. When this says neither wait nor (for the caller) sharing
/// violation, [`grant`] records what the open gets.
pub fn admit(file: &mut FileRecord, key: FileKey, new: &NewOpen<'_>, now: Instant) -> Admission {
    let mut adm = Admission::default();
    // An open for attributes only breaks nothing, unless it overwrites: that changes the
    // data (smbtorture smb2.oplock.exclusive4 and exclusive5).
    let stat_open = !new.overwrite && new.access & !OPLOCK_STAT_ACCESS == 0;
    if stat_open {
        return adm;
    }
    let skip = Skip {
        open: None,
        own_level2: false,
        lease: match new.request {
            Request::Lease(l) => Some((l.client, l.key)),
            _ => None,
        },
    };
    let c = Conflict {
        delay_mask: if new.sharing_violation { H } else { W },
        to_none: new.overwrite,
        spare_leases: !new.overwrite && new.access & !LEASE_STAT_ACCESS == 0,
        wait_for_any_break: true,
    };
    adm.wait = break_holders(file, key, skip, c, now, &mut adm.events);
    adm
}

/// Records what `new` (admitted: no wait, no sharing violation) holds and what its reply
/// grants: the request limited by the other opens (one writer; no handle caching beside an
/// oplock or non-lease open; no oplock beside handle caching; no read caching over
/// byte-range locks), or the lease with the same key, upgraded when the request is a strict
/// superset of its state (smbtorture `smb2.lease.upgrade`).
pub fn grant(file: &mut FileRecord, new: &NewOpen<'_>) -> (Held, Granted) {
    if new.is_dir {
        return (Held::None, Granted::None);
    }
    let mine = match new.request {
        Request::Lease(l) => Some((l.client, l.key)),
        _ => None,
    };
    let same_lease = |o: &OpenRecord| matches!((&o.held, mine), (Held::Lease { client, key }, Some((c, k))) if *client == c && *key == k);
    let mut other_open = false;
    let mut other_oplock = false;
    let mut other_handle = false;
    for o in &file.opens {
        // Its own lease's opens do not count, nor opens for attributes only that cache
        // nothing (smbtorture smb2.lease.statopen3, where Samba 4.17 fails).
        let bare_stat = o.access & !OPLOCK_STAT_ACCESS == 0 && o.held == Held::None;
        if same_lease(o) || bare_stat {
            continue;
        }
        other_open = true;
        match &o.held {
            Held::Lease { client, key } => {
                other_handle |= file
                    .leases
                    .leases
                    .iter()
                    .any(|l| l.client == *client && l.key == *key && l.state & H != 0);
            }
            Held::Oplock(level) => {
                other_oplock = true;
                other_handle |= oplock_state(*level) & H != 0;
            }
            Held::None => other_oplock = true,
        }
    }
    let requested = match new.request {
        Request::None => return (Held::None, Granted::None),
        Request::Oplock(level) => oplock_state(*level),
        Request::Lease(l) => valid_lease_state(l.state),
    };
    let mut state = requested;
    if !file.locks.is_empty() {
        state &= !R;
    }
    if other_open {
        state &= !W;
    }
    let Request::Lease(req) = new.request else {
        // A stat open beside other opens gets no oplock (smbtorture smb2.oplock.exclusive4);
        // alone, e.g. creating the file, it gets what it asks for (batch9). Samba refuses
        // oplocks to every stat open of an existing file; the lock manager does not know
        // whether the CREATE made the file. Leases are granted either way
        // (smb2.lease.statopen).
        let stat_open = !new.overwrite && new.access & !OPLOCK_STAT_ACCESS == 0;
        let others = file.opens.iter().any(|o| !same_lease(o));
        if other_handle || (stat_open && others) {
            state = 0;
        }
        return match oplock_for(state) {
            OplockLevel::None => (Held::None, Granted::None),
            level => (Held::Oplock(level), Granted::Oplock(level)),
        };
    };
    if other_oplock {
        state &= !H;
    }
    state = valid_lease_state(state);
    let existing = file
        .leases
        .leases
        .iter_mut()
        .find(|l| l.client == req.client && l.key == req.key);
    let lease = match existing {
        Some(l) => {
            let upgrade = l.state & requested == l.state
                && state != l.state
                && state == requested
                && l.breaking_to.is_none();
            if upgrade {
                l.state = state;
                l.epoch = l.epoch.wrapping_add(1);
            }
            l.sink = new.sink;
            l
        }
        None => {
            file.leases.leases.push(Lease {
                client: req.client,
                key: req.key,
                state,
                epoch: req.epoch.wrapping_add(1),
                breaking_to: None,
                required: state,
                break_started: None,
                sink: new.sink,
                v2: req.v2,
                parent: req.parent,
            });
            // Just pushed: the vector is not empty.
            let Some(l) = file.leases.leases.last_mut() else {
                return (Held::None, Granted::None);
            };
            l
        }
    };
    // The reply has the lease's version, whatever version this request used (smbtorture
    // smb2.lease.v2_epoch2/3).
    let mut flags = 0;
    if lease.breaking_to.is_some() {
        flags |= lease_flags::BREAK_IN_PROGRESS;
    }
    if lease.v2 && lease.parent.is_some() {
        flags |= lease_flags::PARENT_LEASE_KEY_SET;
    }
    (
        Held::Lease {
            client: req.client,
            key: req.key,
        },
        Granted::Lease {
            key: req.key,
            state: lease.state,
            epoch: lease.epoch,
            flags,
            parent: if lease.v2 { lease.parent } else { None },
            v2: lease.v2,
        },
    )
}

/// `open` is closing: its oplock break and, with its last open, its lease go; a lease that
/// other opens still hold sends its breaks to one of their connections.
pub fn on_close(file: &mut FileRecord, open: &OpenRecord) {
    file.leases.oplock_breaks.retain(|b| b.open != open.id);
    if let Held::Lease { client, key } = &open.held {
        let other = file
            .opens
            .iter()
            .rev()
            .find(|o| o.id != open.id && o.held == open.held)
            .map(|o| o.sink);
        match other {
            Some(sink) => {
                for l in &mut file.leases.leases {
                    if l.client == *client && l.key == *key && l.sink == open.sink {
                        l.sink = sink;
                    }
                }
            }
            None => file
                .leases
                .leases
                .retain(|l| !(l.client == *client && l.key == *key)),
        }
    }
}

/// True when some open of the file caches anything or a break is in progress (the cheap
/// test before [`break_for_io`]).
pub fn caching(file: &FileRecord) -> bool {
    !file.leases.oplock_breaks.is_empty()
        || file.leases.leases.iter().any(|l| l.state != 0)
        || file
            .opens
            .iter()
            .any(|o| matches!(o.held, Held::Oplock(l) if l != OplockLevel::None))
}

/// What an access that is not an SMB open does to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// Reads data (an NFS READ): write caching must go.
    Read,
    /// Changes data or size (NFS WRITE, SETATTR size; an SMB WRITE through another open):
    /// all caching must go.
    Write,
    /// Removes or renames the name (NFS REMOVE, RENAME; SMB rename or delete through another
    /// open): handle caching must go.
    Namespace,
}

/// Breaks required before an access of `kind` by `by` (`None`: a protocol without opens,
/// NFS): returns the events to send and whether the access must wait for acknowledgments
/// (it must while a holder still has what the access conflicts with: W for reads and
/// writes, H for namespace changes; breaks of read caching are never waited for).
pub fn break_for_io(
    file: &mut FileRecord,
    key: FileKey,
    kind: IoKind,
    by: Option<OpenId>,
    now: Instant,
) -> (Vec<(SinkId, LockEvent)>, bool) {
    let lease = by.and_then(|id| {
        file.opens
            .iter()
            .find(|o| o.id == id)
            .and_then(|o| match o.held {
                Held::Lease { client, key } => Some((client, key)),
                _ => None,
            })
    });
    let skip = Skip {
        open: by,
        lease,
        own_level2: kind == IoKind::Write,
    };
    let c = match kind {
        IoKind::Read => Conflict {
            delay_mask: W,
            to_none: false,
            spare_leases: false,
            wait_for_any_break: false,
        },
        IoKind::Write => Conflict {
            delay_mask: W,
            to_none: true,
            spare_leases: false,
            wait_for_any_break: false,
        },
        IoKind::Namespace => Conflict {
            delay_mask: H,
            to_none: false,
            spare_leases: false,
            wait_for_any_break: false,
        },
    };
    let mut events = Vec::new();
    let wait = break_holders(file, key, skip, c, now, &mut events);
    (events, wait)
}

/// An oplock break acknowledgment from `open` to `level` (MS-SMB2 3.3.5.22.1): the level
/// now held, and a further break when another conflict arrived during this one. An
/// acknowledgment to a higher level than the break asked for ends the oplock and fails
/// with [`VfsError::InvalidOplockProtocol`], as does one without a break in progress.
pub fn ack_oplock(
    file: &mut FileRecord,
    key: FileKey,
    open: OpenId,
    level: OplockLevel,
) -> Result<(OplockLevel, Vec<(SinkId, LockEvent)>), VfsError> {
    let Some(i) = file
        .leases
        .oplock_breaks
        .iter()
        .position(|b| b.open == open)
    else {
        return Err(VfsError::InvalidOplockProtocol);
    };
    let b = file.leases.oplock_breaks.remove(i);
    let allowed = match b.to {
        OplockLevel::Level2 => matches!(level, OplockLevel::Level2 | OplockLevel::None),
        _ => level == OplockLevel::None,
    };
    if !allowed {
        set_oplock(file, open, OplockLevel::None);
        return Err(VfsError::InvalidOplockProtocol);
    }
    set_oplock(file, open, level);
    let mut events = Vec::new();
    if level == OplockLevel::Level2 && b.required == OplockLevel::None {
        let sink = file.opens.iter().find(|o| o.id == open).map(|o| o.sink);
        if let Some(sink) = sink {
            events.push((
                sink,
                LockEvent::OplockBreak {
                    file: key,
                    open,
                    to: OplockLevel::None,
                },
            ));
        }
        set_oplock(file, open, OplockLevel::None);
    }
    Ok((level, events))
}

/// What a lease acknowledgment left.
#[derive(Debug)]
pub struct LeaseAck {
    /// The state the lease is in now (answered in the Lease Break Response).
    pub state: u32,
    /// The next break, when another conflict arrived during this one.
    pub events: Vec<(SinkId, LockEvent)>,
    /// No break of the lease is in progress any more: parked requests may retry.
    pub settled: bool,
}

/// A lease break acknowledgment (MS-SMB2 3.3.5.22.2). When another conflict arrived during
/// the break, the next break starts at once: to R first while the lease still caches
/// handles or writes, then to what is required (smbtorture smb2.lease.breaking3: RWH->RH,
/// ack, RH->R, ack, R->none). Fails with [`VfsError::NotFound`] (no such lease on the
/// file), [`VfsError::BreakNotInProgress`] or [`VfsError::BreakAckMismatch`] (a state that
/// is not within the one broken to).
pub fn ack_lease(
    file: &mut FileRecord,
    key: FileKey,
    client: [u8; 16],
    lease_key: [u8; 16],
    state: u32,
    now: Instant,
) -> Result<LeaseAck, VfsError> {
    let Some(l) = file
        .leases
        .leases
        .iter_mut()
        .find(|l| l.client == client && l.key == lease_key)
    else {
        return Err(VfsError::NotFound);
    };
    let Some(to) = l.breaking_to else {
        return Err(VfsError::BreakNotInProgress);
    };
    if state & !to != 0 {
        return Err(VfsError::BreakAckMismatch);
    }
    l.state = state;
    l.breaking_to = None;
    l.break_started = None;
    let mut events = Vec::new();
    if l.state & !l.required != 0 {
        let next = if l.state & (W | H) != 0 {
            l.state & (l.required | R)
        } else {
            l.required
        };
        let required = l.required;
        start_lease_break_with(l, key, next, now, &mut events, false);
        l.required = required & next;
    }
    Ok(LeaseAck {
        state,
        events,
        settled: l.breaking_to.is_none(),
    })
}

/// Ends breaks sent more than `timeout` ago without an acknowledgment: the oplock or lease
/// goes to none (MS-SMB2 3.3.6.4 oplock, 3.3.6.5 lease break acknowledgment timer;
/// smbtorture smb2.lease.timeout sees the lease at "" afterwards). True when any did.
pub fn expire(file: &mut FileRecord, now: Instant, timeout: Duration) -> bool {
    let (old, live): (Vec<_>, Vec<_>) = std::mem::take(&mut file.leases.oplock_breaks)
        .into_iter()
        .partition(|b| now.duration_since(b.started) >= timeout);
    file.leases.oplock_breaks = live;
    let mut any = !old.is_empty();
    for b in old {
        set_oplock(file, b.open, OplockLevel::None);
    }
    for l in &mut file.leases.leases {
        if let (Some(_), Some(t)) = (l.breaking_to, l.break_started) {
            if now.duration_since(t) >= timeout {
                l.state = 0;
                l.required = 0;
                l.breaking_to = None;
                l.break_started = None;
                any = true;
            }
        }
    }
    any
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
