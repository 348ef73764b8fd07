//! Watch mode's linker: keeps the last executable's image and layout in memory and, when
//! only some inputs changed, patches them into it instead of linking again — as Zig's
//! incremental linker does.
//!
//! The full link (`image`) gives every input a region with slack in each segment, whose
//! size depends on that input alone. A changed input that still fits its regions (same
//! size class, same alignment) goes where the old one was: its regions are rewritten
//! with its bytes and its relocations; every global that moved within them has the
//! relocations of other inputs that point at it rewritten, from the list of
//! cross-input relocations the full link recorded; and its symbol-table entries get
//! their new addresses and sizes. If it defines other symbols than before (a function
//! added, removed or renamed: its *shape* changed), its globals are added and removed
//! by name, and the symbol table and string table, which follow the loaded bytes, are
//! rebuilt around it from the image's own. Nothing else changes, and the result is byte
//! for byte what a full link of the same inputs gives — the layout is a function of
//! the inputs, not of the history, so a one-shot build and a watcher agree. Anything
//! else — an input that outgrew its regions, a different number of inputs, a symbol
//! still used but no longer defined, a GOT relocation, any error — is a full link,
//! which records a new layout.
//!
//! The image is then published through two files that take turns as the output
//! (`copies`): the executable may be running, so it is never written in place.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use mini_queries::base::Hash;
use rustc_hash::FxHashSet;

use super::copies::{Copies, Published};
use super::image::{self, Defined, Input, Layout, SYM_SIZE, Site};
use super::saved::Record;

/// How many changed inputs a patch takes on; more is a full link (a new file shifts
/// every unit after it, say).
const MAX_PATCHED: usize = 16;

/// The incremental linker's state: the last image, what it was made of, and the files
/// it is published through.
#[derive(Default)]
pub struct IncrementalLinker {
    state: Option<State>,
    copies: Copies,
    last: Option<LastLink>,
    mode: Mode,
    /// In `Mode::Full`, the image of the last link.
    full: Option<Vec<u8>>,
}

/// How the linker links and publishes: incrementally, or one of the slower ways it
/// replaces, kept so that benchmarks can compare them in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Patch the image, and a copy of it in place (see `copies`).
    #[default]
    Incremental,
    /// Patch the image, but write the whole executable to a new file each time.
    WriteWhole,
    /// Link whole and write the whole executable, as a one-shot build does; the
    /// incremental state is left as it was.
    Full,
}

struct State {
    /// The inputs' keys, in order: equal keys mean equal bytes.
    keys: Vec<Hash>,
    entry: String,
    image: Vec<u8>,
    layout: Layout,
    /// The whole layout saved for an earlier image, that `save` may describe this one
    /// as a replay over (see `saved`).
    base: Option<Base>,
}

/// A whole layout in the store: the key it is saved under, its inputs' keys, and
/// whether the image can still be saved as a replay over it.
struct Base {
    key: Hash,
    keys: Vec<Hash>,
    /// False once a patch gave an input other symbols: a replay's patch reads the
    /// symbol table where the base had it, and the others' entries may have moved.
    replayable: bool,
}

/// How many inputs may differ from the base's for `save` to write a replay: more, and
/// it saves the whole layout, which later saves then replay over. Resuming patches
/// these inputs into the base's layout once more, reading each from the store.
const MAX_REPLAYED: usize = 8;

/// How the last link went, for tests and benchmarks.
#[derive(Clone, Debug)]
pub struct LastLink {
    pub how: How,
    /// Patching or linking the image in memory.
    pub link: Duration,
    /// Writing it to disk and giving it the output's name.
    pub publish: Duration,
    /// The bytes written to disk.
    pub written: usize,
    /// Whether a copy was patched in place, rather than written whole.
    pub in_place: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// The same inputs as the last link.
    Same,
    /// `inputs` changed inputs patched into the image; `relocations` relocations of the
    /// others rewritten because a global they point at moved; with `symbols`, the symbol
    /// table rewritten because an input has other symbols (a function added, say).
    Patched { inputs: usize, relocations: usize, symbols: bool },
    /// Linked whole, and why.
    Full(Why),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// No image yet.
    First,
    /// Another entry point, another number of inputs, or too many changed.
    Inputs,
    /// A changed input does not fit its regions any more.
    Outgrew,
    /// The image uses GOT slots, which patches do not track.
    Got,
    /// The patch failed (an undefined symbol, a relocation out of range…); the full
    /// link says what is wrong, if anything is.
    Failed(String),
    /// `Mode::Full`.
    Asked,
}

impl Why {
    fn failed(error: anyhow::Error) -> Why {
        Why::Failed(format!("{error:#}"))
    }

    /// Whether the patch may have written part of the image before it said this.
    fn may_have_patched(&self) -> bool {
        matches!(self, Why::Got | Why::Failed(_))
    }
}

