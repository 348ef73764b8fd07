//! `mini explain`: what the next build will do, function by function, and why — without
//! building. It runs the same scan and the same queries as a build, and decides "will
//! be compiled" the way the build does: a function is reused when its link unit is in
//! the store, or its object is in the previous version of the unit; everything else is
//! compiled, for a reason found by comparing with the last build's index.

use anyhow::Result;
use mini_queries::hash::{Hash, fn_hash, zir_hash};
use mini_queries::items::Function;
use mini_queries::link::link_plan;
use mini_queries::sema::{fn_air, fn_signature};
use mini_queries::source::{CodegenSettings, SummaryFunction};
use mini_queries::zir::fn_zir;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{BuildReport, Session, now_ns};
use crate::index::Index;
use crate::store::{Kind, Store, Unit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its object will be reused.
    Cached,
    /// Its own text (body or signature) changed.
    Changed,
    /// A function it calls changed its signature.
    Dependency,
    /// The build settings changed.
    Settings,
    /// It did not exist in the last build.
    New,
    /// Nothing about it changed, but its object is no longer in the cache.
    Evicted,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Cached => "cached",
            Status::Changed => "changed",
            Status::Dependency => "dependency",
            Status::Settings => "settings",
            Status::New => "new",
            Status::Evicted => "evicted",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Explained {
    pub name: String,
    pub status: Status,
    /// For `Dependency`: the callee whose signature changed.
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
pub struct Explanation {
    pub functions: Vec<Explained>,
    /// Functions of the last build that are gone.
    pub removed: Vec<String>,
    /// Compile errors: the next build will fail.
    pub report: BuildReport,
}

impl Explanation {
    /// The functions the next build will compile.
    pub fn will_compile(&self) -> Vec<&str> {
        self.functions.iter().filter(|f| f.status != Status::Cached).map(|f| f.name.as_str()).collect()
    }

    pub fn count(&self, status: Status) -> usize {
        self.functions.iter().filter(|f| f.status == status).count()
    }
}

impl Session {
    /// Explains what a build with `settings` would compile, without building.
    pub fn explain(&mut self, settings: &CodegenSettings) -> Result<Explanation> {
        let store = self.open_store()?;
        let index = self.read_index(&store, settings);
        // The last build to compare with: with these settings, or else the newest with any.
        let other = if index.is_none() { self.newest_index(&store) } else { None };
        let settings_changed = other.is_some();
        let compare = index.as_ref().or(other.as_ref());

        let mut report = BuildReport::default();
        self.set_settings(settings);
        let stamps = self.stamps(index.as_ref());
        self.scan(index.as_ref(), &stamps, now_ns(), &mut report)?;
        report.diagnostics = self.diagnostics();
        if !report.success() {
            return Ok(Explanation { report, ..Explanation::default() });
        }

        let db = &self.db;
        let recorded: FxHashMap<String, SummaryFunction> = compare
            .and_then(Index::records)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|record| {
                let prefix = record.entry.path.without_extension().to_string();
                record.summary.functions.clone().into_iter().map(move |f| (format!("{prefix}.{}", f.name), f))
            })
            .collect();
        let previous_units: FxHashMap<u32, Hash> =
            index.as_ref().map(|i| i.header.units.iter().copied().collect()).unwrap_or_default();

        let plan = link_plan(db, self.workspace()).clone().expect("a program without errors has a link plan");
        let mut explained = Vec::with_capacity(plan.function_count());
        let mut present: FxHashSet<String> = FxHashSet::default();
        for unit in &plan.units {
            let unit_cached = store.verified_path(Kind::Unit, unit.key).is_some();
            let previous: FxHashSet<Hash> = if unit_cached {
                FxHashSet::default()
            } else {
                previous_units
                    .get(&unit.index)
                    .and_then(|&key| store.read(Kind::UnitMembers, key))
                    .and_then(|payload| Unit::members(&payload).map(|m| m.iter().map(|(h, _)| *h).collect()))
                    .unwrap_or_default()
            };
            for (function, hash) in unit.members(db) {
                let name = function.qualified_name(db);
                present.insert(name.clone());
                let (status, detail) = if unit_cached || previous.contains(&hash) || self.objects.contains_key(&hash) {
                    (Status::Cached, None)
                } else {
                    self.reason(function, recorded.get(&name), settings_changed, &recorded)
                };
                explained.push((function, Explained { name, status, detail }));
            }
        }
        // Program order, as the build reports.
        let order: FxHashMap<Function, usize> = mini_queries::items::program_functions(db, self.workspace())
            .iter()
            .enumerate()
            .map(|(i, &f)| (f, i))
            .collect();
        explained.sort_by_key(|(f, _)| order.get(f).copied().unwrap_or(usize::MAX));
        let mut removed: Vec<String> = recorded.keys().filter(|name| !present.contains(*name)).cloned().collect();
        removed.sort();
        report.functions = explained.len();
        Ok(Explanation { functions: explained.into_iter().map(|(_, e)| e).collect(), removed, report })
    }

    /// Why a function whose object is not available will be compiled.
    fn reason(
        &self,
        function: Function,
        recorded: Option<&SummaryFunction>,
        settings_changed: bool,
        all: &FxHashMap<String, SummaryFunction>,
    ) -> (Status, Option<String>) {
        let db = &self.db;
        let Some(recorded) = recorded else { return (Status::New, None) };
        let zir = fn_zir(db, function).as_deref().map_or(recorded.zir, zir_hash);
        if zir != recorded.zir {
            return (Status::Changed, None);
        }
        if let Some(air) = fn_air(db, function) {
            for callee in &air.callees {
                let name = format!("{}.{}", callee.module.without_extension(), callee.name);
                let before = all.get(&name).map(|f| &f.signature);
                let now = fn_signature(db, Function::new(db, self.files[&callee.module], callee.name.clone()));
                if before != now.as_ref() {
                    return (Status::Dependency, Some(name));
                }
            }
        }
        if settings_changed {
            (Status::Settings, None)
        } else if fn_hash(db, function) == Some(recorded.hash) {
            (Status::Evicted, None)
        } else {
            // Same text, same callees, same settings: its position changed (with -g).
            (Status::Changed, None)
        }
    }

    /// The most recently written index for this entry file, whatever its settings.
    fn newest_index(&self, store: &Store) -> Option<Index> {
        let dir = std::fs::read_dir(store.root().join("index")).ok()?;
        let mut candidates: Vec<(std::time::SystemTime, Index)> = dir
            .flatten()
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                let index = Index::read(&entry.path()).ok()?;
                (index.header.entry_path == self.entry.as_str()).then_some((modified, index))
            })
            .collect();
        candidates.sort_by_key(|(modified, _)| *modified);
        candidates.pop().map(|(_, index)| index)
    }
}
