//! mini's own linker: relocatable x86-64 ELF objects in, a static executable out, in
//! process. It knows just what mini's objects need — code, read-only data, zeroed data,
//! a handful of relocation kinds, no dynamic linking, no C library — and that is what
//! makes it fast: the 259 inputs of a 30,000-function program link in a few
//! milliseconds, where a system linker spends tens (most of it starting up).
//!
//! Each kind of section has its own segment, and in each segment every input has a
//! *region*: its sections of that kind, in order, followed by slack. A region's size is
//! a function of what the input puts there alone (`capacity`: the size rounded up to a
//! step of an eighth to a quarter of it), so the layout is a function of the inputs —
//! equal inputs give equal executables — and an input that changes without leaving its
//! size class keeps its region while every other input keeps its own. That is what
//! lets watch mode patch an executable in place (`incremental`) and still get, byte for
//! byte, what this full link gives. Every pass over an input is linear in its symbols or
//! relocations, and global names are looked up in one table keyed by the bytes of the
//! inputs' string tables (no copies).
//!
//! Anything it does not understand (another architecture, an unknown relocation, a
//! common symbol) is an error; the driver then falls back to the system linker.
//!
//! The executable carries section headers (one section per segment) and a symbol table
//! of the inputs' functions and data (`mini:<module>:<name>`, the runtime's), so that
//! `nm`, `objdump -d`, `perf` and gdb can name what they see. They are not loaded: they
//! follow the loaded bytes in the file.

use std::ops::Range;

use anyhow::{Context, Result, bail};
use object::elf;
use object::read::elf::{ElfFile64, SectionHeader};
use object::{
    Endianness, Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, SymbolIndex,
    SymbolSection,
};
use rustc_hash::FxHashMap;

pub(super) const BASE: u64 = 0x40_0000;
const PAGE: u64 = 0x1000;
/// Room for GOT entries after the read-only data (mini's code rarely needs any).
const GOT_ROOM: u64 = 4096;
/// The ELF header and the four program headers.
pub(super) const HEADERS: u64 = 64 + 56 * 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment {
    Rodata,
    Text,
    Data,
    Bss,
}

const SEGMENTS: [Segment; 4] = [Segment::Rodata, Segment::Text, Segment::Data, Segment::Bss];

/// The room an input gets in a segment for `used` bytes: `used` rounded up to a step of
/// a quarter of its highest power of two (at least 64 bytes) — four size classes per
/// doubling, so on average an eighth of the room is slack. Zero stays zero: an input
/// with nothing in a segment takes no room there.
pub(super) fn capacity(used: u64) -> u64 {
    if used == 0 {
        return 0;
    }
    let step = (1u64 << (63 - used.leading_zeros()).saturating_sub(2)).max(64);
    used.next_multiple_of(step)
}

/// An input's room in one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Region {
    /// Its address (once placed).
    pub start: u64,
    /// The largest alignment of its sections.
    pub align: u64,
    /// What its sections take, from the region's start.
    pub used: u64,
    /// `capacity(used)`: what the layout gives it.
    pub capacity: u64,
}

impl Region {
    /// Whether `other` takes the same room: then the input keeps its place.
    pub fn same_room(&self, other: &Region) -> bool {
        self.align == other.align && self.capacity == other.capacity
    }

    /// Its bytes in the file, for the segments that have any.
    pub fn file_range(&self) -> Range<usize> {
        (self.start - BASE) as usize..(self.start - BASE + self.capacity) as usize
    }
}

/// A section that takes room in memory, `offset` bytes into its input's region.
struct Piece {
    section: SectionIndex,
    segment: usize,
    offset: u64,
    size: u64,
}

/// One input, read: its sections that take room, laid out in its regions.
pub(super) struct Input<'a> {
    pub file: ElfFile64<'a, Endianness>,
    pieces: Vec<Piece>,
    /// By segment (in `SEGMENTS` order).
    pub regions: [Region; 4],
    /// The address of each placed section, by section index (once placed).
    placed: Vec<Option<u64>>,
}

