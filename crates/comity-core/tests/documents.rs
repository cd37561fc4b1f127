//! Documents: every validation rule proves its named error, a realistic
//! example of each document passes, and the pure helpers the node relies on
//! (deadlines in Anywhere-on-Earth time, the late flag, reply templates, key
//! rotation proofs) compute what people expect. Sample data follows
//! ../shared/SAMPLES.md: real statements and consultations.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use comity_core::{
    Hash, IdentityKey, OrgId, UnsignedEntry, VerifyError,
    dates::{self, Deadline},
    document::{self, DocumentError},
    entry::{Audience, EntryKind},
    key_rotation, liaison,
    proto::{self, LiaisonPurpose, document::Body},
    verify::{verify_chain, verify_for_ingest},
};
use time::{OffsetDateTime, macros::datetime};

// ---------------------------------------------------------------- fixtures

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn text(lang: &str, value: &str) -> proto::Text {
    proto::Text {
        lang: lang.into(),
        value: value.into(),
    }
}

fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    dates::to_timestamp(t)
}

/// End of a calendar day, Anywhere-on-Earth, as the CLI parses `--closes`.
fn day_end(day: &str) -> prost_types::Timestamp {
    ts(dates::parse_end(day).unwrap())
}

fn attachment(name: &str, content: &[u8]) -> proto::AttachmentRef {
    proto::AttachmentRef {
        hash: Hash::of(content).0.to_vec(),
        size: content.len() as u64,
        media_type: "application/pdf".into(),
        name: name.into(),
    }
}

const ICANN_NETMUNDIAL: &str = "0190a6d2-7c3e-7d41-9f1a-3b5c8e2d4f60";
const ITU_TTML2: &str = "0190a6d2-7c3e-7d41-9f1a-3b5c8e2d4f61";

fn itu_profile() -> proto::OrgProfile {
    proto::OrgProfile {
        id: "itu".into(),
        names: vec![
            text("en", "International Telecommunication Union"),
            text("fr", "Union internationale des télécommunications"),
        ],
        stakeholder_group: proto::StakeholderGroup::Intergovernmental as i32,
        region: "global".into(),
        country: "CH".into(),
        groups: vec![
            proto::OrgGroup {
                id: "itu-t/sg16".into(),
                names: vec![text("en", "ITU-T Study Group 16: Multimedia")],
            },
            proto::OrgGroup {
                id: "itu-t/sg17".into(),
                names: vec![text("en", "ITU-T Study Group 17: Security")],
            },
        ],
        contacts: vec![proto::Contact {
            name: "TSB liaison desk".into(),
            email: "tsbsg16@itu.int".into(),
            role: "liaison".into(),
        }],
        endpoint: "https://comity.itu.example:7400".into(),
        languages: ["ar", "zh", "en", "fr", "ru", "es"]
            .map(String::from)
            .to_vec(),
    }
}

/// ICANN: CCWG on Internet Governance's Submission to NETmundial, comments
/// closed 2014-04-29, replies closed 2014-05-21.
fn icann_consultation() -> proto::Consultation {
    proto::Consultation {
        uuid: ICANN_NETMUNDIAL.into(),
        revision: 1,
        title: vec![text(
            "en",
            "CCWG on Internet Governance's Submission to NETmundial",
        )],
        summary: vec![text(
            "en",
            "Comments on the draft submission of the Cross-Community Working Group.",
        )],
        opens_at: Some(ts(datetime!(2014-04-08 00:00 UTC))),
        closes_at: Some(day_end("2014-04-29")),
        status: proto::ConsultationStatus::Open as i32,
        topics: vec!["internet-governance".into(), "netmundial".into()],
        body: vec![text("en", "The CCWG invites comments on its submission.")],
        link: "https://www.icann.org/public-comments/ccwg-ig-netmundial-2014-04-08-en".into(),
        questions: vec![
            proto::GuidingQuestion {
                number: 1,
                text: vec![text(
                    "en",
                    "Does the submission reflect the community's views?",
                )],
            },
            proto::GuidingQuestion {
                number: 2,
                text: vec![
                    text("en", "What is missing?"),
                    text("fr", "Que manque-t-il ?"),
                ],
            },
        ],
        reply_closes_at: Some(day_end("2014-05-21")),
        eligibility: Some(proto::Eligibility {
            scope: proto::eligibility::Scope::Anyone as i32,
            orgs: vec![],
        }),
        attachments: vec![attachment("ccwg-ig-submission-draft.pdf", b"draft")],
        contact: Some(proto::Contact {
            name: "Policy staff".into(),
            email: "comments-ccwg-ig@icann.org".into(),
            role: String::new(),
        }),
        report: None,
    }
}

fn ietf_response() -> proto::ConsultationResponse {
    proto::ConsultationResponse {
        uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
        consultation: Some(proto::DocumentRef {
            origin: "icann".into(),
            uuid: ICANN_NETMUNDIAL.into(),
        }),
        text: vec![text(
            "en",
            "The IAB supports the submission, with one comment on section 3.",
        )],
        attachments: vec![],
        on_behalf_of: "iab".into(),
        replies_to: None,
    }
}

