//! The incremental linker's state as bytes, so that a new process can patch the
//! executable the last build linked instead of linking it again (`IncrementalLinker::
//! save` and `resume`). A record is one of two things:
//!
//! - a *whole* layout: the inputs' keys, the entry point, the layout, and the hash of
//!   the image the layout describes (2 MB at 10,001 files);
//! - a *replay*: the key of a whole layout saved earlier (its *base*), the inputs whose
//!   keys changed since, and the image's hash. Patching the base's layout with those
//!   inputs gives the layout of the image, since a patch's result is a function of the
//!   inputs, not of the history (see `incremental`); so a one-shot build after a small
//!   edit saves 116 bytes (one input changed) instead of the whole layout.
//!
//! The store's trailer already proves the bytes are the ones written; decoding checks
//! every length against what is left, so damaged or foreign bytes are `None`, never a
//! panic.

use mini_queries::base::Hash;
use rustc_hash::FxHashMap;

use crate::bytes::{Reader, Writer};

use super::image::{Global, InputLayout, Layout, Names, Region, Site};

const MAGIC: &[u8; 8] = b"minilay1";
const REPLAY_MAGIC: &[u8; 8] = b"minirpl1";

/// A record, decoded.
pub(super) enum Record {
    Whole(Box<Saved>),
    Replay(Replay),
}

/// A layout as the inputs changed since a whole one (see the module's comment).
pub(super) struct Replay {
    /// The key the whole layout is saved under.
    pub base: Hash,
    /// How many inputs the image has (the base's number).
    pub inputs: usize,
    /// The inputs whose keys differ from the base's, by position, in order, with their
    /// keys now.
    pub changed: Vec<(usize, Hash)>,
    pub image_hash: [u8; 32],
}

pub(super) fn encode_replay(replay: &Replay) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(96 + replay.changed.len() * 36));
    w.bytes_raw(REPLAY_MAGIC);
    w.hash(replay.base);
    w.u32(replay.inputs as u32);
    w.u32(replay.changed.len() as u32);
    for &(at, key) in &replay.changed {
        w.u32(at as u32);
        w.hash(key);
    }
    w.bytes_raw(&replay.image_hash);
    w.0
}

/// A whole layout or a replay, by its first bytes.
pub(super) fn decode_record(bytes: &[u8]) -> Option<Record> {
    match bytes.get(..REPLAY_MAGIC.len())? == REPLAY_MAGIC {
        true => decode_replay(bytes).map(Record::Replay),
        false => decode(bytes).map(|saved| Record::Whole(Box::new(saved))),
    }
}

fn decode_replay(bytes: &[u8]) -> Option<Replay> {
    let mut r = Reader::new(bytes);
    if r.take(REPLAY_MAGIC.len())? != REPLAY_MAGIC {
        return None;
    }
    let base = r.hash()?;
    let inputs = r.u32()? as usize;
    let count = r.count(36)?;
    let mut changed: Vec<(usize, Hash)> = Vec::with_capacity(count);
    for _ in 0..count {
        let at = r.u32()? as usize;
        // Positions of inputs there are, each once, in order.
        if at >= inputs || changed.last().is_some_and(|&(last, _)| last >= at) {
            return None;
        }
        changed.push((at, r.hash()?));
    }
    let image_hash = r.array()?;
    r.is_done().then_some(Replay { base, inputs, changed, image_hash })
}

/// What `encode` wrote.
pub(super) struct Saved {
    pub keys: Vec<Hash>,
    pub entry: String,
    pub image_hash: [u8; 32],
    pub layout: Layout,
}