impl<'a> Input<'a> {
    /// Reads input number `index` and lays out its sections within its regions.
    pub fn read(index: usize, bytes: &'a [u8]) -> Result<Input<'a>> {
        let file = ElfFile64::<Endianness>::parse(bytes).with_context(|| format!("input #{index} is not ELF64"))?;
        if file.architecture() != object::Architecture::X86_64 {
            bail!("mini's linker only links x86-64");
        }
        let mut pieces = Vec::new();
        let mut regions = [Region { align: 1, ..Region::default() }; 4];
        for section in file.sections() {
            let header = section.elf_section_header();
            let flags = header.sh_flags(file.endian());
            if flags & u64::from(elf::SHF_ALLOC) == 0 || section.size() == 0 {
                continue;
            }
            let segment = if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
                Segment::Text
            } else if header.sh_type(file.endian()) == elf::SHT_NOBITS {
                Segment::Bss
            } else if flags & u64::from(elf::SHF_WRITE) != 0 {
                Segment::Data
            } else {
                Segment::Rodata
            };
            let segment = segment as usize;
            let align = section.align().max(1);
            let region = &mut regions[segment];
            let offset = region.used.next_multiple_of(align);
            region.used = offset + section.size();
            region.align = region.align.max(align);
            pieces.push(Piece { section: section.index(), segment, offset, size: section.size() });
        }
        for region in &mut regions {
            region.capacity = capacity(region.used);
        }
        let placed = vec![None; file.sections().count() + 1];
        Ok(Input { file, pieces, regions, placed })
    }

    /// Puts the regions at `starts` (by segment).
    pub fn place(&mut self, starts: [u64; 4]) {
        for (region, start) in self.regions.iter_mut().zip(starts) {
            region.start = start;
        }
        for piece in &self.pieces {
            self.placed[piece.section.0] = Some(self.regions[piece.segment].start + piece.offset);
        }
    }

    /// The bytes of the file its regions take (bss takes none).
    pub fn file_ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let regions = self.regions.iter().zip(SEGMENTS);
        regions.filter(|(region, segment)| *segment != Segment::Bss && region.capacity > 0).map(|(r, _)| r.file_range())
    }

    /// Fills the input's regions in `image` (zeroing the slack) with its sections' bytes.
    pub fn copy_into(&self, image: &mut [u8]) -> Result<()> {
        for range in self.file_ranges() {
            image[range].fill(0);
        }
        for piece in self.pieces.iter().filter(|p| SEGMENTS[p.segment] != Segment::Bss) {
            let section = self.file.section_by_index(piece.section)?;
            let at = (self.regions[piece.segment].start + piece.offset - BASE) as usize;
            image[at..at + piece.size as usize].copy_from_slice(section.data()?);
        }
        Ok(())
    }

    /// Each symbol the link knows (globals, and functions and data objects, which the
    /// symbol table lists), in the input's order.
    pub fn for_each_defined(&self, mut f: impl FnMut(Defined<'a>) -> Result<()>) -> Result<()> {
        for symbol in self.file.symbols() {
            if symbol.is_undefined() {
                continue;
            }
            // Most symbols are locals that are not listed (sections'): skipped first.
            let raw = symbol.elf_symbol();
            let global = symbol.is_global();
            let listed = matches!(raw.st_type(), elf::STT_FUNC | elf::STT_OBJECT);
            if !global && !listed {
                continue;
            }
            if symbol.is_common() {
                bail!("common symbols are not supported");
            }
            let (address, in_section) = match symbol.section() {
                SymbolSection::Section(section) => match self.placed[section.0] {
                    Some(base) => (base + symbol.address(), true),
                    None => continue,
                },
                SymbolSection::Absolute => (symbol.address(), false),
                _ => continue,
            };
            let name = symbol.name_bytes()?;
            let listed = listed && in_section && !name.is_empty();
            f(Defined { name, info: raw.st_info, other: raw.st_other, address, size: symbol.size(), global, listed })?;
        }
        Ok(())
    }

    /// Each relocation of the placed sections: where, its type, its symbol, its addend.
    pub fn for_each_relocation(&self, mut f: impl FnMut(u64, u32, SymbolIndex, i64) -> Result<()>) -> Result<()> {
        for section in self.file.sections() {
            let Some(base) = self.placed[section.index().0] else { continue };
            for (offset, relocation) in section.relocations() {
                let RelocationFlags::Elf { r_type } = relocation.flags() else { bail!("unexpected relocation") };
                let RelocationTarget::Symbol(index) = relocation.target() else {
                    bail!("unsupported relocation target")
                };
                f(base + offset, r_type, index, relocation.addend())?;
            }
        }
        Ok(())
    }

    /// Each relocation with its target resolved: where, its type, the target's address
    /// and — for a global, found by `global` (a name to its address and number) — the
    /// global's number, and the addend. Each symbol is resolved once.
    pub fn for_each_resolved_relocation(
        &self,
        global: impl Fn(&[u8]) -> Option<(u64, u32)>,
        mut f: impl FnMut(u64, u32, u64, Option<u32>, i64) -> Result<()>,
    ) -> Result<()> {
        let mut targets: Vec<Option<(u64, Option<u32>)>> = vec![None; self.file.symbols().count() + 1];
        self.for_each_relocation(|place, r_type, index, addend| {
            let (target, id) = match targets[index.0] {
                Some(resolved) => resolved,
                None => {
                    let resolved = match self.target(index)? {
                        Target::Address(address) => (address, None),
                        Target::Global(name) => {
                            let (address, id) = global(name)
                                .with_context(|| format!("undefined symbol '{}'", String::from_utf8_lossy(name)))?;
                            (address, Some(id))
                        }
                    };
                    targets[index.0] = Some(resolved);
                    resolved
                }
            };
            f(place, r_type, target, id, addend)
        })
    }

    /// Where a relocation's symbol is: an address of this input's own, or a global's name.
    pub fn target(&self, index: SymbolIndex) -> Result<Target<'a>> {
        let symbol = self.file.symbol_by_index(index)?;
        Ok(match symbol.section() {
            SymbolSection::Section(section) if !symbol.is_global() => Target::Address(
                self.placed[section.0].context("relocation against a section that is not placed")? + symbol.address(),
            ),
            SymbolSection::Absolute => Target::Address(symbol.address()),
            _ => Target::Global(symbol.name_bytes()?),
        })
    }
}

