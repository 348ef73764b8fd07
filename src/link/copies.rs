//! Publishing an executable that changes by small patches, without ever writing the
//! output in place: two files take turns as the output.
//!
//! The output may be running (`mini watch --run`, or the user started it): Linux
//! refuses to open a running executable for writing (`ETXTBSY`), and anyone reading it
//! must never see half a patch. Writing the whole image to a new file and renaming it
//! over the output is safe, but costs a write of the whole executable per edit (a few
//! megabytes, milliseconds). So the image goes to one of two private copies in a
//! scratch directory — the other copy is the current output — by writing only the
//! bytes that changed since that copy was last written, then the copy gets the
//! output's name: a hard link next to the output, renamed over it. The output is always
//! one complete image or the next. The copy written each time is the one that was the
//! output before the current one; whatever ran from it was stopped (`--run` stops the
//! last run before starting the next) — if it still runs, or anything else is wrong with
//! the copy, it is written whole, as a new file.
//!
//! A copy is patched in place only if it is as this process left it: the same inode,
//! size, modification time and mode (someone may have written or `chmod`ed the output
//! while it was that copy), and no other name links to it (a hard link the user made
//! to keep that version). Where hard links do not work (the scratch directory on
//! another file system), the whole image is written next to the output each time.
//!
//! A one-shot build keeps its copies in the cache (`Kept`) with what this module knows
//! of them — their stamps, what each lacks, whose turn it is — in a small file beside
//! them, so that the next process patches the older copy in place as a watcher does.
//! A build holds that file's lock while it uses them; one that cannot take it (another
//! build of the same output runs) writes the whole image, without them.

use std::fs::File;
use std::io::Write as _;
use std::ops::Range;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bytes::{Reader, Writer};
use crate::fs::FileStamp;

/// The two copies and what each lacks.
#[derive(Default)]
pub struct Copies {
    files: [Option<CopyFile>; 2],
    /// What changed in the image since each copy was written; `None`: anything.
    dirty: [Option<Vec<Range<usize>>>; 2],
    /// The copy the next publication writes.
    next: usize,
    /// Write the whole image next to the output every time: hard links do not work here.
    whole: bool,
    /// Kept in the cache for later processes (`Kept`), rather than this process's.
    kept: bool,
}

struct CopyFile {
    path: PathBuf,
    stamp: Stamp,
}

/// What shows that a copy is as this process left it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    inode: u64,
    len: u64,
    mtime_ns: i64,
    mode: u32,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            inode: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            mode: meta.mode(),
        }
    }
}

/// What a publication wrote.
pub(super) struct Published {
    pub written: usize,
    pub in_place: bool,
}

impl Copies {
    /// The image changed everywhere (a full link).
    pub(super) fn changed_all(&mut self) {
        self.dirty = [None, None];
    }

    /// The image changed in `ranges`.
    pub(super) fn changed(&mut self, ranges: &[Range<usize>]) {
        for dirty in self.dirty.iter_mut().flatten() {
            dirty.extend_from_slice(ranges);
        }
    }

    /// Makes `image` the file at `output`, through the copy whose turn it is, kept in
    /// `scratch`.
    pub(super) fn publish(&mut self, image: &[u8], output: &Path, scratch: &Path) -> Result<Published> {
        if self.whole {
            crate::output::write_atomically(output, image, true)?;
            return Ok(Published { written: image.len(), in_place: false });
        }
        let turn = self.next;
        let path = scratch.join(copy_name(output, turn, self.kept));
        let patched = match (&self.files[turn], &mut self.dirty[turn]) {
            (Some(copy), Some(ranges)) if copy.path == path => patch_in_place(copy, image, ranges),
            _ => None,
        };
        let (stamp, written, in_place) = match patched {
            Some((stamp, written)) => (stamp, written, true),
            None => (write_whole(&path, image)?, image.len(), false),
        };
        self.files[turn] = Some(CopyFile { path: path.clone(), stamp });
        self.dirty[turn] = Some(Vec::new());

        // The output's name, through a hard link renamed over it.
        let temp = crate::output::Temp::for_output(output)?;
        let _ = std::fs::remove_file(temp.path());
        if let Err(e) = std::fs::hard_link(&path, temp.path()) {
            // Another file system, or one without hard links: write the output whole
            // from now on. Anything else (the copy removed under us), this time.
            tracing::info!("cannot link {} to the output ({e}); writing it whole", path.display());
            self.whole = matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EPERM | libc::EOPNOTSUPP | libc::EMLINK));
            self.files[turn] = None;
            crate::output::write_atomically(output, image, true)?;
            return Ok(Published { written: image.len(), in_place: false });
        }
        temp.persist()?;
        self.next = 1 - turn;
        Ok(Published { written, in_place })
    }
}

