//! The release plan: which releases `helmfile sync` would touch, in which order.
//!
//! [`build`] turns loaded states into a [`Plan`]: per state file (helmfile plans every state
//! file on its own, sub-helmfiles first), the releases its selectors and conditions pick,
//! their `needs` DAG (petgraph), and waves = the DAG's topological levels. It follows
//! helmfile 0.166's `sync` exactly (see docs/helmfile-semantics.md, "Needs, selectors and
//! waves"):
//!
//! * A release is selected when it matches one of its state's selectors (or there are
//!   none) and its `condition` is enabled. `--include-transitive-needs` also selects the
//!   needs of selected releases and their needs (helmfile's rule, quirks included).
//! * Releases with the same ID are an error when two of them are selected; otherwise the
//!   selected one stands for its ID and unselected duplicates leave the graph.
//! * The DAG holds every remaining release, selected or not, so a wave is a release's
//!   depth in the whole state (longest chain of needs before it). Releases outside the
//!   selection are dropped afterwards, with empty waves: `--skip-needs` (the default)
//!   drops unselected needs, `--include-needs`/`--include-transitive-needs` keep every
//!   (transitive) need, and `--skip-needs=false` alone refuses a selection that cuts
//!   through needs.
//! * Inside a wave releases keep definition order. Desired releases form the install
//!   waves; `installed: false` releases the deletion waves, in reverse order.

mod display;
pub mod selector;

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{anyhow, bail, Result};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::helmfile::release::condition_enabled;
use crate::helmfile::{LoadedState, ReleaseSpec};
pub use display::{summary, table};
use selector::{release_labels, Selector};

/// What `kod helmfile sync` does with a release. Without a cluster kod cannot tell a first
/// install from an upgrade: `install` means `helm upgrade --install`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Install or upgrade (`helm upgrade --install`).
    Install,
    /// Uninstall (`installed: false`); a release that is not installed is left alone.
    Delete,
}

impl Action {
    /// The word shown in the plan table.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Delete => "delete",
        }
    }
}

/// One release in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRelease {
    /// helmfile's release ID: `[kubeContext/][namespace/]name` (`kubeContext//name` when
    /// there is a context but no namespace).
    pub id: String,
    /// The release name.
    pub name: String,
    /// The namespace (after the `namespace`/`-n` overrides); empty when none is set.
    pub namespace: String,
    /// The release's kube context (its own, else `helmDefaults.kubeContext`, after
    /// `--kube-context`), as in the ID. An environment's `kubeContext` is not part of IDs;
    /// helm uses it at sync time for releases without one.
    pub kube_context: String,
    /// The chart reference as written (`repo/chart`, `oci://...`, a local path).
    pub chart: String,
    /// The chart version constraint; empty when none is set.
    pub version: String,
    /// The release's needs, as IDs (normalised like helmfile).
    pub needs: Vec<String>,
    pub action: Action,
    /// The state file the release is defined in (as the user would name it).
    pub state_file: String,
    /// The release's labels (its own and `commonLabels`; not the automatic ones).
    pub labels: BTreeMap<String, String>,
}

/// Releases that can be processed together: everything they need is in earlier waves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    /// 1-based position among the plan's install waves (or among its deletion waves).
    pub index: usize,
    /// Which visit of a state file the wave belongs to: an index into
    /// [`Plan::state_files`], which is also the index of the state in the slice given to
    /// [`build`] (a file reached twice through sub-helmfiles is planned twice). With the
    /// release ID it finds the release's full spec: `states[wave.state]`.
    pub state: usize,
    /// The state file all releases of this wave come from.
    pub state_file: String,
    /// The wave's releases, in definition order.
    pub releases: Vec<PlannedRelease>,
}

/// The release plan: the single source of the order for `package`, `sync` and display.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Install/upgrade waves, state file by state file, each in needs order.
    pub waves: Vec<Wave>,
    /// Deletion waves (`installed: false`), in reverse needs order (dependents first).
    pub deletions: Vec<Wave>,
    /// The state files in helmfile's processing order (sub-helmfiles before their parent),
    /// one entry per visit.
    pub state_files: Vec<String>,
    /// Things the user should know (e.g. a need on an uninstalled release).
    pub warnings: Vec<String>,
}