/// A symbol defined by an input (see `Input::for_each_defined`).
#[derive(Clone, Copy)]
pub(super) struct Defined<'a> {
    pub name: &'a [u8],
    pub info: u8,
    pub other: u8,
    pub address: u64,
    pub size: u64,
    pub global: bool,
    /// Whether the executable's symbol table lists it.
    pub listed: bool,
}

impl Defined<'_> {
    /// Adds what makes the symbol table's entry and the global names what they are —
    /// everything but the address and size — to an input's shape (`InputLayout::shape`),
    /// hashed once the input's symbols are all in.
    pub fn shape(&self, shape: &mut Vec<u8>) {
        shape.extend_from_slice(&(self.name.len() as u32).to_le_bytes());
        shape.extend_from_slice(self.name);
        shape.extend_from_slice(&[self.info, self.other, u8::from(self.global), u8::from(self.listed)]);
    }
}

/// A relocation's symbol.
pub(super) enum Target<'a> {
    Address(u64),
    Global(&'a [u8]),
}

/// Whether a relocation type goes through the global offset table.
pub(super) fn is_got(r_type: u32) -> bool {
    matches!(r_type, elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX)
}

/// Writes the field of a relocation at `place` to `target + addend` as `r_type` says (for
/// GOT relocations, `target` is the slot). Returns the bytes written.
pub(super) fn write_field(image: &mut [u8], r_type: u32, place: u64, target: u64, addend: i64) -> Result<Range<usize>> {
    let at = (place - BASE) as usize;
    let field = match r_type {
        elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => target as i64 + addend - place as i64,
        t if is_got(t) => target as i64 + addend - place as i64,
        elf::R_X86_64_32 | elf::R_X86_64_32S => target as i64 + addend,
        elf::R_X86_64_64 => {
            let value = target.wrapping_add_signed(addend);
            image.get_mut(at..at + 8).context("relocation outside the image")?.copy_from_slice(&value.to_le_bytes());
            return Ok(at..at + 8);
        }
        other => bail!("unsupported relocation type {other}"),
    };
    let field = i32::try_from(field).context("relocation out of range")?;
    image.get_mut(at..at + 4).context("relocation outside the image")?.copy_from_slice(&field.to_le_bytes());
    Ok(at..at + 4)
}

/// What a full link leaves for patching the executable later (`incremental`): where
/// each input is, every global, and every relocation that points from one input into
/// another.
pub(super) struct Layout {
    pub bounds: [(u64, u64); 4],
    pub inputs: Vec<InputLayout>,
    /// Global names, to their index in `globals`.
    pub names: Names,
    pub globals: Vec<Global>,
    /// Where the symbol table is in the file, the index of its first global, how many
    /// entries it has, and how long its string table is.
    pub symtab_offset: u64,
    pub first_global: u32,
    pub symbols: u32,
    pub strings: u32,
    /// The entry point's global.
    pub entry: u32,
    /// Whether any relocation goes through the GOT, whose slots this does not track.
    pub uses_got: bool,
}