/// The name of copy `turn` for `output`. A process's own copies have the process's
/// number first, so that the store's clean-up of temporary files
/// (`Store::remove_stale_temp_files`) leaves them alone while it lives and removes them
/// after; kept copies are named by the output alone.
fn copy_name(output: &Path, turn: usize, kept: bool) -> String {
    let name = format!("{}-{}", output_key(output), ["a", "b"][turn]);
    if kept { name } else { format!("{}-exe-{name}", std::process::id()) }
}

/// Names the copies of one output: a hash of its absolute path.
fn output_key(output: &Path) -> String {
    let absolute = std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf());
    blake3::hash(absolute.as_os_str().as_encoded_bytes()).to_hex()[..16].to_string()
}

/// A one-shot build's hold on the copies kept for an output (see the module's text):
/// the lock on them, and where their state is recorded.
pub struct Kept {
    dir: PathBuf,
    state: PathBuf,
    _lock: File,
}

const KEPT_MAGIC: &[u8; 10] = b"mini-exe-1";

impl Kept {
    /// Takes the copies kept in `dir` for `output`, with what they were left as (none
    /// yet, or a state that does not read: the next publication writes whole); `None`
    /// when another build holds them, or `dir` cannot be used.
    pub fn take(dir: &Path, output: &Path) -> Option<(Kept, Copies)> {
        std::fs::create_dir_all(dir).ok()?;
        let key = output_key(output);
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(format!("{key}.lock")))
            .ok()?;
        if let Err(e) = lock.try_lock() {
            tracing::info!("the kept copies of {} are in use ({e}); writing it whole", output.display());
            return None;
        }
        let state = dir.join(format!("{key}.state"));
        let (mut copies, published) =
            std::fs::read(&state).ok().and_then(|bytes| decode(&bytes, dir)).unwrap_or_default();
        // What each copy lacks is known relative to the image last published through
        // them; an output some other way put there (the system linker, a build that
        // could not take the lock) differs from it in ways no range recorded.
        if published.is_none() || FileStamp::of(output) != published {
            copies.changed_all();
        }
        Some((Kept { dir: dir.to_path_buf(), state, _lock: lock }, Copies { kept: true, ..copies }))
    }

    /// Makes `image` the file at `output` through the kept copies (as `Copies::publish`
    /// does through a watcher's), and records them for the next build.
    pub fn publish(&self, copies: &mut Copies, image: &[u8], output: &Path) -> Result<()> {
        copies.publish(image, output, &self.dir)?;
        self.keep(copies, output);
        Ok(())
    }

    /// Records what the copies are now, for the next build. If that fails the state is
    /// removed, so the next build writes whole rather than trust an old one (whose
    /// stamps would not match anyway).
    fn keep(&self, copies: &Copies, output: &Path) {
        let written = crate::output::write_atomically(&self.state, &encode(copies, FileStamp::of(output)), false);
        if let Err(e) = written {
            tracing::warn!("cannot record the executable's copies ({e:#}); the next build writes it whole");
            let _ = std::fs::remove_file(&self.state);
        }
    }
}

