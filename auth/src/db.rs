//! The user database: SQLite (`<state_dir>/users.sqlite`), one row per user with the NT hash
//! (MD4 of the UTF-16LE password), uid/gid and RID. The machine SID (`S-1-5-21-a-b-c`, random
//! at creation) is stored in the `meta` table; a user's SID is machine SID + RID.

use std::path::Path;
use std::sync::Mutex;

use md4::{Digest, Md4};
use rusqlite::{params, Connection, OptionalExtension};

use crate::AuthError;

/// First RID handed to a user (as Windows and Samba do for ordinary accounts).
const FIRST_RID: u32 = 1000;
/// Default uid/gid range start for users added without `--uid`.
const FIRST_UID: u32 = 1000;

/// One user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Account name (case-insensitive unique).
    pub name: String,
    /// Unix uid.
    pub uid: u32,
    /// Unix primary gid.
    pub gid: u32,
    /// Relative id within the machine domain.
    pub rid: u32,
    /// Full SID string.
    pub sid: String,
    /// NT hash: MD4(UTF-16LE(password)).
    pub nt_hash: [u8; 16],
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// NT hash of a password (MS-NLMP 3.3.1 NTOWFv1).
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for u in password.encode_utf16() {
        h.update(u.to_le_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize());
    out
}

/// The user database. Thread-safe; each call is one short SQLite transaction.
pub struct UserDb {
    conn: Mutex<Connection>,
    machine_sid: String,
}

impl std::fmt::Debug for UserDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDb")
            .field("machine_sid", &self.machine_sid)
            .finish_non_exhaustive()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name
            .chars()
            .any(|c| c.is_control() || "\\/[]:;|=,+*?<>\"@".contains(c))
}

fn random_u32s() -> [u32; 3] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 12];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    let mut out = [0u32; 3];
    for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
        *o = <[u8; 4]>::try_from(c).map(u32::from_le_bytes).unwrap_or(1);
    }
    out
}

/// Creates `path` mode 0600 if it does not exist (no truncation), and sets 0600 on it
/// whatever it had, before SQLite opens it.
fn restrict_mode(path: &Path) -> Result<(), AuthError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