/// The byte ranges where `new` differs from `old`, in blocks of a page: a full link
/// after an input outgrew its room moves what follows it, but one after an input
/// gained a function often changes that input's regions and the symbol table alone.
fn differences(old: &[u8], new: &[u8]) -> Vec<std::ops::Range<usize>> {
    const BLOCK: usize = 4096;
    let common = old.len().min(new.len());
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for start in (0..common).step_by(BLOCK) {
        let end = (start + BLOCK).min(common);
        if old[start..end] != new[start..end] {
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
    }
    if new.len() > common {
        ranges.push(common..new.len());
    }
    ranges
}

impl IncrementalLinker {
    pub fn new() -> IncrementalLinker {
        IncrementalLinker::default()
    }

    /// Links `objects` (each with the key that identifies its bytes) into the image,
    /// with `entry` as the entry point: by patching the last image where that gives
    /// what a full link would, else by a full link. An error is the full link's: the
    /// inputs are not something mini's linker links.
    pub fn link(&mut self, keys: &[Hash], objects: &[&[u8]], entry: &str) -> Result<()> {
        let start = Instant::now();
        if self.mode == Mode::Full {
            self.full = Some(image::link(objects, entry)?);
            let how = How::Full(Why::Asked);
            self.last =
                Some(LastLink { how, link: start.elapsed(), publish: Duration::ZERO, written: 0, in_place: false });
            return Ok(());
        }
        let how = match self.patch(keys, objects, entry) {
            Ok(how) => how,
            Err(why) => {
                tracing::debug!(?why, "linking whole");
                // The last image, unless the patch got to write into it: the copies
                // then lack what differs between it and the new one.
                let old = self.state.take().filter(|_| !why.may_have_patched()).map(|state| state.image);
                let (image, layout) = image::link_recording(objects, entry, true)?;
                match &old {
                    Some(old) => self.copies.changed(&differences(old, &image)),
                    None => self.copies.changed_all(),
                }
                let layout = layout.expect("recorded");
                self.state = Some(State { keys: keys.to_vec(), entry: entry.to_string(), image, layout, base: None });
                How::Full(why)
            }
        };
        tracing::info!(?how, "incremental link");
        self.last = Some(LastLink { how, link: start.elapsed(), publish: Duration::ZERO, written: 0, in_place: false });
        Ok(())
    }

    /// Writes the image to `output` so that it appears whole, never half written and
    /// never written in place (see `copies`); `scratch` is a directory for the two
    /// copies, best on the output's file system.
    pub fn publish(&mut self, output: &Path, scratch: &Path) -> Result<()> {
        let start = Instant::now();
        let published = match (self.mode, &self.full, &self.state) {
            (Mode::Full, Some(image), _) | (Mode::WriteWhole, _, Some(State { image, .. })) => {
                crate::output::write_atomically(output, image, true)?;
                Published { written: image.len(), in_place: false }
            }
            (_, _, Some(state)) => self.copies.publish(&state.image, output, scratch)?,
            _ => panic!("publish follows a successful link"),
        };
        if let Some(last) = &mut self.last {
            last.publish = start.elapsed();
            last.written = published.written;
            last.in_place = published.in_place;
        }
        Ok(())
    }

    /// Records what each link changes in `copies` — a one-shot build's, kept in the
    /// cache (`copies::Kept`) — rather than in its own.
    pub fn use_copies(&mut self, copies: Copies) {
        self.copies = copies;
    }

    /// Its copies, with what the links since `use_copies` changed recorded in them, for
    /// the caller to publish through (`copies::Kept::publish`).
    pub fn take_copies(&mut self) -> Copies {
        std::mem::take(&mut self.copies)
    }

    /// The image of the last link.
    pub fn image(&self) -> Option<&[u8]> {
        self.state.as_ref().map(|state| &state.image[..])
    }

    /// How the last link went.
    pub fn last(&self) -> Option<&LastLink> {
        self.last.as_ref()
    }

    /// The state a new process needs to patch the image this linker holds (see
    /// `saved`): a replay over the whole layout it resumed from, if that layout is
    /// close enough (`replays_over` says which), else the whole layout; `None` before a
    /// successful link.
    pub fn save(&self) -> Option<Vec<u8>> {
        let state = self.state.as_ref()?;
        let image_hash = *blake3::hash(&state.image).as_bytes();
        Some(match self.replay() {
            Some((base, changed)) => super::saved::encode_replay(&super::saved::Replay {
                base,
                inputs: state.keys.len(),
                changed,
                image_hash,
            }),
            None => super::saved::encode(&state.keys, &state.entry, &image_hash, &state.layout),
        })
    }

    /// The key of the whole layout `save` saves this image as a replay over, which
    /// must be kept while the replay is; `None` if it saves the whole layout.
    pub fn replays_over(&self) -> Option<Hash> {
        self.replay().map(|(base, _)| base)
    }

    /// The base `save` replays over, and the inputs changed since it.
    fn replay(&self) -> Option<(Hash, Vec<(usize, Hash)>)> {
        let state = self.state.as_ref()?;
        let base = state.base.as_ref().filter(|base| base.replayable && base.keys.len() == state.keys.len())?;
        let changed: Vec<(usize, Hash)> =
            (0..state.keys.len()).filter(|&i| base.keys[i] != state.keys[i]).map(|i| (i, state.keys[i])).collect();
        // None changed: this is the base's image, and the whole layout is what belongs
        // under its key (the caller's), never a replay over itself.
        (1..=MAX_REPLAYED).contains(&changed.len()).then_some((base.key, changed))
    }

    /// The key of the whole layout this linker resumed from, directly or through a
    /// replay.
    pub fn base(&self) -> Option<Hash> {
        self.state.as_ref()?.base.as_ref().map(|base| base.key)
    }

    /// A linker holding `image` — the executable as read back from disk — with the
    /// state `save` gave for it, stored under `key`; `None` if the state is damaged or
    /// is not `image`'s. A replay reads its base's whole layout with `read_layout`,
    /// and the inputs it patches into it (by position and key) with `read_input`.
    pub fn resume<B: std::ops::Deref<Target = [u8]>>(
        key: Hash,
        saved: &[u8],
        image: Vec<u8>,
        read_layout: impl FnOnce(Hash) -> Option<B>,
        read_input: impl Fn(usize, Hash) -> Option<B>,
    ) -> Option<IncrementalLinker> {
        let resumed = |saved: super::saved::Saved, key: Hash, image: Vec<u8>| {
            let base = Some(Base { key, keys: saved.keys.clone(), replayable: true });
            let state = State { keys: saved.keys, entry: saved.entry, image, layout: saved.layout, base };
            IncrementalLinker { state: Some(state), mode: Mode::WriteWhole, ..IncrementalLinker::default() }
        };
        let replay = match super::saved::decode_record(saved)? {
            Record::Whole(saved) => {
                let valid = saved.keys.len() == saved.layout.inputs.len()
                    && *blake3::hash(&image).as_bytes() == saved.image_hash;
                return valid.then(|| resumed(*saved, key, image));
            }
            Record::Replay(replay) => replay,
        };
        let Record::Whole(base) = super::saved::decode_record(&read_layout(replay.base)?)? else { return None };
        if base.keys.len() != base.layout.inputs.len() || base.keys.len() != replay.inputs {
            return None;
        }
        let inputs: Vec<B> = replay.changed.iter().map(|&(at, key)| read_input(at, key)).collect::<Option<_>>()?;
        let mut keys = base.keys.clone();
        let mut objects: Vec<&[u8]> = vec![&[]; keys.len()];
        for (&(at, key), input) in replay.changed.iter().zip(&inputs) {
            keys[at] = key;
            objects[at] = input;
        }
        // The patch writes what the image already holds: the hash proves it did.
        let entry = base.entry.clone();
        let mut linker = resumed(*base, replay.base, image);
        linker.patch(&keys, &objects, &entry).ok()?;
        if linker.state.as_ref().is_none_or(|state| *blake3::hash(&state.image).as_bytes() != replay.image_hash) {
            return None;
        }
        // Nothing the replay wrote differs from the file read.
        linker.copies = Copies::default();
        Some(linker)
    }

    /// Patches the image with the inputs whose keys changed, without linking whole: a
    /// new process that read only those inputs (the others' `objects` may be empty).
    /// On `Err` nothing usable is left: the caller links whole, with every input.
    pub fn patch_only(&mut self, keys: &[Hash], objects: &[&[u8]], entry: &str) -> Result<How, Why> {
        let start = Instant::now();
        let patched = self.patch(keys, objects, entry);
        if patched.is_err() {
            self.state = None;
        }
        let how = patched?;
        tracing::info!(?how, "patched the executable in place");
        self.last = Some(LastLink {
            how: how.clone(),
            link: start.elapsed(),
            publish: Duration::ZERO,
            written: 0,
            in_place: false,
        });
        Ok(how)
    }

    /// Links and publishes as `mode` says (for benchmarks).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.full = None;
    }

    /// Patches the image, or says why a full link is needed.
    fn patch(&mut self, keys: &[Hash], objects: &[&[u8]], entry: &str) -> Result<How, Why> {
        let Some(state) = &mut self.state else { return Err(Why::First) };
        if state.entry != entry || state.keys.len() != keys.len() {
            return Err(Why::Inputs);
        }
        let changed: Vec<usize> = (0..keys.len()).filter(|&i| state.keys[i] != keys[i]).collect();
        if changed.is_empty() {
            return Ok(How::Same);
        }
        if changed.len() > MAX_PATCHED {
            return Err(Why::Inputs);
        }
        if state.layout.uses_got {
            return Err(Why::Got);
        }
        let inputs: Vec<(usize, &[u8])> = changed.iter().map(|&i| (i, objects[i])).collect();
        let _span = tracing::info_span!("patch", inputs = inputs.len()).entered();
        // A refusal may come after part of the image was patched: the caller then drops
        // the state and links whole.
        let patched = patch(&mut state.layout, &mut state.image, &inputs)?;
        state.keys.copy_from_slice(keys);
        if patched.symbols
            && let Some(base) = &mut state.base
        {
            base.replayable = false;
        }
        self.copies.changed(&patched.dirty);
        Ok(How::Patched { inputs: changed.len(), relocations: patched.relocations, symbols: patched.symbols })
    }
}