/// The copies' state, and the stamp of the output they last published.
fn encode(copies: &Copies, published: Option<FileStamp>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
    w.bytes_raw(KEPT_MAGIC);
    w.u8(copies.next as u8);
    w.u8(u8::from(copies.whole));
    let FileStamp { len, mtime_ns, ctime_ns, inode } = published.unwrap_or(FileStamp::NONE);
    w.u64(len);
    w.i64(mtime_ns);
    w.i64(ctime_ns);
    w.u64(inode);
    for turn in 0..2 {
        match &copies.files[turn] {
            Some(copy) => {
                w.u8(1);
                w.str(&copy.path.file_name().unwrap_or_default().to_string_lossy());
                let Stamp { inode, len, mtime_ns, mode } = copy.stamp;
                w.u64(inode);
                w.u64(len);
                w.i64(mtime_ns);
                w.u32(mode);
            }
            None => w.u8(0),
        }
        match &copies.dirty[turn] {
            Some(ranges) => {
                w.u8(1);
                w.u32(ranges.len() as u32);
                for range in ranges {
                    w.u64(range.start as u64);
                    w.u64(range.end as u64);
                }
            }
            None => w.u8(0),
        }
    }
    let check = blake3::hash(&w.0);
    w.bytes_raw(check.as_bytes());
    w.0
}

/// `encode`'s bytes as copies in `dir`; `None` if they are damaged or foreign.
fn decode(bytes: &[u8], dir: &Path) -> Option<(Copies, Option<FileStamp>)> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body).as_bytes() != check {
        return None;
    }
    let mut r = Reader::new(body);
    if r.take(KEPT_MAGIC.len())? != KEPT_MAGIC {
        return None;
    }
    let next = usize::from(r.u8()?);
    let whole = r.u8()? != 0;
    let published = FileStamp { len: r.u64()?, mtime_ns: r.i64()?, ctime_ns: r.i64()?, inode: r.u64()? };
    let published = (published != FileStamp::NONE).then_some(published);
    let mut copies = Copies { next, whole, ..Copies::default() };
    if next > 1 {
        return None;
    }
    for turn in 0..2 {
        if r.u8()? != 0 {
            let name = r.str()?;
            // Only a plain name inside `dir`, whatever the file says.
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return None;
            }
            let stamp = Stamp { inode: r.u64()?, len: r.u64()?, mtime_ns: r.i64()?, mode: r.u32()? };
            copies.files[turn] = Some(CopyFile { path: dir.join(name), stamp });
        }
        if r.u8()? != 0 {
            let count = r.count(16)?;
            let ranges: Option<Vec<Range<usize>>> = (0..count)
                .map(|_| {
                    let (start, end) = (usize::try_from(r.u64()?).ok()?, usize::try_from(r.u64()?).ok()?);
                    (start <= end).then_some(start..end)
                })
                .collect();
            copies.dirty[turn] = Some(ranges?);
        }
    }
    r.is_done().then_some((copies, published))
}

/// Writes `ranges` of `image` into the copy, if it is as it was left and can be opened
/// for writing (it is not running); returns its new stamp and the bytes written. The
/// ranges cover every byte where the copy and the image differ, what the image has past
/// the copy's end included.
fn patch_in_place(copy: &CopyFile, image: &[u8], ranges: &mut [Range<usize>]) -> Option<(Stamp, usize)> {
    let file = std::fs::OpenOptions::new().write(true).open(&copy.path).ok()?;
    let meta = file.metadata().ok()?;
    // Linked elsewhere too — the user kept that version under another name — it is
    // not ours to change.
    if Stamp::of(&meta) != copy.stamp || !meta.is_file() || meta.nlink() != 1 {
        return None;
    }
    // Ranges recorded while the image was longer may run past its end now.
    let ranges: Vec<Range<usize>> = coalesce(ranges)
        .into_iter()
        .map(|range| range.start.min(image.len())..range.end.min(image.len()))
        .filter(|range| !range.is_empty())
        .collect();
    // However much changed, writing in place beats a new file: renaming a new file over
    // the copy makes ext4 write the new file's data out first.
    let written: usize = ranges.iter().map(|r| r.len()).sum();
    let _span = tracing::debug_span!("patch_copy", ranges = ranges.len(), bytes = written).entered();
    for range in &ranges {
        // A failure here leaves the copy half patched; it is written whole instead.
        file.write_all_at(&image[range.clone()], range.start as u64).ok()?;
    }
    // The image may have grown (its symbol table) or shrunk.
    if meta.len() != image.len() as u64 {
        file.set_len(image.len() as u64).ok()?;
    }
    Some((Stamp::of(&file.metadata().ok()?), written))
}

