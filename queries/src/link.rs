//! The link plan: which functions go into which link unit, and the keys under which the
//! merged units, the runtime and the entry wrapper are stored.
//!
//! Functions are grouped into a fixed number of units by a hash of their module's path,
//! so a unit's membership only changes when its own files do, and an edit relinks one
//! unit plus a final link over a few hundred inputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::base::{Encoder, Hash, ModulePath};
use crate::db::Db;
use crate::hash::{entry_hash, fn_hash, runtime_hash};
use crate::imports::{FileGroup, file_groups, program_files};
use crate::items::{Function, file_functions, functions_of};
use crate::source::{BuildSettings, SourceFile, Workspace};
use crate::summary;

/// How many link units a program's functions are spread over.
pub const LINK_UNITS: u32 = 256;

/// The link unit of a module: stable under edits to any other module.
pub fn link_unit_of(module: &ModulePath) -> u32 {
    let hash = blake3::hash(module.as_str().as_bytes());
    u32::from_le_bytes(hash.as_bytes()[..4].try_into().expect("4 bytes")) % LINK_UNITS
}

/// A link unit and its files, in program order. Interned with its files, so a unit's
/// plan depends only on its own files: once the program's files are verified, an
/// unchanged unit's plan is verified without walking them.
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX, debug)]
pub struct LinkUnit {
    #[returns(copy)]
    pub index: u32,
    #[returns(ref)]
    pub files: Arc<[SourceFile]>,
}

/// One link unit: its files and its members' hashes in program order, and its key.
///
/// Members are kept as hashes, not as interned functions: a fresh process plans every
/// unit, and interning 30,000 functions to learn that 29,999 hashes are unchanged would
/// be most of its work. `members` interns them for the units that are rebuilt.
#[derive(Debug, PartialEq, Eq)]
pub struct UnitPlan {
    pub index: u32,
    /// The unit's files, in program order.
    pub files: Vec<SourceFile>,
    /// The hash of each function of those files, file by file, each file's in source
    /// order.
    pub hashes: Vec<Hash>,
    /// Identifies the merged object: a hash of the members' hashes, in order.
    pub key: Hash,
}

impl UnitPlan {
    /// How many functions the unit has.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The members as functions, with their hashes, in order. Valid in the revision the
    /// plan was made in.
    pub fn members(&self, db: &dyn Db) -> Vec<(Function, Hash)> {
        let functions = self.files.iter().flat_map(|&file| functions_of(db, file));
        functions.zip(self.hashes.iter().copied()).collect()
    }
}

/// The link unit of each file of a group, in the group's order.
///
/// Reads: the files' paths, which never change, so each group's is computed once and
/// the program's units are regrouped with a lookup per file, not a hash of its path.
#[salsa::tracked(returns(ref))]
pub fn group_units(db: &dyn Db, group: FileGroup) -> Arc<[u32]> {
    group.files(db).iter().map(|file| link_unit_of(file.path(db))).collect()
}

/// The program's link units, by index, each with its files in program order.
///
/// Reads: the program's files, and each group's units.
#[salsa::tracked(returns(ref))]
pub fn program_units(db: &dyn Db, workspace: Workspace) -> Arc<[LinkUnit]> {
    let _span = tracing::debug_span!("program_units").entered();
    let mut unit_of: FxHashMap<SourceFile, u32> = FxHashMap::default();
    unit_of.reserve(workspace.files(db).len());
    for &group in file_groups(db, workspace).iter() {
        unit_of.extend(group.files(db).iter().copied().zip(group_units(db, group).iter().copied()));
    }
    let files = program_files(db, workspace).iter().map(|&file| {
        let unit = unit_of.get(&file).copied().unwrap_or_else(|| link_unit_of(file.path(db)));
        (unit, file)
    });
    group_by_unit(files)
        .into_iter()
        .map(|(index, files)| LinkUnit::new(db, index, Arc::<[SourceFile]>::from(files)))
        .collect()
}

/// Groups a program's files — given in program order, each with its link unit — by
/// unit, each group in program order. A unit's members are its files' functions in
/// that order, and its key is `unit_key` over them: `program_units`/`unit_plan` group
/// the program's files so, and the patch path groups the index's files so, which is
/// what makes their keys agree.
pub fn group_by_unit<T>(files: impl IntoIterator<Item = (u32, T)>) -> BTreeMap<u32, Vec<T>> {
    let mut units: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for (unit, file) in files {
        units.entry(unit).or_default().push(file);
    }
    units
}

/// One unit's members and key; `None` if a member has errors.
///
/// Reads: the unit's files' functions' hashes — taken from summaries for
/// unchanged files, so an unchanged unit costs no per-function query.
#[salsa::tracked(returns(ref))]
pub fn unit_plan(db: &dyn Db, unit: LinkUnit) -> Option<Arc<UnitPlan>> {
    let index = unit.index(db);
    let _span = tracing::debug_span!("unit_plan", unit = index).entered();
    let files = unit.files(db);
    let mut hashes = Vec::new();
    for &file in files.iter() {
        match summary::function_hashes(db, file) {
            Some(summarized) => hashes.extend(summarized),
            None => {
                for &function in &file_functions(db, file).functions {
                    hashes.push(fn_hash(db, function)?);
                }
            }
        }
    }
    let key = unit_key(&hashes);
    Some(Arc::new(UnitPlan { index, files: files.to_vec(), hashes, key }))
}

/// A unit's key: a hash of its members' hashes, in order.
pub fn unit_key(hashes: &[Hash]) -> Hash {
    let mut key = Encoder::new("mini link unit");
    key.u64(hashes.len() as u64);
    for hash in hashes {
        key.bytes(&hash.0);
    }
    key.finish()
}

/// The key of a linked executable's inputs: its units' keys in order, the runtime's and
/// the entry wrapper's.
pub fn link_key(units: &[Hash], runtime: Hash, entry: Hash) -> Hash {
    let mut key = Encoder::new("mini link");
    key.u64(units.len() as u64);
    for unit in units {
        key.bytes(&unit.0);
    }
    key.bytes(&runtime.0).bytes(&entry.0);
    key.finish()
}

/// Everything the final link needs: the units, the runtime and the entry wrapper.
#[derive(Debug, PartialEq, Eq)]
pub struct LinkPlan {
    pub units: Vec<Arc<UnitPlan>>,
    pub runtime: Hash,
    pub entry: Hash,
    /// Identifies the linked executable's inputs.
    pub key: Hash,
}

impl LinkPlan {
    pub fn function_count(&self) -> usize {
        self.units.iter().map(|u| u.len()).sum()
    }
}

/// The link plan; `None` if the program has errors.
///
/// Reads: every unit's plan, the runtime's and the entry wrapper's keys.
#[salsa::tracked(returns(ref))]
pub fn link_plan(db: &dyn Db, workspace: Workspace) -> Option<Arc<LinkPlan>> {
    let _span = tracing::debug_span!("link_plan").entered();
    let mut units = Vec::new();
    for &unit in program_units(db, workspace).iter() {
        let unit = unit_plan(db, unit).clone()?;
        // Files without functions contribute nothing to link.
        if !unit.is_empty() {
            units.push(unit);
        }
    }
    let runtime = runtime_hash(db, BuildSettings::get(db));
    let entry = entry_hash(db, workspace)?;
    let keys: Vec<Hash> = units.iter().map(|unit| unit.key).collect();
    let key = link_key(&keys, runtime, entry);
    Some(Arc::new(LinkPlan { units, runtime, entry, key }))
}
