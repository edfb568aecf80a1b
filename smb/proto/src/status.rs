//! NTSTATUS values (MS-ERREF 2.3.1): an open newtype; unknown values round-trip.

/// Declares an open newtype over an integer with named constants and a `Debug` that prints
/// the name (or the hex value when unknown).
#[macro_export]
macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident($ty:ty) { $($(#[$cm:meta])* $c:ident = $v:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $ty);
        impl $name {
            $($(#[$cm])* pub const $c: $name = $name($v);)*
            /// The spec's name of this value, when it has one here.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $(v if v == $v => Some(stringify!($c)),)* _ => None }
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}

open_enum! {
    /// A 32-bit NTSTATUS code (MS-ERREF 2.3.1).
    NtStatus(u32) {
        /// Success.
        SUCCESS = 0x0000_0000,
        /// The operation is pending (async interim response).
        PENDING = 0x0000_0103,
        /// A CHANGE_NOTIFY ended because its handle was closed.
        NOTIFY_CLEANUP = 0x0000_010B,
        /// Data was truncated to fit (pipe reads, info queries).
        BUFFER_OVERFLOW = 0x8000_0005,
        /// No more directory entries.
        NO_MORE_FILES = 0x8000_0006,
        /// Unspecified failure.
        UNSUCCESSFUL = 0xC000_0001,
        /// Not implemented.
        NOT_IMPLEMENTED = 0xC000_0002,
        /// Unknown information class.
        INVALID_INFO_CLASS = 0xC000_0003,
        /// Buffer size does not match the information class.
        INFO_LENGTH_MISMATCH = 0xC000_0004,
        /// Unknown file id.
        INVALID_HANDLE = 0xC000_0008,
        /// Malformed request.
        INVALID_PARAMETER = 0xC000_000D,
        /// No such file.
        NO_SUCH_FILE = 0xC000_000F,
        /// Request not valid for this object.
        INVALID_DEVICE_REQUEST = 0xC000_0010,
        /// Read at or past end of file.
        END_OF_FILE = 0xC000_0011,
        /// Authentication continues.
        MORE_PROCESSING_REQUIRED = 0xC000_0016,
        /// Access denied.
        ACCESS_DENIED = 0xC000_0022,
        /// Output buffer too small.
        BUFFER_TOO_SMALL = 0xC000_0023,
        /// Invalid name.
        OBJECT_NAME_INVALID = 0xC000_0033,
        /// Name not found.
        OBJECT_NAME_NOT_FOUND = 0xC000_0034,
        /// Name exists.
        OBJECT_NAME_COLLISION = 0xC000_0035,
        /// A path component is missing.
        OBJECT_PATH_NOT_FOUND = 0xC000_003A,
        /// Delete pending.
        DELETE_PENDING = 0xC000_0056,
        /// Unknown user.
        NO_SUCH_USER = 0xC000_0064,
        /// Wrong password.
        WRONG_PASSWORD = 0xC000_006A,
        /// Logon failed (wrong user or password).
        LOGON_FAILURE = 0xC000_006D,
        /// Disk full.
        DISK_FULL = 0xC000_007F,
        /// Out of a server resource.
        INSUFFICIENT_RESOURCES = 0xC000_009A,
        /// Read-only share or file system.
        MEDIA_WRITE_PROTECTED = 0xC000_00A2,
        /// A directory where a file was required.
        FILE_IS_A_DIRECTORY = 0xC000_00BA,
        /// Not supported.
        NOT_SUPPORTED = 0xC000_00BB,
        /// The tree was disconnected.
        NETWORK_NAME_DELETED = 0xC000_00C9,
        /// Access to the share denied.
        NETWORK_ACCESS_DENIED = 0xC000_00CA,
        /// No such share.
        BAD_NETWORK_NAME = 0xC000_00CC,
        /// The server refuses more requests or connections.
        REQUEST_NOT_ACCEPTED = 0xC000_00D0,
        /// A session binding whose connection signs with another algorithm than the session
        /// (MS-SMB2 3.3.5.5; Windows and Samba).
        REQUEST_OUT_OF_SEQUENCE = 0xC000_042A,
        /// Internal server error.
        INTERNAL_ERROR = 0xC000_00E5,
        /// Directory not empty.
        DIRECTORY_NOT_EMPTY = 0xC000_0101,
        /// Not a directory.
        NOT_A_DIRECTORY = 0xC000_0103,
        /// Cancelled.
        CANCELLED = 0xC000_0120,
        /// A READ/WRITE into a byte range another open locked.
        FILE_LOCK_CONFLICT = 0xC000_0054,
        /// A byte-range lock could not be granted.
        LOCK_NOT_GRANTED = 0xC000_0055,
        /// An unlock of a range that is not locked (also a blocking lock whose handle closed).
        RANGE_NOT_LOCKED = 0xC000_007E,
        /// The file was closed.
        FILE_CLOSED = 0xC000_0128,
        /// The request needs a DFS driver (IOCTLs on non-DFS shares).
        FS_DRIVER_REQUIRED = 0xC000_019C,
        /// The session was logged off.
        USER_SESSION_DELETED = 0xC000_0203,
        /// Nothing found (e.g. no such pipe interface).
        NOT_FOUND = 0xC000_0225,
        /// The session expired and must re-authenticate.
        NETWORK_SESSION_EXPIRED = 0xC000_035C,
        /// STATUS_NO_EAS_ON_FILE.
        NO_EAS_ON_FILE = 0xC000_0052,
        /// STATUS_PRIVILEGE_NOT_HELD.
        PRIVILEGE_NOT_HELD = 0xC000_0061,
        /// STATUS_BAD_IMPERSONATION_LEVEL.
        BAD_IMPERSONATION_LEVEL = 0xC000_00A5,
        /// STATUS_CANNOT_DELETE.
        CANNOT_DELETE = 0xC000_0121,
        /// STATUS_NOT_SAME_DEVICE.
        NOT_SAME_DEVICE = 0xC000_00D4,
        /// STATUS_OBJECT_PATH_SYNTAX_BAD.
        OBJECT_PATH_SYNTAX_BAD = 0xC000_003B,
        /// STATUS_SHARING_VIOLATION.
        SHARING_VIOLATION = 0xC000_0043,
        /// STATUS_NOT_A_REPARSE_POINT (FSCTL_GET_REPARSE_POINT on a plain file).
        NOT_A_REPARSE_POINT = 0xC000_0275,
        /// STATUS_INVALID_VIEW_SIZE (copychunk limits exceeded).
        INVALID_VIEW_SIZE = 0xC000_001F,
        /// STATUS_OBJECT_TYPE_MISMATCH (copychunk with a bad resume key).
        OBJECT_TYPE_MISMATCH = 0xC000_0024,
        /// STATUS_INVALID_DEVICE_STATE.
        INVALID_DEVICE_STATE = 0xC000_0184,
    }
}

impl NtStatus {
    /// True for error codes (severity 3).
    pub fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_names_and_unknowns_round_trip() {
        assert_eq!(format!("{:?}", NtStatus::LOGON_FAILURE), "LOGON_FAILURE");
        assert_eq!(
            format!("{:?}", NtStatus(0xC0FF_EE00)),
            "NtStatus(0xc0ffee00)"
        );
        assert!(NtStatus::ACCESS_DENIED.is_error());
        assert!(!NtStatus::BUFFER_OVERFLOW.is_error());
    }
}
