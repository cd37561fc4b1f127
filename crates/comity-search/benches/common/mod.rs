//! A deterministic multilingual corpus for the benchmarks: documents of
//! 1 to 2 KiB in the six UN languages and German, drawn from small
//! vocabularies of the field with a skewed (Zipf-like) word frequency.

#![allow(dead_code, reason = "each bench uses part of it")]

use std::time::Duration;

use comity_search::{Audience, DocKind, IndexDoc, Localized};
use time::OffsetDateTime;

pub const EN: &str = "internet governance network security standard protocol telecommunication data privacy protection spectrum management international organisation cooperation development technology policy regulation domain name address allocation number resource service user operator infrastructure broadband mobile communication satellite wireless research group meeting report recommendation comment consultation public response liaison statement secretariat member state government society company citizen right open transparent inclusive sustainable digital economy artificial intelligence cloud computing identity trust risk incident emergency vulnerability attack defence detection assessment framework principle rule procedure process document draft revision version publication deadline date participation stakeholder multilateral equal reciprocal global regional local capacity training education access interoperability testing implementation deployment migration transition routing exchange backbone fibre submarine cable encryption certificate registry registrar root zone resolver measurement";
pub const FR: &str = "gouvernance internet réseau sécurité norme protocole télécommunications données vie privée protection spectre gestion internationale organisation coopération développement technologie politique réglementation nom domaine adresse attribution numéro ressource service utilisateur opérateur infrastructure haut débit mobile communication satellite sans fil recherche groupe réunion rapport recommandation commentaire consultations publiques réponse liaison déclaration secrétariat membre État gouvernement société entreprise citoyen droit ouvert transparent inclusif durable numérique économie intelligence artificielle informatique nuage identité confiance risque incident urgence vulnérabilité attaque défense détection évaluation cadre principe règle procédure processus document projet révision version publiée échéance date participation partie prenante multilatéral égal réciproque mondial régional local capacités formation éducation accès interopérabilité essais mise œuvre déploiement migration transition routage échange dorsale fibre câble sous-marin chiffrement certificat registre racine résolveur mesure";
pub const ES: &str = "gobernanza internet red seguridad norma protocolo telecomunicaciones datos privacidad protección espectro gestión internacional organización cooperación desarrollo tecnología política regulación nombre dominio dirección asignación número recurso servicio usuario operador infraestructura banda ancha móvil comunicación satélite inalámbrica investigación grupo reunión informe recomendación comentario consulta pública respuesta enlace declaración secretaría miembro Estado gobierno sociedad empresa ciudadano derecho abierto transparente inclusivo sostenible digital economía inteligencia artificial computación nube identidad confianza riesgo incidente emergencia vulnerabilidad ataque defensa detección evaluación marco principio regla procedimiento proceso documento borrador revisión versión publicación plazo fecha participación partes interesadas multilateral igual recíproco mundial regional local capacidades formación educación acceso interoperabilidad pruebas aplicación despliegue migración transición encaminamiento intercambio troncal fibra cable submarino cifrado certificado registro raíz medición";
pub const RU: &str = "управление интернетом сеть безопасность стандарт протокол электросвязь данные конфиденциальность защита спектр международная организация сотрудничество развитие технологии политика регулирование доменное имя адрес распределение номер ресурс услуга пользователь оператор инфраструктура широкополосный мобильная связь спутник беспроводная исследовательская группа собрание отчёт рекомендация комментарий консультация общественная ответ заявление секретариат член государство правительство общество компания гражданин право открытый прозрачный инклюзивный устойчивый цифровая экономика искусственный интеллект облачные вычисления идентификация доверие риск инцидент чрезвычайная уязвимость атака защита обнаружение оценка рамки принцип правило процедура процесс документ проект пересмотр версия публикация срок дата участие заинтересованные стороны многосторонний равный взаимный глобальный региональный местный потенциал обучение образование доступ совместимость испытания внедрение развёртывание переход маршрутизация обмен магистраль волокно подводный кабель шифрование сертификат реестр корневая зона измерение";
pub const AR: &str = "حوكمة الإنترنت الشبكة الأمن معيار بروتوكول الاتصالات البيانات الخصوصية حماية الطيف إدارة الدولية منظمة التعاون التنمية التكنولوجيا السياسة التنظيم اسم النطاق عنوان تخصيص رقم مورد خدمة المستخدم المشغل البنية التحتية النطاق العريض المتنقلة الاتصال الساتل اللاسلكي البحث فريق اجتماع تقرير توصية تعليق مشاورة عامة رد بيان الاتصال الأمانة عضو الدولة الحكومة المجتمع الشركة المواطن الحق مفتوح شفاف شامل مستدام رقمي الاقتصاد الذكاء الاصطناعي الحوسبة السحابية الهوية الثقة المخاطر حادث الطوارئ الثغرات هجوم الدفاع الكشف التقييم إطار مبدأ قاعدة إجراء عملية وثيقة مشروع مراجعة نسخة نشر الموعد النهائي تاريخ المشاركة أصحاب المصلحة متعدد الأطراف متساو متبادل عالمي إقليمي محلي بناء القدرات التدريب التعليم النفاذ التشغيل البيني الاختبار التنفيذ النشر الانتقال التوجيه التبادل الألياف الكابلات البحرية التشفير الشهادة السجل الجذر القياس";
pub const DE: &str = "Internet Verwaltung Netz Sicherheit Norm Protokoll Telekommunikation Daten Datenschutz Schutz Spektrum international Organisation Zusammenarbeit Entwicklung Technologie Politik Regulierung Domänenname Adresse Zuteilung Nummer Ressource Dienst Nutzer Betreiber Infrastruktur Breitband Mobilfunk Kommunikation Satellit Forschung Gruppe Sitzung Bericht Empfehlung Kommentar Konsultation öffentlich Antwort Erklärung Sekretariat Mitglied Staat Regierung Gesellschaft Unternehmen Bürger Recht offen transparent nachhaltig digital Wirtschaft Vertrauen Risiko Vorfall Angriff Bewertung Rahmen Grundsatz Regel Verfahren Dokument Entwurf Fassung Frist Datum Beteiligung";
pub const ZH: &str = "互联网 治理 网络 安全 标准 协议 电信 数据 隐私 保护 频谱 管理 国际 组织 合作 发展 技术 政策 监管 域名 地址 分配 号码 资源 服务 用户 运营商 基础设施 宽带 移动 通信 卫星 无线 研究 小组 会议 报告 建议 意见 征求 公开 咨询 答复 联络 声明 秘书处 成员 国家 政府 社会 企业 公民 权利 开放 透明 包容 可持续 数字 经济 人工智能 云计算 物联网 区块链 加密 认证 身份 信任 风险 事件 应急 响应 漏洞 攻击 防护 检测 评估 框架 原则 规则 程序 流程 文件 草案 修订 版本 发布 截止 日期 期限 参与 利益相关方 多边 平等 互惠 全球 区域 地方 能力建设 培训 教育 接入 普及 互操作 兼容 测试 实施 部署 迁移 过渡 路由 交换 骨干 光纤 海底电缆 网络安全 个人信息 数据保护 跨境 流动 存储 处理 共享 的 和 与 在 对 关于 以及 为 是 将 进行 加强 推动 促进 确保 提高 支持";