pub(super) struct InputLayout {
    pub regions: [Region; 4],
    /// A hash of its symbols as the symbol table and the global names see them, but for
    /// addresses and sizes (`Defined::shape`).
    pub shape: [u8; 32],
    /// The symbol table index of its first listed local, the number of listed globals
    /// before its first, and where its names start in the string table.
    pub first_local: u32,
    pub first_listed_global: u32,
    pub first_name: u32,
    /// The globals it defines, in its order.
    pub defines: Vec<u32>,
    /// Its relocations that point at other inputs' globals: which global, and where. (A
    /// list per input rather than per global: a full link records it without an
    /// allocation per global, and a patch that moved globals reads it once.)
    pub outgoing: Vec<(u32, Site)>,
}

pub(super) struct Global {
    pub address: u64,
    pub owner: u32,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Site {
    pub place: u64,
    pub addend: i64,
    pub r_type: u32,
}

/// Global names, each to its number: the names in one buffer, found by a hash of their
/// bytes and checked against them (no allocation per name).
#[derive(Default)]
pub(super) struct Names {
    pub(super) bytes: Vec<u8>,
    /// By number: where its name is in `bytes`.
    pub(super) spans: Vec<(u32, u32)>,
    pub(super) by_hash: FxHashMap<u64, u32>,
}

impl Names {
    fn hash(name: &[u8]) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = rustc_hash::FxBuildHasher.build_hasher();
        hasher.write(name);
        hasher.finish()
    }

    /// Adds the name of the next global; returns its number.
    pub fn push(&mut self, name: &[u8]) -> u32 {
        let id = self.spans.len() as u32;
        self.spans.push((self.bytes.len() as u32, name.len() as u32));
        self.bytes.extend_from_slice(name);
        // Two names with one hash: the second is not found, and a patch that needs it
        // fails over to a full link.
        self.by_hash.entry(Self::hash(name)).or_insert(id);
        id
    }

    /// The name of global number `id`.
    pub fn name(&self, id: u32) -> &[u8] {
        let (start, len) = self.spans[id as usize];
        &self.bytes[start as usize..(start + len) as usize]
    }

    /// Forgets global number `id`: its name no longer finds it.
    pub fn remove(&mut self, id: u32) {
        let hash = Self::hash(self.name(id));
        if self.by_hash.get(&hash) == Some(&id) {
            self.by_hash.remove(&hash);
        }
    }

    /// The number of the global named `name`.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        let &id = self.by_hash.get(&Self::hash(name))?;
        (self.name(id) == name).then_some(id)
    }
}

/// Links `objects` into a static executable whose entry point is `entry`.
pub fn link(objects: &[&[u8]], entry: &str) -> Result<Vec<u8>> {
    Ok(link_recording(objects, entry, false)?.0)
}

