//! Bounded parameters. A [`Bound`] is both the check and the words of its error, so a limit is written
//! once: the config, the CLI and the `TryFrom` newtypes all check through it and report
//! "must be between 2 and 255, got 300" from the same numbers. Comparisons are written so NaN fails
//! every bound, and an open upper end still refuses infinities.

use std::fmt;

/// A number a bound can be checked on.
pub trait Bounded: Copy + PartialOrd + fmt::Display {
    fn is_finite_value(self) -> bool;
}

impl Bounded for f64 {
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
}

macro_rules! integer_bounded {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            fn is_finite_value(self) -> bool {
                true
            }
        }
    )*};
}
integer_bounded!(u8, u32, u64, usize, i64);

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End<T> {
    Inclusive(T),
    Exclusive(T),
    /// No limit on this side (but the value must be finite).
    Open,
}

/// The range a parameter must lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound<T> {
    pub lo: End<T>,
    pub hi: End<T>,
}

/// A value outside its bound; displays as "must be <bound>, got <value>".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {bound}, got {got}")]
pub struct OutOfBounds {
    pub bound: String,
    pub got: String,
}

impl<T: Bounded> Bound<T> {
    /// `lo <= v <= hi`.
    pub const fn between(lo: T, hi: T) -> Self {
        Bound { lo: End::Inclusive(lo), hi: End::Inclusive(hi) }
    }

    /// `lo < v < hi`.
    pub const fn strictly_between(lo: T, hi: T) -> Self {
        Bound { lo: End::Exclusive(lo), hi: End::Exclusive(hi) }
    }

    /// `lo < v <= hi`.
    pub const fn above_up_to(lo: T, hi: T) -> Self {
        Bound { lo: End::Exclusive(lo), hi: End::Inclusive(hi) }
    }

    /// `v > lo`, finite.
    pub const fn above(lo: T) -> Self {
        Bound { lo: End::Exclusive(lo), hi: End::Open }
    }

    /// `v >= lo`, finite.
    pub const fn at_least(lo: T) -> Self {
        Bound { lo: End::Inclusive(lo), hi: End::Open }
    }

    pub fn contains(&self, v: T) -> bool {
        let lo = match self.lo {
            End::Inclusive(l) => v >= l,
            End::Exclusive(l) => v > l,
            End::Open => v.is_finite_value(),
        };
        let hi = match self.hi {
            End::Inclusive(h) => v <= h,
            End::Exclusive(h) => v < h,
            End::Open => v.is_finite_value(),
        };
        lo && hi
    }

    /// `v` itself, or the error that names this bound.
    pub fn check(&self, v: T) -> Result<T, OutOfBounds> {
        if self.contains(v) { Ok(v) } else { Err(OutOfBounds { bound: self.to_string(), got: v.to_string() }) }
    }
}

impl<T: Bounded> fmt::Display for Bound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.lo, self.hi) {
            (End::Inclusive(l), End::Inclusive(h)) => write!(f, "between {l} and {h}"),
            (End::Exclusive(l), End::Exclusive(h)) => write!(f, "> {l} and < {h}"),
            (End::Exclusive(l), End::Inclusive(h)) => write!(f, "> {l} and <= {h}"),
            (End::Inclusive(l), End::Exclusive(h)) => write!(f, ">= {l} and < {h}"),
            (End::Inclusive(l), End::Open) => write!(f, "a finite number >= {l}"),
            (End::Exclusive(l), End::Open) => write!(f, "a finite number > {l}"),
            (End::Open, End::Inclusive(h)) => write!(f, "a finite number <= {h}"),
            (End::Open, End::Exclusive(h)) => write!(f, "a finite number < {h}"),
            (End::Open, End::Open) => write!(f, "a finite number"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_built_from_the_bound_that_was_checked() {
        assert_eq!(Bound::between(2u32, 255).check(300).unwrap_err().to_string(), "must be between 2 and 255, got 300");
        assert_eq!(
            Bound::strictly_between(0.5, 1.0).check(1.0).unwrap_err().to_string(),
            "must be > 0.5 and < 1, got 1"
        );
        assert_eq!(Bound::at_least(0.0).check(-1.0).unwrap_err().to_string(), "must be a finite number >= 0, got -1");
    }

    #[test]
    fn nan_and_infinities_fail_every_float_bound() {
        for b in [Bound::between(0.0, 1.0), Bound::strictly_between(0.0, 1.0), Bound::at_least(0.0)] {
            assert!(!b.contains(f64::NAN), "{b}");
            assert!(!b.contains(f64::INFINITY), "{b}");
        }
        assert!(Bound::at_least(0.0).contains(f64::MAX));
    }

    #[test]
    fn inclusive_and_exclusive_ends_differ_at_the_limit() {
        assert!(Bound::between(1u64, 3).contains(3));
        assert!(!Bound::strictly_between(1.0, 3.0).contains(3.0));
        assert!(Bound::above_up_to(0.0, 300.0).contains(300.0));
        assert!(!Bound::above_up_to(0.0, 300.0).contains(0.0));
    }
}