pub fn vocab(lang: &str) -> Vec<&'static str> {
    match lang {
        "en" => EN,
        "fr" => FR,
        "es" => ES,
        "ru" => RU,
        "ar" => AR,
        "de" => DE,
        _ => ZH,
    }
    .split(' ')
    .collect()
}

/// SplitMix64: a small deterministic generator (no dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed towards the first words, as word frequencies are.
    pub fn zipfish(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * n as f64) as usize
    }
}

/// Text of about `bytes` bytes in `lang`.
pub fn text(rng: &mut Rng, lang: &str, bytes: usize) -> String {
    let words = vocab(lang);
    let cjk = lang == "zh";
    let mut out = String::with_capacity(bytes + 64);
    let mut in_sentence = 0;
    while out.len() < bytes {
        let w = words[rng.zipfish(words.len())];
        if cjk {
            out.push_str(w);
            in_sentence += 1;
            if in_sentence > 8 + rng.below(10) {
                out.push('。');
                in_sentence = 0;
            } else if rng.below(6) == 0 {
                out.push('，');
            }
        } else {
            if in_sentence > 0 {
                out.push(' ');
            }
            out.push_str(w);
            in_sentence += 1;
            if in_sentence > 8 + rng.below(12) {
                out.push_str(". ");
                in_sentence = 0;
            }
        }
    }
    out
}