/// What a patch did: how many relocations of other inputs it rewrote, whether it
/// rewrote the symbol table, and the byte ranges of the image that changed.
struct Patched {
    relocations: usize,
    symbols: bool,
    dirty: Vec<std::ops::Range<usize>>,
}

/// Global numbers of inputs that are gone.
const NO_OWNER: u32 = u32::MAX;

/// Puts the new versions of some inputs (by index) into `image` where the old ones
/// were. On `Err` the image and layout may be partly patched and must be dropped.
fn patch(layout: &mut Layout, image: &mut Vec<u8>, changed: &[(usize, &[u8])]) -> Result<Patched, Why> {
    // Each changed input where the old one was, if it fits there.
    let mut inputs: Vec<(usize, Input)> = Vec::with_capacity(changed.len());
    for &(i, bytes) in changed {
        let mut input = Input::read(i, bytes).map_err(Why::failed)?;
        let old = &layout.inputs[i];
        if !input.regions.iter().zip(&old.regions).all(|(new, old)| new.same_room(old)) {
            return Err(Why::Outgrew);
        }
        input.place(old.regions.map(|region| region.start));
        inputs.push((i, input));
    }

    // Their symbols, and whether any input has other ones than before (its shape).
    let mut symbols: Vec<Vec<Defined>> = Vec::with_capacity(inputs.len());
    let mut reshaped: Vec<bool> = Vec::with_capacity(inputs.len());
    let mut shape = Vec::new();
    for (i, input) in &inputs {
        shape.clear();
        let mut defined = Vec::new();
        input
            .for_each_defined(|symbol| {
                symbol.shape(&mut shape);
                defined.push(symbol);
                Ok(())
            })
            .map_err(Why::failed)?;
        let hash = *blake3::hash(&shape).as_bytes();
        reshaped.push(hash != layout.inputs[*i].shape);
        layout.inputs[*i].shape = hash;
        symbols.push(defined);
    }

    // Every global's new address (and number, for new ones) before any relocation:
    // first the globals that inputs no longer define, then the ones they do.
    let mut removed: Vec<u32> = Vec::new();
    for (k, (i, _)) in inputs.iter().enumerate().filter(|&(k, _)| reshaped[k]) {
        let kept: FxHashSet<&[u8]> = symbols[k].iter().filter(|s| s.global).map(|s| s.name).collect();
        for &id in &layout.inputs[*i].defines {
            if !kept.contains(layout.names.name(id)) {
                layout.names.remove(id);
                layout.globals[id as usize].owner = NO_OWNER;
                removed.push(id);
            }
        }
    }
    let mut moved: Vec<u32> = Vec::new();
    for (k, (i, _)) in inputs.iter().enumerate() {
        let owner = *i as u32;
        let mut defines = Vec::with_capacity(layout.inputs[*i].defines.len());
        for (n, symbol) in symbols[k].iter().filter(|s| s.global).enumerate() {
            let id = if reshaped[k] {
                match layout.names.get(symbol.name) {
                    Some(id) if layout.globals[id as usize].owner == owner => id,
                    Some(_) => return Err(Why::Failed("a symbol defined twice".into())),
                    None => {
                        let id = layout.names.push(symbol.name);
                        layout.globals.push(image::Global { address: symbol.address, owner });
                        id
                    }
                }
            } else {
                layout.inputs[*i].defines[n]
            };
            let global = &mut layout.globals[id as usize];
            if global.address != symbol.address {
                global.address = symbol.address;
                moved.push(id);
            }
            defines.push(id);
        }
        layout.inputs[*i].defines = defines;
    }
    if !removed.is_empty() {
        // What the other inputs still use must still be there.
        let patched: FxHashSet<usize> = inputs.iter().map(|&(i, _)| i).collect();
        let mut is_removed = vec![false; layout.globals.len()];
        for &id in &removed {
            is_removed[id as usize] = true;
        }
        let others = layout.inputs.iter().enumerate().filter(|(j, _)| !patched.contains(j));
        if others.flat_map(|(_, other)| &other.outgoing).any(|(id, _)| is_removed[*id as usize]) {
            return Err(Why::Failed("an input uses a symbol no input defines any more".into()));
        }
        if is_removed[layout.entry as usize] {
            return Err(Why::Failed("no entry point".into()));
        }
    }

    // Their bytes and relocations, and their relocations into others.
    let mut dirty = Vec::new();
    for (i, input) in &inputs {
        let owner = *i as u32;
        input.copy_into(image).map_err(Why::failed)?;
        dirty.extend(input.file_ranges());
        let mut outgoing = Vec::new();
        let mut got = false;
        let global = |name: &[u8]| layout.names.get(name).map(|id| (layout.globals[id as usize].address, id));
        input
            .for_each_resolved_relocation(global, |place, r_type, target, id, addend| {
                if image::is_got(r_type) {
                    got = true;
                    anyhow::bail!("a GOT relocation");
                }
                image::write_field(image, r_type, place, target, addend)?;
                if let Some(id) = id
                    && layout.globals[id as usize].owner != owner
                {
                    outgoing.push((id, Site { place, addend, r_type }));
                }
                Ok(())
            })
            .map_err(|e| if got { Why::Got } else { Why::failed(e) })?;
        layout.inputs[*i].outgoing = outgoing;
    }

    // Other inputs' relocations into what moved.
    let mut relocations = 0;
    if !moved.is_empty() {
        let mut is_moved = vec![false; layout.globals.len()];
        for &id in &moved {
            is_moved[id as usize] = true;
        }
        let patched: FxHashSet<usize> = inputs.iter().map(|&(i, _)| i).collect();
        for (j, other) in layout.inputs.iter().enumerate().filter(|(j, _)| !patched.contains(j)) {
            for &(id, site) in other.outgoing.iter().filter(|(id, _)| is_moved[*id as usize]) {
                let address = layout.globals[id as usize].address;
                let range = image::write_field(image, site.r_type, site.place, address, site.addend)
                    .map_err(|e| Why::failed(e.context(format!("input #{j}"))))?;
                dirty.push(range);
                relocations += 1;
            }
        }
    }

    // The symbol table: rewritten from the changed inputs on when one has other symbols
    // (the names and entries after its own move), else its entries' addresses and sizes.
    let any_reshaped = reshaped.iter().any(|&r| r);
    if any_reshaped {
        let symtab = layout.symtab_offset as usize;
        let mut fresh: Vec<Option<Vec<_>>> = vec![None; layout.inputs.len()];
        for ((i, _), defined) in inputs.iter().zip(&symbols) {
            fresh[*i] = Some(defined.iter().filter(|s| s.listed).copied().collect());
        }
        let old_len = image.len();
        image::rewrite_symbol_table(image, layout, &fresh).map_err(Why::failed)?;
        dirty.push(0..image::HEADERS as usize);
        dirty.push(symtab..old_len.max(image.len()));
    } else {
        for ((i, _), defined) in inputs.iter().zip(&symbols) {
            let old = &layout.inputs[*i];
            let (mut local, mut global) = (old.first_local, layout.first_global + old.first_listed_global);
            for symbol in defined.iter().filter(|s| s.listed) {
                let index = if symbol.global { &mut global } else { &mut local };
                let at = layout.symtab_offset as usize + *index as usize * SYM_SIZE;
                image::rewrite_symbol(&mut image[at..at + SYM_SIZE], &layout.bounds, symbol.address, symbol.size);
                dirty.push(at..at + SYM_SIZE);
                *index += 1;
            }
        }
        if moved.contains(&layout.entry) {
            let address = layout.globals[layout.entry as usize].address;
            image[24..32].copy_from_slice(&address.to_le_bytes());
            dirty.push(24..32);
        }
    }
    Ok(Patched { relocations, symbols: any_reshaped, dirty })
}

