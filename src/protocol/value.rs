//! Values a protocol attaches to its trace annotations.

use crate::base::types::NodeId;
use serde::Serialize;

/// A value attached to a trace annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A number (term, index, count).
    Int(i64),
    /// A fixed word (role names).
    Word(&'static str),
    /// A node, or none.
    Node(Option<NodeId>),
    /// Anything else.
    Text(String),
}

impl Value {
    /// Whether this value is the one a scenario wrote as JSON: a number for `Int`, a string
    /// for a word, text or node name, `null` for no node.
    pub fn matches_json(&self, want: &serde_json::Value) -> bool {
        match (self, want) {
            (Value::Int(i), serde_json::Value::Number(n)) => n.as_i64() == Some(*i),
            (Value::Word(w), serde_json::Value::String(s)) => w == s,
            (Value::Text(t), serde_json::Value::String(s)) => t == s,
            (Value::Node(Some(n)), serde_json::Value::String(s)) => n.to_string() == *s,
            (Value::Node(None), serde_json::Value::Null) => true,
            _ => false,
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Word(v)
    }
}
impl From<Option<NodeId>> for Value {
    fn from(v: Option<NodeId>) -> Self {
        Value::Node(v)
    }
}
impl From<NodeId> for Value {
    fn from(v: NodeId) -> Self {
        Value::Node(Some(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
