//! The on-disk, content-addressed store in `.mini_cache/`, git-style.
//!
//! ```text
//! .mini_cache/
//!   CACHEDIR.TAG      marks the directory as a cache for backup tools
//!   lock              builds hold it shared; gc, clean and verify exclusively
//!   objects/ab/cd…    entries, named by their key
//!   index/<key>       per program and settings: the file index (see `index`)
//!   bin/              executables of `mini run`
//!   tmp/              files being written; renamed into place when complete
//!   stats.json        what the last build hit and missed
//! ```
//!
//! An entry is its payload followed by a fixed-size trailer: the payload's length and
//! blake3 checksum, the entry's key and kind, the format version and a magic string.
//! Putting the metadata last keeps objects linkable in place (linkers ignore bytes after
//! an ELF file's tables). Every read verifies the trailer; anything truncated, corrupt,
//! foreign or from another format version is a miss, rebuilt and rewritten. Writes go
//! to `tmp/` and are renamed into place, so a killed build never leaves half an entry;
//! a failed write removes its temporary file, and `tmp/` is made again if it went away.
//! On a full disk a build that is alone with the cache takes the lock exclusively,
//! evicts older entries (`gc::make_room`), and writes once more.
//!
//! Every file of the cache is opened without blocking and only if it is a regular file
//! (`open_regular`): a FIFO at `lock` once made every command wait forever.

use mini_queries::base::{Encoder, Hash};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::fault::{Action, Faults, Point};

use super::remote::{RemoteReport, Tier};

/// Bumped whenever the layout of entries, units or the index changes.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 16] = b"mini-cache-entry";
const TRAILER_LEN: usize = 8 + 32 + 32 + 4 + 4 + 16;

/// What an entry holds. Part of its key, so kinds never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A link unit's merged object, for the final link (see `Unit`).
    Unit = 1,
    Runtime = 2,
    Entry = 3,
    /// One file's section of `--emit llvm-ir`.
    IrSection = 4,
    /// An executable's `_start`.
    Start = 5,
    /// The objects of a link unit's members (see `Unit`), to rebuild the unit around an
    /// edited function without regenerating the others.
    UnitMembers = 6,
    /// A program's index without what only one machine knows, kept only on a remote
    /// cache (see `remote`).
    SharedIndex = 7,
    /// The layout of an executable mini's linker wrote, keyed by its link key, so that a
    /// new process can patch the executable in place (`IncrementalLinker::save`): whole,
    /// or as a replay over a whole one that the index names (`Header::layout_base`).
    /// Kept on this machine only: it describes an executable that is here.
    LinkLayout = 8,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Unit,
            2 => Kind::Runtime,
            3 => Kind::Entry,
            4 => Kind::IrSection,
            5 => Kind::Start,
            6 => Kind::UnitMembers,
            7 => Kind::SharedIndex,
            8 => Kind::LinkLayout,
            _ => return None,
        })
    }
}

/// Bytes from the store (mapped), just made (owned), or fetched from the remote cache
/// (the entry as downloaded, and its payload's length).
pub enum Blob {
    Mapped(memmap2::Mmap, usize),
    Owned(Vec<u8>),
    Fetched(Vec<u8>, usize),
}

impl Blob {
    /// Whether these bytes came from the remote cache in this build.
    pub fn fetched(&self) -> bool {
        matches!(self, Blob::Fetched(..))
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Blob::Mapped(map, len) => &map[..*len],
            Blob::Owned(bytes) => bytes,
            Blob::Fetched(bytes, len) => &bytes[..*len],
        }
    }
}

/// Counters for one build, reported by `mini cache stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub corrupt: AtomicU64,
    pub bytes_written: AtomicU64,
}

pub struct Store {
    root: PathBuf,
    /// Held for the store's lifetime (see `Lock`), so gc never deletes under a build.
    lock: File,
    mode: Lock,
    /// This build's index: making room on a full disk spares it and what it lists.
    keep_index: Option<PathBuf>,
    /// When the store was opened: making room spares what was written since.
    opened_at: std::time::SystemTime,
    pub counters: Counters,
    temp_counter: AtomicU64,
    faults: Faults,
    /// The remote cache's tier for this build, asked on a miss and given what is
    /// written (see `remote`).
    remote: Option<Arc<Tier>>,
}

