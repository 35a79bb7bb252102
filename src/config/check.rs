//! The one way a config is checked: every validator writes to a [`Scope`] of one [`Problems`], so
//! every problem in every file is reported at once, each at its place (`models/a.toml: model[0].bins`),
//! and range checks go through a [`Bound`], whose message is built from the limit that was checked.
//! The CLI's flags are checked by the same validators under a scope that names them as flags.

use std::fmt;

use driftwatch_stats::bounds::{Bound, Bounded};

/// Every problem in a config, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigErrors(pub Vec<String>);

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<String>);

/// How a scope names a field.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// `at.field`, as in the TOML.
    Path,
    /// `--field-name`, as on the command line.
    Flag,
}

impl Problems {
    /// Problems of the table at `at` (`"<file>: model[0]"`).
    pub(crate) fn at(&mut self, at: impl Into<String>) -> Scope<'_> {
        Scope { problems: self, at: at.into(), style: Style::Path }
    }

    /// Problems of command-line flags: field `refit_every` is reported as `--refit-every`.
    pub(crate) fn flags(&mut self) -> Scope<'_> {
        Scope { problems: self, at: String::new(), style: Style::Flag }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `value` if nothing was reported, else every problem.
    pub(crate) fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() { Ok(value()) } else { Err(ConfigErrors(self.0)) }
    }
}

/// Where problems are reported: a table of the config (or the command line).
pub(crate) struct Scope<'a> {
    problems: &'a mut Problems,
    at: String,
    style: Style,
}

impl Scope<'_> {
    fn name(&self, field: &str) -> String {
        match (self.style, self.at.is_empty()) {
            (Style::Flag, _) => format!("--{}", field.replace(['_', '.'], "-")),
            (Style::Path, true) => field.to_owned(),
            (Style::Path, false) => format!("{}.{field}", self.at),
        }
    }

    /// Problems counted so far, in every scope: compare before and after to know whether a section
    /// added any.
    pub(crate) fn count(&self) -> usize {
        self.problems.len()
    }

    /// A problem with `field`.
    pub(crate) fn report(&mut self, field: &str, message: impl fmt::Display) {
        let name = self.name(field);
        self.problems.0.push(format!("{name}: {message}"));
    }

    /// A problem with the table itself (a section set twice, nothing configured).
    pub(crate) fn report_table(&mut self, message: impl fmt::Display) {
        let line = if self.at.is_empty() { message.to_string() } else { format!("{}: {message}", self.at) };
        self.problems.0.push(line);
    }

    /// The sub-table `prefix` (`retrain` → `model[0].retrain.url`).
    pub(crate) fn nested(&mut self, prefix: &str) -> Scope<'_> {
        let at = match self.style {
            Style::Flag => String::new(),
            Style::Path if self.at.is_empty() => prefix.to_owned(),
            Style::Path => format!("{}.{prefix}", self.at),
        };
        Scope { problems: self.problems, at, style: self.style }
    }

    /// `value` if it is within `bound`; else reported (named by the bound) and `None`.
    pub(crate) fn bounded<T: Bounded>(&mut self, field: &str, value: T, bound: Bound<T>) -> Option<T> {
        self.ok(field, bound.check(value))
    }

    /// An optional setting: its default when absent, the value when within `bound`, else reported
    /// (and the default returned, so checking goes on).
    pub(crate) fn setting<T: Bounded>(&mut self, field: &str, value: Option<T>, bound: Bound<T>, default: T) -> T {
        value.and_then(|v| self.bounded(field, v, bound)).unwrap_or(default)
    }

    /// The `Ok` value, or the error reported against `field`.
    pub(crate) fn ok<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.report(field, e)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_place_and_their_bound() {
        let mut p = Problems::default();
        let mut s = p.at("a.toml: model[0]");
        assert_eq!(s.bounded("bins", 300u32, Bound::between(2, 255)), None);
        s.nested("retrain").report("url", "required");
        let e = p.finish(|| ()).unwrap_err();
        assert_eq!(
            e.0,
            ["a.toml: model[0].bins: must be between 2 and 255, got 300", "a.toml: model[0].retrain.url: required"]
        );
    }

    #[test]
    fn flags_are_named_as_on_the_command_line() {
        let mut p = Problems::default();
        p.flags().nested("anomaly").bounded("refit_every", 0u64, Bound::between(1, 10));
        assert_eq!(p.finish(|| ()).unwrap_err().0, ["--refit-every: must be between 1 and 10, got 0"]);
    }
}