/// ITU-T SG16 to the W3C Timed Text WG: "Review of TTML2", for comment,
/// sent 2017-07-12, deadline 2017-09-30.
fn ttml2_liaison() -> proto::LiaisonStatement {
    proto::LiaisonStatement {
        uuid: ITU_TTML2.into(),
        revision: 1,
        title: "Review of TTML2".into(),
        from_groups: vec!["itu-t/sg16".into()],
        to: vec![proto::Addressee {
            org: "w3c".into(),
            group: "timed-text".into(),
            purpose: LiaisonPurpose::Unspecified as i32,
            ..Default::default()
        }],
        cc: vec![proto::Addressee {
            org: "ietf".into(),
            group: String::new(),
            purpose: LiaisonPurpose::Information as i32,
            ..Default::default()
        }],
        purpose: LiaisonPurpose::Comment as i32,
        deadline: Some(proto::Deadline {
            date: "2017-09-30".into(),
            zone: String::new(),
        }),
        body: Some(text(
            "en",
            "ITU-T SG16 thanks the Timed Text WG and sends its comments on TTML2.",
        )),
        attachments: vec![attachment("T17-SG16-LS-TTML2.docx", b"ls")],
        in_reply_to: None,
        contacts: vec![
            proto::Contact {
                name: "SG16 chair".into(),
                email: "sg16-chair@itu.example".into(),
                role: "from".into(),
            },
            proto::Contact {
                name: "Q14/16 rapporteur".into(),
                email: "q14-16@itu.example".into(),
                role: "response-to".into(),
            },
        ],
        other_identifiers: vec!["SG16-LS-TTML2".into()],
        state: proto::LiaisonState::Posted as i32,
    }
}

fn w3c_receipt() -> proto::Receipt {
    proto::Receipt {
        entry: Some(proto::EntryRef {
            origin: "itu".into(),
            seq: 7,
            id: Hash::of(b"header of itu seq 7").0.to_vec(),
        }),
        liaison: Some(proto::DocumentRef {
            origin: "itu".into(),
            uuid: ITU_TTML2.into(),
        }),
        status: proto::ReceiptStatus::AcceptedForAction as i32,
        note: "Taken up by the Timed Text WG; reply expected after the TPAC meeting.".into(),
        reply: None,
    }
}

fn check(body: Body, origin: &str) -> Result<(), DocumentError> {
    document::validate(&body, &org(origin))
}

fn consultation_err(edit: impl FnOnce(&mut proto::Consultation)) -> DocumentError {
    let mut c = icann_consultation();
    edit(&mut c);
    check(Body::Consultation(c), "icann").unwrap_err()
}

fn response_err(edit: impl FnOnce(&mut proto::ConsultationResponse)) -> DocumentError {
    let mut r = ietf_response();
    edit(&mut r);
    check(Body::Response(r), "ietf").unwrap_err()
}

fn liaison_err(edit: impl FnOnce(&mut proto::LiaisonStatement)) -> DocumentError {
    let mut l = ttml2_liaison();
    edit(&mut l);
    check(Body::Liaison(l), "itu").unwrap_err()
}

fn receipt_err(edit: impl FnOnce(&mut proto::Receipt)) -> DocumentError {
    let mut r = w3c_receipt();
    edit(&mut r);
    check(Body::Receipt(r), "w3c").unwrap_err()
}

fn profile_err(edit: impl FnOnce(&mut proto::OrgProfile)) -> DocumentError {
    let mut p = itu_profile();
    edit(&mut p);
    check(Body::Profile(p), "itu").unwrap_err()
}

// ------------------------------------------------------ valid examples pass

#[test]
fn a_valid_example_of_each_document_passes() {
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let cases = [
        (Body::Profile(itu_profile()), "itu", EntryKind::Profile),
        (
            Body::Consultation(icann_consultation()),
            "icann",
            EntryKind::Consultation,
        ),
        (Body::Response(ietf_response()), "ietf", EntryKind::Response),
        (Body::Liaison(ttml2_liaison()), "itu", EntryKind::Liaison),
        (Body::Receipt(w3c_receipt()), "w3c", EntryKind::Receipt),
        (
            Body::KeyRotation(key_rotation::new(&org("icann"), &old.public(), &new)),
            "icann",
            EntryKind::KeyRotation,
        ),
    ];
    for (body, origin, kind) in cases {
        check(body.clone(), origin).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        // Each body maps to its entry kind, and decodes back through an entry.
        let (k, payload) = document::encode(body.clone());
        assert_eq!(k, kind);
        let key = if kind == EntryKind::KeyRotation {
            &old
        } else {
            &new
        };
        let entry = UnsignedEntry::new(org(origin), k, payload, time::OffsetDateTime::now_utc())
            .sign(key, None);
        assert_eq!(document::decode_for(&entry).unwrap(), body);
        assert!(!document::summary(&body).is_empty(), "{kind:?}");
    }
}

#[test]
fn a_body_under_the_wrong_kind_is_named() {
    let (_, payload) = document::encode(Body::Receipt(w3c_receipt()));
    let key = IdentityKey::generate();
    let e = UnsignedEntry::new(
        org("w3c"),
        EntryKind::Liaison,
        payload,
        time::OffsetDateTime::now_utc(),
    )
    .sign(&key, None);
    assert_eq!(
        document::decode_for(&e).unwrap_err(),
        DocumentError::KindMismatch {
            kind: "liaison",
            body: "receipt"
        }
    );
}

#[test]
fn summaries_read_well() {
    assert_eq!(
        document::summary(&Body::Liaison(ttml2_liaison())),
        "Review of TTML2"
    );
    assert_eq!(
        document::summary(&Body::Receipt(w3c_receipt())),
        format!("accepted for action: itu/{ITU_TTML2}")
    );
    assert!(
        document::summary(&Body::Response(ietf_response()))
            .starts_with(&format!("response to icann/{ICANN_NETMUNDIAL}: The IAB"))
    );
}

// ------------------------------------------------------------ shared rules

#[test]
fn invalid_uuid() {
    assert_eq!(
        consultation_err(|c| c.uuid = "netmundial".into()),
        DocumentError::InvalidUuid("netmundial".into())
    );
    assert_eq!(
        liaison_err(|l| l.uuid = String::new()),
        DocumentError::InvalidUuid(String::new())
    );
    assert_eq!(
        response_err(|r| r.uuid = "42".into()),
        DocumentError::InvalidUuid("42".into())
    );
}

#[test]
fn zero_revision() {
    assert_eq!(
        consultation_err(|c| c.revision = 0),
        DocumentError::ZeroRevision
    );
    assert_eq!(liaison_err(|l| l.revision = 0), DocumentError::ZeroRevision);
}