/// How a `Store` holds the cache's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Builds: many at once.
    Shared,
    /// gc, clean, verify: no build runs meanwhile.
    Exclusive,
    /// Not taken (yet: see `try_open_exclusive`).
    None,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, holding its lock shared.
    pub fn open(root: &Path) -> Result<Store> {
        Self::open_with(root, Lock::Shared)
    }

    /// Opens the store holding its lock exclusively: no build runs meanwhile.
    pub fn open_exclusive(root: &Path) -> Result<Store> {
        Self::open_with(root, Lock::Exclusive)
    }

    /// Opens the store holding its lock exclusively if no build holds it; `None` if one
    /// does.
    pub fn try_open_exclusive(root: &Path) -> Result<Option<Store>> {
        let store = Self::open_with(root, Lock::None)?;
        match store.lock.try_lock() {
            Ok(()) => Ok(Some(Store { mode: Lock::Exclusive, ..store })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e).context(store.lock_context()),
        }
    }

    fn open_with(root: &Path, mode: Lock) -> Result<Store> {
        for dir in ["objects", "index", "tmp", "bin"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating the cache directory {}", root.join(dir).display()))?;
        }
        write_tag(root);
        let lock_path = root.join("lock");
        let lock = open_regular(File::options().create(true).truncate(false).read(true).write(true), &lock_path)
            .with_context(|| format!("opening the cache lock {}", lock_path.display()))?;
        let store = Store {
            root: root.to_path_buf(),
            lock,
            mode,
            keep_index: None,
            opened_at: std::time::SystemTime::now(),
            counters: Counters::default(),
            temp_counter: AtomicU64::new(0),
            faults: Faults::default(),
            remote: None,
        };
        match mode {
            Lock::Exclusive => store.lock.lock().with_context(|| store.lock_context())?,
            Lock::Shared => store.lock.lock_shared().with_context(|| store.lock_context())?,
            Lock::None => {}
        }
        store.remove_stale_temp_files();
        Ok(store)
    }

    fn lock_context(&self) -> String {
        format!("locking the cache {}", self.root.join("lock").display())
    }

    /// Tells the store which index this build reads and writes: when a full disk makes it
    /// evict entries, it spares that index and the entries it lists.
    pub fn keep_index(&mut self, path: PathBuf) {
        self.keep_index = Some(path);
    }

    /// The index the store spares when it evicts (see `keep_index`).
    pub fn kept_index(&self) -> Option<&Path> {
        self.keep_index.as_deref()
    }

    /// When the store was opened.
    pub fn opened_at(&self) -> std::time::SystemTime {
        self.opened_at
    }

    /// Shares the session's armed faults (see `fault`).
    pub fn with_faults(mut self, faults: Faults) -> Store {
        self.faults = faults;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Releases the lock, keeping the counters.
    pub fn close(self) -> Counters {
        self.counters
    }

    /// Makes `remote` a second tier: a local miss asks it, and entries written are given
    /// to it to upload.
    pub fn set_remote(&mut self, remote: Option<Arc<Tier>>) {
        self.remote = remote;
    }

    pub fn remote(&self) -> Option<&Tier> {
        self.remote.as_deref()
    }

    /// Waits for the remote's uploads and says what it did; `None` without a remote.
    pub fn finish_remote(&self) -> Option<RemoteReport> {
        self.remote.as_ref().map(|remote| remote.finish())
    }

    /// The key of an entry: its kind and the compiler's own key for the content (a
    /// function hash, a unit key…), under this format version and this shell (see
    /// `identity`): `Encoder::new` adds the queries' `COMPILER_ID` and LLVM's version.
    pub fn key(kind: Kind, inner: Hash) -> Hash {
        match kind {
            // A layout is used only by the linker that made it.
            Kind::LinkLayout => key_for_shell(SHELL_AND_LINKER_ID, kind, inner),
            _ => key_for_shell(SHELL_ID, kind, inner),
        }
    }

    pub fn path(&self, key: Hash) -> PathBuf {
        let hex = key.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// The verified payload of an entry, or `None` (a miss) if it is absent or bad. The
    /// file is mapped, not copied: entries are never changed in place (only replaced by
    /// a rename), so the mapping stays valid.
    pub fn read(&self, kind: Kind, inner: Hash) -> Option<Blob> {
        let key = Self::key(kind, inner);
        let path = self.path(key);
        let mapped = open_regular(File::options().read(true), &path).ok().and_then(|file| {
            // SAFETY: see above; a file truncated by someone else under us is not
            // something mini does.
            unsafe { memmap2::Mmap::map(&file) }.ok()
        });
        let Some(mapped) = mapped else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return self.fetch(kind, inner, &path);
        };
        match verify(&mapped, Some((kind, key))) {
            Some(len) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(Blob::Mapped(mapped, len))
            }
            None => {
                tracing::warn!(path = %path.display(), "corrupt cache entry; rebuilding it");
                self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                self.fetch(kind, inner, &path)
            }
        }
    }

    /// A local miss: the entry from the remote cache, verified there, written to `path`
    /// the usual way (a temporary file and a rename).
    fn fetch(&self, kind: Kind, inner: Hash, path: &Path) -> Option<Blob> {
        let remote = self.remote.as_ref().filter(|_| Tier::shares(kind))?;
        let (bytes, len) = remote.get(kind, inner)?;
        if let Err(e) = self.write_file(path, &bytes) {
            tracing::warn!("keeping an entry from the remote cache: {e:#}");
            return None;
        }
        self.counters.bytes_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Some(Blob::Fetched(bytes, len))
    }

    /// Whether a valid entry exists, without reading it: for the final link's inputs,
    /// which are verified when read (see `verify_for_link`).
    pub fn contains(&self, kind: Kind, inner: Hash) -> bool {
        self.path(Self::key(kind, inner)).is_file()
    }

    /// Removes an entry nothing will read again, if it is there (the size the cache
    /// counts is corrected by its next garbage collection).
    pub fn forget(&self, kind: Kind, inner: Hash) {
        let _ = std::fs::remove_file(self.path(Self::key(kind, inner)));
    }

    /// The path of a valid entry, verified now; `None` if absent or bad (and removed).
    pub fn verified_path(&self, kind: Kind, inner: Hash) -> Option<PathBuf> {
        self.read(kind, inner).map(|_| self.path(Self::key(kind, inner)))
    }

    /// A valid entry's path and payload; `None` if absent or bad (and removed).
    pub fn read_with_path(&self, kind: Kind, inner: Hash) -> Option<(PathBuf, Blob)> {
        self.read(kind, inner).map(|payload| (self.path(Self::key(kind, inner)), payload))
    }

    /// Writes an entry atomically. Writing an existing key again is harmless: the
    /// content is the same, and readers see either the old file or the new one.
    pub fn write(&self, kind: Kind, inner: Hash, payload: &[u8]) -> Result<PathBuf> {
        let key = Self::key(kind, inner);
        let path = self.path(key);
        // Written from where the payload is, without copying it next to its trailer: a
        // saved layout or a merged unit takes megabytes.
        let trailer = trailer(kind, key, payload);
        self.write_file_parts(&path, &[payload, &trailer])?;
        self.counters.bytes_written.fetch_add((payload.len() + trailer.len()) as u64, Ordering::Relaxed);
        if let Some(remote) = &self.remote {
            remote.put(kind, inner, &path);
        }
        Ok(path)
    }

    /// Writes this program's index (the concatenation of `parts`) atomically, and gives
    /// it to the remote cache to share.
    pub fn write_index(&self, path: &Path, parts: &[&[u8]]) -> Result<()> {
        self.write_file_parts(path, parts)?;
        if let Some(remote) = &self.remote {
            remote.put_index(path);
        }
        Ok(())
    }

    /// Writes any file under the store atomically, through `tmp/`.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.write_file_parts(path, &[bytes])
    }

    /// Writes the concatenation of `parts` as one file, atomically. On a full disk, it
    /// evicts older entries (as the size cap does) and tries once more; no failure
    /// leaves a temporary file behind.
    pub fn write_file_parts(&self, path: &Path, parts: &[&[u8]]) -> Result<()> {
        let error = match self.try_write(path, parts) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if !is_no_space(&error.1) {
            return Err(error.into_anyhow());
        }
        let needed: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let freed = super::gc::make_room(self, needed)
            .with_context(|| format!("making room in the cache after: {}", error.describe()))?;
        if freed.removed == 0 {
            return Err(error.into_anyhow())
                .context("the disk is full, and the cache had nothing it could evict (see `mini cache stats`)");
        }
        tracing::warn!(
            "the disk was full: evicted {} cache entries ({} bytes) to write {}",
            freed.removed,
            freed.bytes_before - freed.bytes_after,
            path.display()
        );
        self.try_write(path, parts).map_err(WriteError::into_anyhow)
    }

    /// One attempt at an atomic write; the temporary file is removed if it fails.
    fn try_write(&self, path: &Path, parts: &[&[u8]]) -> std::result::Result<(), WriteError> {
        let temp = self.temp_path();
        let result = self.write_temp(&temp, parts).and_then(|()| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| WriteError(parent.to_path_buf(), e))?;
            }
            std::fs::rename(&temp, path).map_err(|e| WriteError(path.to_path_buf(), e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Writes `parts` to the temporary file `temp`, making `tmp/` again if something
    /// removed it.
    fn write_temp(&self, temp: &Path, parts: &[&[u8]]) -> std::result::Result<(), WriteError> {
        let failed = |e| WriteError(temp.to_path_buf(), e);
        let mut file = match File::create(temp) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(self.root.join("tmp")).map_err(failed)?;
                File::create(temp).map_err(failed)?
            }
            result => result.map_err(failed)?,
        };
        for (i, part) in parts.iter().enumerate() {
            if i == 0 {
                match self.faults.take(Point::StoreWrite) {
                    Some(Action::NoSpace) => {
                        // As a real full disk does: part of the data is written.
                        let _ = file.write_all(&part[..part.len() / 2]);
                        return Err(failed(std::io::Error::from_raw_os_error(libc::ENOSPC)));
                    }
                    Some(Action::Panic) => panic!("injected fault at {}", Point::StoreWrite.name()),
                    Some(Action::Run(code)) => code(),
                    Some(Action::Cancel) | None => {}
                }
            }
            file.write_all(part).map_err(failed)?;
        }
        Ok(())
    }

    /// A fresh temporary file name, unique to this process.
    pub fn temp_path(&self) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}-{n}", std::process::id()))
    }

    /// Removes temporary files left by processes that no longer run (killed builds).
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_string_lossy().split('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Every entry file, with its size and modification time; what could not be read is
    /// added to `unreadable` ("path: reason").
    pub fn entries(&self, unreadable: &mut Vec<String>) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let mut out = Vec::new();
        let objects = self.root.join("objects");
        let fanout = match std::fs::read_dir(&objects) {
            Ok(fanout) => fanout,
            Err(e) => {
                unreadable.push(format!("{}: {}", objects.display(), crate::fs::io_reason(&e)));
                return out;
            }
        };
        for dir in fanout {
            let dir = match dir {
                Ok(dir) => dir.path(),
                Err(e) => {
                    unreadable.push(format!("{}: {}", objects.display(), crate::fs::io_reason(&e)));
                    continue;
                }
            };
            let files = match std::fs::read_dir(&dir) {
                Ok(files) => files,
                Err(e) => {
                    unreadable.push(format!("{}: {}", dir.display(), crate::fs::io_reason(&e)));
                    continue;
                }
            };
            for file in files {
                let metadata = file.and_then(|file| Ok((file.path(), file.metadata()?)));
                match metadata {
                    Ok((path, meta)) => out.push((path, meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH))),
                    Err(e) => unreadable.push(format!("{}: {}", dir.display(), crate::fs::io_reason(&e))),
                }
            }
        }
        out
    }

    /// Lets other builds go and takes the lock exclusively, if it can now; with it, a
    /// build may evict entries (`gc::make_room`). False when other builds hold the
    /// lock: the store then holds it shared again, as before.
    pub(crate) fn try_upgrade(&self) -> Result<bool> {
        if self.mode != Lock::Shared {
            return Ok(self.mode == Lock::Exclusive);
        }
        // flock converts a lock by removing it and taking the new one; when that fails,
        // the shared lock is taken again.
        match self.lock.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => {
                self.lock.lock_shared().with_context(|| self.lock_context())?;
                Ok(false)
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| self.lock_context()),
        }
    }

    /// Goes back to a shared lock after `try_upgrade`.
    pub(crate) fn downgrade(&self) -> Result<()> {
        if self.mode == Lock::Shared {
            self.lock.lock_shared().with_context(|| self.lock_context())?;
        }
        Ok(())
    }
}

