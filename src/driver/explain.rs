//! `mini explain`: what the next build will do, function by function, and why — without
//! building. It runs the same scan and the same queries as a build, and decides "will
//! be compiled" the way the build does: a function is reused when its link unit is in
//! the store, or its object is in the previous version of the unit; everything else is
//! compiled, for a reason found by comparing with the last build's index.

use anyhow::Result;
use mini_queries::base::Hash;
use mini_queries::hash::{TextHashes, fn_hash, text_hashes};
use mini_queries::items::Function;
use mini_queries::link::link_plan;
use mini_queries::sema::{fn_air, fn_signature};
use mini_queries::source::{Settings, SummaryFunction};
use mini_queries::zir::fn_zir;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{BuildReport, Session};
use crate::cache::index::Index;
use crate::cache::store::{Kind, Store, Unit};
use crate::fs::now_ns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its object will be reused.
    Cached,
    /// Its own text (body or signature) changed.
    Changed,
    /// Only its contracts changed: compiled if contracts are on, not if they are off.
    Contract,
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
    /// Every status, in the order reports list them.
    pub const ALL: [Status; 7] = [
        Status::Cached,
        Status::Changed,
        Status::Contract,
        Status::Dependency,
        Status::Settings,
        Status::New,
        Status::Evicted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Cached => "cached",
            Status::Changed => "changed",
            Status::Contract => "contract",
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
    /// Whether the next build compiles it.
    pub compile: bool,
}

#[derive(Debug, Default)]
pub struct Explanation {
    pub functions: Vec<Explained>,
    /// Functions of the last build that are gone.
    pub removed: Vec<String>,
    /// Compile errors: the next build will fail.
    pub report: BuildReport,
    /// Whether the explained build checks contracts.
    pub contracts: bool,
}

impl Explained {
    /// Why, in words, when the status alone does not say it.
    pub fn because(&self, contracts: bool) -> Option<String> {
        match (self.status, &self.detail) {
            (Status::Dependency, Some(callee)) => Some(format!("{callee} changed its signature")),
            (Status::Contract, _) => Some(
                match (self.compile, contracts) {
                    (true, _) => "only its contracts changed; contracts are on",
                    (false, false) => "only its contracts changed; contracts are off, so nothing is compiled",
                    // Contracts on, but these contracts were compiled before (an edit undone).
                    (false, true) => "only its contracts changed; their code is in the cache",
                }
                .to_string(),
            ),
            _ => None,
        }
    }
}

impl Explanation {
    /// The functions the next build will compile.
    pub fn will_compile(&self) -> Vec<&str> {
        self.functions.iter().filter(|f| f.compile).map(|f| f.name.as_str()).collect()
    }

    pub fn count(&self, status: Status) -> usize {
        self.functions.iter().filter(|f| f.status == status).count()
    }

    /// The report as one JSON object: what `mini explain --json` prints and the language
    /// server's `mini/explain` answers. Only for a program without errors.
    pub fn to_json(&self) -> serde_json::Value {
        let functions: Vec<serde_json::Value> = self
            .functions
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "status": f.status.name(),
                    "because": f.because(self.contracts),
                    "compile": f.compile,
                })
            })
            .collect();
        let mut totals = serde_json::Map::new();
        for status in Status::ALL {
            totals.insert(status.name().into(), self.count(status).into());
        }
        totals.insert("removed".into(), self.removed.len().into());
        serde_json::json!({
            "reason": "explain",
            "functions": functions,
            "removed": self.removed,
            "totals": totals,
            "contracts": if self.contracts { "on" } else { "off" },
            "will_compile": self.will_compile(),
        })
    }
}

impl Session {
    /// Explains what a build with `settings` would compile, without building.
    pub fn explain(&mut self, settings: &Settings) -> Result<Explanation> {
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
            return Ok(Explanation { report, contracts: settings.contracts, ..Explanation::default() });
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
        // The units the build would take members from (see `objects`).
        let previous_units: FxHashMap<u32, Hash> = match &index {
            Some(index) => index.header.units.iter().copied().collect(),
            None => self.sibling_units(&store, settings),
        };

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
                let record = recorded.get(&name);
                let available = unit_cached || previous.contains(&hash) || self.objects.contains_key(&hash);
                let (status, detail) = if !available {
                    self.reason(function, record, settings, settings_changed, &recorded)
                } else if record.is_some_and(|r| self.only_contracts_changed(function, r)) {
                    // Contracts off: its code does not depend on them.
                    (Status::Contract, None)
                } else {
                    (Status::Cached, None)
                };
                explained.push((function, Explained { name, status, detail, compile: !available }));
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
        let functions = explained.into_iter().map(|(_, e)| e).collect();
        Ok(Explanation { functions, removed, report, contracts: settings.contracts })
    }

    /// What the function says now (its text hashes), or what it said in the last build
    /// when its file is a summary (and so unchanged).
    fn text(&self, function: Function, recorded: &SummaryFunction) -> TextHashes {
        let recorded = TextHashes { body: recorded.zir, contracts: recorded.contracts };
        fn_zir(&self.db, function).as_deref().map_or(recorded, text_hashes)
    }

    /// Whether the function's contracts changed since the last build, and nothing else
    /// of its text.
    fn only_contracts_changed(&self, function: Function, recorded: &SummaryFunction) -> bool {
        let text = self.text(function, recorded);
        text.body == recorded.zir && text.contracts != recorded.contracts
    }

    /// Why a function whose object is not available will be compiled.
    fn reason(
        &self,
        function: Function,
        recorded: Option<&SummaryFunction>,
        settings: &Settings,
        settings_changed: bool,
        all: &FxHashMap<String, SummaryFunction>,
    ) -> (Status, Option<String>) {
        let db = &self.db;
        let Some(recorded) = recorded else { return (Status::New, None) };
        let text = self.text(function, recorded);
        if text.body != recorded.zir {
            return (Status::Changed, None);
        }
        // With contracts off, a change to them changes no code: the reason is elsewhere.
        if text.contracts != recorded.contracts && settings.contracts {
            return (Status::Contract, None);
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
