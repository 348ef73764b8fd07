//! The planner: the one place that decides, for each link unit a build needs, where its
//! merged object comes from — the last link's inputs in this session's memory, the
//! disk store, or the remote tier behind it — or that the unit is rebuilt, and then,
//! for each of its members, whether the object is in memory, in the previous version of
//! the unit (on disk or remote), or must be built. The build carries the answer out
//! (`objects`), the fresh-process patch path asks it about every unit (`patch`), and
//! `mini explain` prints it (`explain`), so the three cannot disagree about what is
//! cached; `explain_agrees_with_the_next_build_after_random_edits` checks the answer
//! against what builds then do.
//!
//! Planning reads (and verifies) what it finds, so carrying the plan out reads nothing
//! twice: found units come with their bytes, and members found in previous units with
//! their objects.

use std::sync::Arc;

use mini_queries::base::Hash;
use rustc_hash::{FxHashMap, FxHashSet};

use super::objects::{LinkInput, LinkedInputs, read_units};
use crate::cache::store::{Kind, Store, Unit};

/// A link unit the build needs.
pub(super) struct Wanted<'a> {
    pub index: u32,
    pub key: Hash,
    /// Its members' hashes, in order; `None` when the caller does not know them (the
    /// patch path, for units it did not change), and a missing unit cannot be rebuilt.
    pub members: Option<&'a [Hash]>,
}

/// Where a cache hit was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// This session's memory: the last link's inputs, or objects it generated or loaded.
    Memory,
    /// The store on disk.
    Disk,
    /// The remote cache, through the store (now also on disk).
    Remote,
}

impl Found {
    /// `memory`, `disk` or `remote`, as `mini explain` says it.
    pub fn name(self) -> &'static str {
        match self {
            Found::Memory => "memory",
            Found::Disk => "disk",
            Found::Remote => "remote",
        }
    }
}

/// Where a member of a rebuilt unit comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// Its object is available: in memory, or in the previous version of its unit.
    Cached(Found),
    /// It must be generated.
    Build,
}

/// The plan for one unit.
pub(super) enum UnitFate {
    /// Its merged object was found: the link input, and where.
    Found(LinkInput, Found),
    /// It is rebuilt from its members (each with where its object comes from).
    Rebuilt(Vec<(Hash, Member)>),
    /// It is missing and cannot be rebuilt here (its members are unknown).
    Unavailable,
}

/// One unit's plan.
pub(super) struct PlannedUnit {
    pub index: u32,
    pub key: Hash,
    /// How many members it has, when the caller said.
    pub members: Option<usize>,
    pub fate: UnitFate,
}

/// A build's plan, in the order the units were asked for.
pub(super) struct Plan {
    pub units: Vec<PlannedUnit>,
    /// Objects of rebuilt units' members found in the previous versions of their units,
    /// read while planning, by function hash.
    pub previous_objects: FxHashMap<Hash, Arc<[u8]>>,
}

impl Plan {
    /// Whether every unit is found or can be rebuilt.
    pub fn is_complete(&self) -> bool {
        !self.units.iter().any(|unit| matches!(unit.fate, UnitFate::Unavailable))
    }

    /// The hashes of the functions that must be generated, each once, in plan order.
    pub fn to_build(&self) -> Vec<Hash> {
        let mut seen = FxHashSet::default();
        let mut out = Vec::new();
        for unit in &self.units {
            if let UnitFate::Rebuilt(members) = &unit.fate {
                for &(hash, member) in members {
                    if member == Member::Build && seen.insert(hash) {
                        out.push(hash);
                    }
                }
            }
        }
        out
    }
}

/// What the planner may look at: the session's memory, the store, and the previous
/// version of each unit (by unit index) to take members from.
pub(super) struct Planner<'a> {
    pub store: &'a Store,
    /// The last link's inputs; found units are taken out of it.
    pub linked: &'a mut LinkedInputs,
    /// Function objects in this session's memory, by hash.
    pub objects: &'a FxHashMap<Hash, Arc<[u8]>>,
    pub previous: &'a FxHashMap<u32, Hash>,
    pub jobs: usize,
}

impl Planner<'_> {
    /// Plans `wanted`: each unit from memory, else the store (disk or remote), else
    /// rebuilt from its members — each from memory, else the previous version of the
    /// unit, else built.
    pub fn plan(self, wanted: &[Wanted<'_>]) -> Plan {
        let _span = tracing::info_span!("plan_units", units = wanted.len()).entered();
        let mut units: Vec<Option<UnitFate>> = Vec::with_capacity(wanted.len());
        let mut from_store = Vec::new();
        for unit in wanted {
            let kept = self.linked.remove(&(Kind::Unit, unit.key)).filter(|input| input.exists());
            if kept.is_none() {
                from_store.push(units.len());
            }
            units.push(kept.map(|input| UnitFate::Found(input, Found::Memory)));
        }
        let keys: Vec<Hash> = from_store.iter().map(|&i| wanted[i].key).collect();
        for (i, found) in from_store.into_iter().zip(read_units(self.store, &keys, self.jobs)) {
            units[i] = found.map(|(path, bytes)| {
                let found = if bytes.fetched() { Found::Remote } else { Found::Disk };
                UnitFate::Found(LinkInput::new(path, bytes), found)
            });
        }

        // The rest are rebuilt: their members from memory, the previous version of the
        // unit, or built.
        let mut previous_objects: FxHashMap<Hash, Arc<[u8]>> = FxHashMap::default();
        let mut previous_found: FxHashMap<Hash, Found> = FxHashMap::default();
        for (unit, fate) in wanted.iter().zip(&mut units) {
            if fate.is_some() {
                continue;
            }
            let Some(members) = unit.members else {
                *fate = Some(UnitFate::Unavailable);
                continue;
            };
            let wanted_here: FxHashSet<Hash> =
                members.iter().filter(|hash| !self.objects.contains_key(*hash)).copied().collect();
            // The previous version of the unit; or this very version, when only its
            // merged entry is gone (evicted, damaged) and its members' entry is not.
            if let Some(&old_key) = self.previous.get(&unit.index)
                && !wanted_here.is_empty()
                && let Some(payload) = self.store.read(Kind::UnitMembers, old_key)
                && let Some(old_members) = Unit::members(&payload)
            {
                let found = if payload.fetched() { Found::Remote } else { Found::Disk };
                for (hash, object) in old_members {
                    if wanted_here.contains(&hash) && !previous_objects.contains_key(&hash) {
                        previous_objects.insert(hash, object.into());
                        previous_found.insert(hash, found);
                    }
                }
            }
            let fates = members
                .iter()
                .map(|&hash| {
                    let member = if self.objects.contains_key(&hash) {
                        Member::Cached(Found::Memory)
                    } else {
                        previous_found.get(&hash).map_or(Member::Build, |&found| Member::Cached(found))
                    };
                    (hash, member)
                })
                .collect();
            *fate = Some(UnitFate::Rebuilt(fates));
        }
        let units = wanted
            .iter()
            .zip(units)
            .map(|(unit, fate)| PlannedUnit {
                index: unit.index,
                key: unit.key,
                members: unit.members.map(<[Hash]>::len),
                fate: fate.expect("every unit was planned"),
            })
            .collect();
        Plan { units, previous_objects }
    }
}