/// `link`, and with `record` the layout that lets `incremental` patch the result.
pub(super) fn link_recording(objects: &[&[u8]], entry: &str, record: bool) -> Result<(Vec<u8>, Option<Layout>)> {
    let _span = tracing::info_span!("own_link", inputs = objects.len()).entered();
    let mut inputs: Vec<Input> =
        objects.iter().enumerate().map(|(i, bytes)| Input::read(i, bytes)).collect::<Result<_>>()?;

    // Lay out: headers and read-only data (then the GOT), text, data and bss, each
    // segment starting on a page of its own, each input's region after the last.
    let mut starts = vec![[0u64; 4]; inputs.len()];
    let mut bounds = [(0u64, 0u64); 4];
    let mut address = BASE + HEADERS;
    for (s, segment) in SEGMENTS.into_iter().enumerate() {
        if matches!(segment, Segment::Text | Segment::Data) {
            address = address.next_multiple_of(PAGE);
        }
        let start = address;
        for (input, starts) in inputs.iter().zip(&mut starts) {
            let region = &input.regions[s];
            if region.capacity == 0 {
                continue;
            }
            address = address.next_multiple_of(region.align);
            starts[s] = address;
            address += region.capacity;
        }
        if segment == Segment::Rodata {
            address += GOT_ROOM;
        }
        bounds[s] = (start, address);
    }
    for (input, starts) in inputs.iter_mut().zip(starts) {
        input.place(starts);
    }
    let [rodata, text, data, bss] = bounds;

    // Every global definition, by name, with its number; and, in the same pass over the
    // symbols, the executable's symbol table.
    let mut globals: FxHashMap<&[u8], (u64, u32)> = FxHashMap::default();
    let mut table = SymbolTable::new(bounds, inputs.iter().map(|input| &input.file));
    let mut layouts: Vec<InputLayout> = Vec::with_capacity(if record { inputs.len() } else { 0 });
    let mut owners: Vec<(u64, u32)> = Vec::new();
    let mut shape = Vec::new();
    for (object, input) in inputs.iter().enumerate() {
        let (first_local, first_listed_global) = table.counts();
        let first_name = table.strings.len() as u32;
        shape.clear();
        let mut defines = Vec::new();
        input.for_each_defined(|symbol| {
            if symbol.global {
                let id = globals.len() as u32;
                if globals.insert(symbol.name, (symbol.address, id)).is_some() {
                    bail!("symbol '{}' is defined twice", String::from_utf8_lossy(symbol.name));
                }
                if record {
                    defines.push(id);
                    owners.push((symbol.address, object as u32));
                }
            }
            if symbol.listed {
                table.add(symbol.name, symbol.info, symbol.other, symbol.address, symbol.size, symbol.global)?;
            }
            if record {
                symbol.shape(&mut shape);
            }
            Ok(())
        })?;
        if record {
            let regions = input.regions;
            let shape = *blake3::hash(&shape).as_bytes();
            let outgoing = Vec::new();
            layouts.push(InputLayout {
                regions,
                shape,
                first_local,
                first_listed_global,
                first_name,
                defines,
                outgoing,
            });
        }
    }
    let &(entry_address, entry_id) =
        globals.get(entry.as_bytes()).with_context(|| format!("no entry point '{entry}'"))?;

    // Contents, then relocations. The symbol table and section headers follow them:
    // room for them now spares copying the image to grow it.
    let file_size = (data.1 - BASE) as usize;
    let mut bytes = Vec::with_capacity(file_size + table.room());
    bytes.resize(file_size, 0);
    for input in &inputs {
        input.copy_into(&mut bytes)?;
    }
    let mut got = Got { entries: FxHashMap::default(), next: rodata.1 - GOT_ROOM, end: rodata.1 };
    for (object, input) in inputs.iter().enumerate() {
        let mut outgoing = Vec::new();
        input.for_each_resolved_relocation(
            |name| globals.get(name).copied(),
            |place, r_type, target, id, addend| {
                let target = if is_got(r_type) { got.slot(target, &mut bytes)? } else { target };
                write_field(&mut bytes, r_type, place, target, addend)?;
                if record
                    && let Some(id) = id
                    && owners[id as usize].1 != object as u32
                {
                    outgoing.push((id, Site { place, addend, r_type }));
                }
                Ok(())
            },
        )?;
        if record {
            layouts[object].outgoing = outgoing;
        }
    }

    let (symbols, strings) = (table.counts(), table.strings.len() as u32);
    let (sections, symtab_offset, first_global) = table.write(&mut bytes, bounds);
    write_headers(&mut bytes, entry_address, rodata, text, data, bss.1, sections);
    let layout = record.then(|| {
        let mut names = Names::default();
        let mut by_id: Vec<&[u8]> = vec![&[]; globals.len()];
        for (&name, &(_, id)) in &globals {
            by_id[id as usize] = name;
        }
        for name in by_id {
            names.push(name);
        }
        (names, owners.into_iter().map(|(address, owner)| Global { address, owner }).collect::<Vec<_>>())
    });
    let layout = layout.map(|(names, globals)| Layout {
        bounds,
        inputs: layouts,
        names,
        globals,
        symtab_offset,
        first_global,
        symbols: symbols.0 + symbols.1,
        strings,
        entry: entry_id,
        uses_got: !got.entries.is_empty(),
    });
    Ok((bytes, layout))
}

/// The section index a symbol table entry gives an address: indexes 1..=4 are the
/// segments; an address at the end of one (a zero-sized symbol there) belongs to it if
/// no segment holds it.
pub(super) fn section_index(bounds: &[(u64, u64); 4], address: u64) -> u16 {
    let segment = bounds.iter().position(|&(start, end)| (start..end).contains(&address));
    let segment = segment.or_else(|| bounds.iter().position(|&(_, end)| end == address));
    segment.map_or(elf::SHN_ABS, |i| i as u16 + 1)
}

/// Rewrites what a symbol table entry says of a symbol's place (section, address and
/// size), keeping its name and kind.
pub(super) fn rewrite_symbol(entry: &mut [u8], bounds: &[(u64, u64); 4], address: u64, size: u64) {
    entry[6..8].copy_from_slice(&section_index(bounds, address).to_le_bytes());
    entry[8..16].copy_from_slice(&address.to_le_bytes());
    entry[16..24].copy_from_slice(&size.to_le_bytes());
}

