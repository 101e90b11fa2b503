//! Field rules of the catalogue, shared by the API (which reports every
//! broken rule as a field violation) and panel discovery (which must not
//! store what the API would refuse).

use std::collections::HashSet;

use fip_kit::Violations;

use crate::model::{Population, WesWorkflow};

pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const SHORT_TEXT_MAX: usize = 200;
pub const URL_MAX: usize = 2_000;
pub const PANEL_SLUG_MAX: usize = 200;
pub const POPULATION_ID_MAX: usize = 64;
pub const VERSION_MAX: usize = 64;
pub const APP_ID_MAX: usize = 100;

/// A required display name.
pub fn name(v: &mut Violations, field: &str, value: &str) {
    v.text(field, value, NAME_MAX);
}

/// Lowercase letters, digits and `-`, 2 to 64 characters, not starting or
/// ending with `-`.
pub fn service_slug(v: &mut Violations, field: &str, value: &str) {
    let ok = (2..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        v.add(
            field,
            "must be 2 to 64 lowercase letters, digits and '-', not starting or ending with '-'",
        );
    }
}

/// The value a server knows a panel by: printable, no spaces, 1 to 200
/// characters (e.g. `apps@h3africa-v6hc-s@1.0.0`).
pub fn panel_slug(v: &mut Violations, field: &str, value: &str) {
    if !is_panel_slug(value) {
        v.add(
            field,
            "must be 1 to 200 printable characters without spaces",
        );
    }
}

pub fn is_panel_slug(value: &str) -> bool {
    !value.is_empty()
        && value.chars().count() <= PANEL_SLUG_MAX
        && value.chars().all(|c| {
            c.is_ascii_graphic() || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
        })
}

/// Whether `host` is a loopback name or address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An absolute `https` URL without query or fragment (`http` only on
/// loopback addresses, for local servers); returns it without a trailing
/// `/`.
pub fn base_url(v: &mut Violations, field: &str, value: &str) -> String {
    let trimmed = value.trim().trim_end_matches('/').to_string();
    if trimmed.is_empty() {
        v.add(field, "is required");
        return trimmed;
    }
    match http::Uri::try_from(trimmed.as_str()) {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {
            let scheme = uri.scheme_str().unwrap_or_default();
            let host = uri.host().unwrap_or_default();
            if uri.query().is_some() || trimmed.contains('#') {
                v.add(field, "must not carry a query or fragment");
            } else if !(scheme == "https" || (scheme == "http" && is_loopback(host))) {
                v.add(field, "must be an https:// URL");
            } else if trimmed.len() > URL_MAX {
                v.add(field, format!("must be at most {URL_MAX} characters"));
            }
        }
        _ => v.add(field, "must be an absolute https:// URL"),
    }
    trimmed
}

/// An optional absolute http(s) URL.
pub fn optional_url(v: &mut Violations, field: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let ok = http::Uri::try_from(value).is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
    });
    if !ok || value.len() > URL_MAX {
        v.add(field, "must be an absolute http(s) URL");
    }
}

/// A Cloudgene application id: letters, digits, `.`, `_`, `-`.
pub fn app_id(v: &mut Violations, field: &str, value: &str) {
    let ok = !value.is_empty()
        && value.len() <= APP_ID_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        v.add(
            field,
            "must be 1 to 100 letters, digits, '.', '_' or '-' (e.g. imputationserver2)",
        );
    }
}

pub fn non_negative(v: &mut Violations, field: &str, value: i64) {
    if value < 0 {
        v.add(field, "must not be negative");
    }
}

/// `r2Filter` values: numbers from 0 to 1.
pub fn r2_filters(v: &mut Violations, field: &str, values: &[f64]) {
    for (i, value) in values.iter().enumerate() {
        if !(0.0..=1.0).contains(value) {
            v.add(format!("{field}[{i}]"), "must be between 0 and 1");
        }
    }
}

/// A panel's populations: ids present, short and unique.
pub fn populations(v: &mut Violations, field: &str, values: &[Population]) {
    let mut seen = HashSet::new();
    for (i, p) in values.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if p.id.trim().is_empty() {
            v.add(format!("{at}.id"), "is required");
        } else if p.id.chars().count() > POPULATION_ID_MAX {
            v.add(
                format!("{at}.id"),
                format!("must be at most {POPULATION_ID_MAX} characters"),
            );
        } else if !seen.insert(p.id.as_str()) {
            v.add(format!("{at}.id"), "is listed twice");
        }
        v.max_len(&format!("{at}.name"), &p.name, NAME_MAX);
        non_negative(v, &format!("{at}.sample_count"), p.sample_count);
    }
}

/// The default population must be one of the populations.
pub fn default_population(
    v: &mut Violations,
    field: &str,
    value: &str,
    populations: &[Population],
) {
    if !value.is_empty() && !populations.iter().any(|p| p.id == value) {
        v.add(field, "must be the id of one of the panel's populations");
    }
}

/// A WES workflow: type, version, URL and input key are required.
pub fn workflow(v: &mut Violations, field: &str, w: &WesWorkflow) {
    v.text(&format!("{field}.workflow_type"), &w.workflow_type, 64);
    v.text(
        &format!("{field}.workflow_type_version"),
        &w.workflow_type_version,
        64,
    );
    v.text(&format!("{field}.workflow_url"), &w.workflow_url, URL_MAX);
    v.max_len(&format!("{field}.workflow_engine"), &w.workflow_engine, 64);
    v.max_len(
        &format!("{field}.workflow_engine_version"),
        &w.workflow_engine_version,
        64,
    );
    non_negative(
        v,
        &format!("{field}.signed_url_ttl_seconds"),
        w.signed_url_ttl_seconds,
    );
    v.text(
        &format!("{field}.param_names.input"),
        &w.param_names.input,
        200,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(check: impl FnOnce(&mut Violations)) -> usize {
        let mut v = Violations::new();
        check(&mut v);
        match v.finish() {
            Ok(()) => 0,
            Err(e) => e.violations.len(),
        }
    }

    #[test]
    fn slugs() {
        for good in ["h3africa", "michigan", "elwazi-ilifu", "a1"] {
            assert_eq!(violations(|v| service_slug(v, "slug", good)), 0, "{good}");
        }
        for bad in ["", "a", "H3Africa", "h3 africa", "-x", "x-", "x_y"] {
            assert_eq!(violations(|v| service_slug(v, "slug", bad)), 1, "{bad}");
        }
        assert!(is_panel_slug("apps@h3africa-v6hc-s@1.0.0"));
        assert!(!is_panel_slug("apps h3africa"));
        assert!(!is_panel_slug(""));
    }

    #[test]
    fn urls() {
        let mut v = Violations::new();
        assert_eq!(
            base_url(&mut v, "u", "https://impute.afrigen-d.org/"),
            "https://impute.afrigen-d.org"
        );
        assert_eq!(
            base_url(&mut v, "u", "https://wes.example.org/ga4gh/wes/v1"),
            "https://wes.example.org/ga4gh/wes/v1"
        );
        base_url(&mut v, "u", "http://127.0.0.1:8080");
        base_url(&mut v, "u", "http://localhost:1");
        assert!(v.is_empty());
        for bad in [
            "",
            "impute.afrigen-d.org",
            "http://impute.afrigen-d.org",
            "ftp://x.org",
            "https://x.org/?a=b",
            "https://",
        ] {
            assert_eq!(
                violations(|v| {
                    base_url(v, "u", bad);
                }),
                1,
                "{bad}"
            );
        }
    }
}
