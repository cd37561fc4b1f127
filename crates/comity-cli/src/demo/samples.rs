//! Sample consultations, responses and liaison statements, modelled on public
//! ones of these bodies (titles, purposes and sequences from
//! ../shared/SAMPLES.md), with dates moved near today so that the demo shows
//! open consultations and running deadlines.

use comity_core::proto::{self, LiaisonPurpose};
use comity_node::{Node, NodeError};
use std::{collections::BTreeMap, sync::Arc};
use time::{Duration, OffsetDateTime};

pub type Nodes = BTreeMap<String, Arc<Node>>;

fn day(offset_days: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(offset_days))
        .date()
        .to_string()
}

fn text(lang: &str, value: &str) -> proto::Text {
    proto::Text {
        lang: lang.into(),
        value: value.into(),
    }
}

fn at<'a>(nodes: &'a Nodes, id: &str) -> Option<&'a Arc<Node>> {
    nodes.get(id)
}

/// Publishes a consultation; returns its uuid.
async fn consultation(
    node: &Node,
    request: proto::PublishConsultationRequest,
) -> Result<String, NodeError> {
    let entry = node.publish_consultation(request).await?;
    Ok(comity_core::document::decode_for(&entry)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap_or_default())
}

/// Drafts, approves and posts a statement; returns its uuid.
async fn liaison(node: &Node, request: proto::DraftLiaisonRequest) -> Result<String, NodeError> {
    let draft = node.draft_liaison(request)?;
    node.approve_liaison(&draft.id, "demo")?;
    let entry = node.post_liaison(&draft.id).await?;
    Ok(comity_core::document::decode_for(&entry)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap_or_default())
}

