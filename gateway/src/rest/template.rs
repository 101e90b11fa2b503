//! `google.api.http` path templates: parsing and matching.
//!
//! Grammar (from `google/api/http.proto`):
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! Matching is our own rather than a general router's, because two
//! templates may share a prefix with different variable names
//! (`/api/services/{id}` and `/api/services/{service_id}/reference-panels`)
//! and a literal must win over a variable (`/api/users/me` over
//! `/api/users/{id}`): every template that matches is ranked by
//! [`Specificity`] and the most specific wins.

use std::cmp::Ordering;
use std::fmt;

/// One segment of a flattened template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Exactly this text.
    Literal(String),
    /// Any one segment (`*`).
    Any,
    /// Zero or more segments (`**`); only last.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    part: Part,
    /// Index into [`PathTemplate::variables`] when this segment is bound.
    variable: Option<usize>,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    raw: String,
    segments: Vec<Segment>,
    variables: Vec<String>,
    verb: Option<String>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path template `{template}`: {reason}")]
pub struct TemplateError {
    template: String,
    reason: &'static str,
}

/// How specific a match is: per segment, a literal beats `*` beats `**`;
/// compared segment by segment from the left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specificity(Vec<u8>);

impl PartialOrd for Specificity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Specificity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl PathTemplate {
    /// Parses a template such as `/api/services/{service_id}/reference-panels`.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        let error = |reason| TemplateError {
            template: raw.to_string(),
            reason,
        };
        let path = raw.strip_prefix('/').ok_or(error("must start with /"))?;
        // The verb is a `:literal` after the last segment, outside braces.
        let (path, verb) = match path.rfind(':') {
            Some(i) if !path[i..].contains('}') && !path[i..].contains('/') => {
                (&path[..i], Some(path[i + 1..].to_string()))
            }
            _ => (path, None),
        };
        let mut template = PathTemplate {
            raw: raw.to_string(),
            segments: Vec::new(),
            variables: Vec::new(),
            verb,
        };
        let mut rest = path;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').ok_or(error("unclosed variable"))?;
                let (field, pattern) = match inner[..end].split_once('=') {
                    Some((field, pattern)) => (field, pattern),
                    None => (&inner[..end], "*"),
                };
                if field.is_empty()
                    || !field.split('.').all(|p| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                {
                    return Err(error("bad variable name"));
                }
                let index = template.variables.len();
                template.variables.push(field.to_string());
                for piece in pattern.split('/') {
                    let part = parse_part(piece).ok_or(error("bad variable pattern"))?;
                    template.segments.push(Segment {
                        part,
                        variable: Some(index),
                    });
                }
                rest = &inner[end + 1..];
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                let piece = &rest[..end];
                if piece.contains(['{', '}']) {
                    return Err(error("a variable must fill a whole segment"));
                }
                let part = parse_part(piece).ok_or(error("empty segment"))?;
                template.segments.push(Segment {
                    part,
                    variable: None,
                });
                rest = &rest[end..];
            }
            match rest.strip_prefix('/') {
                Some("") => return Err(error("trailing slash")),
                Some(next) => rest = next,
                None if rest.is_empty() => {}
                None => return Err(error("expected / between segments")),
            }
        }
        if template
            .segments
            .iter()
            .rev()
            .skip(1)
            .any(|s| s.part == Part::Rest)
        {
            return Err(error("** may only be the last segment"));
        }
        Ok(template)
    }

    /// The template as written in the proto.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Field paths of the variables, in order.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Whether a variable may span several segments (`**`).
    pub fn is_multi_segment(&self, variable: usize) -> bool {
        self.segments
            .iter()
            .any(|s| s.variable == Some(variable) && s.part == Part::Rest)
    }

    /// The OpenAPI form of the path: `{field}` for each variable.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut last = None;
        for segment in &self.segments {
            match segment.variable {
                Some(v) if last == Some(v) => continue,
                Some(v) => {
                    out.push_str("/{");
                    out.push_str(&self.variables[v]);
                    out.push('}');
                }
                None => {
                    out.push('/');
                    out.push_str(match &segment.part {
                        Part::Literal(text) => text,
                        Part::Any => "*",
                        Part::Rest => "**",
                    });
                }
            }
            last = segment.variable;
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// Matches decoded path segments (the request path split on `/`, each
    /// percent-decoded); returns the variable bindings and the match's
    /// specificity.
    pub fn matches(&self, path: &[String]) -> Option<(Vec<(String, String)>, Specificity)> {
        let owned;
        let path = match (&self.verb, path.last()) {
            (Some(verb), Some(last)) => {
                let stripped = last.strip_suffix(verb.as_str())?.strip_suffix(':')?;
                let mut copy = path.to_vec();
                *copy.last_mut()? = stripped.to_string();
                owned = copy;
                &owned
            }
            (Some(_), None) => return None,
            (None, _) => path,
        };
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(self.segments.len());
        let mut rank = Vec::with_capacity(self.segments.len());
        let mut i = 0;
        for segment in &self.segments {
            match &segment.part {
                Part::Literal(text) => {
                    if path.get(i) != Some(text) {
                        return None;
                    }
                    spans.push((i, i + 1));
                    rank.push(3);
                    i += 1;
                }
                Part::Any => {
                    if path.get(i).is_none_or(|s| s.is_empty()) {
                        return None;
                    }
                    spans.push((i, i + 1));
                    rank.push(2);
                    i += 1;
                }
                Part::Rest => {
                    spans.push((i, path.len()));
                    rank.push(1);
                    i = path.len();
                }
            }
        }
        if i != path.len() {
            return None;
        }
        let mut bindings: Vec<(String, String)> = Vec::with_capacity(self.variables.len());
        for (v, name) in self.variables.iter().enumerate() {
            let covered: Vec<&(usize, usize)> = self
                .segments
                .iter()
                .zip(&spans)
                .filter(|(s, _)| s.variable == Some(v))
                .map(|(_, span)| span)
                .collect();
            let (start, end) = match (covered.first(), covered.last()) {
                (Some(first), Some(last)) => (first.0, last.1),
                _ => continue,
            };
            bindings.push((name.clone(), path[start..end].join("/")));
        }
        Some((bindings, Specificity(rank)))
    }
}