pub(super) fn encode(keys: &[Hash], entry: &str, image_hash: &[u8; 32], layout: &Layout) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 + layout.globals.len() * 40));
    w.bytes_raw(MAGIC);
    w.u32(keys.len() as u32);
    for &key in keys {
        w.hash(key);
    }
    w.str(entry);
    w.bytes_raw(image_hash);
    for (start, end) in layout.bounds {
        w.u64(start);
        w.u64(end);
    }
    w.u32(layout.inputs.len() as u32);
    for input in &layout.inputs {
        for region in &input.regions {
            for field in [region.start, region.align, region.used, region.capacity] {
                w.u64(field);
            }
        }
        w.bytes_raw(&input.shape);
        for field in [input.first_local, input.first_listed_global, input.first_name] {
            w.u32(field);
        }
        w.u32(input.defines.len() as u32);
        for &id in &input.defines {
            w.u32(id);
        }
        w.u32(input.outgoing.len() as u32);
        for &(id, site) in &input.outgoing {
            w.u32(id);
            w.u64(site.place);
            w.u64(site.addend as u64);
            w.u32(site.r_type);
        }
    }
    w.bytes(&layout.names.bytes);
    w.u32(layout.names.spans.len() as u32);
    for &(start, len) in &layout.names.spans {
        w.u32(start);
        w.u32(len);
    }
    let mut by_hash: Vec<(u64, u32)> = layout.names.by_hash.iter().map(|(&hash, &id)| (hash, id)).collect();
    by_hash.sort_unstable();
    w.u32(by_hash.len() as u32);
    for (hash, id) in by_hash {
        w.u64(hash);
        w.u32(id);
    }
    w.u32(layout.globals.len() as u32);
    for global in &layout.globals {
        w.u64(global.address);
        w.u32(global.owner);
    }
    w.u64(layout.symtab_offset);
    for field in [layout.first_global, layout.symbols, layout.strings, layout.entry] {
        w.u32(field);
    }
    w.u8(u8::from(layout.uses_got));
    w.0
}

pub(super) fn decode(bytes: &[u8]) -> Option<Saved> {
    let mut r = Reader::new(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let count = r.count(32)?;
    let keys = (0..count).map(|_| r.hash()).collect::<Option<Vec<_>>>()?;
    let entry = r.str()?;
    let image_hash = r.array()?;
    let mut bounds = [(0, 0); 4];
    for bound in &mut bounds {
        *bound = (r.u64()?, r.u64()?);
    }
    let inputs = (0..r.count(4 * 32 + 32 + 20)?)
        .map(|_| {
            let mut regions = [Region::default(); 4];
            for region in &mut regions {
                *region = Region { start: r.u64()?, align: r.u64()?, used: r.u64()?, capacity: r.u64()? };
            }
            let shape = r.array()?;
            let (first_local, first_listed_global, first_name) = (r.u32()?, r.u32()?, r.u32()?);
            let defines = (0..r.count(4)?).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
            let outgoing = (0..r.count(24)?)
                .map(|_| {
                    let id = r.u32()?;
                    Some((id, Site { place: r.u64()?, addend: r.u64()? as i64, r_type: r.u32()? }))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(InputLayout { regions, shape, first_local, first_listed_global, first_name, defines, outgoing })
        })
        .collect::<Option<Vec<_>>>()?;
    // The tables below have tens of thousands of entries: each is sized from its count
    // first (a new process decodes this on the critical path of an edit).
    let name_bytes = r.bytes()?.to_vec();
    let count = r.count(8)?;
    let mut spans = Vec::with_capacity(count);
    for _ in 0..count {
        let (start, len) = (r.u32()?, r.u32()?);
        if start as usize + len as usize > name_bytes.len() {
            return None;
        }
        spans.push((start, len));
    }
    let count = r.count(12)?;
    let mut by_hash = FxHashMap::with_capacity_and_hasher(count, Default::default());
    for _ in 0..count {
        let (hash, id) = (r.u64()?, r.u32()?);
        if id as usize >= spans.len() {
            return None;
        }
        by_hash.insert(hash, id);
    }
    let count = r.count(12)?;
    let mut globals = Vec::with_capacity(count);
    for _ in 0..count {
        globals.push(Global { address: r.u64()?, owner: r.u32()? });
    }
    let symtab_offset = r.u64()?;
    let (first_global, symbols, strings, entry_global) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
    let uses_got = match r.take(1)? {
        [0] => false,
        [1] => true,
        _ => return None,
    };
    // Every global number the layout holds must name a global.
    let ids_valid = spans.len() == globals.len()
        && (entry_global as usize) < globals.len()
        && inputs.iter().all(|input| {
            input.defines.iter().chain(input.outgoing.iter().map(|(id, _)| id)).all(|&id| (id as usize) < globals.len())
        });
    if !r.is_done() || !ids_valid {
        return None;
    }
    let layout = Layout {
        bounds,
        inputs,
        names: Names { bytes: name_bytes, spans, by_hash },
        globals,
        symtab_offset,
        first_global,
        symbols,
        strings,
        entry: entry_global,
        uses_got,
    };
    Some(Saved { keys, entry, image_hash, layout })
}
