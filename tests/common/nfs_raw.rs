//! A minimal hand-written ONC RPC / NFSv3 / MOUNT v3 client over raw TCP, for tests that
//! drive procedures the libnfs command-line tools cannot (and attacks no real client sends).
//!
//! The XDR here is written by hand on purpose: it checks the server against the RFC, not
//! against our own codec. Calls carry AUTH_SYS with `Client::uid` as uid and gid.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Server;
pub const NFS: u32 = 100003;
pub const MOUNT: u32 = 100005;

// ---- a minimal XDR / ONC RPC client ----

#[derive(Default)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn fixed(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        while self.0.len() & 3 != 0 {
            self.0.push(0);
        }
        self
    }
    pub fn opaque(self, b: &[u8]) -> Self {
        self.u32(b.len() as u32).fixed(b)
    }
    /// `sattr3` with only a mode.
    pub fn sattr_mode(self, mode: u32) -> Self {
        self.u32(1).u32(mode).u32(0).u32(0).u32(0).u32(0).u32(0)
    }
}

pub struct R<'a>(pub &'a [u8]);

impl<'a> R<'a> {
    pub fn u32(&mut self) -> u32 {
        let (h, t) = self.0.split_at(4);
        self.0 = t;
        u32::from_be_bytes(h.try_into().unwrap())
    }
    pub fn u64(&mut self) -> u64 {
        ((self.u32() as u64) << 32) | self.u32() as u64
    }
    pub fn fixed(&mut self, n: usize) -> Vec<u8> {
        let p = (n + 3) & !3;
        let (h, t) = self.0.split_at(p);
        self.0 = t;
        h[..n].to_vec()
    }
    pub fn opaque(&mut self) -> Vec<u8> {
        let n = self.u32() as usize;
        self.fixed(n)
    }
    /// `fattr3` → (type, mode, uid, gid, size).
    pub fn fattr(&mut self) -> (u32, u32, u32, u32, u64) {
        let (t, mode, _nlink, uid, gid) =
            (self.u32(), self.u32(), self.u32(), self.u32(), self.u32());
        let size = self.u64();
        self.fixed(84 - 28);
        (t, mode, uid, gid, size)
    }
    pub fn post_op_attr(&mut self) -> Option<(u32, u32, u32, u32, u64)> {
        (self.u32() == 1).then(|| self.fattr())
    }
    pub fn wcc(&mut self) {
        if self.u32() == 1 {
            self.fixed(24);
        }
        self.post_op_attr();
    }
}

pub struct Client {
    pub s: TcpStream,
    pub xid: u32,
    pub uid: u32,
}

/// A decoded reply: reply_stat, accept_stat (or reject detail), the rest.
pub struct Reply {
    pub xid: u32,
    pub reply_stat: u32,
    pub accept_stat: u32,
    pub body: Vec<u8>,
}

pub fn read_record(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 4];
        s.read_exact(&mut h)?;
        let h = u32::from_be_bytes(h);
        let mut frag = vec![0u8; (h & 0x7fff_ffff) as usize];
        s.read_exact(&mut frag)?;
        out.extend(frag);
        if h & 0x8000_0000 != 0 {
            return Ok(out);
        }
    }
}

pub fn call_bytes(xid: u32, prog: u32, vers: u32, proc_: u32, uid: u32, args: &[u8]) -> Vec<u8> {
    let cred = W::default().u32(0).opaque(b"test").u32(uid).u32(uid).u32(0);
    let body = W::default()
        .u32(xid)
        .u32(0)
        .u32(2)
        .u32(prog)
        .u32(vers)
        .u32(proc_)
        .u32(1)
        .opaque(&cred.0)
        .u32(0)
        .u32(0)
        .fixed(args);
    let mut rec = (0x8000_0000u32 | body.0.len() as u32)
        .to_be_bytes()
        .to_vec();
    rec.extend(body.0);
    rec
}

pub fn parse_reply(rec: &[u8]) -> Reply {
    let mut r = R(rec);
    let xid = r.u32();
    assert_eq!(r.u32(), 1, "not a reply");
    let reply_stat = r.u32();
    let accept_stat = if reply_stat == 0 {
        r.u32();
        r.opaque();
        r.u32()
    } else {
        r.u32()
    };
    Reply {
        xid,
        reply_stat,
        accept_stat,
        body: r.0.to_vec(),
    }
}