pub(super) const SYM_SIZE: usize = 24;

/// Where the section header table is, and how many headers it has.
#[derive(Clone, Copy)]
struct SectionTable {
    offset: u64,
    count: u16,
    names_index: u16,
}

const SECTION_HEADER_SIZE: usize = 64;
const SECTION_COUNT: usize = 8;

/// Rewrites what follows the loaded bytes of `image` — the symbol table, its strings,
/// the section headers — and the ELF header that points at them, for inputs of which
/// some have other symbols now: each input in turn either adds its listed symbols
/// (`Some`, in its order) or keeps those it has in the image's table. Updates `layout`
/// to match.
pub(super) fn rewrite_symbol_table(
    image: &mut Vec<u8>,
    layout: &mut Layout,
    fresh: &[Option<Vec<Defined>>],
) -> Result<()> {
    // The old table and strings (offsets below are from the table's start).
    let old = image[layout.symtab_offset as usize..].to_vec();
    let symtab = 0;
    let strtab = layout.symbols as usize * SYM_SIZE;
    let (first_global, symbols, strings) = (layout.first_global, layout.symbols, layout.strings);
    let mut table = SymbolTable {
        bounds: layout.bounds,
        strings: Vec::with_capacity(strings as usize + 4096),
        locals: Vec::with_capacity(first_global as usize * SYM_SIZE + 4096),
        globals: Vec::with_capacity((symbols - first_global) as usize * SYM_SIZE + 4096),
    };
    table.strings.push(0);
    table.locals.resize(SYM_SIZE, 0);
    for (i, fresh) in fresh.iter().enumerate() {
        // Where this input's symbols and names end: where the next one's start.
        let (end_local, end_global, end_name) = match layout.inputs.get(i + 1) {
            Some(next) => (next.first_local, next.first_listed_global, next.first_name),
            None => (first_global, symbols - first_global, strings),
        };
        let input = &mut layout.inputs[i];
        let (old_local, old_global, old_name) = (input.first_local, input.first_listed_global, input.first_name);
        (input.first_local, input.first_listed_global) = table.counts();
        input.first_name = table.strings.len() as u32;
        match fresh {
            Some(symbols) => {
                for symbol in symbols {
                    table.add(symbol.name, symbol.info, symbol.other, symbol.address, symbol.size, symbol.global)?;
                }
            }
            None => {
                // The same entries, their names moved by as much as this input's names.
                let shift = table.strings.len() as i64 - i64::from(old_name);
                table.strings.extend_from_slice(&old[strtab + old_name as usize..strtab + end_name as usize]);
                let locals = symtab + old_local as usize * SYM_SIZE..symtab + end_local as usize * SYM_SIZE;
                let globals_at = symtab + (first_global + old_global) as usize * SYM_SIZE;
                let globals = globals_at..symtab + (first_global + end_global) as usize * SYM_SIZE;
                for (entries, out) in [(locals, &mut table.locals), (globals, &mut table.globals)] {
                    for entry in old[entries].chunks_exact(SYM_SIZE) {
                        let name = u32::from_le_bytes(entry[..4].try_into().expect("4 bytes"));
                        let name = u32::try_from(i64::from(name) + shift).context("symbol names exceed 4 GiB")?;
                        out.extend_from_slice(&name.to_le_bytes());
                        out.extend_from_slice(&entry[4..]);
                    }
                }
            }
        }
    }
    let (locals, globals) = table.counts();
    (layout.symbols, layout.strings) = (locals + globals, table.strings.len() as u32);
    image.truncate((layout.bounds[2].1 - BASE) as usize);
    let bounds = layout.bounds;
    let (sections, symtab_offset, first_global) = table.write(image, bounds);
    (layout.symtab_offset, layout.first_global) = (symtab_offset, first_global);
    let entry = layout.globals[layout.entry as usize].address;
    write_headers(image, entry, bounds[0], bounds[1], bounds[2], bounds[3].1, sections);
    Ok(())
}

/// The executable's symbol table, filled as the inputs' symbols are read: functions and
/// data objects with a name, locals first (as ELF requires), each group in input order,
/// so that equal inputs give equal executables.
struct SymbolTable {
    bounds: [(u64, u64); 4],
    /// `.strtab`.
    strings: Vec<u8>,
    /// ELF64 symbol entries, starting with the null symbol.
    locals: Vec<u8>,
    globals: Vec<u8>,
}