#[test]
fn missing_title() {
    assert_eq!(
        consultation_err(|c| c.title = vec![text("en", "  ")]),
        DocumentError::MissingTitle
    );
    assert_eq!(
        liaison_err(|l| l.title = String::new()),
        DocumentError::MissingTitle
    );
}

#[test]
fn invalid_language_tag() {
    for bad in ["", "english", "en_US", "xx-123456789", "e"] {
        assert_eq!(
            consultation_err(|c| c.title.push(text(bad, "x"))),
            DocumentError::InvalidLanguageTag(bad.into()),
            "{bad:?}"
        );
    }
    assert_eq!(
        liaison_err(|l| l.body = Some(text("en_GB", "text"))),
        DocumentError::InvalidLanguageTag("en_GB".into())
    );
    assert_eq!(
        profile_err(|p| p.languages.push("klingon".into())),
        DocumentError::InvalidLanguageTag("klingon".into())
    );
    assert_eq!(
        consultation_err(|c| c.questions[0].text[0].lang = "fr-FRANCE".into()),
        DocumentError::InvalidLanguageTag("fr-FRANCE".into())
    );
    // Well-formed and registered tags of the six ITU languages and their forms pass.
    let mut c = icann_consultation();
    c.title = ["ar", "zh-Hans", "en-GB", "fr-CH", "ru", "es-419"]
        .iter()
        .map(|l| text(l, "title"))
        .collect();
    check(Body::Consultation(c), "icann").unwrap();
}

#[test]
fn duplicate_language() {
    assert_eq!(
        consultation_err(|c| c.summary.push(text("EN", "again"))),
        DocumentError::DuplicateLanguage("EN".into())
    );
    assert_eq!(
        response_err(|r| r.text.push(text("en", "again"))),
        DocumentError::DuplicateLanguage("en".into())
    );
    assert_eq!(
        profile_err(|p| p.languages.push("fr".into())),
        DocumentError::DuplicateLanguage("fr".into())
    );
}

#[test]
fn invalid_attachment() {
    let err = consultation_err(|c| c.attachments[0].hash.truncate(31));
    assert!(
        matches!(&err, DocumentError::InvalidAttachment { name, .. } if name == "ccwg-ig-submission-draft.pdf"),
        "{err}"
    );
    assert!(err.to_string().contains("32-byte BLAKE3"), "{err}");
    let err = liaison_err(|l| l.attachments[0].name = " ".into());
    assert!(err.to_string().contains("name is empty"), "{err}");
    let err = response_err(|r| r.attachments.push(attachment("../../etc/passwd", b"x")));
    assert!(err.to_string().contains("not a path"), "{err}");
    let err = liaison_err(|l| l.attachments.push(attachment("copy.docx", b"ls")));
    assert!(err.to_string().contains("attached twice"), "{err}");
    let err = consultation_err(|c| {
        c.status = proto::ConsultationStatus::ReportPublished as i32;
        c.report = Some(proto::ConsultationReport {
            attachments: vec![attachment("", b"report")],
            ..Default::default()
        });
    });
    assert!(
        matches!(err, DocumentError::InvalidAttachment { .. }),
        "{err}"
    );
}

/// `n` distinct attachments.
fn attachments(n: usize) -> Vec<proto::AttachmentRef> {
    (0..n)
        .map(|i| attachment(&format!("annex-{i}.pdf"), format!("annex {i}").as_bytes()))
        .collect()
}

#[test]
fn a_document_with_too_many_attachments_is_refused() {
    let many = document::MAX_ATTACHMENTS + 1;
    let err = liaison_err(|l| l.attachments = attachments(many));
    assert_eq!(
        err,
        DocumentError::TooManyAttachments { count: 65, max: 64 }
    );
    assert!(
        err.to_string().contains("65 attachments"),
        "a statement with {many} attachments: {err}"
    );
    let err = response_err(|r| r.attachments = attachments(many));
    assert!(err.to_string().contains("65 attachments"), "{err}");
    // A consultation counts its report's attachments too.
    let err = consultation_err(|c| {
        c.attachments = attachments(40);
        c.status = proto::ConsultationStatus::ReportPublished as i32;
        c.report = Some(proto::ConsultationReport {
            summary: vec![text("en", "Report")],
            attachments: attachments(65)[40..].to_vec(),
            ..Default::default()
        });
    });
    assert!(err.to_string().contains("65 attachments"), "{err}");
    // 64 are fine.
    let mut l = ttml2_liaison();
    l.attachments = attachments(64);
    check(Body::Liaison(l), "itu").unwrap();
}

#[test]
fn invalid_reference() {
    let err = response_err(|r| {
        r.consultation = Some(proto::DocumentRef {
            origin: "ICANN".into(),
            uuid: ICANN_NETMUNDIAL.into(),
        })
    });
    assert!(matches!(err, DocumentError::InvalidReference(_)), "{err}");
    let err = liaison_err(|l| {
        l.purpose = LiaisonPurpose::InResponse as i32;
        l.in_reply_to = Some(proto::DocumentRef {
            origin: "w3c".into(),
            uuid: "LS-123".into(),
        });
    });
    assert!(matches!(err, DocumentError::InvalidReference(_)), "{err}");
    let err = receipt_err(|r| r.liaison.as_mut().unwrap().uuid = "ttml2".into());
    assert!(matches!(err, DocumentError::InvalidReference(_)), "{err}");
    // A response cannot reply to itself.
    let err = response_err(|r| {
        r.replies_to = Some(proto::DocumentRef {
            origin: "ietf".into(),
            uuid: r.uuid.clone(),
        })
    });
    assert!(err.to_string().contains("cannot reply to itself"), "{err}");
}

#[test]
fn invalid_group() {
    assert_eq!(
        liaison_err(|l| l.from_groups = vec!["ITU-T SG16".into()]),
        DocumentError::InvalidGroup("ITU-T SG16".into())
    );
    assert_eq!(
        response_err(|r| r.on_behalf_of = "/iab".into()),
        DocumentError::InvalidGroup("/iab".into())
    );
    assert_eq!(
        profile_err(|p| p.groups[0].id = "sg16/".into()),
        DocumentError::InvalidGroup("sg16/".into())
    );
}