/// One step of [`Plan::sequence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// What the wave's releases get.
    pub action: Action,
    /// The wave (from [`Plan::waves`] or [`Plan::deletions`]).
    pub wave: &'a Wave,
}

impl Plan {
    /// Every wave in the order helmfile runs them: state file by state file, its deletion
    /// waves first, then its install waves.
    pub fn sequence(&self) -> Vec<Step<'_>> {
        let mut out = Vec::new();
        for state in 0..self.state_files.len() {
            for wave in self.deletions.iter().filter(|w| w.state == state) {
                out.push(Step { action: Action::Delete, wave });
            }
            for wave in self.waves.iter().filter(|w| w.state == state) {
                out.push(Step { action: Action::Install, wave });
            }
        }
        out
    }

    /// Every planned release (installs, then deletions).
    pub fn releases(&self) -> impl Iterator<Item = &PlannedRelease> {
        self.waves.iter().chain(&self.deletions).flat_map(|w| &w.releases)
    }
}

/// How needs of selected releases are treated when selectors are given (helmfile's
/// `--include-needs`, `--include-transitive-needs`, `--skip-needs`). The default is
/// `helmfile sync`'s: skip unselected needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// Also plan the needs of selected releases (and, through the DAG, their needs).
    pub include_needs: bool,
    /// Also select the needs of selected releases and their needs, overriding selectors
    /// and conditions (implies `include_needs`).
    pub include_transitive_needs: bool,
    /// Leave out needs the selectors do not pick (ignored when a need is included).
    /// `false` without an include flag makes a selection that cuts through needs an error.
    pub skip_needs: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { include_needs: false, include_transitive_needs: false, skip_needs: true }
    }
}

impl PlanOptions {
    fn with_needs(&self) -> bool {
        self.include_needs || self.include_transitive_needs
    }

    fn without_needs(&self) -> bool {
        !self.with_needs() && self.skip_needs
    }
}

/// Build the plan for loaded states (from [`crate::helmfile::load_all`]: every release
/// kept, each state with its selectors). A plan with no release at all is an error, as
/// `helmfile sync` reports "no releases found".
pub fn build(states: &[LoadedState], opts: &PlanOptions) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut any_selectors = false;
    for state in states {
        any_selectors |= !state.selectors.is_empty();
        let file = state.file.display().to_string();
        let shown = display_file(state);
        let groups = plan_state(state, opts, &mut plan.warnings).map_err(|e| anyhow!("in {shown}: {e:#}"))?;
        let visit = plan.state_files.len();
        plan.state_files.push(file.clone());
        for (action, group) in groups {
            let list = match action {
                Action::Install => &mut plan.waves,
                Action::Delete => &mut plan.deletions,
            };
            list.push(Wave { index: list.len() + 1, state: visit, state_file: file.clone(), releases: group });
        }
    }
    // Like `helmfile sync`, a plan that does nothing is an error (a wrong selector or
    // environment would otherwise pass unnoticed).
    if plan.releases().next().is_none() {
        let env = states.first().map(|s| s.env.name.as_str()).unwrap_or("default");
        if any_selectors {
            let mut uniq: Vec<&String> = Vec::new();
            for s in states.iter().flat_map(|s| &s.selectors) {
                if !uniq.contains(&s) {
                    uniq.push(s);
                }
            }
            bail!(
                "no releases found that match the selector(s) {} in environment {env:?}, in any helmfile (selectors match labels, commonLabels and the automatic labels name, namespace and chart)",
                uniq.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
            );
        }
        bail!("no releases to plan in environment {env:?}: the helmfiles define none, or every release's condition is off");
    }
    Ok(plan)
}

fn display_file(state: &LoadedState) -> String {
    let f = state.file.display().to_string();
    if state.file.is_absolute() || f.starts_with("./") || f.starts_with("../") {
        f
    } else {
        format!("./{f}")
    }
}