const SECTION_NAMES: &[u8] = b"\0.rodata\0.text\0.data\0.bss\0.symtab\0.strtab\0.shstrtab\0";

impl SymbolTable {
    /// An empty table with room for what `files` may add, so that it never grows by
    /// copying (room that is not used is never touched, and costs nothing).
    fn new<'f, 'a: 'f>(
        bounds: [(u64, u64); 4],
        files: impl Iterator<Item = &'f ElfFile64<'a, Endianness>>,
    ) -> SymbolTable {
        let (mut symbols, mut names) = (0, 1);
        for file in files {
            let table = file.elf_symbol_table();
            symbols += table.len();
            names += file.section_by_index(table.string_section()).map_or(0, |s| s.size() as usize);
        }
        let mut strings = Vec::with_capacity(names);
        strings.push(0);
        let mut locals = Vec::with_capacity(SYM_SIZE * 64);
        locals.resize(SYM_SIZE, 0);
        SymbolTable { bounds, strings, locals, globals: Vec::with_capacity(SYM_SIZE * symbols) }
    }

    /// How many locals (with the null symbol) and globals it has.
    fn counts(&self) -> (u32, u32) {
        ((self.locals.len() / SYM_SIZE) as u32, (self.globals.len() / SYM_SIZE) as u32)
    }

    fn add(&mut self, name: &[u8], info: u8, other: u8, address: u64, size: u64, global: bool) -> Result<()> {
        let index = section_index(&self.bounds, address);
        let name_offset = u32::try_from(self.strings.len()).context("symbol names exceed 4 GiB")?;
        self.strings.extend_from_slice(name);
        self.strings.push(0);
        let out = if global { &mut self.globals } else { &mut self.locals };
        out.extend_from_slice(&name_offset.to_le_bytes());
        out.push(info);
        out.push(other);
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&address.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        Ok(())
    }

    /// An upper bound of what `write` appends.
    fn room(&self) -> usize {
        let alignment = 3 * 8;
        self.locals.len()
            + self.globals.len()
            + self.strings.len()
            + SECTION_NAMES.len()
            + alignment
            + SECTION_COUNT * SECTION_HEADER_SIZE
    }

    /// Appends, after the loaded bytes: the symbol table, its strings, the section names
    /// and the section headers — a null section, one per segment (`.rodata`, `.text`,
    /// `.data`, `.bss`, in `SEGMENTS` order), `.symtab`, `.strtab`, `.shstrtab`. Returns
    /// where the section headers are, where the symbol table is, and the index of its
    /// first global.
    fn write(self, bytes: &mut Vec<u8>, bounds: [(u64, u64); 4]) -> (SectionTable, u64, u32) {
        let _span = tracing::info_span!("symbol_table").entered();
        let name = |text: &[u8]| -> u32 {
            let at = SECTION_NAMES
                .windows(text.len() + 2)
                .position(|w| w[0] == 0 && &w[1..=text.len()] == text && w[text.len() + 1] == 0);
            at.expect("a listed section name") as u32 + 1
        };
        let align = |bytes: &mut Vec<u8>, to: usize| bytes.resize(bytes.len().next_multiple_of(to), 0);
        align(bytes, 8);
        let symtab_offset = bytes.len() as u64;
        let first_global = (self.locals.len() / SYM_SIZE) as u32;
        let symtab_size = (self.locals.len() + self.globals.len()) as u64;
        bytes.extend_from_slice(&self.locals);
        bytes.extend_from_slice(&self.globals);
        let strtab_offset = bytes.len() as u64;
        bytes.extend_from_slice(&self.strings);
        let shstrtab_offset = bytes.len() as u64;
        bytes.extend_from_slice(SECTION_NAMES);
        align(bytes, 8);
        let table_offset = bytes.len() as u64;

        let mut header =
            |name: u32, kind: u32, flags: u32, address: u64, offset: u64, size: u64, link: u32, info: u32| {
                let (align, entry_size) = match kind {
                    elf::SHT_SYMTAB => (8u64, SYM_SIZE as u64),
                    elf::SHT_STRTAB => (1, 0),
                    elf::SHT_NULL => (0, 0),
                    _ => (16, 0),
                };
                bytes.extend_from_slice(&name.to_le_bytes());
                bytes.extend_from_slice(&kind.to_le_bytes());
                bytes.extend_from_slice(&u64::from(flags).to_le_bytes());
                bytes.extend_from_slice(&address.to_le_bytes());
                bytes.extend_from_slice(&offset.to_le_bytes());
                bytes.extend_from_slice(&size.to_le_bytes());
                bytes.extend_from_slice(&link.to_le_bytes());
                bytes.extend_from_slice(&info.to_le_bytes());
                bytes.extend_from_slice(&align.to_le_bytes());
                bytes.extend_from_slice(&entry_size.to_le_bytes());
            };
        header(0, elf::SHT_NULL, 0, 0, 0, 0, 0, 0);
        for (segment, (start, end)) in SEGMENTS.iter().zip(bounds) {
            let (section, kind, flags) = match segment {
                Segment::Rodata => (&b".rodata"[..], elf::SHT_PROGBITS, elf::SHF_ALLOC),
                Segment::Text => (&b".text"[..], elf::SHT_PROGBITS, elf::SHF_ALLOC | elf::SHF_EXECINSTR),
                Segment::Data => (&b".data"[..], elf::SHT_PROGBITS, elf::SHF_ALLOC | elf::SHF_WRITE),
                Segment::Bss => (&b".bss"[..], elf::SHT_NOBITS, elf::SHF_ALLOC | elf::SHF_WRITE),
            };
            header(name(section), kind, flags, start, start - BASE, end - start, 0, 0);
        }
        let strtab_index = 6;
        header(name(b".symtab"), elf::SHT_SYMTAB, 0, 0, symtab_offset, symtab_size, strtab_index, first_global);
        header(name(b".strtab"), elf::SHT_STRTAB, 0, 0, strtab_offset, self.strings.len() as u64, 0, 0);
        header(name(b".shstrtab"), elf::SHT_STRTAB, 0, 0, shstrtab_offset, SECTION_NAMES.len() as u64, 0, 0);
        (
            SectionTable { offset: table_offset, count: SECTION_COUNT as u16, names_index: 7 },
            symtab_offset,
            first_global,
        )
    }
}