#[test]
fn invalid_contact() {
    let err = liaison_err(|l| l.contacts[0].role = "chair".into());
    assert!(
        matches!(&err, DocumentError::InvalidContact(m) if m.contains("from, response-to, technical, cc")),
        "{err}"
    );
    let err = consultation_err(|c| c.contact.as_mut().unwrap().email = "comments at icann".into());
    assert!(matches!(err, DocumentError::InvalidContact(_)), "{err}");
    let err = profile_err(|p| p.contacts.push(proto::Contact::default()));
    assert!(
        matches!(&err, DocumentError::InvalidContact(m) if m.contains("neither a name nor an email")),
        "{err}"
    );
}

#[test]
fn body_or_attachment_required() {
    assert_eq!(
        response_err(|r| r.text = vec![text("en", " ")]),
        DocumentError::BodyOrAttachmentRequired
    );
    assert_eq!(
        liaison_err(|l| {
            l.body = None;
            l.attachments.clear();
        }),
        DocumentError::BodyOrAttachmentRequired
    );
    // Either one is enough.
    let mut l = ttml2_liaison();
    l.body = None;
    check(Body::Liaison(l), "itu").unwrap();
    let mut r = ietf_response();
    r.text.clear();
    r.attachments = vec![attachment("iab-comments.pdf", b"comments")];
    check(Body::Response(r), "ietf").unwrap();
}

// ---------------------------------------------------------------- profiles

#[test]
fn profile_rules() {
    assert_eq!(
        profile_err(|p| p.id = "icann".into()),
        DocumentError::ProfileIdMismatch {
            profile: "icann".into(),
            origin: org("itu")
        }
    );
    assert_eq!(
        profile_err(|p| p.names.clear()),
        DocumentError::ProfileWithoutName
    );
    for bad in ["ch", "CHE", "Switzerland"] {
        assert_eq!(
            profile_err(|p| p.country = bad.into()),
            DocumentError::InvalidCountry(bad.into())
        );
    }
    assert_eq!(
        profile_err(|p| p.groups.push(p.groups[0].clone())),
        DocumentError::DuplicateGroup("itu-t/sg16".into())
    );
}

// ----------------------------------------------------------- consultations

#[test]
fn consultation_dates() {
    assert_eq!(
        consultation_err(|c| c.closes_at = None),
        DocumentError::MissingCloses
    );
    assert_eq!(
        consultation_err(|c| c.opens_at = Some(day_end("2014-05-01"))),
        DocumentError::ClosesBeforeOpens
    );
    assert_eq!(
        consultation_err(|c| c.reply_closes_at = c.closes_at),
        DocumentError::ReplyClosesBeforeCloses
    );
    assert_eq!(
        consultation_err(|c| c.reply_closes_at = Some(day_end("2014-04-20"))),
        DocumentError::ReplyClosesBeforeCloses
    );
    // No reply period is fine.
    let mut c = icann_consultation();
    c.reply_closes_at = None;
    check(Body::Consultation(c), "icann").unwrap();
}

#[test]
fn missing_status() {
    assert_eq!(
        consultation_err(|c| c.status = 0),
        DocumentError::MissingStatus
    );
    assert_eq!(
        consultation_err(|c| c.status = 99),
        DocumentError::MissingStatus
    );
}

#[test]
fn invalid_link() {
    for bad in [
        "www.icann.org/public-comments",
        "ftp://icann.org/x",
        "https://",
        "https://icann.org/a b",
    ] {
        assert_eq!(
            consultation_err(|c| c.link = bad.into()),
            DocumentError::InvalidLink(bad.into()),
            "{bad:?}"
        );
    }
}