#[cfg(test)]
mod tests {
    //! The patch's oracle without a compiler: synthetic objects shaped like mini's (code
    //! with calls across inputs, read-only data with addresses in it, data, bss, local
    //! and global functions), edited at random with fixed seeds; after every edit the
    //! patched image must be byte for byte a full link's, and the published output the
    //! image.

    use object::write::{self, Relocation, Symbol, SymbolId, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope, elf,
    };

    use rustc_hash::FxHashMap;

    use super::*;

    /// A tiny deterministic generator (xorshift), so failures reproduce from the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// One function: its size, whether it is global, and the functions it calls (input,
    /// function).
    #[derive(Clone)]
    struct Function {
        size: usize,
        global: bool,
        calls: Vec<(usize, usize)>,
        /// A seed for its bytes.
        fill: u64,
    }

    /// One input: functions, read-only data holding the address of some of them, data
    /// and bss sizes.
    #[derive(Clone)]
    struct Spec {
        functions: Vec<Function>,
        table: Vec<(usize, usize)>,
        data: usize,
        bss: usize,
    }

    fn name(input: usize, function: usize) -> Vec<u8> {
        if input == 0 && function == 0 { b"_start".to_vec() } else { format!("f{input}_{function}").into_bytes() }
    }

    fn random_function(rng: &mut Rng, inputs: usize) -> Function {
        let size = 8 + rng.below(120);
        let calls = (0..rng.below(4)).map(|_| (rng.below(inputs), rng.below(2))).collect();
        Function { size, global: rng.below(4) != 0, calls, fill: rng.next() }
    }