impl UserDb {
    /// Opens (creating if needed) the database at `path`; creates the machine SID on first use.
    /// The file is created 0600 (it holds NT hashes, which are password equivalents), and an
    /// existing one is narrowed to 0600; SQLite gives its journal the database file's mode.
    pub fn open(path: &Path) -> Result<UserDb, AuthError> {
        restrict_mode(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS users (
                 name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                 nt_hash BLOB NOT NULL,
                 uid INTEGER NOT NULL,
                 gid INTEGER NOT NULL,
                 rid INTEGER NOT NULL UNIQUE
             );",
        )?;
        let existing: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'machine_sid'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let machine_sid = match existing {
            Some(s) => s,
            None => {
                let [a, b, c] = random_u32s();
                let sid = format!("S-1-5-21-{a}-{b}-{c}");
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('machine_sid', ?1)",
                    params![sid],
                )?;
                conn.query_row(
                    "SELECT value FROM meta WHERE key = 'machine_sid'",
                    [],
                    |r| r.get(0),
                )?
            }
        };
        Ok(UserDb {
            conn: Mutex::new(conn),
            machine_sid,
        })
    }

    /// The machine SID (`S-1-5-21-a-b-c`), stable for the life of the database.
    pub fn machine_sid(&self) -> &str {
        &self.machine_sid
    }

    /// A server GUID derived from the machine SID, so it is stable across restarts
    /// (MS-SMB2 3.3.1.5 ServerGuid): the first 16 bytes of SHA-256("shoal server guid" || SID).
    pub fn server_guid(&self) -> [u8; 16] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"shoal server guid");
        ctx.update(self.machine_sid.as_bytes());
        let d = ctx.finish();
        let mut g = [0u8; 16];
        for (o, b) in g.iter_mut().zip(d.as_ref()) {
            *o = *b;
        }
        g
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn row_to_user(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
        let name: String = r.get(0)?;
        let hash: Vec<u8> = r.get(1)?;
        let uid: u32 = r.get(2)?;
        let gid: u32 = r.get(3)?;
        let rid: u32 = r.get(4)?;
        let mut nt_hash = [0u8; 16];
        if hash.len() == 16 {
            nt_hash.copy_from_slice(&hash);
        }
        Ok(User {
            name,
            uid,
            gid,
            rid,
            sid: format!("{}-{rid}", self.machine_sid),
            nt_hash,
        })
    }

    /// Adds a user. Without `uid`, the next free uid from 1000; without `gid`, the uid.
    pub fn add(
        &self,
        name: &str,
        password: &str,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<User, AuthError> {
        if !valid_name(name) {
            return Err(AuthError::InvalidName(name.to_string()));
        }
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT name FROM users WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(AuthError::UserExists(name.to_string()));
        }
        let rid: u32 = tx.query_row(
            "SELECT COALESCE(MAX(rid) + 1, ?1) FROM users",
            params![FIRST_RID],
            |r| r.get(0),
        )?;
        let uid = match uid {
            Some(u) => u,
            None => tx.query_row(
                "SELECT COALESCE(MAX(uid) + 1, ?1) FROM users WHERE uid >= ?1",
                params![FIRST_UID],
                |r| r.get(0),
            )?,
        };
        let gid = gid.unwrap_or(uid);
        let hash = nt_hash(password);
        tx.execute(
            "INSERT INTO users (name, nt_hash, uid, gid, rid) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, &hash[..], uid, gid, rid],
        )?;
        tx.commit()?;
        Ok(User {
            name: name.to_string(),
            uid,
            gid,
            rid,
            sid: format!("{}-{rid}", self.machine_sid),
            nt_hash: hash,
        })
    }

    /// All users, by name.
    pub fn list(&self) -> Result<Vec<User>, AuthError> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT name, nt_hash, uid, gid, rid FROM users ORDER BY name")?;
        let rows = st.query_map([], |r| self.row_to_user(r))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Deletes a user.
    pub fn delete(&self, name: &str) -> Result<(), AuthError> {
        let n = self
            .lock()
            .execute("DELETE FROM users WHERE name = ?1", params![name])?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    /// Changes a user's password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        let hash = nt_hash(password);
        let n = self.lock().execute(
            "UPDATE users SET nt_hash = ?2 WHERE name = ?1",
            params![name, &hash[..]],
        )?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    /// Looks a user up by name (case-insensitive).
    pub fn lookup(&self, name: &str) -> Result<Option<User>, AuthError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT name, nt_hash, uid, gid, rid FROM users WHERE name = ?1",
                params![name],
                |r| self.row_to_user(r),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_of_password_matches_ms_nlmp() {
        // MS-NLMP 4.2.2.1.2 NTOWFv1("Password").
        assert_eq!(
            nt_hash("Password"),
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
    }

    #[test]
    fn add_list_lookup_passwd_delete() {
        let dir = std::env::temp_dir().join(format!("shoal-auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.sqlite");
        let _ = std::fs::remove_file(&path);
        let db = UserDb::open(&path).unwrap();
        let a = db.add("alice", "pw1", None, None).unwrap();
        assert_eq!((a.uid, a.gid, a.rid), (1000, 1000, 1000));
        let b = db.add("bob", "pw2", Some(4242), Some(100)).unwrap();
        assert_eq!((b.uid, b.gid, b.rid), (4242, 100, 1001));
        assert!(b.sid.starts_with("S-1-5-21-") && b.sid.ends_with("-1001"));
        assert!(matches!(
            db.add("ALICE", "x", None, None),
            Err(AuthError::UserExists(_))
        ));
        assert!(matches!(
            db.add("a/b", "x", None, None),
            Err(AuthError::InvalidName(_))
        ));
        assert_eq!(db.lookup("Alice").unwrap().unwrap().nt_hash, nt_hash("pw1"));
        db.set_password("alice", "Secr3tPassw0rd").unwrap();
        assert_eq!(
            db.lookup("alice").unwrap().unwrap().nt_hash,
            nt_hash("Secr3tPassw0rd")
        );
        assert_eq!(db.list().unwrap().len(), 2);
        db.delete("bob").unwrap();
        assert!(db.lookup("bob").unwrap().is_none());
        assert!(db.delete("bob").is_err());
        let sid = db.machine_sid().to_string();
        let guid = db.server_guid();
        drop(db);
        let db = UserDb::open(&path).unwrap();
        assert_eq!(db.machine_sid(), sid);
        assert_eq!(db.server_guid(), guid);
        // The password itself is nowhere in the file.
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(14).any(|w| w == b"Secr3tPassw0rd"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