#[test]
fn guiding_questions() {
    assert_eq!(
        consultation_err(|c| c.questions[1].number = 3),
        DocumentError::QuestionNumbering {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(
        consultation_err(|c| c.questions[0].number = 0),
        DocumentError::QuestionNumbering {
            expected: 1,
            got: 0
        }
    );
    assert_eq!(
        consultation_err(|c| c.questions[1].text = vec![text("en", "")]),
        DocumentError::EmptyQuestion(2)
    );
}

#[test]
fn eligibility() {
    use proto::eligibility::Scope;
    assert_eq!(
        consultation_err(|c| c.eligibility = Some(proto::Eligibility {
            scope: Scope::Listed as i32,
            orgs: vec![],
        })),
        DocumentError::EligibleOrgsRequired
    );
    assert_eq!(
        consultation_err(|c| c.eligibility = Some(proto::Eligibility {
            scope: Scope::MemberStates as i32,
            orgs: vec!["itu".into()],
        })),
        DocumentError::EligibleOrgsUnused
    );
    assert_eq!(
        consultation_err(|c| c.eligibility = Some(proto::Eligibility {
            scope: Scope::Listed as i32,
            orgs: vec!["ripe-ncc".into(), "RIPE NCC".into()],
        })),
        DocumentError::InvalidEligibleOrg("RIPE NCC".into())
    );
    let mut c = icann_consultation();
    c.eligibility = Some(proto::Eligibility {
        scope: Scope::Listed as i32,
        orgs: ["afrinic", "apnic", "arin", "lacnic", "ripe-ncc"]
            .map(String::from)
            .to_vec(),
    });
    check(Body::Consultation(c), "icann").unwrap();
}

#[test]
fn report() {
    assert_eq!(
        consultation_err(|c| c.status = proto::ConsultationStatus::ReportPublished as i32),
        DocumentError::ReportRequired
    );
    assert_eq!(
        consultation_err(|c| {
            c.status = proto::ConsultationStatus::ReportPublished as i32;
            c.report = Some(proto::ConsultationReport {
                summary: vec![text("en", "")],
                ..Default::default()
            });
        }),
        DocumentError::EmptyReport
    );
    let mut c = icann_consultation();
    c.revision = 3;
    c.status = proto::ConsultationStatus::ReportPublished as i32;
    c.report = Some(proto::ConsultationReport {
        summary: vec![text(
            "en",
            "Eleven comments and four replies were received.",
        )],
        attachments: vec![attachment("report-comments-ccwg-ig.pdf", b"report")],
        published_at: Some(ts(datetime!(2014-06-05 00:00 UTC))),
    });
    check(Body::Consultation(c), "icann").unwrap();
}

// --------------------------------------------------------------- responses

#[test]
fn missing_consultation_ref() {
    assert_eq!(
        response_err(|r| r.consultation = None),
        DocumentError::MissingConsultationRef
    );
    assert_eq!(
        response_err(|r| r.consultation = Some(proto::DocumentRef::default())),
        DocumentError::MissingConsultationRef
    );
}

// ---------------------------------------------------------------- liaisons

#[test]
fn missing_purpose() {
    assert_eq!(
        liaison_err(|l| l.purpose = 0),
        DocumentError::MissingPurpose
    );
}

#[test]
fn deadline_required() {
    assert_eq!(
        liaison_err(|l| l.deadline = None),
        DocumentError::DeadlineRequired { purpose: "comment" }
    );
    assert_eq!(
        liaison_err(|l| {
            l.purpose = LiaisonPurpose::Action as i32;
            l.deadline = None;
        }),
        DocumentError::DeadlineRequired { purpose: "action" }
    );
    // ITU-D Q11/1 to ITU-R WP 1/4: for action, others for information. The
    // per-recipient purpose needs the deadline as well.
    assert_eq!(
        liaison_err(|l| {
            l.purpose = LiaisonPurpose::Information as i32;
            l.to[0].purpose = LiaisonPurpose::Action as i32;
            l.deadline = None;
        }),
        DocumentError::DeadlineRequired { purpose: "action" }
    );
    // For information needs none: Broadband Forum to IETF CCAMP.
    let mut l = ttml2_liaison();
    l.purpose = LiaisonPurpose::Information as i32;
    l.deadline = None;
    check(Body::Liaison(l), "itu").unwrap();
}

#[test]
fn invalid_deadline() {
    for (date, zone) in [
        ("2017-09-31", ""),
        ("30/09/2017", ""),
        ("2017-09-30T12:00:00Z", ""),
        ("2017-09-30", "CEST"),
        ("2017-09-30", "+2"),
        ("2017-09-30", "+02:00:00"),
    ] {
        let err = liaison_err(|l| {
            l.deadline = Some(proto::Deadline {
                date: date.into(),
                zone: zone.into(),
            })
        });
        assert!(
            matches!(err, DocumentError::InvalidDeadline(_)),
            "{date} {zone}: {err}"
        );
    }
}

/// Issue 10, item 3: the calendar's last years and zones not on Earth.
#[test]
fn deadline_out_of_range() {
    for (date, zone) in [
        ("9999-12-30", "-25:59"),
        ("9000-01-01", ""),
        ("2017-09-30", "-25:59"),
        ("2017-09-30", "+14:30"),
        ("2017-09-30", "-12:01"),
    ] {
        let err = liaison_err(|l| {
            l.deadline = Some(proto::Deadline {
                date: date.into(),
                zone: zone.into(),
            })
        });
        assert!(
            matches!(err, DocumentError::DeadlineOutOfRange(_)),
            "{date} {zone}: {err}"
        );
        assert!(err.to_string().contains("out of range"), "{err}");
    }
    for (date, zone) in [("8999-12-31", "+14:00"), ("0001-01-01", "-12:00")] {
        let mut l = ttml2_liaison();
        l.deadline = Some(proto::Deadline {
            date: date.into(),
            zone: zone.into(),
        });
        check(Body::Liaison(l), "itu").unwrap();
    }
}

/// Issue 10, item 3: every instant of a consultation is from year 1 to 8999.
#[test]
fn time_out_of_range() {
    let far = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let after = comity_core::dates::LATEST.unix_timestamp() + 1;
    let before = comity_core::dates::EARLIEST.unix_timestamp() - 1;
    assert_eq!(
        consultation_err(|c| c.opens_at = Some(far(before))),
        DocumentError::TimeOutOfRange { field: "opens_at" }
    );
    assert_eq!(
        consultation_err(|c| c.closes_at = Some(far(after))),
        DocumentError::TimeOutOfRange { field: "closes_at" }
    );
    assert_eq!(
        consultation_err(|c| c.reply_closes_at = Some(far(after + 1))),
        DocumentError::TimeOutOfRange {
            field: "reply_closes_at"
        }
    );
    assert_eq!(
        consultation_err(|c| c.report = Some(proto::ConsultationReport {
            summary: vec![text("en", "Report")],
            attachments: Vec::new(),
            published_at: Some(far(after)),
        })),
        DocumentError::TimeOutOfRange {
            field: "report.published_at"
        }
    );
    let malformed = prost_types::Timestamp {
        seconds: 1_900_000_000,
        nanos: -1,
    };
    assert_eq!(
        consultation_err(|c| c.closes_at = Some(malformed)),
        DocumentError::TimeOutOfRange { field: "closes_at" }
    );
    let err = consultation_err(|c| c.closes_at = Some(far(after)));
    assert!(err.to_string().contains("year 1 to year 8999"), "{err}");
}

#[test]
fn in_reply_to_required() {
    assert_eq!(
        liaison_err(|l| {
            l.purpose = LiaisonPurpose::InResponse as i32;
            l.deadline = None;
        }),
        DocumentError::InReplyToRequired
    );
}

#[test]
fn no_recipients() {
    assert_eq!(liaison_err(|l| l.to.clear()), DocumentError::NoRecipients);
}

#[test]
fn invalid_recipient() {
    let err = liaison_err(|l| l.to[0].org = "W3C".into());
    assert!(
        matches!(&err, DocumentError::InvalidRecipient(m) if m.contains("\"W3C\"")),
        "{err}"
    );
    let err = liaison_err(|l| l.to[0].group = "Timed Text".into());
    assert!(
        matches!(&err, DocumentError::InvalidRecipient(m) if m.contains("Timed Text")),
        "{err}"
    );
    let err = liaison_err(|l| l.cc.push(l.to[0].clone()));
    assert!(
        matches!(&err, DocumentError::InvalidRecipient(m) if m == "w3c/timed-text is addressed twice"),
        "{err}"
    );
    let err = liaison_err(|l| l.to[0].purpose = 42);
    assert!(matches!(err, DocumentError::InvalidRecipient(_)), "{err}");
}

#[test]
fn missing_state() {
    assert_eq!(liaison_err(|l| l.state = 0), DocumentError::MissingState);
}

#[test]
fn blank_identifier() {
    assert_eq!(
        liaison_err(|l| l.other_identifiers.push(" ".into())),
        DocumentError::BlankIdentifier(" ".into())
    );
}

// ---------------------------------------------------------------- receipts

#[test]
fn receipt_rules() {
    assert_eq!(
        receipt_err(|r| r.entry = None),
        DocumentError::MissingEntryRef
    );
    for edit in [
        (|e: &mut proto::EntryRef| e.seq = 0) as fn(&mut proto::EntryRef),
        |e| e.id.truncate(16),
        |e| e.origin = "ITU".into(),
    ] {
        let err = receipt_err(|r| edit(r.entry.as_mut().unwrap()));
        assert!(matches!(err, DocumentError::InvalidEntryRef(_)), "{err}");
    }
    assert_eq!(
        receipt_err(|r| r.liaison = None),
        DocumentError::MissingLiaisonRef
    );
    assert_eq!(
        receipt_err(|r| r.liaison.as_mut().unwrap().origin = "ietf".into()),
        DocumentError::ReceiptOriginMismatch {
            entry: "itu".into(),
            liaison: "ietf".into()
        }
    );
    assert_eq!(
        receipt_err(|r| r.status = 0),
        DocumentError::MissingReceiptStatus
    );
    // The reply that took the action, when named, is a well-formed reference.
    let err = receipt_err(|r| {
        r.reply = Some(proto::DocumentRef {
            origin: "w3c".into(),
            uuid: "not-a-uuid".into(),
        })
    });
    assert!(matches!(err, DocumentError::InvalidReference(_)), "{err}");
    let mut with_reply = w3c_receipt();
    with_reply.status = proto::ReceiptStatus::ActionTaken as i32;
    with_reply.reply = Some(proto::DocumentRef {
        origin: "w3c".into(),
        uuid: ITU_TTML2.into(),
    });
    check(Body::Receipt(with_reply), "w3c").unwrap();
}

// ------------------------------------------------------------ key rotation

#[test]
fn key_rotation_proof_verifies() {
    let icann = org("icann");
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let rotation = key_rotation::new(&icann, &old.public(), &new);
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap(),
        new.public()
    );
}

#[test]
fn key_rotation_proof_by_the_wrong_key_is_named() {
    let icann = org("icann");
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    // Someone else's public key, with a proof made by a key they do not hold.
    let mut rotation = key_rotation::new(&icann, &old.public(), &IdentityKey::generate());
    rotation.new_key = new.public().as_bytes().to_vec();
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::InvalidKeyProof
    );
    // A proof made for another origin, or against another old key, fails too.
    let rotation = key_rotation::new(&org("iana"), &old.public(), &new);
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::InvalidKeyProof
    );
    let rotation = key_rotation::new(&icann, &IdentityKey::generate().public(), &new);
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::InvalidKeyProof
    );
}

