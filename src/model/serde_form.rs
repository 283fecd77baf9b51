//! The serde form of the model's enums, the same in every format.
//!
//! An enum is written as its variant's name when the variant carries
//! nothing (`"rr"`, `"masquerade"`) and as a map with exactly one key, the
//! variant's name, otherwise (`{"sh": {"fallback": true}}`,
//! `{"addr": {"protocol": "tcp", "addr": "10.0.0.1:80"}}`). That is serde's
//! usual JSON form, and it is also what people write in YAML and TOML:
//! derived enum impls want YAML tags (`!addr`) from `serde_yaml` 0.9 and
//! write them too, so this module reads enums through
//! [`deserialize_any`](Deserializer::deserialize_any) (a string, a
//! one-key map, or a tag all load) and writes them with
//! [`one_entry`]. Maps with more than one key and unknown fields inside a
//! variant are errors, never ignored.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, VariantAccess,
    Visitor,
};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Serialize `value` as the one-entry map `{key: value}`.
pub(crate) fn one_entry<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    key: &'static str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// A deserializer that hands a derived enum visitor a string, a one-key
/// map or a tag, whatever the input holds. Wrap the incoming deserializer
/// in it and call the `#[serde(remote = "Self")]` derived `deserialize`.
pub(crate) struct AnyEnum<D>(pub(crate) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for AnyEnum<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(EnumVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Turns whatever the input holds into an enum for the derived visitor.
struct EnumVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for EnumVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" (a variant name, or a map with one key naming the variant)")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<V::Value, E> {
        self.0.visit_enum(s.into_deserializer())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(OneEntry(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(data)
    }
}

/// A map read as an enum: its only key names the variant, its value is
/// the variant's content.
struct OneEntry<A>(A);

impl<'de, A: MapAccess<'de>> OneEntry<A> {
    fn end(mut self) -> Result<(), A::Error> {
        match self.0.next_key::<de::IgnoredAny>()? {
            None => Ok(()),
            Some(_) => Err(de::Error::custom(
                "a map naming a variant must have exactly one key, found more",
            )),
        }
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for OneEntry<A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        mut self,
        seed: S,
    ) -> Result<(S::Value, Self), A::Error> {
        match self.0.next_key_seed(seed)? {
            Some(variant) => Ok((variant, self)),
            None => Err(de::Error::invalid_length(
                0,
                &"a map with one key naming the variant",
            )),
        }
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for OneEntry<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        self.0.next_value::<()>()?;
        self.end()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        mut self,
        seed: T,
    ) -> Result<T::Value, A::Error> {
        let value = self.0.next_value_seed(seed)?;
        self.end()?;
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(
        mut self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let value = self.0.next_value_seed(Shape::Tuple(len, visitor))?;
        self.end()?;
        Ok(value)
    }

    fn struct_variant<V: Visitor<'de>>(
        mut self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let value = self.0.next_value_seed(Shape::Struct(fields, visitor))?;
        self.end()?;
        Ok(value)
    }
}

/// The content of a tuple or struct variant, read from a map's value.
enum Shape<V> {
    Tuple(usize, V),
    Struct(&'static [&'static str], V),
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Shape<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        match self {
            Shape::Tuple(len, v) => d.deserialize_tuple(len, v),
            Shape::Struct(fields, v) => d.deserialize_struct("", fields, v),
        }
    }
}

/// `impl Deserialize` for an enum whose derived, `remote = "Self"`
/// deserializer is `$ty::deserialize`, reading it through [`AnyEnum`].
macro_rules! any_enum_deserialize {
    ($($ty:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$ty>::deserialize(crate::model::serde_form::AnyEnum(d))
            }
        }
    )*};
}

use std::net::SocketAddr;

use super::{
    AddressFamily, Forwarding, GueChecksum, Netmask, Protocol, Scheduler, ServiceKey, Tunnel,
};

any_enum_deserialize!(Protocol, ServiceKey, Scheduler, Netmask, Tunnel, Forwarding);

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Tcp => s.serialize_str("tcp"),
            Protocol::Udp => s.serialize_str("udp"),
            Protocol::Sctp => s.serialize_str("sctp"),
            Protocol::Other(n) => one_entry(s, "other", n),
        }
    }
}

impl Serialize for ServiceKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Addr<'a> {
            protocol: &'a Protocol,
            addr: &'a SocketAddr,
        }
        #[derive(serde::Serialize)]
        struct Fwmark<'a> {
            family: &'a AddressFamily,
            mark: &'a u32,
        }
        match self {
            ServiceKey::Addr { protocol, addr } => one_entry(s, "addr", &Addr { protocol, addr }),
            ServiceKey::Fwmark { family, mark } => one_entry(s, "fwmark", &Fwmark { family, mark }),
        }
    }
}

impl Serialize for Scheduler {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scheduler::Sh(flags) => one_entry(s, "sh", flags),
            Scheduler::Mh(flags) => one_entry(s, "mh", flags),
            Scheduler::Custom(name) => one_entry(s, "custom", name),
            unit => s.serialize_str(unit.name()),
        }
    }
}

impl Serialize for Netmask {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Netmask::V4(mask) => one_entry(s, "v4", mask),
            Netmask::V6(len) => one_entry(s, "v6", len),
        }
    }
}

impl Serialize for Tunnel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Gue<'a> {
            port: &'a u16,
            checksum: &'a GueChecksum,
        }
        #[derive(serde::Serialize)]
        struct Gre<'a> {
            checksum: &'a bool,
        }
        #[derive(serde::Serialize)]
        struct Other<'a> {
            kind: &'a u8,
            port: &'a u16,
            flags: &'a u16,
        }
        match self {
            Tunnel::Ipip => s.serialize_str("ipip"),
            Tunnel::Gue { port, checksum } => one_entry(s, "gue", &Gue { port, checksum }),
            Tunnel::Gre { checksum } => one_entry(s, "gre", &Gre { checksum }),
            Tunnel::Other { kind, port, flags } => {
                one_entry(s, "other", &Other { kind, port, flags })
            }
        }
    }
}

impl Serialize for Forwarding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Forwarding::Masquerade => s.serialize_str("masquerade"),
            Forwarding::DirectRoute => s.serialize_str("directroute"),
            Forwarding::Tunnel(t) => one_entry(s, "tunnel", t),
            Forwarding::Local => s.serialize_str("local"),
            Forwarding::Other(n) => one_entry(s, "other", n),
        }
    }
}
