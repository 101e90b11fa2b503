//! Stored forms of values that have no column type of their own: flags as
//! 0/1, enumerated lists as comma-separated names, free-form lists and WES
//! workflows as JSON text.

use anyhow::{Context, anyhow};

use crate::model::WesWorkflow;

pub(super) fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// Comma-separated names of an enumerated list.
pub(super) fn names<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> String {
    values
        .iter()
        .map(|v| name(*v))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn parse_names<T>(
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(s).ok_or_else(|| anyhow!("unknown stored value {s:?}")))
        .collect()
}

pub(super) fn numbers(values: &[f64]) -> String {
    values
        .iter()
        .map(f64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn parse_numbers(text: &str) -> anyhow::Result<Vec<f64>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f64>()
                .with_context(|| format!("stored number {s:?}"))
        })
        .collect()
}

pub(super) fn strings(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_strings(text: &str) -> anyhow::Result<Vec<String>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).context("stored string list")
}

pub(super) fn workflow(value: Option<&WesWorkflow>) -> Option<String> {
    value.map(|w| serde_json::to_string(w).expect("a workflow always serialises"))
}

pub(super) fn parse_workflow(text: Option<String>) -> anyhow::Result<Option<WesWorkflow>> {
    text.map(|t| serde_json::from_str(&t).context("stored WES workflow"))
        .transpose()
}

pub(super) fn parse<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
    parse(text).ok_or_else(|| anyhow!("unknown stored value {text:?}"))
}

/// An i64 column holding an i32 value.
pub(super) fn narrow(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GenomeBuild;

    #[test]
    fn lists_round_trip() {
        let builds = [GenomeBuild::Hg19, GenomeBuild::Hg38];
        let text = names(&builds, GenomeBuild::as_str);
        assert_eq!(text, "hg19,hg38");
        assert_eq!(parse_names(&text, GenomeBuild::parse).unwrap(), builds);
        assert!(parse_names("", GenomeBuild::parse).unwrap().is_empty());
        assert!(parse_names("hg18", GenomeBuild::parse).is_err());
        let r2 = [0.0, 0.001, 0.3];
        assert_eq!(parse_numbers(&numbers(&r2)).unwrap(), r2);
        let free = vec!["NEXTFLOW 22.10.0".to_string(), "a,b".to_string()];
        assert_eq!(parse_strings(&strings(&free)).unwrap(), free);
    }
}