fn parse_part(piece: &str) -> Option<Part> {
    match piece {
        "" => None,
        "*" => Some(Part::Any),
        "**" => Some(Part::Rest),
        text => Some(Part::Literal(text.to_string())),
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits a request path into percent-decoded segments, accepting one
/// trailing slash. `None` for a path that is not valid UTF-8 once decoded.
pub fn split_path(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Some(Vec::new());
    }
    trimmed
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        split_path(p).unwrap()
    }

    #[test]
    fn literals_and_variables_match() {
        let t = PathTemplate::parse("/api/services/{service_id}/reference-panels").unwrap();
        let (bindings, _) = t
            .matches(&path("/api/services/3/reference-panels"))
            .unwrap();
        assert_eq!(bindings, [("service_id".to_string(), "3".to_string())]);
        assert!(t.matches(&path("/api/services/3")).is_none());
        assert!(
            t.matches(&path("/api/services//reference-panels"))
                .is_none()
        );
        assert_eq!(
            t.openapi_path(),
            "/api/services/{service_id}/reference-panels"
        );
    }

    #[test]
    fn literal_beats_variable() {
        let me = PathTemplate::parse("/api/users/me").unwrap();
        let id = PathTemplate::parse("/api/users/{id}").unwrap();
        let p = path("/api/users/me");
        let (_, a) = me.matches(&p).unwrap();
        let (_, b) = id.matches(&p).unwrap();
        assert!(a > b);
    }

    #[test]
    fn trailing_slash_and_decoding() {
        let t = PathTemplate::parse("/api/downloads/{token}").unwrap();
        let (b, _) = t.matches(&path("/api/downloads/a%2Fb%20c/")).unwrap();
        assert_eq!(b[0].1, "a/b c");
    }

    #[test]
    fn multi_segment_variables_and_verbs() {
        let t = PathTemplate::parse("/v1/{name=shelves/*/books/**}:publish").unwrap();
        let (b, _) = t.matches(&path("/v1/shelves/1/books/a/b:publish")).unwrap();
        assert_eq!(b, [("name".into(), "shelves/1/books/a/b".into())]);
        assert!(t.matches(&path("/v1/shelves/1/books/a/b")).is_none());
        assert!(t.is_multi_segment(0));
        assert_eq!(t.openapi_path(), "/v1/{name}:publish");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "api",
            "/api/{id",
            "/api/x{id}",
            "/api/**/x",
            "/api/{}",
            "/api/",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
