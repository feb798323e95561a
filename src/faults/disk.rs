//! Storage faults as scenarios write them, and the fault atlas that bounds them.
//!
//! A disk fault names a node, a kind and, optionally, the place it strikes
//! (`{"at_ms": 900, "disk": {"node": "n2", "fault": "corrupt", "record": 4}}`). The atlas,
//! declared once per scenario (`"atlas": {...}`), says which kinds the protocol claims to
//! survive and how much damage at once: the loader refuses a scenario whose faults leave it,
//! and the world refuses (and records) any fault that would break it when it fires, so a
//! failed check under disk faults is always the protocol's fault. The semantics of each kind
//! are in docs/fault-model.md ("Storage faults").

use crate::base::types::NodeId;
use serde::{Deserialize, Serialize};

/// The kinds of storage fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskKind {
    /// A crash during which the last write in flight is torn: a prefix of its bytes lands.
    Torn,
    /// One bit of a synced record flips.
    Corrupt,
    /// A synced record cannot be read (the disk reports an error) until it is rewritten.
    Latent,
    /// The log's last synced record was written over an earlier one.
    Misdirect,
    /// The next sync with something pending fails and its writes are lost.
    SyncFails,
}

impl DiskKind {
    /// Every kind, in the order scenarios and the docs list them.
    pub const ALL: [DiskKind; 5] = [
        DiskKind::Torn,
        DiskKind::Corrupt,
        DiskKind::Latent,
        DiskKind::Misdirect,
        DiskKind::SyncFails,
    ];

    /// The scenario word.
    pub fn word(self) -> &'static str {
        match self {
            DiskKind::Torn => "torn",
            DiskKind::Corrupt => "corrupt",
            DiskKind::Latent => "latent",
            DiskKind::Misdirect => "misdirect",
            DiskKind::SyncFails => "sync_fails",
        }
    }

    /// Whether the fault damages records already on the disk (and so counts against the
    /// atlas's copies): corruption, latent errors and misdirected writes.
    pub fn damages_synced(self) -> bool {
        matches!(
            self,
            DiskKind::Corrupt | DiskKind::Latent | DiskKind::Misdirect
        )
    }

    /// Whether the kind takes a place (`record` or `cell`).
    pub fn takes_place(self) -> bool {
        matches!(self, DiskKind::Corrupt | DiskKind::Latent)
    }
}

/// Where a scheduled disk fault strikes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskPlace {
    /// The log record at this absolute index.
    Record(u64),
    /// The named cell.
    Cell(String),
}

/// One storage fault.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskFault {
    /// The node whose disk it strikes.
    pub node: NodeId,
    /// What it does.
    pub fault: DiskKind,
    /// A log record, by absolute index (corrupt and latent only; drawn when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// A cell, by name (corrupt and latent only; drawn when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
}

impl DiskFault {
    /// The place named, if one.
    pub fn place(&self) -> Option<DiskPlace> {
        match (&self.record, &self.cell) {
            (Some(i), _) => Some(DiskPlace::Record(*i)),
            (None, Some(c)) => Some(DiskPlace::Cell(c.clone())),
            (None, None) => None,
        }
    }

    /// What is wrong with the entry as written, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.record.is_some() && self.cell.is_some() {
            return Err("a disk fault names a `record` or a `cell`, not both".into());
        }
        if self.place().is_some() && !self.fault.takes_place() {
            return Err(format!(
                "a `{}` disk fault takes no `record` or `cell` (only corrupt and latent do)",
                self.fault.word()
            ));
        }
        Ok(())
    }
}

/// What the atlas allows for cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellRule {
    /// Cells are never damaged, and a torn write never tears one (the protocol keeps its
    /// small metadata safe by means the simulation does not model).
    #[default]
    Spare,
    /// Cells named `base#1`, `base#2`, ... are copies of one value: on every node at least
    /// one copy of each base stays whole. A cell without `#` is never damaged.
    KeepOneCopy,
    /// Any cell may be damaged.
    Any,
}