/// Waits until `node` holds `origin`'s document, so a response can refer to it.
async fn wait_for_document(
    node: &Node,
    kind: comity_core::entry::EntryKind,
    origin: &str,
    uuid: &str,
) -> bool {
    let Ok(origin) = comity_core::OrgId::new(origin) else {
        return false;
    };
    let mut appended = node.appended();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if node
            .store()
            .document(kind, &origin, uuid)
            .ok()
            .flatten()
            .is_some()
        {
            return true;
        }
        if tokio::time::timeout_at(deadline, appended.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
}

fn doc(origin: &str, uuid: &str) -> Option<proto::DocumentRef> {
    Some(proto::DocumentRef {
        origin: origin.into(),
        uuid: uuid.into(),
    })
}

/// Publishes the sample material for whichever of its organisations run.
pub async fn publish(nodes: &Nodes) -> Result<usize, NodeError> {
    use comity_core::entry::EntryKind::{Consultation, Liaison};
    let mut published = 0;

    if let Some(itu) = at(nodes, "itu") {
        let uuid = consultation(itu, proto::PublishConsultationRequest {
            title: "Developmental Aspects of the Internet".into(),
            titles: vec![
                text("fr", "Aspects de l'Internet liés au développement"),
                text("es", "Aspectos de Internet relacionados con el desarrollo"),
                text("ar", "جوانب الإنترنت المتعلقة بالتنمية"),
                text("ru", "Аспекты развития интернета"),
                text("zh", "互联网的发展问题"),
            ],
            summary: "Open online consultation of the Council Working Group on International Internet-related Public Policy Issues (CWG-Internet). All stakeholders may respond; a physical consultation meeting follows.".into(),
            summaries: vec![text("fr", "Consultation en ligne ouverte du Groupe de travail du Conseil sur les questions de politiques publiques internationales relatives à l'Internet. Toutes les parties prenantes peuvent répondre.")],
            questions: vec![
                "What are the main barriers to Internet access and use in developing countries?".into(),
                "How can all stakeholders take part, on an equal footing, in the work on Internet-related public policy?".into(),
            ],
            closes: day(21),
            topics: vec!["development".into(), "internet-governance".into()],
            ..Default::default()
        }).await?;
        published += 1;
        for (responder, group, words) in [
            (
                "isoc",
                "",
                "The Internet Society supports community networks as a way to connect the unconnected.",
            ),
            (
                "ietf",
                "iab",
                "The IAB notes that open standards lower the cost of participation for developing countries.",
            ),
            (
                "kenya-igf",
                "",
                "Kenya IGF participants ask for remote participation and local-language summaries.",
            ),
            (
                "ke-moict",
                "",
                "The Ministry stresses affordable backbone capacity and local content.",
            ),
        ] {
            if let Some(node) = at(nodes, responder)
                && wait_for_document(node, Consultation, "itu", &uuid).await
            {
                node.respond(proto::RespondRequest {
                    consultation: doc("itu", &uuid),
                    text: words.into(),
                    lang: "en".into(),
                    on_behalf_of: group.into(),
                    ..Default::default()
                })
                .await?;
                published += 1;
            }
        }
    }

    if let Some(icann) = at(nodes, "icann") {
        consultation(icann, proto::PublishConsultationRequest {
            title: "Proposed Final New gTLD Applicant Guidebook".into(),
            summary: "Public comment on the proposed final version of the Applicant Guidebook. A reply period follows the comment period; late comments are not guaranteed to be considered.".into(),
            closes: day(12),
            reply_closes: day(33),
            topics: vec!["gtld".into(), "dns".into()],
            ..Default::default()
        }).await?;
        consultation(icann, proto::PublishConsultationRequest {
            title: "CCWG on Internet Governance's Submission to NETmundial".into(),
            summary: "Comments on the draft submission of the Cross-Community Working Group on Internet Governance.".into(),
            opens: day(-60),
            closes: day(-30),
            reply_closes: day(-8),
            topics: vec!["internet-governance".into()],
            ..Default::default()
        }).await?;
        published += 2;
    }

    if let Some(ripe) = at(nodes, "ripe-ncc") {
        let uuid = consultation(ripe, proto::PublishConsultationRequest {
            title: "2017-02 Regular abuse-c Validation".into(),
            summary: "Discussion Phase of a policy proposal of the Anti-Abuse Working Group: the RIPE NCC would validate abuse contacts regularly.".into(),
            closes: day(28),
            topics: vec!["policy".into(), "abuse".into()],
            ..Default::default()
        }).await?;
        published += 1;
        if let Some(m3aawg) = at(nodes, "m3aawg")
            && wait_for_document(m3aawg, Consultation, "ripe-ncc", &uuid).await
        {
            m3aawg.respond(proto::RespondRequest {
                consultation: doc("ripe-ncc", &uuid),
                text: "M3AAWG supports the proposal: working abuse contacts are essential to handle abuse reports.".into(),
                ..Default::default()
            }).await?;
            published += 1;
        }
    }

    if let Some(arin) = at(nodes, "arin") {
        consultation(arin, proto::PublishConsultationRequest {
            title: "ARIN-2019-12: M&A Legal Jurisdiction Exclusion".into(),
            summary: "Recommended Draft Policy, open for community discussion before the next Public Policy Meeting.".into(),
            closes: day(9),
            topics: vec!["policy".into()],
            ..Default::default()
        }).await?;
        published += 1;
    }

    if let Some(lacnic) = at(nodes, "lacnic") {
        consultation(
            lacnic,
            proto::PublishConsultationRequest {
                title: "Consulta pública: política de recuperación de recursos".into(),
                lang: "es".into(),
                summary: "Consulta a la comunidad sobre la recuperación de recursos no utilizados."
                    .into(),
                closes: day(18),
                topics: vec!["policy".into()],
                ..Default::default()
            },
        )
        .await?;
        published += 1;
    }

    if let Some(itu) = at(nodes, "itu") {
        if at(nodes, "w3c").is_some() {
            liaison(itu, proto::DraftLiaisonRequest {
                from: vec!["itu-t/sg16".into()],
                to: vec![to("w3c/timed-text")],
                purpose: LiaisonPurpose::Comment as i32,
                deadline: day(11),
                title: "Review of TTML2".into(),
                body: "ITU-T Study Group 16 invites the W3C Timed Text Working Group to comment on its review of TTML2.".into(),
                other_identifiers: vec!["SG16-LS123".into()],
                ..Default::default()
            }).await?;
            published += 1;
        }
        if at(nodes, "ietf").is_some() {
            let uuid = liaison(itu, proto::DraftLiaisonRequest {
                from: vec!["itu-t/sg11".into()],
                to: vec![to("ietf")],
                purpose: LiaisonPurpose::Comment as i32,
                deadline: day(30),
                title: "New work item QSTR.MVC, Method for Verifying Conformance to SRv6".into(),
                body: "SG11 has started work on QSTR.MVC and would welcome feedback from the IETF.".into(),
                ..Default::default()
            }).await?;
            liaison(
                itu,
                proto::DraftLiaisonRequest {
                    from: vec!["itu-t/sg15".into()],
                    to: vec![to("ietf/ccamp")],
                    purpose: LiaisonPurpose::Information as i32,
                    title: "LS on protocol-specific data modelling work".into(),
                    body: "For information: the progress of SG15 on protocol-specific data models."
                        .into(),
                    ..Default::default()
                },
            )
            .await?;
            published += 2;
            let ietf = &nodes["ietf"];
            if wait_for_document(ietf, Liaison, "itu", &uuid).await {
                ietf.acknowledge(proto::AcknowledgeRequest {
                    liaison: doc("itu", &uuid),
                    status: proto::ReceiptStatus::Received as i32,
                    note: "Forwarded to the SPRING working group chairs.".into(),
                })
                .await?;
                published += 1;
            }
        }
    }

    if let (Some(apwg), Some(_)) = (at(nodes, "apwg"), at(nodes, "icann")) {
        liaison(apwg, proto::DraftLiaisonRequest {
            to: vec![to("icann/gnso")],
            cc: vec![to_for("m3aawg", LiaisonPurpose::Information)].into_iter().filter(|_| nodes.contains_key("m3aawg")).collect(),
            purpose: LiaisonPurpose::Action as i32,
            deadline: day(-3),
            title: "Phishing domains: request for coordinated takedown data".into(),
            body: "APWG asks ICANN to act on the attached summary of phishing domain registrations.".into(),
            ..Default::default()
        }).await?;
        published += 1;
    }

    if let (Some(ministry), Some(_)) = (at(nodes, "ke-moict"), at(nodes, "itu")) {
        liaison(
            ministry,
            proto::DraftLiaisonRequest {
                to: vec![to("itu/itu-d/q11-1")],
                purpose: LiaisonPurpose::Information as i32,
                title: "National input on broadband access in rural areas".into(),
                body: "Restricted to ITU-D: preliminary figures of the national broadband survey."
                    .into(),
                restricted: true,
                ..Default::default()
            },
        )
        .await?;
        published += 1;
    }
    Ok(published)
}

/// A recipient with the statement's purpose.
fn to(written: &str) -> proto::Recipient {
    to_for(written, LiaisonPurpose::Unspecified)
}

/// A recipient with its own purpose.
fn to_for(written: &str, purpose: LiaisonPurpose) -> proto::Recipient {
    proto::Recipient {
        to: written.into(),
        purpose: purpose as i32,
        ..Default::default()
    }
}
