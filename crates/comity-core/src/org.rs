//! Organisation ids: short, lowercase, stable names such as `ietf` or `ripe-ncc`.

use std::{fmt, str::FromStr};

/// A validated organisation id: `[a-z0-9][a-z0-9-]{1,31}`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid organisation id {0:?}: use 2 to 32 characters of a-z, 0-9 and '-', starting with a letter or digit"
)]
pub struct OrgIdError(pub String);

impl OrgId {
    pub fn new(id: impl Into<String>) -> Result<Self, OrgIdError> {
        let id = id.into();
        let mut chars = id.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && (2..=32).contains(&id.len()) {
            Ok(Self(id))
        } else {
            Err(OrgIdError(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OrgId {
    type Err = OrgIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for OrgId {
    type Error = OrgIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> Self {
        id.0
    }
}

impl AsRef<str> for OrgId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_ids() {
        for id in ["ietf", "itu-t", "ripe-ncc", "m3aawg", "a1"] {
            assert_eq!(OrgId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_bad_ids() {
        let too_long = "a".repeat(33);
        for id in [
            "",
            "a",
            "-ietf",
            "IETF",
            "ietf/ccamp",
            "it u",
            too_long.as_str(),
        ] {
            assert!(OrgId::new(id).is_err(), "{id:?} should be rejected");
        }
    }
}
