//! What the environment asks of a harness run: the `FAULTLINE_SEEDS`, `FAULTLINE_SEED` and
//! `FAULTLINE_DETERMINISM` variables ([`Knobs`]), and the list of seeds they make
//! ([`seed_list`]).
//!
//! Reading the variables is the one place the harness looks at the environment; what they
//! change is only which seeds run. Must not print.

use crate::run::sweep::SEEDS_MAX;
use std::ffi::OsString;

/// How many numbered seeds to run (overrides [`Harness::seeds`](super::Harness::seeds)).
pub const ENV_SEEDS: &str = "FAULTLINE_SEEDS";
/// Run exactly this seed, and nothing else.
pub const ENV_SEED: &str = "FAULTLINE_SEED";
/// `1` runs every seed twice and compares the fingerprints.
pub const ENV_DETERMINISM: &str = "FAULTLINE_DETERMINISM";

/// What the environment asks of a harness run. [`Knobs::from_env`] reads it;
/// [`Harness::knobs`](super::Harness::knobs) sets it explicitly, so a test can ignore the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// `FAULTLINE_SEEDS`: how many numbered seeds, instead of the test's own count.
    pub seeds: Option<u64>,
    /// `FAULTLINE_SEED`: run exactly this seed (regression seeds and the count are ignored).
    pub seed: Option<u64>,
    /// `FAULTLINE_DETERMINISM`: run every seed twice and compare fingerprints.
    pub determinism: bool,
}

impl Knobs {
    /// Reads `FAULTLINE_SEEDS`, `FAULTLINE_SEED` and `FAULTLINE_DETERMINISM` from the process
    /// environment. An unset or empty variable means "not given".
    pub fn from_env() -> Result<Knobs, String> {
        Knobs::parse(|name| std::env::var_os(name))
    }

    /// Parses the three variables as `lookup` returns them. The error names the variable,
    /// its value and what was expected.
    pub fn parse(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Knobs, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => match v.into_string() {
                    Ok(s) if s.trim().is_empty() => Ok(None),
                    Ok(s) => Ok(Some(s.trim().to_string())),
                    Err(v) => Err(format!("{name}={v:?} is not valid text; expected a number")),
                },
            }
        };
        let seeds = match text(ENV_SEEDS)? {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (1..=SEEDS_MAX).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "{ENV_SEEDS}={s:?} is not a seed count; expected a whole number from 1 to {SEEDS_MAX}"
                    ));
                }
            },
        };
        let seed = match text(ENV_SEED)? {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(format!(
                        "{ENV_SEED}={s:?} is not a seed; expected a whole number from 0 to {}",
                        u64::MAX
                    ));
                }
            },
        };
        let determinism = match text(ENV_DETERMINISM)?.as_deref() {
            None => false,
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "{ENV_DETERMINISM}={s:?} is not a switch; expected 1 or 0 (or true/false, yes/no, on/off)"
                    ));
                }
            },
        };
        Ok(Knobs {
            seeds,
            seed,
            determinism,
        })
    }
}

/// The seeds to run, in order: `only` alone if given (`FAULTLINE_SEED`); otherwise the
/// regression seeds (each once, in the order given), then `1..=count` without the ones
/// already listed.
pub fn seed_list(regression: &[u64], count: u64, only: Option<u64>) -> Vec<u64> {
    if let Some(s) = only {
        return vec![s];
    }
    let mut seeds: Vec<u64> = Vec::new();
    for &s in regression {
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    let listed = seeds.clone();
    seeds.extend((1..=count).filter(|s| !listed.contains(s)));
    seeds
}