/// A failed write: the file it failed on, and why.
struct WriteError(PathBuf, std::io::Error);

impl WriteError {
    fn describe(&self) -> String {
        format!("writing {}: {}", self.0.display(), self.1)
    }

    fn into_anyhow(self) -> anyhow::Error {
        let context = format!("writing {}", self.0.display());
        anyhow::Error::new(self.1).context(context)
    }
}

/// Whether a write failed for want of space (or of quota).
fn is_no_space(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// What `Store::open` writes to `CACHEDIR.TAG`: the standard signature, which backup
/// tools know, and the line by which mini's cache commands know the cache is mini's.
const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This directory holds mini's build cache.\n";

/// Writes the cache's tag unless it is there whole. It goes through `tmp/` and a
/// rename, so that a build killed meanwhile leaves no tag or a whole one; a tag cut
/// short by an older mini (a strict beginning of `TAG`, possibly empty) is written
/// again. Any other tag is another tool's, and is left alone.
fn write_tag(root: &Path) {
    let tag = root.join("CACHEDIR.TAG");
    match read_regular(&tag) {
        Ok(bytes) if bytes.len() == TAG.len() || !TAG.as_bytes().starts_with(&bytes) => return,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return,
        _ => {}
    }
    let temp = root.join("tmp").join(format!("CACHEDIR.TAG.{}", std::process::id()));
    if std::fs::write(&temp, TAG).is_err() || std::fs::rename(&temp, &tag).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// Opens `path` with `options` only if it is a regular file, without blocking: opening a
/// FIFO (for reading, with no writer; for writing, with no reader) would wait forever.
/// Reads and locks of regular files are unaffected by `O_NONBLOCK`.
pub fn open_regular(options: &mut std::fs::OpenOptions, path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options.custom_flags(libc::O_NONBLOCK).open(path);
    let file = match file {
        // A FIFO opened for writing without a reader, or a socket.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(not_a_regular_file("is not a regular file")),
        result => result?,
    };
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "is a directory"
        } else if kind.is_fifo() {
            "is a FIFO (named pipe)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "is a device"
        } else {
            "is not a regular file"
        };
        return Err(not_a_regular_file(what));
    }
    Ok(file)
}