    fn random_spec(rng: &mut Rng, inputs: usize) -> Spec {
        let mut functions: Vec<Function> = (0..2 + rng.below(5)).map(|_| random_function(rng, inputs)).collect();
        // The first two functions of every input are global, and stay: the others call
        // them.
        functions[0].global = true;
        functions[1].global = true;
        let table = (0..rng.below(3)).map(|_| (rng.below(inputs), 0)).collect();
        let data = if rng.below(3) == 0 { 8 * (1 + rng.below(8)) } else { 0 };
        let bss = if rng.below(3) == 0 { 8 * (1 + rng.below(64)) } else { 0 };
        Spec { functions, table, data, bss }
    }

    /// The object of input `index`.
    fn object(index: usize, spec: &Spec) -> Vec<u8> {
        let mut obj = write::Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        let rodata = obj.add_section(Vec::new(), b".rodata".to_vec(), SectionKind::ReadOnlyData);
        let mut undefined: FxHashMap<Vec<u8>, SymbolId> = FxHashMap::default();
        let mut target = |obj: &mut write::Object, (input, function): (usize, usize)| -> SymbolId {
            let name = name(input, function);
            *undefined.entry(name.clone()).or_insert_with(|| {
                obj.add_symbol(Symbol {
                    name,
                    value: 0,
                    size: 0,
                    kind: SymbolKind::Text,
                    scope: SymbolScope::Dynamic,
                    weak: false,
                    section: SymbolSection::Undefined,
                    flags: SymbolFlags::None,
                })
            })
        };
        let mut defined = Vec::new();
        for (k, function) in spec.functions.iter().enumerate() {
            let offset = obj.append_section_data(text, &Rng(function.fill | 1).bytes(function.size), 16);
            let scope = if function.global { SymbolScope::Dynamic } else { SymbolScope::Compilation };
            let symbol = obj.add_symbol(Symbol {
                name: name(index, k),
                value: offset,
                size: function.size as u64,
                kind: SymbolKind::Text,
                scope,
                weak: false,
                section: SymbolSection::Section(text),
                flags: SymbolFlags::None,
            });
            defined.push((offset, symbol));
        }
        for (k, function) in spec.functions.iter().enumerate() {
            let (offset, _) = defined[k];
            // Fields do not overlap: the read-only data's at 0, calls from 4 on.
            for (c, &call) in function.calls.iter().enumerate().take((function.size - 4) / 4) {
                let at = offset + 4 + 4 * c as u64;
                let symbol = if call.0 == index { defined[call.1].1 } else { target(&mut obj, call) };
                let flags = RelocationFlags::Elf { r_type: elf::R_X86_64_PLT32 };
                obj.add_relocation(text, Relocation { offset: at, symbol, addend: -4, flags }).unwrap();
            }
            // The code refers to the input's read-only data.
            if !spec.table.is_empty() {
                let symbol = obj.section_symbol(rodata);
                let flags = RelocationFlags::Elf { r_type: elf::R_X86_64_PC32 };
                obj.add_relocation(text, Relocation { offset, symbol, addend: -4, flags }).unwrap();
            }
        }
        for &entry in &spec.table {
            let at = obj.append_section_data(rodata, &[0; 8], 8);
            let symbol = if entry.0 == index { defined[0].1 } else { target(&mut obj, entry) };
            let flags = RelocationFlags::Elf { r_type: elf::R_X86_64_64 };
            obj.add_relocation(rodata, Relocation { offset: at, symbol, addend: 0, flags }).unwrap();
        }
        if spec.data > 0 {
            let data = obj.add_section(Vec::new(), b".data".to_vec(), SectionKind::Data);
            let offset = obj.append_section_data(data, &vec![7; spec.data], 8);
            obj.add_symbol(Symbol {
                name: format!("d{index}").into_bytes(),
                value: offset,
                size: spec.data as u64,
                kind: SymbolKind::Data,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(data),
                flags: SymbolFlags::None,
            });
        }
        if spec.bss > 0 {
            let bss = obj.add_section(Vec::new(), b".bss".to_vec(), SectionKind::UninitializedData);
            obj.append_section_bss(bss, spec.bss as u64, 8);
        }
        obj.write().unwrap()
    }

