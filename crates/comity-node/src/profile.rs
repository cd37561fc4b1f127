//! The organisation's signed profile: what its configuration says about it
//! (names, stakeholder group, region, country, groups, endpoint, languages),
//! published at seq 1 and again whenever it changes.

use crate::{error::NodeError, node::Node};
use comity_core::{SignedEntry, proto};
use prost::Message;

impl Node {
    /// The profile this node's configuration describes.
    pub fn profile(&self) -> proto::OrgProfile {
        let p = &self.config().profile;
        proto::OrgProfile {
            id: self.org().to_string(),
            names: vec![proto::Text {
                lang: "en".into(),
                value: self.config().name.clone(),
            }],
            groups: p
                .groups
                .iter()
                .map(|g| proto::OrgGroup {
                    id: g.clone(),
                    names: Vec::new(),
                })
                .collect(),
            stakeholder_group: p
                .stakeholder_group
                .map_or(proto::StakeholderGroup::Unspecified, |g| g.to_proto())
                as i32,
            region: p.region.clone().unwrap_or_default(),
            country: p
                .country
                .as_deref()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            endpoint: self.config().endpoint().into(),
            languages: p.languages.clone(),
            ..Default::default()
        }
    }

    /// Publishes the profile at seq 1, and again whenever it changed.
    pub async fn publish_profile_if_changed(&self) -> Result<Option<SignedEntry>, NodeError> {
        let profile = self.profile();
        let current = match self.store().latest_profile(self.org())? {
            Some(seq) => self.store().entry(self.org(), seq)?,
            None => None,
        };
        let unchanged = current
            .and_then(|e| proto::Document::decode(e.payload()).ok())
            .is_some_and(|d| d.body == Some(proto::document::Body::Profile(profile.clone())));
        if unchanged {
            return Ok(None);
        }
        self.publish(proto::document::Body::Profile(profile))
            .await
            .map(Some)
    }
}
