//! How the crate's configuration enums read from and write to config files (TOML, JSON):
//! a variant is its name with every parameter at its default (`"lif"`), or a one-key table
//! from the name to its parameters (`{ lif = { tau = 3.0 } }`), where any parameter left out
//! takes its default and an unknown one is an error naming it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor};

/// An enum whose variants are chosen by name in config files.
pub trait Tagged: Sized {
    /// What the value is, for error messages ("surrogate", "neuron").
    const WHAT: &'static str;
    /// The variant names.
    const NAMES: &'static [&'static str];
    /// The variant `name` with default parameters.
    fn by_name(name: &str) -> Option<Self>;
    /// The variant `name` with the parameters in the map's next value.
    fn with_fields<'de, A: MapAccess<'de>>(name: &str, map: &mut A) -> Result<Self, A::Error>;
}

/// Reads a [`Tagged`] value from a string or a one-key map.
pub struct TaggedVisitor<T>(PhantomData<T>);

impl<T> TaggedVisitor<T> {
    /// A visitor for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for TaggedVisitor<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn unknown<T: Tagged, E: de::Error>(name: &str) -> E {
    E::custom(format!("unknown {} `{name}`, expected one of: {}", T::WHAT, T::NAMES.join(", ")))
}

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} name ({}) or a one-key table from the name to its parameters", T::WHAT, T::NAMES.join(", "))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::by_name(v).ok_or_else(|| unknown::<T, E>(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let name: String =
            map.next_key()?.ok_or_else(|| de::Error::custom(format!("an empty table is not a {}; name one of: {}", T::WHAT, T::NAMES.join(", "))))?;
        if T::by_name(&name).is_none() {
            return Err(unknown::<T, A::Error>(&name));
        }
        let value = T::with_fields(&name, &mut map)?;
        if let Some(other) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!("a {} table names one {}, got both `{name}` and `{other}`", T::WHAT, T::WHAT)));
        }
        Ok(value)
    }
}

/// `pub fn with_<field>(mut self, value) -> Self` for each `with_<field> => field: Type`: the
/// builder methods Burn's `#[derive(Config)]` writes, for configs whose file format is ours.
macro_rules! builders {
    ($ty:ty { $($method:ident => $field:ident: $fty:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $method(mut self, value: $fty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use builders;
