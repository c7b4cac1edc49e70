//! Display names (of API keys, of OAuth clients): one rule for both.

/// The longest display name accepted, in characters.
pub(crate) const MAX_NAME_LEN: usize = 100;

/// Whether `name` is a display name: 1 to [`MAX_NAME_LEN`] characters, not
/// only whitespace, no control characters (it is shown in admin pages,
/// consent pages and logs). The reason when it is not.
pub(crate) fn check_display_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("name must not be empty");
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err("name must be at most 100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(check_display_name("billing-sync «prod»"), Ok(()));
        assert_eq!(
            check_display_name(&"é".repeat(100)),
            Ok(()),
            "characters, not bytes"
        );
        assert!(check_display_name(" \t").is_err());
        assert!(check_display_name(&"a".repeat(101)).is_err());
        assert!(check_display_name("a\u{7}b").is_err());
        assert!(check_display_name("line\nbreak").is_err());
    }
}
