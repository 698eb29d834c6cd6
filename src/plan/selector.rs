//! helmfile's release selectors: `-l key=value,key2!=value2` (AND within one selector),
//! several `-l` (OR). Every release carries the automatic labels `name`, `namespace` and
//! `chart` (the chart's name without its repository) besides its own and `commonLabels`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::helmfile::ReleaseSpec;

/// One `-l` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// (key, value, negated)
    terms: Vec<(String, String, bool)>,
}

impl Selector {
    /// Parse one `-l` value: comma-separated `key=value` / `key!=value` terms.
    pub fn parse(spec: &str) -> Result<Selector> {
        let mut terms = Vec::new();
        for term in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (k, v, neg) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, v, false)
            } else {
                bail!("malformed selector {spec:?}: {term:?} is not key=value or key!=value");
            };
            if k.is_empty() {
                bail!("malformed selector {spec:?}: empty key in {term:?}");
            }
            terms.push((k.to_string(), v.to_string(), neg));
        }
        if terms.is_empty() {
            bail!("malformed selector {spec:?}: no key=value term");
        }
        Ok(Selector { terms })
    }

    /// Whether a release with these labels matches every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|(k, v, neg)| {
            let actual = labels.get(k).map(String::as_str).unwrap_or("");
            (actual == v) != *neg
        })
    }
}

/// The labels a selector sees for a release.
pub fn release_labels(r: &ReleaseSpec) -> BTreeMap<String, String> {
    let mut labels = r.labels.clone();
    labels.insert("name".into(), r.name.clone());
    labels.insert("namespace".into(), r.namespace.clone());
    let chart = r.chart.rsplit('/').next().unwrap_or(&r.chart).to_string();
    labels.insert("chart".into(), chart);
    labels
}

/// Whether a release is selected by any of `selectors` (all releases when there are none).
pub fn selected(selectors: &[Selector], r: &ReleaseSpec) -> bool {
    if selectors.is_empty() {
        return true;
    }
    let labels = release_labels(r);
    selectors.iter().any(|s| s.matches(&labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_within_or_across() {
        let r = ReleaseSpec {
            name: "istiod".into(),
            namespace: "istio-system".into(),
            chart: "istio/istiod".into(),
            labels: [("tier".to_string(), "mesh".to_string())].into(),
            ..Default::default()
        };
        let s = |t: &str| Selector::parse(t).unwrap();
        assert!(selected(&[s("tier=mesh,chart=istiod")], &r));
        assert!(!selected(&[s("tier=mesh,namespace!=istio-system")], &r));
        assert!(selected(&[s("name=other"), s("name=istiod")], &r));
        assert!(selected(&[s("missing!=x")], &r));
        assert!(!selected(&[s("missing=x")], &r));
        assert!(Selector::parse("novalue").unwrap_err().to_string().contains("not key=value"));
    }
}