#[test]
fn a_tampered_key_rotation_is_named() {
    let icann = org("icann");
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let mut rotation = key_rotation::new(&icann, &old.public(), &new);
    rotation.new_key_signature[10] ^= 1;
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::InvalidKeyProof
    );
    let mut rotation = key_rotation::new(&icann, &old.public(), &new);
    rotation.new_key_signature.pop();
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::KeyProofLength(63)
    );
    let mut rotation = key_rotation::new(&icann, &old.public(), &new);
    rotation.new_key.pop();
    assert!(matches!(
        key_rotation::verify(&icann, &old.public(), &rotation).unwrap_err(),
        DocumentError::InvalidNewKey(_)
    ));
    // Shape errors are caught by validate too, without the old key.
    assert!(matches!(
        check(Body::KeyRotation(rotation), "icann").unwrap_err(),
        DocumentError::InvalidNewKey(_)
    ));
    let same = key_rotation::new(&icann, &old.public(), &old);
    assert_eq!(
        key_rotation::verify(&icann, &old.public(), &same).unwrap_err(),
        DocumentError::KeyUnchanged
    );
}

fn rotation_entry(
    origin: &str,
    old: &IdentityKey,
    rotation: proto::KeyRotation,
    audience: Audience,
    head: Option<comity_core::Head>,
) -> comity_core::SignedEntry {
    let (kind, payload) = document::encode(Body::KeyRotation(rotation));
    let mut e = UnsignedEntry::new(org(origin), kind, payload, time::OffsetDateTime::now_utc());
    e.audience = audience;
    e.sign(old, head)
}