/// Plan one state: its deletion groups (dependents first), then its install groups.
fn plan_state(state: &LoadedState, opts: &PlanOptions, warnings: &mut Vec<String>) -> Result<Vec<(Action, Vec<PlannedRelease>)>> {
    let releases = &state.spec.releases;
    let ids: Vec<String> = releases.iter().map(ReleaseSpec::id).collect();
    warn_uninstalled_needs(state, releases, &ids, warnings);

    // Selection: selectors (with the automatic labels) and conditions.
    let selectors = state.selectors.iter().map(|s| Selector::parse(s)).collect::<Result<Vec<_>>>()?;
    let mut selected = Vec::with_capacity(releases.len());
    for r in releases {
        let by_labels = selectors.is_empty() || {
            let labels = release_labels(r);
            selectors.iter().any(|s| s.matches(&labels))
        };
        selected.push(by_labels && condition_enabled(r, &state.rendered_values)?);
    }
    if opts.include_transitive_needs {
        let wanted = transitive_needs(releases, &selected);
        for (i, id) in ids.iter().enumerate() {
            if wanted.contains(id.as_str()) {
                selected[i] = true;
            }
        }
    }

    // One release per ID (helmfile's deduplication for sync).
    let mut selected_count: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        if selected[i] {
            let c = selected_count.entry(id.as_str()).or_default();
            *c += 1;
            if *c > 1 {
                let where_: Vec<String> =
                    ids.iter().enumerate().filter(|(j, x)| *x == id && selected[*j]).map(|(j, _)| format!("releases[{j}]")).collect();
                bail!(
                    "found {c} duplicate releases with ID {id:?} ({}): a release ID ([kubeContext/][namespace/]name) must be unique among the selected releases",
                    where_.join(", ")
                );
            }
        }
    }
    let mut group_size: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *group_size.entry(id.as_str()).or_default() += 1;
    }
    let mut nodes: Vec<usize> = Vec::new(); // indices into `releases`
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if group_size[id.as_str()] == 1 {
            nodes.push(i);
        } else if !seen.contains(id.as_str()) {
            if let Some(j) = (0..releases.len()).find(|&j| ids[j] == *id && selected[j]) {
                nodes.push(j);
                seen.insert(id.as_str());
            }
        }
    }

    // The DAG: an edge from each need to the release that needs it.
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(nodes.len(), nodes.len());
    let mut index: HashMap<&str, NodeIndex> = HashMap::with_capacity(nodes.len());
    for &i in &nodes {
        index.insert(ids[i].as_str(), graph.add_node(i));
    }
    for &i in &nodes {
        let r = &releases[i];
        let mut seen_needs = HashSet::new();
        for need in &r.needs {
            let Some(&from) = index.get(need.as_str()) else {
                let defs: Vec<String> = (0..releases.len()).filter(|&j| ids[j] == *need).map(|j| format!("releases[{j}]")).collect();
                if !defs.is_empty() {
                    bail!(
                        "release {:?} needs {need:?}, which is defined {} times ({}) and none of them is selected, so none stands for the ID (helmfile: \"depend(s) on an undefined release\"): select exactly one of them with -l",
                        ids[i],
                        defs.len(),
                        defs.join(", ")
                    );
                }
                bail!("{}", undefined_need_message(&ids[i], need, &nodes.iter().map(|&j| ids[j].as_str()).collect::<Vec<_>>()));
            };
            if !seen_needs.insert(need.as_str()) {
                bail!(
                    "release {:?} needs {need:?} twice (needs are compared as IDs, after filling in namespace and kubeContext): list it once (helmfile 0.166 crashes on this)",
                    ids[i]
                );
            }
            graph.add_edge(from, index[ids[i].as_str()], ());
        }
    }
    let levels = levels(&graph, &ids)?;

    // Which nodes the plan keeps.
    let only: Vec<bool> = graph.node_indices().map(|n| selected[graph[n]]).collect();
    let included = if opts.without_needs() {
        only
    } else if opts.with_needs() {
        with_ancestors(&graph, only)
    } else {
        check_needs_selected(&graph, &levels, &only, &ids)?;
        only
    };

    // Waves over the whole state's levels; empty ones vanish.
    let depth = levels.iter().copied().max().map_or(0, |m| m + 1);
    let mut batches: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for n in graph.node_indices() {
        if included[n.index()] {
            batches[levels[n.index()]].push(n.index());
        }
    }
    let to_planned = |node: usize, action: Action| {
        let r = &releases[graph[NodeIndex::new(node)]];
        PlannedRelease {
            id: r.id(),
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            kube_context: r.kube_context.clone(),
            chart: r.chart.clone(),
            version: r.version.clone(),
            needs: r.needs.clone(),
            action,
            state_file: state.file.display().to_string(),
            labels: r.labels.clone(),
        }
    };
    let desired = |node: &usize| releases[graph[NodeIndex::new(*node)]].desired();
    let mut out = Vec::new();
    // helmfile's sync deletes first (dependents before what they need), then installs.
    for batch in batches.iter().rev() {
        let group: Vec<PlannedRelease> = batch.iter().filter(|n| !desired(n)).map(|&n| to_planned(n, Action::Delete)).collect();
        if !group.is_empty() {
            out.push((Action::Delete, group));
        }
    }
    for batch in &batches {
        let group: Vec<PlannedRelease> = batch.iter().filter(|n| desired(n)).map(|&n| to_planned(n, Action::Install)).collect();
        if !group.is_empty() {
            out.push((Action::Install, group));
        }
    }
    Ok(out)
}

