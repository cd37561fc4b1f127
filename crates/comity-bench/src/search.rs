//! Full-text search (issue 15), on real `comity serve` processes: the same
//! backlog of documents ingested, in one run, by a follower with its search
//! index off (`[storage] search = false`) and by one with it on,
//! alternately; how long the index takes to hold every document; then,
//! with every document held and indexed, search latency through the local
//! API (`Search`, as `comity search` asks), per query.
//!
//! The documents are consultations with about 1 KiB of text in one of six
//! languages (English, French, Spanish, Russian, Arabic, Chinese) drawn
//! from small vocabularies, deterministically.

use crate::cluster::{self, Api, Bin, NodeProc};
use crate::scenarios::percentile;
use anyhow::{Result, bail};
use comity_core::proto;
use serde::Serialize;
use std::{
    path::Path,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Serialize)]
pub struct QueryLatency {
    pub name: String,
    pub query: String,
    pub lang: String,
    /// Documents matching (over all pages; 20 returned).
    pub total: u64,
    pub runs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchBench {
    pub documents: u64,
    pub rounds: usize,
    /// Median over the rounds.
    pub without_index_entries_per_s: f64,
    pub with_index_entries_per_s: f64,
    /// With / without: below 1 is the cost.
    pub with_over_without: f64,
    /// From the start of the last ingest with the index on until every
    /// document was searchable (the indexer runs behind ingest).
    pub indexed_after_s: f64,
    pub indexed_documents_per_s: f64,
    pub index_disk_bytes: u64,
    pub follower_rss_mb: f64,
    pub queries: Vec<QueryLatency>,
    pub worst_p99_ms: f64,
    /// /proc/loadavg when the scenario started and ended (the machine is shared).
    pub load_before: String,
    pub load_after: String,
}

/// The load averages as `/proc/loadavg` writes them, for the report.
fn loadavg() -> String {
    cluster::load_average()
        .map(|[one, five, fifteen]| format!("{one:.2} {five:.2} {fifteen:.2}"))
        .unwrap_or_default()
}

const VOCAB: [(&str, &str); 6] = [
    (
        "en",
        "network security routing internet governance policy review registry domain names \
         operators comments consultation draft standard protocol address numbering spectrum \
         privacy encryption data flows cooperation members report study group meeting liaison",
    ),
    (
        "fr",
        "réseaux sécurité routage internet gouvernance politique révision registre domaine noms \
         opérateurs observations consultation projet norme protocole adresse numérotation spectre \
         confidentialité chiffrement données flux coopération membres rapport étude groupe réunion",
    ),
    (
        "es",
        "redes seguridad enrutamiento internet gobernanza política revisión registro dominio nombres \
         operadores comentarios consulta proyecto norma protocolo dirección numeración espectro \
         privacidad cifrado datos flujos cooperación miembros informe estudio grupo reunión",
    ),
    (
        "ru",
        "сети безопасность маршрутизация интернет управление политика обзор реестр домен имена \
         операторы комментарии консультация проект стандарт протокол адрес нумерация спектр \
         конфиденциальность шифрование данные потоки сотрудничество члены доклад исследование группа",
    ),
    (
        "ar",
        "الشبكات الأمن التوجيه الإنترنت حوكمة السياسة مراجعة السجل النطاق الأسماء المشغلون \
         التعليقات مشاورة مشروع معيار بروتوكول العنوان الترقيم الطيف الخصوصية التشفير البيانات \
         التدفقات التعاون الأعضاء التقرير دراسة الفريق الاجتماع",
    ),
    (
        "zh-Hans",
        "网络 安全 路由 互联网 治理 政策 审查 注册 域名 名称 运营商 意见 咨询 草案 标准 协议 \
         地址 编号 频谱 隐私 加密 数据 流动 合作 成员 报告 研究组 会议 联络",
    ),
];

/// Document `i`: a consultation in one of six languages, a title of six
/// words and a body of about 1 KiB; one in 1,000 also names "quasar".
fn document(i: usize) -> proto::document::Body {
    let (lang, words) = VOCAB[i % VOCAB.len()];
    let words: Vec<&str> = words.split_whitespace().collect();
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        words[(state % words.len() as u64) as usize]
    };
    let sep = if lang.starts_with("zh") { "" } else { " " };
    let title: Vec<&str> = (0..6).map(|_| next()).collect();
    let mut body = String::new();
    while body.len() < 1024 {
        let sentence: Vec<&str> = (0..12).map(|_| next()).collect();
        body.push_str(&sentence.join(sep));
        body.push_str(if lang.starts_with("zh") { "。" } else { ". " });
    }
    if i.is_multiple_of(1000) {
        body.push_str(" quasar");
    }
    let text = |value: String| {
        vec![proto::Text {
            lang: lang.into(),
            value,
        }]
    };
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: text(format!("comity {}", title.join(sep))),
        body: text(body),
        closes_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

async fn total(api: &mut Api, query: &str, lang: &str) -> Result<u64> {
    Ok(api
        .search(proto::SearchRequest {
            query: query.into(),
            lang: lang.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .total)
}

pub async fn search(
    bin: &Bin,
    scratch: &Path,
    count: usize,
    rounds: usize,
    runs: usize,
) -> Result<SearchBench> {
    let load_before = loadavg();
    let root = tempfile::tempdir_in(scratch)?;
    let mut origin = NodeProc::init(bin, root.path(), "search-origin")?;
    let target = origin.prefill_with(count, document)?;
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut kept: Option<(NodeProc, Api, f64)> = None;
    for round in 0..rounds {
        for on in [false, true] {
            let name = format!("s-{}-{round}", if on { "on" } else { "off" });
            let mut follower = NodeProc::init(bin, root.path(), &name)?;
            let mut config = comity_node::Config::load(&follower.dir)?;
            config.storage.search = on;
            config.save(&follower.dir)?;
            origin.peer_add_cli(&follower)?;
            let _o_api = origin.serve().await?;
            let mut f_api = follower.serve().await?;
            let start = Instant::now();
            cluster::add_peer(&mut f_api, &origin).await?;
            cluster::wait_for(&mut f_api, &origin.org, target, Duration::from_secs(900)).await?;
            let rate = count as f64 / start.elapsed().as_secs_f64();
            if on {
                with.push(rate);
                // Every document has "comity" in its title.
                let deadline = Instant::now() + Duration::from_secs(1800);
                while total(&mut f_api, "comity", "").await? < count as u64 {
                    if Instant::now() > deadline {
                        bail!("the index of {name} did not reach {count} documents");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let indexed = start.elapsed().as_secs_f64();
                if round + 1 == rounds {
                    origin.stop()?;
                    kept = Some((follower, f_api, indexed));
                    continue;
                }
            } else {
                without.push(rate);
            }
            drop(f_api);
            follower.stop()?;
            origin.stop()?;
        }
    }
    let Some((mut follower, mut api, indexed_after_s)) = kept else {
        bail!("no round with the index on");
    };
    let queries: [(&str, &str, &str); 8] = [
        ("one common word", "network", ""),
        ("a rare word (1 in 1,000)", "quasar", ""),
        ("two words", "security governance", ""),
        ("a phrase", "\"internet governance\"", ""),
        ("French, another inflection", "réseau", "fr"),
        ("Chinese, two characters", "安全", ""),
        ("Arabic", "حوكمة", "ar"),
        ("a word and an exclusion", "privacy -encryption", ""),
    ];
    let mut out = Vec::new();
    for (name, query, lang) in queries {
        let total = total(&mut api, query, lang).await?;
        for _ in 0..20 {
            total_ignored(&mut api, query, lang).await?;
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            total_ignored(&mut api, query, lang).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        out.push(QueryLatency {
            name: name.into(),
            query: query.into(),
            lang: lang.into(),
            total,
            runs,
            p50_ms: percentile(&times, 50.0),
            p99_ms: percentile(&times, 99.0),
        });
    }
    let rss = follower.pid().and_then(cluster::rss_bytes).unwrap_or(0);
    let index_disk_bytes = dir_size(&comity_node::DataDir::new(&follower.dir).search_path());
    drop(api);
    follower.stop()?;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    let worst = out.iter().map(|q| q.p99_ms).fold(0.0, f64::max);
    Ok(SearchBench {
        documents: count as u64,
        rounds,
        without_index_entries_per_s: wo,
        with_index_entries_per_s: w,
        with_over_without: w / wo,
        indexed_after_s,
        indexed_documents_per_s: count as f64 / indexed_after_s,
        index_disk_bytes,
        follower_rss_mb: rss as f64 / 1_048_576.0,
        queries: out,
        worst_p99_ms: worst,
        load_before,
        load_after: loadavg(),
    })
}

/// One search as `comity search` asks it: a page of 20 with snippets.
async fn total_ignored(api: &mut Api, query: &str, lang: &str) -> Result<()> {
    let response = api
        .search(proto::SearchRequest {
            query: query.into(),
            lang: lang.into(),
            limit: 20,
            ..Default::default()
        })
        .await?
        .into_inner();
    std::hint::black_box(response);
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