fn not_a_regular_file(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what)
}

/// Reads the regular file at `path` (see `open_regular`).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = open_regular(File::options().read(true), path)?;
    let mut bytes = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The shell's identity: a hash of the sources that shape stored bytes (`identity`).
pub const SHELL_ID: &str = env!("MINI_SHELL_HASH");

/// `SHELL_ID` and the hash of mini's linker (`identity::LINKER_SOURCES`), for the keys
/// of executables' layouts.
const SHELL_AND_LINKER_ID: &str = concat!(env!("MINI_SHELL_HASH"), "+", env!("MINI_LINKER_HASH"));

/// An entry's key as a build of mini whose shell has identity `shell` computes it.
pub fn key_for_shell(shell: &str, kind: Kind, inner: Hash) -> Hash {
    Encoder::new("mini cache entry").u32(FORMAT_VERSION).str(shell).u8(kind as u8).bytes(&inner.0).finish()
}

/// The key an entry file's name says it has.
pub fn key_of_path(path: &Path) -> Option<Hash> {
    let file = path.file_name()?.to_str()?;
    let dir = path.parent()?.file_name()?.to_str()?;
    let hex = format!("{dir}{file}");
    if hex.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Hash(key))
}

/// An entry's bytes as stored: the payload, then its trailer.
pub fn entry_bytes(kind: Kind, inner: Hash, payload: &[u8]) -> Vec<u8> {
    [payload, &trailer(kind, Store::key(kind, inner), payload)].concat()
}

