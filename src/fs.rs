//! The file system as the compiler sees it: stamps that tell whether a file changed
//! (and what a stamp proves), the clock they are judged against, and path helpers. The
//! bottom of the shell: every other layer may use it, and it uses none of them.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file whose modification or inode change time is within this window of the time it
/// was checked is "racy": its stamp cannot prove it unchanged, because another write
/// within the same timestamp tick would look the same. Such files are re-hashed. A
/// second covers file systems that keep whole seconds, and clocks read at different
/// granularities (the kernel's coarse clock for timestamps).
pub const RACY_WINDOW_NS: i64 = 1_000_000_000;

/// Enough of a file's metadata to notice that it changed (or was replaced): what
/// `index` calls a stamp. The size, the inode, and two times: the modification time,
/// which anyone may set back (`touch -d`, `cp -p`, `rsync -t`, checkouts), and the
/// inode change time, which the kernel sets to its clock on every write, rename, `chmod`
/// or `utimes`, and which no user call can set. What a stamp proves, and when, is in
/// ARCHITECTURE.md ("What a stamp proves").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileStamp {
    pub len: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Inode change time in nanoseconds since the epoch.
    pub ctime_ns: i64,
    pub inode: u64,
}

impl FileStamp {
    /// A stamp no file on disk has (no inode is 0): what a shared index holds, which
    /// proves nothing about any file.
    pub const NONE: FileStamp = FileStamp { len: 0, mtime_ns: 0, ctime_ns: 0, inode: 0 };

    /// The stamp of the file at `path` (following links); `None` if there is none.
    pub fn of(path: &Path) -> Option<FileStamp> {
        #[cfg(target_os = "linux")]
        {
            // statx asking for just these fields: a no-op build is mostly stat calls,
            // and this is about 15% cheaper than std's full metadata.
            use std::os::unix::ffi::OsStrExt;
            let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
            let mask = libc::STATX_SIZE | libc::STATX_MTIME | libc::STATX_CTIME | libc::STATX_INO;
            // SAFETY: a valid C string and a zeroed statx buffer the call fills in.
            let mut st: libc::statx = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::statx(libc::AT_FDCWD, path.as_ptr(), libc::AT_STATX_SYNC_AS_STAT, mask, &mut st) };
            if rc == 0 && st.stx_mask & mask == mask {
                let ns = |t: libc::statx_timestamp| t.tv_sec * 1_000_000_000 + i64::from(t.tv_nsec);
                return Some(FileStamp {
                    len: st.stx_size,
                    mtime_ns: ns(st.stx_mtime),
                    ctime_ns: ns(st.stx_ctime),
                    inode: st.stx_ino,
                });
            }
            if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
                return None;
            }
        }
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            inode: meta.ino(),
        })
    }

    /// The later of the two times: when the file last changed, as far as its stamp can
    /// tell. A modification time in the future only makes the stamp racy for longer.
    pub fn changed_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
    }

    /// Whether this stamp, seen again, proves the file unchanged since `checked_at_ns`,
    /// a time no later than the stat that took it (and so than the read of the bytes it
    /// vouches for): git's racy-clean rule, with the inode change time. A file changed
    /// within `RACY_WINDOW_NS` of that time could change again within one tick of the
    /// file system's clock and keep this very stamp, so it proves nothing.
    pub fn proves_unchanged(&self, now: Option<FileStamp>, checked_at_ns: i64) -> bool {
        now == Some(*self) && self.changed_ns().saturating_add(RACY_WINDOW_NS) < checked_at_ns
    }
}

/// Stamps of many files, taken on two threads when there are many (the no-op build of a
/// large program is mostly this).
pub fn stamps_of(paths: &[PathBuf]) -> Vec<Option<FileStamp>> {
    if paths.len() < 2048 {
        return paths.iter().map(|p| FileStamp::of(p)).collect();
    }
    let (first, second) = paths.split_at(paths.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.iter().map(|p| FileStamp::of(p)).collect::<Vec<_>>());
        let mut stamps: Vec<Option<FileStamp>> = first.iter().map(|p| FileStamp::of(p)).collect();
        stamps.extend(other.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        stamps
    })
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// `path` made absolute against the current directory (without resolving links).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` with `.` and `name/..` removed, without asking the file system (as module
/// paths are normalized: `app/../shared` is `shared`).
pub fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `base` (both absolute and lexically normal), with `..` to climb
/// out of `base`.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (mut path_parts, mut base_parts) = (path.components().peekable(), base.components().peekable());
    while let (Some(a), Some(b)) = (path_parts.peek(), base_parts.peek())
        && a == b
    {
        path_parts.next();
        base_parts.next();
    }
    let mut relative: PathBuf = base_parts.map(|_| "..").collect();
    relative.extend(path_parts);
    relative
}

/// An I/O error's reason without the "(os error N)" suffix.
pub fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
