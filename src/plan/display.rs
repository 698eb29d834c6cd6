//! The plan as a table for people (`kod helmfile plan`); `-o json` serialises [`Plan`].

use super::{Action, Plan};

/// The plan in execution order, one row per release: deletion waves (`d1`, `d2`, ...)
/// come first within a state file, as `helmfile sync` runs them, then the install waves
/// (`1`, `2`, ...). A CONTEXT column appears when a release has a kubeContext, a FILE column
/// when several state files are planned.
pub fn table(plan: &Plan) -> String {
    let with_ctx = plan.releases().any(|r| !r.kube_context.is_empty());
    let with_file = plan.state_files.len() > 1;
    let mut header = vec!["WAVE", "RELEASE", "NAMESPACE"];
    if with_ctx {
        header.push("CONTEXT");
    }
    header.extend(["CHART@VERSION", "NEEDS", "ACTION"]);
    if with_file {
        header.push("FILE");
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for step in plan.sequence() {
        let wave = match step.action {
            Action::Install => step.wave.index.to_string(),
            Action::Delete => format!("d{}", step.wave.index),
        };
        for r in &step.wave.releases {
            let mut row = vec![wave.clone(), r.name.clone(), dash(&r.namespace)];
            if with_ctx {
                row.push(dash(&r.kube_context));
            }
            let chart = if r.version.is_empty() { r.chart.clone() } else { format!("{}@{}", r.chart, r.version) };
            row.extend([chart, dash(&r.needs.join(", ")), r.action.as_str().to_string()]);
            if with_file {
                row.push(r.state_file.clone());
            }
            rows.push(row);
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len() - 1;
        let mut s: String = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}  ", w = widths[i]) })
            .collect();
        s.push('\n');
        s
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// One line for stderr: how much the plan does.
pub fn summary(plan: &Plan) -> String {
    let installs: usize = plan.waves.iter().map(|w| w.releases.len()).sum();
    let deletions: usize = plan.deletions.iter().map(|w| w.releases.len()).sum();
    let plural = |n: usize, one: &str, many: &str| if n == 1 { format!("{n} {one}") } else { format!("{n} {many}") };
    let mut s = format!(
        "{} to install/upgrade in {}",
        plural(installs, "release", "releases"),
        plural(plan.waves.len(), "wave", "waves")
    );
    if deletions > 0 {
        s.push_str(&format!(
            ", {} to delete in {} (run first, dependents before their needs)",
            plural(deletions, "release", "releases"),
            plural(plan.deletions.len(), "wave", "waves")
        ));
    }
    if plan.state_files.len() > 1 {
        s.push_str(&format!("; {} state files, planned one after another", plan.state_files.len()));
    }
    s
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PlannedRelease, Wave};
    use super::*;

    fn r(name: &str, needs: &[&str], action: Action, version: &str) -> PlannedRelease {
        PlannedRelease {
            id: format!("ns/{name}"),
            name: name.into(),
            namespace: "ns".into(),
            kube_context: String::new(),
            chart: "repo/c".into(),
            version: version.into(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            action,
            state_file: "helmfile.yaml".into(),
            labels: Default::default(),
        }
    }

    #[test]
    fn table_in_execution_order() {
        let plan = Plan {
            waves: vec![
                Wave { index: 1, state: 0, state_file: "helmfile.yaml".into(), releases: vec![r("a", &[], Action::Install, "1.0")] },
                Wave { index: 2, state: 0, state_file: "helmfile.yaml".into(), releases: vec![r("b", &["ns/a"], Action::Install, "")] },
            ],
            deletions: vec![Wave { index: 1, state: 0, state_file: "helmfile.yaml".into(), releases: vec![r("old", &[], Action::Delete, "")] }],
            state_files: vec!["helmfile.yaml".into()],
            warnings: vec![],
        };
        assert_eq!(
            table(&plan),
            "WAVE  RELEASE  NAMESPACE  CHART@VERSION  NEEDS  ACTION\n\
             d1    old      ns         repo/c         -      delete\n\
             1     a        ns         repo/c@1.0     -      install\n\
             2     b        ns         repo/c         ns/a   install\n"
        );
        assert_eq!(
            summary(&plan),
            "2 releases to install/upgrade in 2 waves, 1 release to delete in 1 wave (run first, dependents before their needs)"
        );
    }
}