fn trailer(kind: Kind, key: Hash, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TRAILER_LEN);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(payload).as_bytes());
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// Checks an entry's trailer and checksum (and, if given, that it is the expected kind
/// and key). Returns the payload's length.
pub fn verify(bytes: &[u8], expected: Option<(Kind, Hash)>) -> Option<usize> {
    let trailer_start = bytes.len().checked_sub(TRAILER_LEN)?;
    let t = &bytes[trailer_start..];
    let len = u64::from_le_bytes(t[0..8].try_into().ok()?) as usize;
    let checksum = &t[8..40];
    let key = Hash(t[40..72].try_into().ok()?);
    let kind = Kind::from_byte(t[72])?;
    let version = u32::from_le_bytes(t[76..80].try_into().ok()?);
    if &t[80..96] != MAGIC || version != FORMAT_VERSION || len != trailer_start {
        return None;
    }
    if let Some((want_kind, want_key)) = expected
        && (kind != want_kind || key != want_key)
    {
        return None;
    }
    (blake3::hash(&bytes[..len]).as_bytes() == checksum).then_some(len)
}

/// The key an entry's trailer names (unverified).
pub fn trailer_key(bytes: &[u8]) -> Option<Hash> {
    let trailer_start = bytes.len().checked_sub(TRAILER_LEN)?;
    Some(Hash(bytes[trailer_start + 40..trailer_start + 72].try_into().ok()?))
}