    /// Edits one input at random: its bytes, sizes a little or a lot, its calls, or its
    /// symbols. Calls go to each input's first two functions, which every input keeps.
    fn edit(rng: &mut Rng, spec: &mut Spec, inputs: usize) {
        let k = rng.below(spec.functions.len());
        match rng.below(10) {
            0..=2 => spec.functions[k].fill = rng.next(),
            3..=5 => {
                let size = spec.functions[k].size as i64 + rng.below(33) as i64 - 16;
                spec.functions[k].size = size.clamp(8, 4000) as usize;
            }
            6 => spec.functions[k].size = 8 + rng.below(3000),
            7 => spec.functions[k].calls = random_function(rng, inputs).calls,
            8 if spec.functions.len() > 2 && rng.below(2) == 0 => {
                spec.functions.pop();
            }
            8 => spec.functions.push(random_function(rng, inputs)),
            _ if rng.below(2) == 0 => spec.data = 8 * rng.below(4),
            _ => spec.bss = 8 * rng.below(100),
        }
    }

    /// A function removed while another input still calls it: the patch gives up and the
    /// full link says what is wrong; put back, the next link works again.
    #[test]
    fn removing_a_function_that_is_still_called_is_the_full_links_error() {
        let function = |calls: Vec<(usize, usize)>| Function { size: 32, global: true, calls, fill: 7 };
        let mut specs = vec![
            Spec { functions: vec![function(vec![]), function(vec![])], table: vec![], data: 0, bss: 0 },
            Spec { functions: vec![function(vec![(0, 1)]), function(vec![])], table: vec![], data: 0, bss: 0 },
        ];
        let link = |linker: &mut IncrementalLinker, specs: &[Spec]| {
            let objects: Vec<Vec<u8>> = specs.iter().enumerate().map(|(i, s)| object(i, s)).collect();
            let objects: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
            let keys: Vec<Hash> = objects.iter().map(|o| Hash(*blake3::hash(o).as_bytes())).collect();
            let linked = linker.link(&keys, &objects, "_start");
            (linked, image::link(&objects, "_start"))
        };
        let mut linker = IncrementalLinker::new();
        let (linked, full) = link(&mut linker, &specs);
        assert!(linked.is_ok() && linker.image() == Some(&full.unwrap()[..]));

        let removed = specs[0].functions.pop().unwrap();
        let (linked, full) = link(&mut linker, &specs);
        let (error, full) = (format!("{:#}", linked.unwrap_err()), format!("{:#}", full.unwrap_err()));
        assert_eq!(error, full);
        assert!(error.contains("undefined symbol 'f0_1'"), "{error}");
        assert!(linker.image().is_none());

        specs[0].functions.push(removed);
        let (linked, full) = link(&mut linker, &specs);
        assert!(linked.is_ok() && linker.image() == Some(&full.unwrap()[..]));
        assert_eq!(linker.last().unwrap().how, How::Full(Why::First));
    }

