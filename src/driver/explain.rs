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

pub use super::plan::Found;
use super::plan::{Member, Planner, UnitFate, Wanted};
use super::{BuildReport, Session};
use crate::cache::index::Index;
use crate::cache::store::Store;
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
    /// Where its object comes from when it is not compiled, as the planner found it.
    pub from: Option<Found>,
}

/// Which earlier build an explanation compares with, to say why a function changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compared {
    /// The last build with the same settings.
    SameSettings,
    /// No build with these settings yet: the newest build of this entry with others.
    OtherSettings,
    /// No earlier build of this entry in the cache.
    #[default]
    Nothing,
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
    /// The build it compares with.
    pub compared: Compared,
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

    /// The report as one JSON object: what `mini explain --message-format json` prints
    /// and the language server's `mini/explain` answers. For a program with errors, the
    /// errors (diagnostic objects) and no prediction.
    pub fn to_json(&self) -> serde_json::Value {
        if !self.report.success() {
            let errors: Vec<serde_json::Value> =
                self.report.diagnostics.iter().filter(|d| d.is_error()).map(crate::render::json).collect();
            return serde_json::json!({"reason": "explain", "success": false, "errors": errors});
        }
        let functions: Vec<serde_json::Value> = self
            .functions
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "status": f.status.name(),
                    "because": f.because(self.contracts),
                    "compile": f.compile,
                    "from": f.from.map(Found::name),
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
            "success": true,
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
        let compared = match (&index, &other) {
            (Some(_), _) => Compared::SameSettings,
            (None, Some(_)) => Compared::OtherSettings,
            (None, None) => Compared::Nothing,
        };

        let mut report = BuildReport::default();
        self.set_settings(settings);
        let stamps = self.stamps(index.as_ref());
        self.scan(index.as_ref(), &stamps, now_ns(), &mut report, false)?;
        report.diagnostics = self.diagnostics();
        if !report.success() {
            return Ok(Explanation { report, contracts: settings.contracts, compared, ..Explanation::default() });
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
        // What the build would find where: the planner's answer, with a copy of the last
        // link's inputs (explaining takes none of them).
        let wanted: Vec<Wanted<'_>> =
            plan.units.iter().map(|u| Wanted { index: u.index, key: u.key, members: Some(&u.hashes) }).collect();
        let mut linked = self.artifacts.linked.clone();
        let planner = Planner {
            store: &store,
            linked: &mut linked,
            objects: &self.artifacts.objects,
            previous: &previous_units,
            jobs: 2,
        };
        let planned = planner.plan(&wanted);
        let mut explained = Vec::with_capacity(plan.function_count());
        let mut present: FxHashSet<String> = FxHashSet::default();
        for (unit, planned) in plan.units.iter().zip(&planned.units) {
            let members: Vec<Member> = match &planned.fate {
                UnitFate::Found(_, found) => vec![Member::Cached(*found); unit.len()],
                UnitFate::Rebuilt(members) => members.iter().map(|&(_, member)| member).collect(),
                UnitFate::Unavailable => unreachable!("every unit's members are known"),
            };
            for ((function, _), member) in unit.members(db).into_iter().zip(members) {
                let name = function.qualified_name(db);
                present.insert(name.clone());
                let record = recorded.get(&name);
                let from = match member {
                    Member::Cached(found) => Some(found),
                    Member::Build => None,
                };
                let available = from.is_some();
                let (status, detail) = if !available {
                    self.reason(function, record, settings, settings_changed, &recorded)
                } else if record.is_some_and(|r| self.only_contracts_changed(function, r)) {
                    // Contracts off: its code does not depend on them.
                    (Status::Contract, None)
                } else {
                    (Status::Cached, None)
                };
                explained.push((function, Explained { name, status, detail, compile: !available, from }));
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
        Ok(Explanation { functions, removed, report, contracts: settings.contracts, compared })
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
                let now = fn_signature(db, Function::new(db, self.files[&callee.module].input, callee.name.clone()));
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
