//! Doc comments of the contracts, from the descriptor set's source info, as
//! OpenAPI descriptions.

use prost_reflect::FileDescriptor;

/// The leading comment of the element at `path` in `file`, trimmed.
pub fn description(file: FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let joined = lines.join("\n").trim().to_string();
    (!joined.is_empty()).then_some(joined)
}

/// The first paragraph of a description (an operation's summary).
pub fn summary(text: &str) -> String {
    text.split("\n\n")
        .next()
        .unwrap_or_default()
        .replace('\n', " ")
        .trim()
        .to_string()
}