/// Whether an entry file's trailer names the key its file name says.
pub fn entry_key_matches(bytes: &[u8], path: &Path) -> bool {
    trailer_key(bytes).is_some_and(|key| Some(key) == key_of_path(path))
}

/// Link units are stored as two entries under the unit's key: `Unit`, the merged object
/// the final link reads, and `UnitMembers`, each member function's own object, read only
/// to rebuild the unit after an edit:
///
/// ```text
/// member objects… | table: (hash, offset, length)… | count u32
/// ```
pub struct Unit;

impl Unit {
    pub fn encode_members(members: &[(Hash, &[u8])]) -> Vec<u8> {
        let size: usize = members.iter().map(|(_, object)| object.len() + 48).sum();
        let mut out = Vec::with_capacity(size + 4);
        let mut table = Vec::with_capacity(members.len() * 48);
        for (hash, object) in members {
            table.extend_from_slice(&hash.0);
            table.extend_from_slice(&(out.len() as u64).to_le_bytes());
            table.extend_from_slice(&(object.len() as u64).to_le_bytes());
            out.extend_from_slice(object);
        }
        out.extend_from_slice(&table);
        out.extend_from_slice(&(members.len() as u32).to_le_bytes());
        out
    }

    /// The members' objects by function hash; `None` if the payload is malformed.
    pub fn members(payload: &[u8]) -> Option<Vec<(Hash, &[u8])>> {
        let end = payload.len().checked_sub(4)?;
        let count = u32::from_le_bytes(payload[end..].try_into().ok()?) as usize;
        let table_start = end.checked_sub(count.checked_mul(48)?)?;
        let mut members = Vec::with_capacity(count);
        for row in payload[table_start..end].chunks_exact(48) {
            let hash = Hash(row[..32].try_into().ok()?);
            let offset = u64::from_le_bytes(row[32..40].try_into().ok()?) as usize;
            let len = u64::from_le_bytes(row[40..48].try_into().ok()?) as usize;
            let object = payload.get(offset..offset.checked_add(len)?)?;
            if offset + len > table_start {
                return None;
            }
            members.push((hash, object));
        }
        Some(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn entries_round_trip_and_reject_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = store.write(Kind::Runtime, hash(1), b"payload").unwrap();
        assert_eq!(store.read(Kind::Runtime, hash(1)).as_deref(), Some(&b"payload"[..]));
        let path = path.clone();
        assert!(store.read(Kind::Entry, hash(1)).is_none(), "another kind is another key");

        let mut bytes = std::fs::read(&path).unwrap();
        bytes[2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(store.read(Kind::Runtime, hash(1)).is_none(), "a flipped bit is a miss");
        assert!(!path.exists(), "and the bad entry is removed");

        store.write(Kind::Runtime, hash(1), b"payload").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(store.read(Kind::Runtime, hash(1)).is_none(), "a truncated entry is a miss");
    }

    /// Two builds of mini whose merge code (or store layout, or `object` crate) differ
    /// must not share entry keys: the shell's identity is a hash of exactly the sources
    /// that shape entries, and it is part of every key.
    #[test]
    fn entry_keys_change_with_the_code_that_shapes_entries() {
        use crate::cache::identity::{SHAPING_SOURCES, shell_hash};
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(shell_hash(root).as_deref(), Some(SHELL_ID), "the compiled-in identity is the sources' hash");
        let merging = SHAPING_SOURCES
            .iter()
            .find(|file| std::fs::read_to_string(root.join(file)).unwrap().contains("pub fn merge_objects"));
        assert_eq!(merging, Some(&"src/link/merge.rs"), "the file that merges link units is hashed");

        // A copy of the shell whose merge code differs, then one whose `object` differs.
        let copy = tempfile::tempdir().unwrap();
        for file in SHAPING_SOURCES.iter().chain(&["Cargo.lock"]) {
            let to = copy.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(file), to).unwrap();
        }
        assert_eq!(shell_hash(copy.path()).as_deref(), Some(SHELL_ID));
        let merge = copy.path().join("src/link/merge.rs");
        let text = std::fs::read_to_string(&merge).unwrap();
        std::fs::write(&merge, text.replace("SHT_LLVM_ADDRSIG", "SHT_LLVM_ADDRSIG_")).unwrap();
        let other_merge = shell_hash(copy.path()).unwrap();
        std::fs::write(&merge, text).unwrap();
        let lock = copy.path().join("Cargo.lock");
        let text = std::fs::read_to_string(&lock).unwrap();
        let bumped = text.replacen("name = \"object\"\nversion = \"", "name = \"object\"\nversion = \"1", 1);
        assert_ne!(bumped, text);
        std::fs::write(&lock, bumped).unwrap();
        let other_object = shell_hash(copy.path()).unwrap();

        for other in [other_merge, other_object] {
            assert_ne!(other, SHELL_ID);
            for kind in [Kind::Unit, Kind::UnitMembers, Kind::Runtime, Kind::SharedIndex] {
                assert_ne!(key_for_shell(&other, kind, hash(7)), Store::key(kind, hash(7)));
            }
        }
    }

    /// An executable's layout is patched only by the linker that made it: its key mixes
    /// in a hash of the linker's sources, which changes with them.
    #[test]
    fn layout_keys_change_with_the_linker() {
        use crate::cache::identity::{LINKER_SOURCES, linker_hash};
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let compiled_in = SHELL_AND_LINKER_ID.split_once('+').map(|(_, linker)| linker);
        assert_eq!(linker_hash(root).as_deref(), compiled_in, "the compiled-in identity is the sources' hash");
        let copy = tempfile::tempdir().unwrap();
        for file in LINKER_SOURCES.iter().chain(&["Cargo.lock"]) {
            let to = copy.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(file), to).unwrap();
        }
        assert_eq!(linker_hash(copy.path()).as_deref(), compiled_in);
        let image = copy.path().join("src/link/image.rs");
        let text = std::fs::read_to_string(&image).unwrap();
        std::fs::write(&image, text.replace("fn capacity", "fn capacity_")).unwrap();
        let other = linker_hash(copy.path()).unwrap();
        assert_ne!(Some(other.as_str()), compiled_in);
        let other_id = format!("{SHELL_ID}+{other}");
        assert_ne!(key_for_shell(&other_id, Kind::LinkLayout, hash(7)), Store::key(Kind::LinkLayout, hash(7)));
        assert_ne!(Store::key(Kind::LinkLayout, hash(7)), key_for_shell(SHELL_ID, Kind::LinkLayout, hash(7)));
    }