impl Client {
    pub fn connect(server: &Server) -> Client {
        let s = TcpStream::connect(("127.0.0.1", server.nfs_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            s,
            xid: 1000,
            uid: 0,
        }
    }

    pub fn raw(&mut self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Reply {
        self.xid += 1;
        let rec = call_bytes(self.xid, prog, vers, proc_, self.uid, args);
        self.s.write_all(&rec).unwrap();
        let reply = parse_reply(&read_record(&mut self.s).unwrap());
        assert_eq!(reply.xid, self.xid);
        reply
    }

    /// Calls and returns the body after `accept_stat == SUCCESS`.
    pub fn call(&mut self, prog: u32, proc_: u32, args: W) -> Vec<u8> {
        let r = self.raw(prog, 3, proc_, &args.0);
        assert_eq!(
            (r.reply_stat, r.accept_stat),
            (0, 0),
            "call {prog}/{proc_} not accepted"
        );
        r.body
    }

    pub fn mnt(&mut self, path: &str) -> Result<Vec<u8>, u32> {
        let body = self.call(MOUNT, 1, W::default().opaque(path.as_bytes()));
        let mut r = R(&body);
        match r.u32() {
            0 => Ok(r.opaque()),
            e => Err(e),
        }
    }

    /// LOOKUP → handle or status.
    pub fn lookup(&mut self, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
        let body = self.call(NFS, 3, W::default().opaque(dir).opaque(name.as_bytes()));
        let mut r = R(&body);
        match r.u32() {
            0 => Ok(r.opaque()),
            e => Err(e),
        }
    }

    pub fn getattr(&mut self, fh: &[u8]) -> Result<(u32, u32, u32, u32, u64), u32> {
        let body = self.call(NFS, 1, W::default().opaque(fh));
        let mut r = R(&body);
        match r.u32() {
            0 => Ok(r.fattr()),
            e => Err(e),
        }
    }

    /// CREATE / MKDIR style result → handle or status.
    pub fn created(body: &[u8]) -> Result<Vec<u8>, u32> {
        let mut r = R(body);
        match r.u32() {
            0 => {
                assert_eq!(r.u32(), 1, "no handle returned");
                Ok(r.opaque())
            }
            e => Err(e),
        }
    }

    pub fn create(&mut self, dir: &[u8], name: &str, how: W) -> Result<Vec<u8>, u32> {
        let args = W::default().opaque(dir).opaque(name.as_bytes());
        let mut a = args.0;
        a.extend(how.0);
        let body = self.call(NFS, 8, W(a));
        Client::created(&body)
    }

    pub fn mkdir(&mut self, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
        let body = self.call(
            NFS,
            9,
            W::default()
                .opaque(dir)
                .opaque(name.as_bytes())
                .sattr_mode(0o755),
        );
        Client::created(&body)
    }

    pub fn status_only(&mut self, proc_: u32, args: W) -> u32 {
        let body = self.call(NFS, proc_, args);
        R(&body).u32()
    }

    /// WRITE → (count, committed, verifier) or status.
    pub fn write(
        &mut self,
        fh: &[u8],
        offset: u64,
        data: &[u8],
        stable: u32,
    ) -> Result<(u32, u32, Vec<u8>), u32> {
        let body = self.call(
            NFS,
            7,
            W::default()
                .opaque(fh)
                .u64(offset)
                .u32(data.len() as u32)
                .u32(stable)
                .opaque(data),
        );
        let mut r = R(&body);
        let st = r.u32();
        r.wcc();
        if st != 0 {
            return Err(st);
        }
        Ok((r.u32(), r.u32(), r.fixed(8)))
    }

    /// READDIR or READDIRPLUS from `cookie` → (names with cookies, eof).
    pub fn readdir(
        &mut self,
        dir: &[u8],
        cookie: u64,
        count: u32,
        plus: bool,
    ) -> (Vec<(Vec<u8>, u64)>, bool) {
        let args = W::default()
            .opaque(dir)
            .u64(cookie)
            .fixed(&[0; 8])
            .u32(count);
        let args = if plus { args.u32(count * 4) } else { args };
        let body = self.call(NFS, if plus { 17 } else { 16 }, args);
        assert!(
            body.len() <= (if plus { count * 4 } else { count }) as usize,
            "reply larger than asked"
        );
        let mut r = R(&body);
        assert_eq!(r.u32(), 0, "readdir failed");
        r.post_op_attr();
        r.fixed(8);
        let mut out = Vec::new();
        while r.u32() == 1 {
            r.u64();
            let name = r.opaque();
            let c = r.u64();
            if plus {
                r.post_op_attr();
                if r.u32() == 1 {
                    r.opaque();
                }
            }
            out.push((name, c));
        }
        (out, r.u32() == 1)
    }
}