    /// Random edits to random programs: every link is byte for byte a full link's, the
    /// output is the image, and patches (moving globals that others call, published by
    /// patching a copy in place), patches of inputs with other symbols and inputs that
    /// outgrew their room all happen.
    #[test]
    fn a_patched_image_is_a_full_links_byte_for_byte() {
        let mut hows: FxHashMap<&'static str, usize> = FxHashMap::default();
        let (mut rewritten, mut in_place) = (0, 0);
        for seed in [0x5eed_u64, 0xfeed_beef, 0x1234_5678_9abc] {
            let dir = tempfile::tempdir().unwrap();
            let (output, scratch) = (dir.path().join("out"), dir.path().join("scratch"));
            let mut rng = Rng(seed);
            let inputs = 12;
            let mut specs: Vec<Spec> = (0..inputs).map(|_| random_spec(&mut rng, inputs)).collect();
            let mut linker = IncrementalLinker::new();
            for step in 0..150 {
                if step > 0 {
                    for _ in 0..1 + rng.below(2) {
                        let i = rng.below(inputs);
                        edit(&mut rng, &mut specs[i], inputs);
                    }
                }
                let objects: Vec<Vec<u8>> = specs.iter().enumerate().map(|(i, s)| object(i, s)).collect();
                let objects: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
                let keys: Vec<Hash> = objects.iter().map(|o| Hash(*blake3::hash(o).as_bytes())).collect();
                linker.link(&keys, &objects, "_start").unwrap();
                let full = image::link(&objects, "_start").unwrap();
                let context = format!("seed {seed:#x}, step {step}: {:?}", linker.last().unwrap().how);
                let image = linker.image().unwrap();
                let first_difference = image.iter().zip(&full).position(|(a, b)| a != b);
                assert!(image == &full[..], "{context}: first difference at {first_difference:?}");
                linker.publish(&output, &scratch).unwrap();
                assert!(std::fs::read(&output).unwrap() == full, "{context}");
                in_place += usize::from(linker.last().unwrap().in_place);
                let kind = match &linker.last().unwrap().how {
                    How::Same => "same",
                    How::Patched { relocations, symbols, .. } => {
                        rewritten += relocations;
                        if *symbols { "patched, other symbols" } else { "patched" }
                    }
                    How::Full(Why::First) => "first",
                    How::Full(Why::Outgrew) => "outgrew",
                    How::Full(why) => panic!("{context}: an unexpected full link: {why:?}"),
                };
                *hows.entry(kind).or_default() += 1;
            }
        }
        for kind in ["patched", "outgrew", "patched, other symbols"] {
            assert!(hows.get(kind).is_some_and(|&n| n >= 10), "too few links {kind}: {hows:?}");
        }
        assert!(rewritten > 0, "no patch moved a global that another input calls: {hows:?}");
        assert!(in_place >= hows["patched"] / 2, "{in_place} copies patched in place: {hows:?}");
    }

    /// The store a new process resumes from, in memory: saved layouts and inputs by
    /// key, with a layout's key derived from its inputs' as a link key is.
    #[derive(Default)]
    struct Saves {
        layouts: FxHashMap<Hash, Vec<u8>>,
        inputs: FxHashMap<Hash, Vec<u8>>,
    }

    impl Saves {
        fn key(keys: &[Hash]) -> Hash {
            let mut hasher = blake3::Hasher::new();
            for key in keys {
                hasher.update(&key.0);
            }
            Hash(*hasher.finalize().as_bytes())
        }

        /// The objects of `specs`, kept by key.
        fn objects(&mut self, specs: &[Spec]) -> Vec<Vec<u8>> {
            let objects: Vec<Vec<u8>> = specs.iter().enumerate().map(|(i, s)| object(i, s)).collect();
            for object in &objects {
                self.inputs.insert(Hash(*blake3::hash(object).as_bytes()), object.clone());
            }
            objects
        }

        /// Links `specs` with `linker`; their keys.
        fn link(&mut self, linker: &mut IncrementalLinker, specs: &[Spec]) -> Vec<Hash> {
            let objects = self.objects(specs);
            let keys: Vec<Hash> = objects.iter().map(|o| Hash(*blake3::hash(o).as_bytes())).collect();
            let objects: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
            linker.link(&keys, &objects, "_start").unwrap();
            keys
        }

        /// Saves `linker`'s layout as a one-shot build does; true if as a replay.
        fn save(&mut self, linker: &IncrementalLinker, keys: &[Hash]) -> bool {
            self.layouts.insert(Self::key(keys), linker.save().expect("a linked state"));
            linker.replays_over().is_some()
        }

        fn resume(&self, keys: &[Hash], image: Vec<u8>) -> Option<IncrementalLinker> {
            let key = Self::key(keys);
            IncrementalLinker::resume(
                key,
                &self.layouts[&key],
                image,
                |base| self.layouts.get(&base).cloned(),
                |_, key| self.inputs.get(&key).cloned(),
            )
        }
    }

    /// A new process's patch: the state saved after each link — whole, or as a replay
    /// over the whole one it resumed from — and resumed with the image read back, then
    /// given only the changed inputs (the others empty), as the one-shot patch path
    /// does; where that cannot patch, a full link with every input. Every image is a
    /// full link's, byte for byte, and a linker resumed from a replay holds the layout
    /// of the one that saved it.
    #[test]
    fn a_resumed_linker_patches_as_the_one_that_saved() {
        let (mut patched, mut replays, mut wholes) = (0, 0, 0);
        for seed in [0x5eed_u64, 0xfeed_beef] {
            let mut rng = Rng(seed);
            let inputs = 12;
            let mut specs: Vec<Spec> = (0..inputs).map(|_| random_spec(&mut rng, inputs)).collect();
            let mut saves = Saves::default();
            let mut linker = IncrementalLinker::new();
            let mut keys = saves.link(&mut linker, &specs);
            for step in 0..80 {
                let context = format!("seed {seed:#x}, step {step}");
                match saves.save(&linker, &keys) {
                    true => replays += 1,
                    false => wholes += 1,
                }
                let image = linker.image().unwrap().to_vec();
                assert!(saves.resume(&keys, vec![0; image.len()]).is_none(), "{context}: another image");
                let mut resumed = saves.resume(&keys, image).expect("its own image");
                let whole = |linker: &IncrementalLinker| {
                    let state = linker.state.as_ref().unwrap();
                    super::super::saved::encode(&state.keys, &state.entry, &[0; 32], &state.layout)
                };
                assert!(whole(&resumed) == whole(&linker), "{context}: the layout resumed is the one saved");

                for _ in 0..1 + rng.below(2) {
                    let i = rng.below(inputs);
                    edit(&mut rng, &mut specs[i], inputs);
                }
                let objects = saves.objects(&specs);
                let all: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
                let new_keys: Vec<Hash> = all.iter().map(|o| Hash(*blake3::hash(o).as_bytes())).collect();
                let changed: Vec<&[u8]> =
                    (0..inputs).map(|k| if new_keys[k] == keys[k] { &[][..] } else { all[k] }).collect();
                match resumed.patch_only(&new_keys, &changed, "_start") {
                    Ok(_) => patched += 1,
                    Err(_) => {
                        assert!(resumed.image().is_none(), "a failed patch leaves nothing to publish");
                        resumed = IncrementalLinker::new();
                        resumed.link(&new_keys, &all, "_start").unwrap();
                    }
                }
                let full = image::link(&all, "_start").unwrap();
                assert!(resumed.image().unwrap() == &full[..], "{context}");
                (linker, keys) = (resumed, new_keys);
            }
        }
        assert!(patched >= 50, "only {patched} patched after resuming");
        assert!(replays >= 30 && wholes >= 10, "{replays} layouts saved as replays, {wholes} whole");
    }