/// helmfile warns (at load, for every desired release) about a need on a release with
/// `installed: false`. helmfile matches the need by name only, which misfires when the
/// same name is installed in another namespace; kod matches the ID.
fn warn_uninstalled_needs(state: &LoadedState, releases: &[ReleaseSpec], ids: &[String], warnings: &mut Vec<String>) {
    let mut desired_by_id: HashMap<&str, bool> = HashMap::new();
    for (r, id) in releases.iter().zip(ids) {
        desired_by_id.insert(id.as_str(), r.desired());
    }
    for (r, id) in releases.iter().zip(ids) {
        if !r.desired() {
            continue;
        }
        for need in &r.needs {
            if desired_by_id.get(need.as_str()) == Some(&false) {
                warnings.push(format!(
                    "in {}: release {id:?} needs {need:?}, but {need:?} is not installed due to installed: false. Either mark it as installed or remove it from the needs of {id:?}",
                    display_file(state)
                ));
            }
        }
    }
}

/// helmfile's `--include-transitive-needs` collection: the needs of every selected
/// release, then, for each need, the needs of every release with the same *name* (helmfile
/// follows names, not IDs, so same-named releases in other namespaces contribute too).
fn transitive_needs<'a>(releases: &'a [ReleaseSpec], selected: &[bool]) -> HashSet<&'a str> {
    fn collect<'a>(r: &'a ReleaseSpec, all: &'a [ReleaseSpec], acc: &mut HashSet<&'a str>) {
        for need in &r.needs {
            if acc.insert(need.as_str()) {
                let name = need.rsplit('/').next().unwrap_or(need);
                for other in all.iter().filter(|o| o.name == name) {
                    collect(other, all, acc);
                }
            }
        }
    }
    let mut acc = HashSet::new();
    for (r, _) in releases.iter().zip(selected).filter(|(_, s)| **s) {
        collect(r, releases, &mut acc);
    }
    acc
}

/// Each node's depth: the longest chain of needs before it (helmfile's grouping). A cycle
/// is an error naming every release on it.
fn levels(graph: &DiGraph<usize, ()>, ids: &[String]) -> Result<Vec<usize>> {
    let order = match petgraph::algo::toposort(graph, None) {
        Ok(o) => o,
        Err(_) => bail!("{}", cycle_message(graph, ids)),
    };
    let mut level = vec![0usize; graph.node_count()];
    for n in order {
        let l = graph.neighbors_directed(n, petgraph::Direction::Incoming).map(|p| level[p.index()] + 1).max().unwrap_or(0);
        level[n.index()] = l;
    }
    Ok(level)
}