pub fn title(rng: &mut Rng, lang: &str) -> String {
    let words = vocab(lang);
    let n = 3 + rng.below(5);
    let sep = if lang == "zh" { "" } else { " " };
    (0..n)
        .map(|_| words[rng.below(words.len())])
        .collect::<Vec<_>>()
        .join(sep)
}

pub const LANGS: [&str; 7] = ["en", "fr", "es", "ru", "ar", "zh", "de"];
/// Weights of the languages above (percent).
const LANG_WEIGHTS: [usize; 7] = [34, 15, 12, 10, 10, 14, 5];

fn pick_lang(rng: &mut Rng) -> &'static str {
    let mut x = rng.below(100);
    for (l, w) in LANGS.iter().zip(LANG_WEIGHTS) {
        if x < w {
            return l;
        }
        x -= w;
    }
    "en"
}

pub fn org(i: usize) -> String {
    format!("org{i:02}")
}

/// Document number `i` of the corpus: 1 to 2 KiB of text in one or two
/// languages, 10% restricted to one to three of 50 organisations.
pub fn document(i: u64) -> IndexDoc {
    let mut rng = Rng(i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xC0FFEE);
    let kind = match rng.below(10) {
        0..=3 => DocKind::Consultation,
        4..=7 => DocKind::Response,
        _ => DocKind::Liaison,
    };
    let origin = org(rng.below(50));
    let first = pick_lang(&mut rng);
    let mut langs = vec![first];
    if rng.below(4) == 0 {
        let second = pick_lang(&mut rng);
        if second != first {
            langs.push(second);
        }
    }
    let total = 1024 + rng.below(1024);
    let per_lang = total / langs.len();
    let mut titles = Vec::new();
    let mut summaries = Vec::new();
    let mut bodies = Vec::new();
    for l in &langs {
        if kind != DocKind::Response {
            titles.push(Localized::new(*l, title(&mut rng, l)));
            summaries.push(Localized::new(*l, text(&mut rng, l, per_lang / 5)));
        }
        bodies.push(Localized::new(*l, text(&mut rng, l, per_lang * 4 / 5)));
    }
    let audience = if rng.below(10) == 0 {
        let n = 1 + rng.below(3);
        Audience::Restricted((0..n).map(|_| org(rng.below(50))).collect())
    } else {
        Audience::Public
    };
    IndexDoc {
        origin,
        kind,
        uuid: format!("0190{i:028x}"),
        revision: 1,
        seq: i + 2,
        entry_id: format!("{:064x}", rng.next()),
        created_at: OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000 + i * 37),
        titles,
        summaries,
        bodies,
        audience,
    }
}

/// p50 and p99 of a set of timings.
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.50), at(0.99))
}

/// Resident memory from /proc (Linux), in MiB: (anonymous, i.e. heap;
/// file-backed, i.e. mapped index files; peak of the total).
pub fn memory_mib() -> (f64, f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("RssAnon:"), field("RssFile:"), field("VmHWM:"))
}

/// Resident memory now and at peak, from /proc (Linux), in MiB.
pub fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