/// Sorts and merges overlapping and adjacent ranges.
fn coalesce(ranges: &mut [Range<usize>]) -> Vec<Range<usize>> {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges.iter() {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range.clone()),
        }
    }
    merged
}

/// Writes the whole image as a new file at `path` (so that a process running the old
/// one keeps it); returns its stamp.
fn write_whole(path: &Path, image: &[u8]) -> Result<Stamp> {
    let _span = tracing::debug_span!("write_copy", bytes = image.len()).entered();
    let mut temp = path.as_os_str().to_owned();
    temp.push(".new");
    let temp = PathBuf::from(temp);
    let create = || std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(&temp);
    let mut file: File = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            create()
        }
        file => file,
    }
    .with_context(|| format!("writing {}", temp.display()))?;
    let written = file.write_all(image).and_then(|()| file.metadata()).and_then(|meta| {
        std::fs::rename(&temp, path)?;
        Ok(meta)
    });
    match written {
        Ok(meta) => Ok(Stamp::of(&meta)),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e).with_context(|| format!("writing {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::Path;

    use super::*;

    #[test]
    fn overlapping_and_adjacent_ranges_are_written_once() {
        let mut ranges = vec![10..20, 0..4, 18..30, 30..31, 40..48, 4..6];
        assert_eq!(coalesce(&mut ranges), vec![0..6, 10..31, 40..48]);
    }

    /// A static executable that spins until it is killed, padded to `len` bytes.
    fn spinning_executable(len: usize) -> Vec<u8> {
        use object::write::{Object, Symbol, SymbolSection};
        let mut obj = Object::new(object::BinaryFormat::Elf, object::Architecture::X86_64, object::Endianness::Little);
        let text = obj.add_section(Vec::new(), b".text".to_vec(), object::SectionKind::Text);
        // jmp . — then zeros.
        let mut code = vec![0xeb, 0xfe];
        code.resize(len, 0);
        obj.append_section_data(text, &code, 16);
        obj.add_symbol(Symbol {
            name: b"_start".to_vec(),
            value: 0,
            size: 2,
            kind: object::SymbolKind::Text,
            scope: object::SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(text),
            flags: object::SymbolFlags::None,
        });
        super::super::image::link(&[&obj.write().unwrap()], "_start").unwrap()
    }

    /// Publishes `image` after a change of `range`, and checks the output.
    fn publish(copies: &mut Copies, image: &[u8], range: Range<usize>, output: &Path, scratch: &Path) -> Published {
        copies.changed(&[range]);
        let published = copies.publish(image, output, scratch).unwrap();
        assert!(std::fs::read(output).unwrap() == image);
        assert_ne!(std::fs::metadata(output).unwrap().permissions().mode() & 0o111, 0, "executable");
        published
    }

    /// The kept copies' state reads back as written; damaged or foreign bytes read as
    /// none (the next publication writes whole), never as copies outside their
    /// directory.
    #[test]
    fn kept_state_reads_back_and_damage_reads_as_none() {
        let dir = Path::new("/cache/exe");
        let mut copies = Copies { next: 1, kept: true, ..Copies::default() };
        let stamp = Stamp { inode: 7, len: 4096, mtime_ns: 123, mode: 0o100755 };
        copies.files[0] = Some(CopyFile { path: dir.join("k-a"), stamp });
        copies.dirty[0] = Some(vec![10..20, 0..4]);
        let published = FileStamp { len: 4096, mtime_ns: 5, ctime_ns: 6, inode: 7 };
        let bytes = encode(&copies, Some(published));
        let (back, stamp_back) = decode(&bytes, dir).expect("reads back");
        assert_eq!(stamp_back, Some(published));
        assert_eq!((back.next, back.whole), (1, false));
        assert_eq!(back.files[0].as_ref().map(|c| (c.path.clone(), c.stamp)), Some((dir.join("k-a"), stamp)));
        assert!(back.files[1].is_none() && back.dirty[1].is_none());
        assert_eq!(back.dirty[0], Some(vec![10..20, 0..4]));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], dir).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 1;
        assert!(decode(&flipped, dir).is_none());
        // The name of the first copy replaced, and checksummed as if it were written so.
        let bytes = encode(&copies, None);
        let with_name = |name: &str| {
            let mut body = bytes[..bytes.len() - 32].to_vec();
            let at = body.windows(3).position(|w| w == b"k-a").expect("the name") - 4;
            body.splice(at..at + 7, [&(name.len() as u32).to_le_bytes()[..], name.as_bytes()].concat());
            let check = *blake3::hash(&body).as_bytes();
            body.extend_from_slice(&check);
            body
        };
        assert!(decode(&with_name("k-b"), dir).is_some(), "a plain name");
        for name in ["../etc/passwd", "a/b", "..", ""] {
            assert!(decode(&with_name(name), dir).is_none(), "{name:?} is not a name inside the directory");
        }
    }

    /// Two builds of the same output: the second cannot take the kept copies while the
    /// first holds them, and gets them once it is done.
    #[test]
    fn kept_copies_are_one_builds_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out");
        let first = Kept::take(&dir.path().join("exe"), &output).expect("free");
        assert!(Kept::take(&dir.path().join("exe"), &output).is_none(), "held by the first");
        assert!(Kept::take(&dir.path().join("exe"), &dir.path().join("other")).is_some(), "another output's");
        drop(first);
        assert!(Kept::take(&dir.path().join("exe"), &output).is_some(), "released");
    }

    /// The copies are patched in place once both exist — unless one is running, was
    /// changed through the output, or is gone: then it is written whole, and a running
    /// program keeps running what it started.
    #[test]
    fn a_copy_is_patched_in_place_only_when_it_is_as_it_was_left_and_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let (output, scratch) = (dir.path().join("out"), dir.path().join("scratch"));
        let mut image = spinning_executable(8192);
        let at = image.len() - 100;
        let mut copies = Copies::default();
        let version = |copies: &mut Copies, image: &mut Vec<u8>, n: u8| {
            image[at] = n;
            publish(copies, image, at..at + 1, &output, &scratch)
        };
        copies.changed_all();
        assert!(!copies.publish(&image, &output, &scratch).unwrap().in_place, "the first copy is new");
        assert!(!version(&mut copies, &mut image, 1).in_place, "so is the second");
        let patched = version(&mut copies, &mut image, 2);
        assert!(patched.in_place && patched.written == 1, "both changes are one byte");
        assert!(version(&mut copies, &mut image, 3).in_place);

        // Running: the copy cannot be written (ETXTBSY) and is replaced.
        let mut running = std::process::Command::new(&output).spawn().unwrap();
        assert!(version(&mut copies, &mut image, 4).in_place, "the other copy does not run");
        assert!(!version(&mut copies, &mut image, 5).in_place, "this one runs");
        assert!(running.try_wait().unwrap().is_none(), "the program runs on");
        running.kill().unwrap();
        running.wait().unwrap();
        assert!(version(&mut copies, &mut image, 6).in_place);

        // Changed through the output: its mode, then its bytes.
        std::fs::set_permissions(&output, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(version(&mut copies, &mut image, 7).in_place);
        assert!(!version(&mut copies, &mut image, 8).in_place, "chmod'ed while it was the output");
        std::fs::OpenOptions::new().write(true).open(&output).unwrap().write_all_at(b"x", 0).unwrap();
        assert!(version(&mut copies, &mut image, 9).in_place);
        assert!(!version(&mut copies, &mut image, 10).in_place, "written while it was the output");

        // Kept under another name while it was the output (`ln out out.v11`): never
        // written through that name.
        assert!(version(&mut copies, &mut image, 11).in_place);
        let kept = dir.path().join("out.v11");
        std::fs::hard_link(&output, &kept).unwrap();
        let v11 = std::fs::read(&kept).unwrap();
        assert!(version(&mut copies, &mut image, 12).in_place, "the other copy");
        assert!(!version(&mut copies, &mut image, 13).in_place, "this one has another name");
        assert!(std::fs::read(&kept).unwrap() == v11, "the kept version is as it was");
        assert!(version(&mut copies, &mut image, 14).in_place);

        // The scratch directory removed (`mini cache clean`).
        std::fs::remove_dir_all(&scratch).unwrap();
        assert!(!version(&mut copies, &mut image, 15).in_place);
        assert!(!version(&mut copies, &mut image, 16).in_place);
        assert!(version(&mut copies, &mut image, 17).in_place);
    }
}