#[test]
fn ingest_checks_the_rotation_proof_and_chains_follow_the_new_key() {
    let icann = org("icann");
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let profile = |key: &IdentityKey, head| {
        let (kind, payload) = document::encode(Body::Profile(proto::OrgProfile {
            id: "icann".into(),
            names: vec![text("en", "ICANN")],
            ..Default::default()
        }));
        UnsignedEntry::new(
            icann.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(key, head)
    };
    let first = profile(&old, None);
    let rotation = rotation_entry(
        "icann",
        &old,
        key_rotation::new(&icann, &old.public(), &new),
        Audience::Public,
        Some(first.head()),
    );
    let after = profile(&new, Some(rotation.head()));
    let head = verify_chain([&first, &rotation, &after], &old.public())
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 3);
    // The entry after the rotation no longer verifies with the old key.
    assert!(matches!(
        verify_for_ingest(&after, Some(&old.public()), Some(rotation.head()), |_| None),
        Err(VerifyError::BadSignature { seq: 3, .. })
    ));
    // A rotation whose proof is not the new key's is refused at ingest.
    let mut forged = key_rotation::new(&icann, &old.public(), &IdentityKey::generate());
    forged.new_key = new.public().as_bytes().to_vec();
    let forged = rotation_entry("icann", &old, forged, Audience::Public, Some(first.head()));
    assert!(matches!(
        verify_for_ingest(&forged, Some(&old.public()), Some(first.head()), |_| None),
        Err(VerifyError::InvalidPayload {
            reason: DocumentError::InvalidKeyProof,
            ..
        })
    ));
}

#[test]
fn restricted_key_rotation() {
    let icann = org("icann");
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let e = rotation_entry(
        "icann",
        &old,
        key_rotation::new(&icann, &old.public(), &new),
        Audience::Restricted(vec![org("itu")]),
        None,
    );
    assert_eq!(
        document::decode_for(&e).unwrap_err(),
        DocumentError::RestrictedKeyRotation
    );
    // Even as a stub, where the payload cannot be read.
    let stub = comity_core::SignedEntry::decode(e.for_reader(&org("ietf"))).unwrap();
    assert!(matches!(
        verify_for_ingest(&stub, Some(&old.public()), None, |_| None),
        Err(VerifyError::InvalidPayload {
            reason: DocumentError::RestrictedKeyRotation,
            ..
        })
    ));
}

// --------------------------------------------------------------- deadlines

#[test]
fn a_deadline_without_a_zone_ends_anywhere_on_earth() {
    let d = Deadline::parse("2017-09-30", "").unwrap();
    assert_eq!(d.zone, None);
    assert_eq!(d.ends_at(), datetime!(2017-10-01 12:00 UTC));
    assert_eq!(d.to_string(), "2017-09-30 (AoE)");
    assert!(!dates::is_overdue(&d, datetime!(2017-10-01 11:59:59 UTC)));
    assert!(dates::is_overdue(&d, datetime!(2017-10-01 12:00 UTC)));
    // Still 30 September somewhere: Baker Island, UTC-12.
    assert!(!d.is_overdue(datetime!(2017-09-30 23:59:59 -12:00)));
}

#[test]
fn a_deadline_with_a_zone_ends_at_midnight_there() {
    let geneva = Deadline::parse("2017-09-30", "+02:00").unwrap();
    assert_eq!(geneva.ends_at(), datetime!(2017-09-30 22:00 UTC));
    assert_eq!(geneva.to_string(), "2017-09-30 (+02:00)");
    assert!(geneva.is_overdue(datetime!(2017-09-30 22:00 UTC)));
    assert!(!geneva.is_overdue(datetime!(2017-09-30 21:59:59 UTC)));
    let utc = Deadline::parse("2007-05-15", "Z").unwrap();
    assert_eq!(utc.ends_at(), datetime!(2007-05-16 00:00 UTC));
    let washington = Deadline::parse("2017-09-30", "-04:00").unwrap();
    assert_eq!(washington.ends_at(), datetime!(2017-10-01 04:00 UTC));
    // Round trip through the wire form.
    for d in [
        geneva,
        utc,
        washington,
        Deadline::parse("2017-09-30", "").unwrap(),
    ] {
        assert_eq!(Deadline::from_proto(&d.to_proto()).unwrap(), d);
    }
}

#[test]
fn days_left_count_calendar_days_in_the_deadline_zone() {
    // Sent 2017-07-12, deadline 2017-09-30: Datatracker's reminders at 14, 7 … 0 days.
    let d = Deadline::parse("2017-09-30", "").unwrap();
    assert_eq!(d.days_left(datetime!(2017-09-16 12:00 UTC)), 14);
    // 2017-09-30T11:00Z is still 29 September at UTC-12.
    assert_eq!(d.days_left(datetime!(2017-09-30 11:00 UTC)), 1);
    assert_eq!(d.days_left(datetime!(2017-10-01 11:00 UTC)), 0);
    assert_eq!(d.days_left(datetime!(2017-10-14 12:00 UTC)), -14);
}

#[test]
fn liaison_deadline_helpers() {
    let l = ttml2_liaison();
    assert_eq!(liaison::needs_deadline(&l), Some(LiaisonPurpose::Comment));
    assert_eq!(
        liaison::deadline(&l).unwrap().ends_at(),
        datetime!(2017-10-01 12:00 UTC)
    );
    assert!(liaison::is_addressed_to(&l, &org("w3c")));
    assert!(liaison::is_addressed_to(&l, &org("ietf")));
    assert!(!liaison::is_addressed_to(&l, &org("icann")));
    assert_eq!(
        liaison::effective_purpose(&l, &l.to[0]),
        LiaisonPurpose::Comment
    );
    assert_eq!(
        liaison::effective_purpose(&l, &l.cc[0]),
        LiaisonPurpose::Information
    );
}

