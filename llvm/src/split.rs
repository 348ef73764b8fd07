//! Splits an object whose functions each live in their own section into one canonical
//! object per function.
//!
//! A function's canonical object depends only on its own machine code, relocations and
//! data — never on which other functions shared its LLVM module — so a function
//! compiled alone and the same function compiled in a batch of a hundred give the same
//! bytes. That is what lets cold builds compile in batches (one LLVM module per batch
//! costs a fraction of a module per function) while the unit of reuse stays the
//! function.
//!
//! The layout is fixed: `.text` (the code), `.rodata` (the data it refers to, in order
//! of first reference), `.note.GNU-stack`; the function's symbol, then the undefined
//! symbols it refers to, sorted by name.

use std::collections::BTreeMap;

use object::elf;
use object::read::elf::{ElfFile64, SectionHeader};
use object::write::{Object, Relocation, StandardSegment, Symbol, SymbolId, SymbolSection};
use object::{
    Endianness, Object as _, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionFlags,
    SectionIndex, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use super::function::text_section;

/// The canonical object of each function named in `symbols`, in that order.
///
/// Panics on an object LLVM did not produce in the expected shape: that is a compiler
/// bug, not a user error.
pub(super) fn split(object: &[u8], symbols: &[String]) -> Vec<Vec<u8>> {
    let file = ElfFile64::<Endianness>::parse(object).expect("LLVM emits ELF64 objects");
    let sections: BTreeMap<&[u8], SectionIndex> =
        file.sections().filter_map(|s| Some((s.name_bytes().ok()?, s.index()))).collect();
    symbols
        .iter()
        .map(|symbol| {
            let index = sections.get(text_section(symbol).as_bytes()).copied();
            let index = index.unwrap_or_else(|| panic!("no section for '{symbol}' in the batch object"));
            canonical(&file, index, symbol)
        })
        .collect()
}

enum Target {
    /// Data of the function's own, by the offset its section got in `.rodata`.
    Data(u64),
    Symbol(Vec<u8>),
}

fn canonical(file: &ElfFile64<Endianness>, text: SectionIndex, symbol: &str) -> Vec<u8> {
    let section = file.section_by_index(text).expect("the index came from this file");
    let code = section.data().expect("section data is readable");
    let endian = file.endian();

    // Data sections the code refers to, in order of first reference, and what each
    // relocation targets.
    let mut data: Vec<(SectionIndex, u64)> = Vec::new();
    let mut rodata_len = 0u64;
    let mut rodata = Vec::new();
    let mut relocations = Vec::new();
    for (offset, reloc) in section.relocations() {
        let RelocationFlags::Elf { r_type } = reloc.flags() else { panic!("unexpected relocation flags") };
        let target = match reloc.target() {
            RelocationTarget::Symbol(index) => {
                let target = file.symbol_by_index(index).expect("relocation symbol exists");
                if target.kind() == SymbolKind::Section || !target.is_global() {
                    let data_index = target.section_index().expect("a local target lives in a section");
                    let base = match data.iter().find(|(i, _)| *i == data_index) {
                        Some(&(_, base)) => base,
                        None => {
                            let data_section = file.section_by_index(data_index).expect("section exists");
                            let align = data_section.align().max(1);
                            rodata_len = rodata_len.next_multiple_of(align);
                            rodata.resize(rodata_len as usize, 0);
                            rodata.extend_from_slice(data_section.data().expect("readable"));
                            let base = rodata_len;
                            rodata_len = rodata.len() as u64;
                            data.push((data_index, base));
                            base
                        }
                    };
                    Target::Data(base + target.address())
                } else {
                    Target::Symbol(target.name_bytes().expect("symbol name").to_vec())
                }
            }
            _ => panic!("unexpected relocation target in '{symbol}'"),
        };
        relocations.push((offset, r_type, reloc.addend(), target));
    }

    let mut out = Object::new(object::BinaryFormat::Elf, file.architecture(), endian);
    out.flags = file.flags();
    let text_out =
        out.add_section(out.segment_name(StandardSegment::Text).to_vec(), b".text".to_vec(), SectionKind::Text);
    let header = section.elf_section_header();
    out.append_section_data(text_out, code, header.sh_addralign(endian).max(1));
    let size = file
        .symbols()
        .find(|s| s.kind() == SymbolKind::Text && s.section_index() == Some(text) && s.name() == Ok(symbol))
        .map_or(code.len() as u64, |s| s.size());
    let own = out.add_symbol(Symbol {
        name: symbol.as_bytes().to_vec(),
        value: 0,
        size,
        kind: SymbolKind::Text,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(text_out),
        flags: SymbolFlags::Elf { st_info: (elf::STB_GLOBAL << 4) | elf::STT_FUNC, st_other: elf::STV_DEFAULT },
    });
    let rodata_out = (!data.is_empty()).then(|| {
        let id = out.add_section(
            out.segment_name(StandardSegment::Data).to_vec(),
            b".rodata".to_vec(),
            SectionKind::ReadOnlyData,
        );
        out.append_section_data(id, &rodata, 16);
        id
    });
    let stack = out.add_section(Vec::new(), b".note.GNU-stack".to_vec(), SectionKind::Elf(elf::SHT_PROGBITS));
    out.section_mut(stack).flags = SectionFlags::Elf { sh_flags: 0 };

    // Recursive calls refer to the function's own (defined) symbol.
    let mut names: Vec<&Vec<u8>> = relocations
        .iter()
        .filter_map(|(_, _, _, t)| if let Target::Symbol(n) = t { Some(n) } else { None })
        .filter(|name| name.as_slice() != symbol.as_bytes())
        .collect();
    names.sort();
    names.dedup();
    let undefined: BTreeMap<Vec<u8>, SymbolId> = names
        .into_iter()
        .map(|name| {
            let id = out.add_symbol(Symbol {
                name: name.clone(),
                value: 0,
                size: 0,
                kind: SymbolKind::Unknown,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::Elf { st_info: (elf::STB_GLOBAL << 4) | elf::STT_NOTYPE, st_other: 0 },
            });
            (name.clone(), id)
        })
        .collect();
    for (offset, r_type, addend, target) in relocations {
        let (symbol, addend) = match target {
            Target::Data(at) => (out.section_symbol(rodata_out.expect("data was added")), addend + at as i64),
            Target::Symbol(name) if name == symbol.as_bytes() => (own, addend),
            Target::Symbol(name) => (undefined[&name], addend),
        };
        out.add_relocation(text_out, Relocation { offset, symbol, addend, flags: RelocationFlags::Elf { r_type } })
            .expect("ELF relocations are supported");
    }
    out.write().expect("writing an ELF object in memory")
}