/// The storage faults a scenario's protocol claims to survive (`"atlas": {...}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Atlas {
    /// The kinds allowed; a disk fault of another kind is refused at load.
    pub faults: Vec<DiskKind>,
    /// A place is damaged on at most this many nodes at once (default: a minority of the
    /// nodes, at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_copies: Option<u32>,
    /// What may happen to cells.
    #[serde(default)]
    pub cells: CellRule,
}

impl Atlas {
    /// Whether the atlas allows this kind.
    pub fn allows(&self, kind: DiskKind) -> bool {
        self.faults.contains(&kind)
    }

    /// How many nodes may hold a damaged copy of one place at once.
    pub fn copies(&self, nodes: u32) -> u32 {
        self.max_copies
            .unwrap_or_else(|| (nodes.saturating_sub(1) / 2).max(1))
    }

    /// Whether a cell named `name` may be damaged on a node whose damaged cells are
    /// `damaged` (names). Log records are not asked here.
    pub fn cell_may_break<'a>(
        &self,
        name: &str,
        mut damaged: impl Iterator<Item = &'a str>,
        mut present: impl Iterator<Item = &'a str>,
    ) -> bool {
        match self.cells {
            CellRule::Spare => false,
            CellRule::Any => true,
            CellRule::KeepOneCopy => {
                let Some((base, _)) = name.split_once('#') else {
                    return false;
                };
                let copy_of = |c: &str| c.split_once('#').is_some_and(|(b, _)| b == base);
                // Another copy of the same base must be present and whole.
                let broken: Vec<&str> = damaged.by_ref().filter(|c| copy_of(c)).collect();
                present.any(|c| c != name && copy_of(c) && !broken.contains(&c))
            }
        }
    }

    /// What is wrong with the atlas for a cluster of `nodes`, if anything.
    pub fn validate(&self, nodes: u32) -> Result<(), String> {
        if let Some(k) = self.max_copies {
            if k == 0 || k > nodes {
                return Err(format!(
                    "`max_copies` is how many nodes may hold a damaged copy of one record: 1 to {nodes}, found {k}"
                ));
            }
        }
        let mut seen = self.faults.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.faults.len() {
            return Err("`faults` lists a kind twice".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_copies_are_a_minority_and_at_least_one() {
        let a = Atlas::default();
        assert_eq!((a.copies(1), a.copies(3), a.copies(5)), (1, 1, 2));
    }

    #[test]
    fn keep_one_copy_keeps_one_copy() {
        let a = Atlas {
            cells: CellRule::KeepOneCopy,
            ..Atlas::default()
        };
        let present = ["hard#1", "hard#2", "other"];
        assert!(a.cell_may_break("hard#1", [].into_iter(), present.into_iter()));
        assert!(!a.cell_may_break("hard#1", ["hard#2"].into_iter(), present.into_iter()));
        assert!(!a.cell_may_break("other", [].into_iter(), present.into_iter()));
        assert!(!Atlas::default().cell_may_break("hard#1", [].into_iter(), present.into_iter()));
    }

    #[test]
    fn a_fault_names_one_place_and_only_when_it_takes_one() {
        let f = |s: &str| serde_json::from_str::<DiskFault>(s).unwrap().validate();
        assert!(f(r#"{"node": "n1", "fault": "corrupt", "record": 3}"#).is_ok());
        assert!(f(r#"{"node": "n1", "fault": "latent", "cell": "hard#1"}"#).is_ok());
        assert!(f(r#"{"node": "n1", "fault": "torn", "record": 3}"#).is_err());
        assert!(f(r#"{"node": "n1", "fault": "corrupt", "record": 3, "cell": "x"}"#).is_err());
        assert!(serde_json::from_str::<DiskFault>(r#"{"node": "n1", "fault": "melt"}"#).is_err());
    }
}