    /// An image, with its inputs' keys.
    type Linked = (Vec<Hash>, Vec<u8>);

    /// Random inputs linked and saved whole; then a function's bytes changed (the same
    /// symbols), patched in by a linker resumed from that save, and saved as a replay
    /// over it. The saves, and the two images.
    fn whole_then_replay(seed: u64, inputs: usize) -> (Saves, [Linked; 2]) {
        let mut rng = Rng(seed);
        let mut specs: Vec<Spec> = (0..inputs).map(|_| random_spec(&mut rng, inputs)).collect();
        let mut saves = Saves::default();
        let mut linker = IncrementalLinker::new();
        let whole_keys = saves.link(&mut linker, &specs);
        assert!(!saves.save(&linker, &whole_keys), "a first link is saved whole");
        let mut resumed = saves.resume(&whole_keys, linker.image().unwrap().to_vec()).unwrap();
        specs[1].functions[0].fill = specs[1].functions[0].fill.wrapping_add(2);
        let replay_keys = saves.link(&mut resumed, &specs);
        assert!(matches!(resumed.last().unwrap().how, How::Patched { symbols: false, .. }));
        assert!(saves.save(&resumed, &replay_keys), "saved as a replay");
        let images = [linker.image().unwrap().to_vec(), resumed.image().unwrap().to_vec()];
        let [whole, replay] = images;
        (saves, [(whole_keys, whole), (replay_keys, replay)])
    }

    /// A replay is trusted only with its base and its inputs as they were: a base that
    /// is missing or damaged, an input missing or another input's bytes, an image that
    /// is not the one it was saved for — each refused.
    #[test]
    fn a_replay_needs_its_base_its_inputs_and_its_image() {
        let (mut saves, [(whole_keys, _), (keys, image)]) = whole_then_replay(0x7e91a9, 6);
        let base = Saves::key(&whole_keys);
        assert!(saves.resume(&keys, image.clone()).is_some());

        let mut wrong = image.clone();
        wrong[image.len() / 2] ^= 1;
        assert!(saves.resume(&keys, wrong).is_none(), "another image");
        let whole = saves.layouts.remove(&base).unwrap();
        assert!(saves.resume(&keys, image.clone()).is_none(), "no base");
        let mut damaged = whole.clone();
        damaged.truncate(whole.len() - 1);
        saves.layouts.insert(base, damaged);
        assert!(saves.resume(&keys, image.clone()).is_none(), "a damaged base");
        saves.layouts.insert(base, whole);
        let input = saves.inputs.remove(&keys[1]).unwrap();
        assert!(saves.resume(&keys, image.clone()).is_none(), "no input");
        let other = saves.inputs[&keys[2]].clone();
        saves.inputs.insert(keys[1], other);
        assert!(saves.resume(&keys, image.clone()).is_none(), "another input's bytes");
        saves.inputs.insert(keys[1], input);
        assert!(saves.resume(&keys, image).is_some(), "all there again");
    }

    /// Saved bytes that are cut short are refused, and changed ones never make decoding
    /// panic — a whole layout's and a replay's. (The store's trailer, a hash of the
    /// entry, refuses damaged entries before they get here, and the image's hash ties a
    /// state to its executable.)
    #[test]
    fn damaged_saved_states_are_refused_without_panicking() {
        let mut rng = Rng(0xdead_beef);
        let (mut saves, saved) = whole_then_replay(0xdead_beef, 4);
        for (keys, image) in saved {
            let key = Saves::key(&keys);
            let saved = saves.layouts[&key].clone();
            assert!(saves.resume(&keys, image.to_vec()).is_some());
            let mut try_bytes = |bytes: Vec<u8>| {
                saves.layouts.insert(key, bytes);
                saves.resume(&keys, image.to_vec()).is_some()
            };
            for len in 0..saved.len() {
                assert!(!try_bytes(saved[..len].to_vec()), "cut at {len}");
            }
            for _ in 0..2000 {
                let mut damaged = saved.clone();
                let at = rng.below(damaged.len());
                damaged[at] ^= 1 << rng.below(8);
                // Refused, or (a flip in a field no check covers, an address say) decoded.
                let _ = try_bytes(damaged);
            }
            saves.layouts.insert(key, saved);
        }
    }
}
