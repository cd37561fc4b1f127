//! The organisations of the demo: those the WTPF-13 Opinion names, with their
//! stakeholder groups, regions, languages and groups (from ../shared/SAMPLES.md).

pub struct DemoOrg {
    pub id: &'static str,
    pub name: &'static str,
    pub group: &'static str,
    pub region: &'static str,
    pub country: Option<&'static str>,
    pub languages: &'static [&'static str],
    pub groups: &'static [&'static str],
}

const fn org(
    id: &'static str,
    name: &'static str,
    group: &'static str,
    region: &'static str,
) -> DemoOrg {
    DemoOrg {
        id,
        name,
        group,
        region,
        country: None,
        languages: &["en"],
        groups: &[],
    }
}

pub const ORGS: &[DemoOrg] = &[
    DemoOrg {
        country: Some("CH"),
        languages: &["ar", "en", "es", "fr", "ru", "zh"],
        groups: &[
            "itu-t/sg11",
            "itu-t/sg15",
            "itu-t/sg16",
            "itu-t/sg17",
            "itu-d/q11-1",
            "cwg-internet",
        ],
        ..org(
            "itu",
            "International Telecommunication Union",
            "intergovernmental",
            "global",
        )
    },
    DemoOrg {
        groups: &["gnso", "ccwg-ig"],
        ..org(
            "icann",
            "Internet Corporation for Assigned Names and Numbers",
            "technical-academic",
            "global",
        )
    },
    DemoOrg {
        groups: &["ccamp", "lpwan", "nmop", "iab"],
        ..org(
            "ietf",
            "Internet Engineering Task Force",
            "technical-academic",
            "global",
        )
    },
    DemoOrg {
        country: Some("MU"),
        languages: &["en", "fr"],
        ..org("afrinic", "AFRINIC", "technical-academic", "Africa")
    },
    DemoOrg {
        country: Some("AU"),
        ..org("apnic", "APNIC", "technical-academic", "Asia-Pacific")
    },
    DemoOrg {
        country: Some("US"),
        ..org("arin", "ARIN", "technical-academic", "North America")
    },
    DemoOrg {
        country: Some("UY"),
        languages: &["es", "en", "pt"],
        ..org(
            "lacnic",
            "LACNIC",
            "technical-academic",
            "Latin America and Caribbean",
        )
    },
    DemoOrg {
        country: Some("NL"),
        groups: &["anti-abuse-wg"],
        ..org(
            "ripe-ncc",
            "RIPE NCC",
            "technical-academic",
            "Europe, Middle East, Central Asia",
        )
    },
    DemoOrg {
        ..org("isoc", "Internet Society", "civil-society", "global")
    },
    DemoOrg {
        groups: &["w3c/timed-text"],
        ..org(
            "w3c",
            "World Wide Web Consortium",
            "technical-academic",
            "global",
        )
    },
    DemoOrg {
        ..org(
            "igf",
            "Internet Governance Forum Secretariat",
            "intergovernmental",
            "global",
        )
    },
    DemoOrg {
        country: Some("KE"),
        languages: &["en", "sw"],
        ..org(
            "kenya-igf",
            "Kenya Internet Governance Forum",
            "civil-society",
            "Africa",
        )
    },
    DemoOrg {
        ..org("eurodig", "EuroDIG", "civil-society", "Europe")
    },
    DemoOrg {
        ..org(
            "m3aawg",
            "Messaging, Malware and Mobile Anti-Abuse Working Group",
            "private-sector",
            "global",
        )
    },
    DemoOrg {
        ..org(
            "apwg",
            "Anti-Phishing Working Group",
            "private-sector",
            "global",
        )
    },
    DemoOrg {
        ..org(
            "apec-tel",
            "APEC Telecommunications and Information Working Group",
            "intergovernmental",
            "Asia-Pacific",
        )
    },
    DemoOrg {
        country: Some("KE"),
        languages: &["en", "sw"],
        ..org(
            "ke-moict",
            "Ministry of Information, Communications and the Digital Economy (Kenya)",
            "government",
            "Africa",
        )
    },
];

/// The organisation reached only through relays: it dials no one but these.
pub const RELAYED: &str = "kenya-igf";
pub const RELAYED_VIA: &[&str] = &["igf", "afrinic"];

pub fn find(id: &str) -> Option<&'static DemoOrg> {
    ORGS.iter().find(|o| o.id == id)
}
