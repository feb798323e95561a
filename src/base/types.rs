//! Small value types shared by every module: node and client ids, virtual time, ratios.
//!
//! Owns nothing stateful. Must not import any other faultline module.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A simulated server node. Zero-based inside the engine, shown one-based as `n1`, `n2`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// A simulated client (a workload actor). Zero-based inside, shown one-based as `c1`, `c2`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl NodeId {
    /// The zero-based index of this node.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ClientId {
    /// The zero-based index of this client.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0 + 1)
    }
}

/// Parses `n3` (one-based) into `NodeId(2)`.
pub fn parse_prefixed(text: &str, prefix: char) -> Option<u32> {
    let digits = text.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    n.checked_sub(1)
}

/// Serializes `n3`-style names: `prefix` and the one-based number, written into a stack
/// buffer rather than through `Display`, because every trace line that carries a node or a
/// client (a protocol's message naming a node, a fault) serializes one.
fn serialize_name<S: Serializer>(s: S, prefix: u8, index: u32) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 11];
    let mut n = u64::from(index) + 1;
    let mut at = text.len();
    loop {
        at -= 1;
        text[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    at -= 1;
    text[at] = prefix;
    // ASCII digits after an ASCII letter: always UTF-8.
    let text = std::str::from_utf8(&text[at..]).map_err(serde::ser::Error::custom)?;
    s.serialize_str(text)
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_name(s, b'n', self.0)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_prefixed(&text, 'n').map(NodeId).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a node name like \"n1\", got {text:?}"))
        })
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_name(s, b'c', self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_prefixed(&text, 'c').map(ClientId).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a client name like \"c1\", got {text:?}"))
        })
    }
}

/// A vertex of the network: a node or a client. Clients have their own vertices so that a
/// partition can put a client on the wrong side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A server node.
    Node(NodeId),
    /// A workload client.
    Client(ClientId),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(n) => n.fmt(f),
            Endpoint::Client(c) => c.fmt(f),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Endpoint::Node(n) => n.serialize(s),
            Endpoint::Client(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Some(n) = parse_prefixed(&text, 'n') {
            return Ok(Endpoint::Node(NodeId(n)));
        }
        if let Some(c) = parse_prefixed(&text, 'c') {
            return Ok(Endpoint::Client(ClientId(c)));
        }
        Err(serde::de::Error::custom(format!(
            "expected a node (\"n1\") or client (\"c1\") name, got {text:?}"
        )))
    }
}

/// Virtual time, or a span of it, in integer microseconds. Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// Time zero, the start of every run.
    pub const ZERO: Time = Time(0);
    /// The largest representable time; used as "never".
    pub const MAX: Time = Time(u64::MAX);

    /// Microseconds.
    pub const fn from_us(us: u64) -> Time {
        Time(us)
    }
    /// Milliseconds (saturating).
    pub const fn from_ms(ms: u64) -> Time {
        Time(ms.saturating_mul(1_000))
    }
    /// Seconds (saturating).
    pub const fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(1_000_000))
    }
    /// This time in whole microseconds.
    pub const fn as_us(self) -> u64 {
        self.0
    }
    /// This time in whole milliseconds, rounded down.
    pub const fn as_ms(self) -> u64 {
        self.0 / 1_000
    }
    /// Saturating addition.
    pub const fn add(self, other: Time) -> Time {
        Time(self.0.saturating_add(other.0))
    }
    /// Saturating subtraction.
    pub const fn sub(self, other: Time) -> Time {
        Time(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Time {
    /// Shown as seconds with microsecond precision: `12.000345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A probability as an integer ratio in parts per million, so no float decides the schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ratio {
    /// Parts per million, 0 ..= 1_000_000.
    pub ppm: u32,
}

impl Ratio {
    /// Never.
    pub const ZERO: Ratio = Ratio { ppm: 0 };
    /// Always.
    pub const ONE: Ratio = Ratio { ppm: 1_000_000 };

    /// Converts a probability given in a scenario (0.0 ..= 1.0) to parts per million, rounding to
    /// nearest. The conversion happens once, at load time; the schedule only sees integers.
    pub fn from_probability(p: f64) -> Option<Ratio> {
        if !(0.0..=1.0).contains(&p) {
            return None;
        }
        Some(Ratio {
            ppm: (p * 1_000_000.0).round() as u32,
        })
    }

    /// The ratio as a probability, for display and serialization.
    pub fn as_probability(self) -> f64 {
        f64::from(self.ppm) / 1_000_000.0
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_probability())
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        Ratio::from_probability(p).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a probability between 0 and 1, got {p}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_based() {
        assert_eq!(NodeId(0).to_string(), "n1");
        assert_eq!(ClientId(2).to_string(), "c3");
        assert_eq!(parse_prefixed("n1", 'n'), Some(0));
        assert_eq!(parse_prefixed("n0", 'n'), None);
        assert_eq!(parse_prefixed("n", 'n'), None);
        assert_eq!(parse_prefixed("n-1", 'n'), None);
        assert_eq!(parse_prefixed("n99999999999", 'n'), None);
    }

    #[test]
    fn names_serialize_as_they_display() {
        let json = |v: &dyn erased::Ser| v.json();
        for i in [0, 1, 8, 9, 10, 99, 12_345, u32::MAX - 1] {
            let (n, c) = (NodeId(i), ClientId(i));
            assert_eq!(json(&n), format!("\"{n}\""));
            assert_eq!(json(&c), format!("\"{c}\""));
            assert_eq!(json(&Endpoint::Node(n)), format!("\"{n}\""));
            assert_eq!(json(&Endpoint::Client(c)), format!("\"{c}\""));
        }
    }

    mod erased {
        /// A value as its JSON, for a table of values of different types.
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }

    #[test]
    fn ratio_rounds_and_rejects_out_of_range() {
        assert_eq!(Ratio::from_probability(0.1).unwrap().ppm, 100_000);
        assert_eq!(Ratio::from_probability(1.0).unwrap(), Ratio::ONE);
        assert!(Ratio::from_probability(1.5).is_none());
        assert!(Ratio::from_probability(f64::NAN).is_none());
        assert!(Ratio::from_probability(-0.1).is_none());
    }

    #[test]
    fn time_display() {
        assert_eq!(Time::from_ms(1500).to_string(), "1.500000s");
        assert_eq!(Time::MAX.add(Time(1)), Time::MAX);
    }
}