    /// A build killed while writing the tag once left it cut short, and mini's cache
    /// commands then called the cache another tool's. Opening the store mends such a
    /// tag, and leaves another tool's alone.
    #[test]
    fn a_tag_cut_short_is_written_again_and_a_foreign_one_kept() {
        use crate::cache::gc::{Presence, presence};
        for cut in [0, 1, 20, TAG.len() - 1] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("CACHEDIR.TAG"), &TAG[..cut]).unwrap();
            drop(Store::open(dir.path()).unwrap());
            assert_eq!(std::fs::read_to_string(dir.path().join("CACHEDIR.TAG")).unwrap(), TAG, "cut at {cut}");
            assert!(matches!(presence(dir.path()), Presence::Cache), "cut at {cut}");
        }
        let dir = tempfile::tempdir().unwrap();
        let foreign = "Signature: 8a477f597d28d172789f06886806bc55\n# another tool's\n";
        std::fs::write(dir.path().join("CACHEDIR.TAG"), foreign).unwrap();
        drop(Store::open(dir.path()).unwrap());
        assert_eq!(std::fs::read_to_string(dir.path().join("CACHEDIR.TAG")).unwrap(), foreign);
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no temporary file left");
    }

    #[test]
    fn units_keep_their_members() {
        let payload = Unit::encode_members(&[(hash(1), b"one"), (hash(2), b"two!")]);
        let members = Unit::members(&payload).unwrap();
        assert_eq!(members, vec![(hash(1), &b"one"[..]), (hash(2), &b"two!"[..])]);
        assert!(Unit::members(&payload[..payload.len() - 3]).is_none());
    }
}