/// Global offset table entries, for the rare code that asks for one.
struct Got {
    entries: FxHashMap<u64, u64>,
    next: u64,
    end: u64,
}

impl Got {
    /// The address of the entry holding `target`, written into `image` when new.
    fn slot(&mut self, target: u64, image: &mut [u8]) -> Result<u64> {
        if let Some(&slot) = self.entries.get(&target) {
            return Ok(slot);
        }
        let slot = self.next.next_multiple_of(8);
        if slot + 8 > self.end {
            bail!("out of room for GOT entries");
        }
        self.next = slot + 8;
        let at = (slot - BASE) as usize;
        image[at..at + 8].copy_from_slice(&target.to_le_bytes());
        self.entries.insert(target, slot);
        Ok(slot)
    }
}

/// The ELF header and program headers: one loadable segment for the headers and
/// read-only data, one for text, one for data and bss, and a non-executable stack.
fn write_headers(
    image: &mut [u8],
    entry: u64,
    rodata: (u64, u64),
    text: (u64, u64),
    data: (u64, u64),
    bss_end: u64,
    sections: SectionTable,
) {
    let mut h = Vec::with_capacity(HEADERS as usize);
    h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend_from_slice(&elf::ET_EXEC.to_le_bytes());
    h.extend_from_slice(&elf::EM_X86_64.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&entry.to_le_bytes());
    h.extend_from_slice(&64u64.to_le_bytes()); // program headers follow
    h.extend_from_slice(&sections.offset.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&56u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&(SECTION_HEADER_SIZE as u16).to_le_bytes());
    h.extend_from_slice(&sections.count.to_le_bytes());
    h.extend_from_slice(&sections.names_index.to_le_bytes());
    let mut program_header = |kind: u32, flags: u32, start: u64, file_end: u64, memory_end: u64| {
        h.extend_from_slice(&kind.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&(start - BASE).to_le_bytes());
        h.extend_from_slice(&start.to_le_bytes());
        h.extend_from_slice(&start.to_le_bytes());
        h.extend_from_slice(&(file_end - start).to_le_bytes());
        h.extend_from_slice(&(memory_end - start).to_le_bytes());
        h.extend_from_slice(&PAGE.to_le_bytes());
    };
    program_header(elf::PT_LOAD, elf::PF_R, BASE, rodata.1, rodata.1);
    program_header(elf::PT_LOAD, elf::PF_R | elf::PF_X, text.0, text.1, text.1);
    program_header(elf::PT_LOAD, elf::PF_R | elf::PF_W, data.0, data.1, bss_end.max(data.1));
    program_header(elf::PT_GNU_STACK, elf::PF_R | elf::PF_W, BASE, BASE, BASE);
    image[..h.len()].copy_from_slice(&h);
}
