//! Typed errors for bad configurations and bad inputs.

/// Everything that can go wrong when building or running a spiking component.
///
/// Bad configurations (negative τ, zero time steps, mismatched shapes) are reported here
/// instead of panicking deep inside Burn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnnError {
    /// A configuration value is outside its valid range.
    #[error("invalid `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// The name of the configuration field.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What the valid range is.
        reason: &'static str,
    },
    /// A multi-step input or encoder was asked for zero time steps.
    #[error("the number of time steps T must be at least 1, got 0")]
    ZeroTimeSteps,
    /// A tensor does not have the shape an operation needs.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
}

/// Shorthand for `Result<T, SnnError>`.
pub type Result<T> = core::result::Result<T, SnnError>;

/// Checks that `value` is finite and satisfies `ok`, or returns [`SnnError::InvalidParameter`].
pub(crate) fn check(name: &'static str, value: f64, ok: impl Fn(f64) -> bool, reason: &'static str) -> Result<()> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(SnnError::InvalidParameter { name, value, reason })
    }
}
