//! Puts the benchmark's table into README, between two marker lines.

/// The line before the generated section.
pub(crate) const START: &str =
    "<!-- acme-bench:start (written by `cargo run -p acme-bench`; edits are overwritten) -->";
/// The line after it.
pub(crate) const END: &str = "<!-- acme-bench:end -->";

/// `readme` with everything between the marker lines replaced by
/// `section`, or why it cannot be done.
pub(crate) fn splice(readme: &str, section: &str) -> Result<String, String> {
    let start = readme
        .find(START)
        .ok_or_else(|| format!("no line `{START}`"))?;
    let after_start = start + START.len();
    let end = readme[after_start..]
        .find(END)
        .map(|i| after_start + i)
        .ok_or_else(|| format!("no line `{END}` after `{START}`"))?;
    if readme[after_start..].contains(START) {
        return Err(format!("`{START}` is there more than once"));
    }
    Ok(format!(
        "{}\n\n{}\n\n{}",
        &readme[..after_start],
        section.trim(),
        &readme[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_what_lies_between_the_markers() {
        let readme = format!("# Title\n\nbefore\n{START}\nold table\n{END}\nafter\n");
        let out = splice(&readme, "| new |\n").unwrap();
        assert_eq!(
            out,
            format!("# Title\n\nbefore\n{START}\n\n| new |\n\n{END}\nafter\n")
        );
        // Writing it again changes nothing.
        assert_eq!(splice(&out, "| new |").unwrap(), out);
    }

    #[test]
    fn refuses_a_readme_without_both_markers_in_order() {
        assert!(splice("no markers", "x").unwrap_err().contains("no line"));
        assert!(splice(&format!("{END}\n{START}\n"), "x").is_err());
        assert!(splice(&format!("{START}\n"), "x").is_err());
        assert!(splice(&format!("{START}\n{END}\n{START}\n{END}\n"), "x")
            .unwrap_err()
            .contains("more than once"));
    }
}