/// "cycle detected: a -> b -> c -> a" (helmfile's words and direction: each release is
/// needed by the next), starting at the cycle's smallest ID.
fn cycle_message(graph: &DiGraph<usize, ()>, ids: &[String]) -> String {
    let id = |n: NodeIndex| ids[graph[n]].as_str();
    let mut best: Option<Vec<NodeIndex>> = None;
    for scc in petgraph::algo::tarjan_scc(graph) {
        let cyclic = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
        if !cyclic {
            continue;
        }
        let start = *scc.iter().min_by_key(|n| id(**n)).expect("non-empty");
        if best.as_ref().is_some_and(|b| id(b[0]) <= id(start)) {
            continue;
        }
        // Shortest way from `start` back to itself inside the component.
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        'bfs: while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = graph.neighbors(n).filter(|m| members.contains(m)).collect();
            next.sort_by_key(|m| id(*m));
            for m in next {
                if m == start {
                    closing = Some(n);
                    break 'bfs;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
        }
        let mut path = vec![start];
        let mut cur = closing.expect("a strongly connected component has a cycle through each member");
        let mut back = Vec::new();
        while cur != start {
            back.push(cur);
            cur = prev[&cur];
        }
        path.extend(back.into_iter().rev());
        best = Some(path);
    }
    let path = best.expect("toposort found a cycle");
    let mut names: Vec<&str> = path.iter().map(|n| id(*n)).collect();
    names.push(names[0]);
    format!(
        "cycle detected: {} (each release is needed by the next one; remove one of these needs)",
        names.join(" -> ")
    )
}

/// helmfile's meaning for a need nobody defines, with the closest existing IDs.
fn undefined_need_message(who: &str, need: &str, existing: &[&str]) -> String {
    let name = need.rsplit('/').next().unwrap_or(need);
    let same_name: Vec<&str> = existing.iter().copied().filter(|e| e.rsplit('/').next() == Some(name)).collect();
    let closest: Vec<&str> = if same_name.is_empty() {
        existing
            .iter()
            .map(|e| (edit_distance(need, e), *e))
            .min()
            .filter(|(d, _)| *d <= 3.max(need.len() / 3))
            .map(|(_, e)| vec![e])
            .unwrap_or_default()
    } else {
        same_name
    };
    let hint = if closest.is_empty() {
        String::new()
    } else {
        format!(" (closest: {})", closest.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "))
    };
    format!(
        "release {who:?} needs {need:?}, which no release defines{hint}. Perhaps you made a typo in \"needs\" or forgot defining a release named {name:?} with appropriate \"namespace\" and \"kubeContext\": a need is [kubeContext/][namespace/]name, a missing namespace or kubeContext being the needing release's"
    )
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `only` plus every (transitive) need of an included node.
fn with_ancestors(graph: &DiGraph<usize, ()>, mut included: Vec<bool>) -> Vec<bool> {
    let mut stack: Vec<NodeIndex> = graph.node_indices().filter(|n| included[n.index()]).collect();
    while let Some(n) = stack.pop() {
        for p in graph.neighbors_directed(n, petgraph::Direction::Incoming) {
            if !included[p.index()] {
                included[p.index()] = true;
                stack.push(p);
            }
        }
    }
    included
}

/// `--skip-needs=false` without an include flag: a selected release must not need an
/// unselected one. helmfile reports the first such need it meets (deepest level first);
/// kod reports that one in helmfile's words and lists the others after it.
fn check_needs_selected(graph: &DiGraph<usize, ()>, levels: &[usize], only: &[bool], ids: &[String]) -> Result<()> {
    let mut order: Vec<NodeIndex> = graph.node_indices().collect();
    order.sort_by_key(|n| (std::cmp::Reverse(levels[n.index()]), n.index()));
    let mut cut: Vec<(String, Vec<&str>)> = Vec::new();
    for n in order {
        if only[n.index()] {
            continue;
        }
        let mut dependents: Vec<&str> = graph
            .neighbors_directed(n, petgraph::Direction::Outgoing)
            .filter(|d| only[d.index()])
            .map(|d| ids[graph[d]].as_str())
            .collect();
        if !dependents.is_empty() {
            dependents.sort_unstable();
            dependents.dedup();
            cut.push((ids[graph[n]].clone(), dependents));
        }
    }
    let Some((id, dependents)) = cut.first() else { return Ok(()) };
    let quoted: Vec<String> = dependents.iter().map(|d| format!("{d:?}")).collect();
    let who = if quoted.len() < 3 {
        quoted.join(" and ")
    } else {
        format!("{}, and {}", quoted[..quoted.len() - 1].join(", "), quoted[quoted.len() - 1])
    };
    let verb = if quoted.len() == 1 { "depends" } else { "depend" };
    let name = id.rsplit('/').next().unwrap_or(id);
    let mut msg = format!(
        "release {who} {verb} on {id:?} which does not match the selectors. Please add a selector like \"--selector name={name}\", or indicate whether to skip (--skip-needs) or include (--include-needs) these dependencies"
    );
    if cut.len() > 1 {
        let others: Vec<String> = cut[1..].iter().map(|(id, by)| format!("{id:?} (needed by {})", by.join(", "))).collect();
        msg.push_str(&format!("; other needs outside the selection: {}", others.join(", ")));
    }
    bail!("{msg}")
}

#[cfg(test)]
mod tests;