/// Issue 15: a deadline per recipient, for those asked to act or comment.
#[test]
fn per_recipient_deadlines() {
    let own = |date: &str| {
        Some(proto::Deadline {
            date: date.into(),
            zone: String::new(),
        })
    };
    // The W3C has its own date; the IETF (cc, for information) none.
    let mut l = ttml2_liaison();
    l.to[0].deadline = own("2017-08-31");
    assert_eq!(
        liaison::effective_deadline(&l, &l.to[0])
            .unwrap()
            .to_string(),
        "2017-08-31 (AoE)"
    );
    assert_eq!(liaison::effective_deadline(&l, &l.cc[0]), None);
    assert_eq!(
        liaison::earliest_deadline(&l).unwrap().to_string(),
        "2017-08-31 (AoE)"
    );
    // Every recipient asked has its own: the statement needs none.
    l.deadline = None;
    assert_eq!(liaison::needs_deadline(&l), None);
    check(Body::Liaison(l.clone()), "itu").unwrap();
    // Without it, the statement's is required again.
    l.to[0].deadline = None;
    assert!(matches!(
        check(Body::Liaison(l), "itu").unwrap_err(),
        DocumentError::DeadlineRequired { .. }
    ));
    // A deadline for someone only informed is refused, by name.
    let err = liaison_err(|l| l.cc[0].deadline = own("2017-08-31"));
    assert_eq!(err, DocumentError::DeadlineNotAsked("ietf".into()));
    assert!(
        err.to_string().contains("not asked for action or comment"),
        "{err}"
    );
    // So is an impossible date, naming the recipient.
    let err = liaison_err(|l| l.to[0].deadline = own("2017-02-30"));
    assert!(
        matches!(&err, DocumentError::InvalidDeadline(t) if t.starts_with("w3c")),
        "{err}"
    );
    let err = liaison_err(|l| l.to[0].deadline = own("99999-01-01"));
    assert!(
        matches!(
            err,
            DocumentError::InvalidDeadline(_) | DocumentError::DeadlineOutOfRange(_)
        ),
        "{err}"
    );
}

// --------------------------------------------------------------- late flag

#[test]
fn late_comments_and_replies() {
    let c = icann_consultation();
    let comment = ietf_response();
    let mut reply = ietf_response();
    reply.replies_to = Some(proto::DocumentRef {
        origin: "isoc".into(),
        uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
    });
    // 29 April is not over Anywhere-on-Earth until 30 April 11:59:59 UTC.
    assert!(!document::late(
        &ts(datetime!(2014-04-30 11:00 UTC)),
        &comment,
        &c
    ));
    assert!(document::late(
        &ts(datetime!(2014-04-30 12:00 UTC)),
        &comment,
        &c
    ));
    // A reply is on time until the reply period closes, 21 May.
    assert!(!document::late(
        &ts(datetime!(2014-05-10 09:00 UTC)),
        &reply,
        &c
    ));
    assert!(document::late(
        &ts(datetime!(2014-05-23 00:00 UTC)),
        &reply,
        &c
    ));
    // Without a reply period, a reply is late after the comment period.
    let mut no_replies = c.clone();
    no_replies.reply_closes_at = None;
    assert!(document::late(
        &ts(datetime!(2014-05-10 09:00 UTC)),
        &reply,
        &no_replies
    ));
}

#[test]
fn an_extension_makes_a_response_on_time() {
    // Proposed Final New gTLD Applicant Guidebook: 2010-11-12 to 2010-12-10,
    // extended to 2011-01-15 by a second revision.
    let mut c = icann_consultation();
    c.title = vec![text("en", "Proposed Final New gTLD Applicant Guidebook")];
    c.opens_at = Some(ts(dates::parse_start("2010-11-12").unwrap()));
    c.closes_at = Some(day_end("2010-12-10"));
    c.reply_closes_at = None;
    check(Body::Consultation(c.clone()), "icann").unwrap();
    let mut extended = c.clone();
    extended.revision = 2;
    extended.closes_at = Some(day_end("2011-01-15"));
    check(Body::Consultation(extended.clone()), "icann").unwrap();
    let created = ts(datetime!(2010-12-20 15:00 UTC));
    assert!(document::late(&created, &ietf_response(), &c));
    assert!(!document::late(&created, &ietf_response(), &extended));
}

// ---------------------------------------------------------- reply template

#[test]
fn a_reply_swaps_from_and_to() {
    let original = ttml2_liaison();
    let reply = liaison::reply_template(
        &org("itu"),
        &original,
        &org("w3c"),
        time::OffsetDateTime::now_utc(),
    );
    assert_eq!(reply.title, "Re: Review of TTML2");
    assert_eq!(reply.from_groups, vec!["timed-text".to_string()]);
    assert_eq!(
        reply.to,
        vec![proto::Addressee {
            org: "itu".into(),
            group: "itu-t/sg16".into(),
            purpose: 0,
            ..Default::default()
        }]
    );
    assert!(reply.cc.is_empty());
    assert_eq!(reply.purpose, LiaisonPurpose::InResponse as i32);
    assert_eq!(
        reply.in_reply_to,
        Some(proto::DocumentRef {
            origin: "itu".into(),
            uuid: ITU_TTML2.into()
        })
    );
    assert_eq!(reply.state, proto::LiaisonState::Draft as i32);
    assert_eq!(reply.revision, 1);
    assert_ne!(reply.uuid, original.uuid);
    assert!(reply.deadline.is_none());
    // Once the writer adds a body, it is a valid statement.
    assert_eq!(
        check(Body::Liaison(reply.clone()), "w3c").unwrap_err(),
        DocumentError::BodyOrAttachmentRequired
    );
    let mut filled = reply;
    filled.body = Some(text("en", "The Timed Text WG thanks SG16 for its review."));
    check(Body::Liaison(filled.clone()), "w3c").unwrap();
    // A reply to the reply does not stack "Re: ".
    let again = liaison::reply_template(
        &org("w3c"),
        &filled,
        &org("itu"),
        time::OffsetDateTime::now_utc(),
    );
    assert_eq!(again.title, "Re: Review of TTML2");
    assert_eq!(again.from_groups, vec!["itu-t/sg16".to_string()]);
    assert_eq!(again.to[0].group, "timed-text");
}

#[test]
fn a_reply_from_an_organisation_addressed_as_a_whole() {
    // IETF was cc'd as a whole; it replies as the organisation.
    let reply = liaison::reply_template(
        &org("itu"),
        &ttml2_liaison(),
        &org("ietf"),
        time::OffsetDateTime::now_utc(),
    );
    assert!(reply.from_groups.is_empty());
    assert_eq!(reply.to[0].org, "itu");
}
