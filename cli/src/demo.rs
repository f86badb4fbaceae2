//! `sangkien demo`: a federation shaped like the seed documents, built from nothing, one node
//! (one data directory) per unit. Entries move between nodes only as bundles through
//! `Node::import`, the verified path sync uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use node::{bundle, now_ms, records, Node};
use sync_protocol::audit::verify_store;
use sync_protocol::date::Date;
use sync_protocol::entry::{AwardGrade, DecisionKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{
    Application, Author, Campaign, Deadline, Description, EmployerRecognition, Initiative, Phase,
    Programme, RecordContent, TargetAssignment,
};
use sync_protocol::store::EntryStore;
use sync_protocol::text::Text;

use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// Marks a directory the demo made, so a re-run may replace it.
const MARKER: &str = ".sangkien-demo";

/// The units of the demo: id, name, role, parent.
const UNITS: &[(&str, &str, &str, &str)] = &[
    (
        "ldld-phu-yen",
        "Liên đoàn Lao động tỉnh Phú Yên",
        "provincial",
        "tld",
    ),
    (
        "ldld-ninh-thuan",
        "Liên đoàn Lao động tỉnh Ninh Thuận",
        "provincial",
        "tld",
    ),
    (
        "ldld-tra-vinh",
        "Liên đoàn Lao động tỉnh Trà Vinh",
        "provincial",
        "tld",
    ),
    (
        "cd-y-te",
        "Công đoàn Y tế Việt Nam",
        "central-sector",
        "tld",
    ),
    (
        "cd-evn",
        "Công đoàn Điện lực Việt Nam",
        "corporation",
        "tld",
    ),
    (
        "ldld-tuy-hoa",
        "Liên đoàn Lao động thành phố Tuy Hòa",
        "direct-superior",
        "ldld-phu-yen",
    ),
    (
        "ldld-dong-hoa",
        "Liên đoàn Lao động thị xã Đông Hòa",
        "direct-superior",
        "ldld-phu-yen",
    ),
    (
        "ldld-phan-rang",
        "Liên đoàn Lao động thành phố Phan Rang - Tháp Chàm",
        "direct-superior",
        "ldld-ninh-thuan",
    ),
    (
        "ldld-cang-long",
        "Liên đoàn Lao động huyện Càng Long",
        "direct-superior",
        "ldld-tra-vinh",
    ),
    (
        "cdcs-thuy-san-tuy-hoa",
        "Công đoàn Công ty TNHH Thủy sản Tuy Hòa",
        "grassroots",
        "ldld-tuy-hoa",
    ),
    (
        "cdcs-bv-phu-yen",
        "Công đoàn Bệnh viện Đa khoa tỉnh Phú Yên",
        "grassroots",
        "ldld-tuy-hoa",
    ),
    (
        "cdcs-cang-vung-ro",
        "Công đoàn Công ty Cổ phần Cảng Vũng Rô",
        "grassroots",
        "ldld-dong-hoa",
    ),
    (
        "cdcs-thpt-chu-van-an",
        "Công đoàn Trường THPT Chu Văn An",
        "grassroots",
        "ldld-phan-rang",
    ),
    (
        "cdcs-ttyt-cang-long",
        "Công đoàn Trung tâm Y tế huyện Càng Long",
        "grassroots",
        "ldld-cang-long",
    ),
    (
        "cdcs-bv-cho-ray",
        "Công đoàn Bệnh viện Chợ Rẫy",
        "grassroots",
        "cd-y-te",
    ),
    (
        "cdcs-pc-phu-yen",
        "Công đoàn Công ty Điện lực Phú Yên",
        "grassroots",
        "cd-evn",
    ),
];

struct Demo {
    lang: Lang,
    dir: PathBuf,
    nodes: BTreeMap<String, Node>,
    /// Units in enrolment order (parents before children).
    order: Vec<String>,
    parents: BTreeMap<String, String>,
    last_ms: u64,
    moved: usize,
    sessions: usize,
    bundled: usize,
    rt: tokio::runtime::Runtime,
}

/// The one link of the demo that is down for good: this district office has no internet and
/// exchanges USB bundles with its province.
const OFFLINE_LINK: (&str, &str) = ("ldld-cang-long", "ldld-tra-vinh");

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::problem(e.to_string())
}

fn t(s: &str) -> Text {
    Text::new("demo", s, 20_000).expect("demo text is valid")
}

fn date(s: &str) -> Date {
    Date::parse(s).expect("demo dates exist")
}

/// Login and password of the demo's officer account at every node (`--no-serve` makes none).
pub const DEMO_LOGIN: (&str, &str) = ("demo", "sangkien-demo");
/// The first port the demo serves a web interface on (one port per node, in enrolment order).
pub const DEMO_FIRST_HTTP_PORT: u16 = 7480;

/// Runs the demo in `dir`; then, unless `no_serve`, serves every node's web interface on
/// 127.0.0.1 until Ctrl-C.
pub fn run_and_serve(ctx: &Ctx, dir: &Path, no_serve: bool) -> Result<u8, Failure> {
    let code = run(ctx, dir)?;
    if no_serve || code != 0 {
        return Ok(code);
    }
    serve(ctx, dir)
}

/// Serves every node of the demo (their web interfaces, QUIC on any port) until Ctrl-C.
fn serve(ctx: &Ctx, dir: &Path) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut units: Vec<&str> = vec!["tld"];
    units.extend(UNITS.iter().map(|u| u.0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("tokio: {e}")))?;
    crate::outln!(
        "\n{}",
        lang.t(
            "=== Giao diện web của từng nút (Ctrl-C để dừng) ===",
            "=== Every node's web interface (Ctrl-C to stop) ==="
        )
    );
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, unit) in units.iter().enumerate() {
            let data = dir.join(unit);
            {
                let node = Node::open(&data).map_err(fail)?;
                let all = node::officers::Role::ALL;
                match node::officers::add(
                    node.store(),
                    DEMO_LOGIN.0,
                    "Cán bộ mẫu",
                    "Cán bộ công đoàn",
                    &all,
                    DEMO_LOGIN.1,
                    node::now_ms(),
                ) {
                    Ok(_) | Err(node::officers::AccountError::Exists(_)) => {}
                    Err(e) => return Err(fail(e)),
                }
            }
            let port = DEMO_FIRST_HTTP_PORT + i as u16;
            let config = node::service::ServiceConfig {
                data,
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                interval_s: 3600,
                log_level: "warn".into(),
                cache_mb: None,
                http_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
                http_off: false,
                web_secure_cookies: false,
                web_session_idle_s: None,
                peers: Vec::new(),
            };
            crate::outln!("  http://127.0.0.1:{port}/  {unit}");
            tasks.push(tokio::spawn(node::service::run(config, async {
                let _ = tokio::signal::ctrl_c().await;
            })));
        }
        crate::outln!(
            "{}: {} / {}",
            lang.t("Đăng nhập ở mọi nút", "Log in at every node with"),
            DEMO_LOGIN.0,
            DEMO_LOGIN.1
        );
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => crate::errln!("{e}"),
                Err(e) => crate::errln!("{e}"),
            }
        }
        Ok::<(), Failure>(())
    })?;
    Ok(0)
}

/// Runs the demo in `dir`.
pub fn run(ctx: &Ctx, dir: &Path) -> Result<u8, Failure> {
    let lang = ctx.lang;
    prepare(lang, dir)?;
    let mut demo = Demo {
        lang,
        dir: dir.to_owned(),
        nodes: BTreeMap::new(),
        order: Vec::new(),
        parents: BTreeMap::new(),
        last_ms: 0,
        moved: 0,
        sessions: 0,
        bundled: 0,
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| fail(format!("tokio: {e}")))?,
    };
    demo.story(ctx)
}

fn prepare(lang: Lang, dir: &Path) -> Result<(), Failure> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        } else if !empty {
            return Err(Failure::input(format!(
                "{} {}",
                dir.display(),
                lang.t(
                    "đã có dữ liệu khác; chọn thư mục trống bằng --dir",
                    "holds other data; choose an empty directory with --dir"
                )
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    std::fs::write(dir.join(MARKER), "sangkien demo\n")
        .map_err(|e| fail(format!("{}: {e}", dir.display())))
}

impl Demo {
    fn tick(&mut self) -> u64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    fn node(&mut self, id: &str) -> &mut Node {
        self.nodes.get_mut(id).expect("demo unit exists")
    }

    fn name(&self, id: &str) -> String {
        let d = self.nodes["tld"].directory();
        UnitId::new(id)
            .ok()
            .and_then(|u| d.name(&u).map(|n| n.to_string()))
            .unwrap_or_else(|| id.to_string())
    }

    fn say(&self, unit: &str, vi: &str, en: &str) {
        crate::outln!("  [{}] {}", self.name(unit), self.lang.t(vi, en));
    }

    /// Moves what `to` should hold from `from`, as a bundle file (a USB stick), through the
    /// verified import.
    fn carry_bundle(&mut self, from: &str, to: &str) -> Result<(), Failure> {
        let now = self.tick();
        let to_unit = self.nodes[to].unit().clone();
        let src = &self.nodes[from];
        let dst = &self.nodes[to];
        let mut entries = Vec::new();
        for e in src.entries_for(&to_unit, now).map_err(fail)? {
            if !dst.store().contains(&e.hash()).map_err(fail)? {
                entries.push(e);
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!("{from}-to-{to}.bundle"));
        let author = src.author().map_err(fail)?;
        bundle::write_signed(&path, author, &to_unit, None, now, &entries).map_err(fail)?;
        let entries = bundle::read_signed(&path, dst.directory())
            .map_err(fail)?
            .entries;
        let _ = std::fs::remove_file(&path);
        let report = self.node(to).import(entries, now).map_err(fail)?;
        if let Some((h, r)) = report.rejected.first() {
            return Err(fail(format!("{from} → {to}: {h}: {r}")));
        }
        self.moved += report.accepted + report.released;
        self.bundled += report.accepted + report.released;
        Ok(())
    }

    /// Syncs `a` with `b` both ways: over real QUIC on 127.0.0.1, or by bundles on the offline
    /// link.
    fn link(&mut self, a: &str, b: &str) -> Result<(), Failure> {
        if (a, b) == OFFLINE_LINK || (b, a) == OFFLINE_LINK {
            self.carry_bundle(a, b)?;
            return self.carry_bundle(b, a);
        }
        let mut na = self.nodes.remove(a).expect("demo unit exists");
        let mut nb = self.nodes.remove(b).expect("demo unit exists");
        let result = self
            .rt
            .block_on(node::sync::sync_pair_over_quic(&mut na, &mut nb, None));
        self.nodes.insert(a.to_owned(), na);
        self.nodes.insert(b.to_owned(), nb);
        let (oa, ob) = result.map_err(|e| fail(format!("{a} ↔ {b}: {e}")))?;
        for (who, o) in [(a, &oa), (b, &ob)] {
            if let Some((h, r)) = o.import.rejected.first() {
                return Err(fail(format!("{a} ↔ {b}: {who} rejected {h}: {r}")));
            }
            self.moved += o.import.accepted + o.import.released;
        }
        self.sessions += 1;
        Ok(())
    }

    /// One round of sync over the whole tree: every node with its parent, leaves first (so
    /// new work climbs), then root first (so decisions and targets come down).
    fn sync(&mut self) -> Result<(), Failure> {
        let order = self.order.clone();
        for child in order.iter().rev() {
            if let Some(p) = self.parents.get(child).cloned() {
                self.link(child, &p)?;
            }
        }
        for child in &order {
            if let Some(p) = self.parents.get(child).cloned() {
                self.link(&p, child)?;
            }
        }
        Ok(())
    }

    fn decide(
        &mut self,
        unit: &str,
        record: RecordId,
        kind: DecisionKind,
        officer: &str,
        title: &str,
        note: &str,
    ) -> Result<(), Failure> {
        let now = self.tick();
        records::decide(
            self.node(unit),
            record,
            kind,
            t(officer),
            t(title),
            t(note),
            now,
        )
        .map_err(fail)?;
        let label = self.lang.decision(kind);
        crate::outln!("  [{}] {} — {officer}, {title}", self.name(unit), label);
        Ok(())
    }

    fn story(&mut self, ctx: &Ctx) -> Result<u8, Failure> {
        let lang = self.lang;
        crate::outln!(
            "{}",
            lang.t(
                "=== sangkien: liên đoàn mẫu — chương trình «01 triệu sáng kiến» ===",
                "=== sangkien: demo federation — the \"01 triệu sáng kiến\" programme ==="
            )
        );
        crate::outln!(
            "{} {}\n",
            lang.t("Thư mục:", "Directory:"),
            self.dir.display()
        );

        // 1. The federation and its units.
        crate::outln!(
            "{}",
            lang.t(
                "1. Lập liên đoàn và kết nạp các cấp công đoàn",
                "1. Creating the federation and enrolling the union levels"
            )
        );
        let now = self.tick();
        let root = Node::create_root(
            &self.dir.join("tld"),
            UnitId::new("tld").expect("valid"),
            t("Tổng Liên đoàn Lao động Việt Nam"),
            now,
        )
        .map_err(fail)?;
        crate::outln!(
            "  [Tổng Liên đoàn Lao động Việt Nam] {} {}",
            lang.t("khóa gốc của liên đoàn:", "federation root key:"),
            root.directory().genesis().root_key.short()
        );
        self.nodes.insert("tld".into(), root);
        self.order.push("tld".into());
        for (id, name, role, parent) in UNITS {
            let into = self.dir.join(id);
            let parent_node = self.nodes.get_mut(*parent).expect("parents come first");
            let child = crate::commands::enrol(ctx, parent_node, id, name, role, &into)?;
            self.nodes.insert(id.to_string(), child);
            self.order.push(id.to_string());
            self.parents.insert(id.to_string(), parent.to_string());
        }
        self.sync()?;
        crate::outln!(
            "  {} {} {}",
            lang.t("Đã kết nạp", "Enrolled"),
            UNITS.len(),
            lang.t(
                "đơn vị, mỗi đơn vị một nút, một khóa ed25519, chứng thư do cấp trên ký",
                "units, each its own node and ed25519 key, certified by its parent"
            )
        );
        crate::outln!(
            "  {}",
            lang.t(
                "Các nút đồng bộ qua QUIC trên 127.0.0.1, xác thực bằng khóa đơn vị; LĐLĐ huyện Càng Long không có mạng và trao đổi với tỉnh bằng gói dữ liệu (USB)",
                "Nodes sync over QUIC on 127.0.0.1, authenticated by their unit keys; the Càng Long district office has no link and exchanges bundles (USB) with its province"
            )
        );

        // 2. The programme, its phases, deadlines and campaign.
        crate::outln!(
            "\n{}",
            lang.t(
                "2. Tổng Liên đoàn phát động chương trình và giao chỉ tiêu",
                "2. The confederation launches the programme and assigns targets"
            )
        );
        let programme = Programme {
            name: t("01 triệu sáng kiến - nỗ lực vượt khó, sáng tạo, quyết tâm chiến thắng đại dịch Covid-19"),
            phases: vec![
                Phase { name: t("Giai đoạn 1"), start: date("2021-08-01"), end: date("2022-05-31"), target: 300_000 },
                Phase { name: t("Giai đoạn 2"), start: date("2022-06-01"), end: date("2023-08-31"), target: 700_000 },
            ],
            deadlines: vec![
                Deadline { label: t("Đăng ký sáng kiến (Mẫu 1)"), date: date("2023-01-15") },
                Deadline { label: t("Nộp hồ sơ đề nghị công nhận (Mẫu 3, Mẫu 4)"), date: date("2023-08-05") },
                Deadline { label: t("Báo cáo kết quả"), date: date("2023-12-15") },
            ],
            campaigns: vec![Campaign { name: t("Chiến dịch cao điểm 40 ngày"), start: date("2022-04-22"), end: date("2022-05-31"), target: 300_000 }],
            national_target: 1_000_000,
        };
        let now = self.tick();
        let prog = records::create(
            self.node("tld"),
            &RecordContent::Programme(programme.clone()),
            now,
        )
        .map_err(fail)?;
        self.say("tld", "phát động «01 triệu sáng kiến»: giai đoạn 1 (đến 31/5/2022, 300.000), giai đoạn 2 (1/6/2022 - 31/8/2023), «Chiến dịch cao điểm 40 ngày»", "launches \"01 triệu sáng kiến\": phase 1 (to 31 May 2022, 300,000), phase 2 (1 Jun 2022 - 31 Aug 2023), the 40-day peak campaign");
        let assign = |pairs: &[(&str, u64)]| -> RecordContent {
            RecordContent::Target(TargetAssignment {
                programme: prog,
                phase: 2,
                assignments: pairs
                    .iter()
                    .map(|(u, n)| (UnitId::new(u).expect("valid"), *n))
                    .collect(),
            })
        };
        for (unit, pairs) in [
            (
                "tld",
                vec![
                    ("ldld-phu-yen", 4_133),
                    ("ldld-ninh-thuan", 2_500),
                    ("ldld-tra-vinh", 3_000),
                    ("cd-y-te", 5_000),
                    ("cd-evn", 4_000),
                ],
            ),
            (
                "ldld-phu-yen",
                vec![("ldld-tuy-hoa", 2_400), ("ldld-dong-hoa", 1_733)],
            ),
            (
                "ldld-tuy-hoa",
                vec![("cdcs-thuy-san-tuy-hoa", 60), ("cdcs-bv-phu-yen", 40)],
            ),
            ("ldld-dong-hoa", vec![("cdcs-cang-vung-ro", 50)]),
        ] {
            self.sync()?;
            let now = self.tick();
            records::create(self.node(unit), &assign(&pairs), now).map_err(fail)?;
            let list: Vec<String> = pairs
                .iter()
                .map(|(u, n)| format!("{} {}", self.name(u), lang.int(*n)))
                .collect();
            crate::outln!(
                "  [{}] {} {}",
                self.name(unit),
                lang.t("giao chỉ tiêu giai đoạn 2:", "assigns phase-2 targets:"),
                list.join("; ")
            );
        }
        self.sync()?;

        // 3. Initiatives and their decisions.
        crate::outln!(
            "\n{}",
            lang.t(
                "3. Các cơ sở đăng ký sáng kiến, cấp trên thẩm định và quyết định",
                "3. Grassroots units register initiatives; the levels above appraise and decide"
            )
        );
        let a = self.register(
            "cdcs-cang-vung-ro",
            "Cải tiến hệ thống băng tải bốc xếp hàng rời",
            "Trần Văn Hùng",
            "Tổ trưởng tổ bốc xếp",
            Sector::ProductionBusiness,
            1_250_000_000,
            false,
            true,
        )?;
        let b = self.register(
            "cdcs-thuy-san-tuy-hoa",
            "Quy trình cấp đông nhanh cá ngừ đại dương",
            "Lê Thị Mai",
            "Kỹ sư chế biến",
            Sector::ProductionBusiness,
            2_400_000_000,
            true,
            true,
        )?;
        let c = self.register(
            "cdcs-thpt-chu-van-an",
            "Phần mềm quản lý điểm và học bạ điện tử",
            "Phạm Minh Tuấn",
            "Giáo viên Tin học",
            Sector::Education,
            0,
            false,
            false,
        )?;
        let d = self.register(
            "cdcs-ttyt-cang-long",
            "Cải tiến quy trình tiếp nhận bệnh nhân cấp cứu",
            "Thạch Thị Sa Rên",
            "Điều dưỡng trưởng",
            Sector::Health,
            180_000_000,
            false,
            true,
        )?;
        let e = self.register(
            "cdcs-pc-phu-yen",
            "Thiết bị cảnh báo quá tải máy biến áp phân phối",
            "Nguyễn Đức Thịnh",
            "Kỹ thuật viên",
            Sector::ScienceTechnology,
            950_000_000,
            false,
            true,
        )?;
        let f = self.register(
            "cdcs-bv-cho-ray",
            "Mô hình hội chẩn khám bệnh từ xa",
            "Võ Thanh Bình",
            "Bác sĩ",
            Sector::Health,
            600_000_000,
            false,
            true,
        )?;
        let h = self.register(
            "cdcs-cang-vung-ro",
            "Sơn chống gỉ cho cần cẩu bằng vật liệu tái chế",
            "Bùi Văn Lực",
            "Thợ sửa chữa",
            Sector::ProductionBusiness,
            30_000_000,
            false,
            false,
        )?;
        let _g = self.register(
            "cdcs-bv-phu-yen",
            "Sổ tay điện tử hướng dẫn an toàn người bệnh",
            "Đặng Thu Hà",
            "Dược sĩ",
            Sector::Health,
            40_000_000,
            false,
            false,
        )?;
        for (unit, rec) in [
            ("cdcs-cang-vung-ro", a),
            ("cdcs-thuy-san-tuy-hoa", b),
            ("cdcs-thpt-chu-van-an", c),
            ("cdcs-ttyt-cang-long", d),
            ("cdcs-pc-phu-yen", e),
            ("cdcs-bv-cho-ray", f),
            ("cdcs-cang-vung-ro", h),
        ] {
            self.decide(
                unit,
                rec,
                DecisionKind::Submit,
                "Ban chấp hành CĐCS",
                "Chủ tịch Công đoàn cơ sở",
                "Nộp kèm Mẫu 1, Mẫu 4",
            )?;
        }
        self.sync()?;
        self.decide(
            "ldld-dong-hoa",
            a,
            DecisionKind::Approve,
            "Nguyễn Thị Lan",
            "Phó Chủ tịch LĐLĐ thị xã",
            "Đạt yêu cầu, chuyển lên tỉnh",
        )?;
        self.decide(
            "ldld-dong-hoa",
            h,
            DecisionKind::Reject,
            "Nguyễn Thị Lan",
            "Phó Chủ tịch LĐLĐ thị xã",
            "Trùng với giải pháp đã được công nhận năm 2021",
        )?;
        self.decide(
            "ldld-tuy-hoa",
            b,
            DecisionKind::Approve,
            "Huỳnh Văn Phúc",
            "Chủ tịch LĐLĐ thành phố",
            "Bí mật công nghệ: chỉ công bố tên, hiệu quả, giá trị làm lợi",
        )?;
        self.decide(
            "ldld-phan-rang",
            c,
            DecisionKind::ReturnForRevision,
            "Chamaléa Thị Hoa",
            "Phó Chủ tịch LĐLĐ thành phố",
            "Bổ sung giá trị làm lợi và xác nhận của nhà trường",
        )?;
        self.decide(
            "ldld-cang-long",
            d,
            DecisionKind::Approve,
            "Kim Văn Sơn",
            "Chủ tịch LĐLĐ huyện",
            "Đạt yêu cầu",
        )?;
        self.decide(
            "cd-evn",
            e,
            DecisionKind::Approve,
            "Đỗ Quang Huy",
            "Chủ tịch Công đoàn Điện lực Việt Nam",
            "Đạt yêu cầu, đề nghị Tổng Liên đoàn công nhận",
        )?;
        self.decide(
            "cd-y-te",
            f,
            DecisionKind::Recognise,
            "Phạm Thanh Bình",
            "Chủ tịch Công đoàn Y tế Việt Nam",
            "Công nhận cấp ngành",
        )?;
        self.sync()?;
        // The returned initiative is revised and submitted again.
        let now = self.tick();
        records::edit(
            self.node("cdcs-thpt-chu-van-an"),
            c,
            |content| {
                if let RecordContent::Initiative(i) = content {
                    i.benefit_vnd = 120_000_000;
                    i.recognition = Some(EmployerRecognition {
                        decision_number: t("45/QĐ-THPT"),
                        date: date("2023-03-10"),
                        reward: t("Giấy khen của Hiệu trưởng"),
                    });
                }
            },
            now,
        )
        .map_err(fail)?;
        self.say(
            "cdcs-thpt-chu-van-an",
            "bổ sung giá trị làm lợi 120.000.000 VND và quyết định công nhận của nhà trường",
            "adds the benefit value of 120,000,000 VND and the school's recognition decision",
        );
        self.decide(
            "cdcs-thpt-chu-van-an",
            c,
            DecisionKind::Submit,
            "Ban chấp hành CĐCS",
            "Chủ tịch Công đoàn cơ sở",
            "Nộp lại sau khi bổ sung",
        )?;
        self.sync()?;
        self.decide(
            "ldld-phan-rang",
            c,
            DecisionKind::Approve,
            "Chamaléa Thị Hoa",
            "Phó Chủ tịch LĐLĐ thành phố",
            "Đạt yêu cầu sau bổ sung",
        )?;
        self.decide(
            "ldld-phu-yen",
            a,
            DecisionKind::Recognise,
            "Lê Văn Hòa",
            "Chủ tịch LĐLĐ tỉnh Phú Yên",
            "Hội đồng thẩm định cấp tỉnh công nhận",
        )?;
        self.decide(
            "ldld-phu-yen",
            b,
            DecisionKind::Recognise,
            "Lê Văn Hòa",
            "Chủ tịch LĐLĐ tỉnh Phú Yên",
            "Công nhận trên phần công khai (bí mật công nghệ)",
        )?;
        self.decide(
            "tld",
            e,
            DecisionKind::Recognise,
            "Ban Tuyên giáo",
            "Tổng Liên đoàn Lao động Việt Nam",
            "Công nhận sáng kiến cấp toàn quốc",
        )?;
        self.sync()?;
        self.decide(
            "tld",
            f,
            DecisionKind::Award(AwardGrade::Typical),
            "Đoàn Chủ tịch",
            "Tổng Liên đoàn Lao động Việt Nam",
            "Sáng kiến tiêu biểu",
        )?;
        self.decide(
            "tld",
            a,
            DecisionKind::Award(AwardGrade::Excellent),
            "Đoàn Chủ tịch",
            "Tổng Liên đoàn Lao động Việt Nam",
            "Sáng kiến xuất sắc cấp toàn quốc",
        )?;
        self.sync()?;
        // An approved initiative is edited afterwards: the approval must not carry over.
        let now = self.tick();
        records::edit(
            self.node("cdcs-ttyt-cang-long"),
            d,
            |content| {
                if let RecordContent::Initiative(i) = content {
                    i.benefit_vnd = 260_000_000;
                }
            },
            now,
        )
        .map_err(fail)?;
        self.say(
            "cdcs-ttyt-cang-long",
            "sửa giá trị làm lợi SAU khi đã được duyệt (180.000.000 → 260.000.000 VND)",
            "edits the benefit value AFTER approval (180,000,000 → 260,000,000 VND)",
        );
        self.sync()?;
        crate::outln!(
            "  {} {} {} ({} {} QUIC, {} {}), {}",
            lang.t("Đã chuyển", "Moved"),
            lang.int(self.moved as u64),
            lang.t("mục giữa các nút", "entries between nodes"),
            lang.int(self.sessions as u64),
            lang.t("phiên", "sessions over"),
            lang.int(self.bundled as u64),
            lang.t("mục qua gói USB", "entries by USB bundle"),
            lang.t(
                "mỗi mục đều được kiểm tra khi nhập",
                "each verified on import"
            )
        );

        // 4. Verification at every node.
        crate::outln!(
            "\n{}",
            lang.t(
                "4. Kiểm tra chuỗi phê duyệt tại mọi nút",
                "4. Verifying the approval chains at every node"
            )
        );
        let mut all_valid = true;
        let mut differs = Vec::new();
        let now = self.tick();
        for id in self.order.clone() {
            let n = &self.nodes[&id];
            let rep = verify_store(n.store(), n.directory(), Some(n.unit()), now).map_err(fail)?;
            let valid = rep.records.iter().filter(|r| r.is_valid()).count();
            let conflicts: usize = rep.records.iter().map(|r| r.conflicts.len()).sum();
            all_valid &=
                valid == rep.records.len() && conflicts == 0 && rep.trust_problems.is_empty();
            for r in rep.records.iter().filter(|r| r.approved_state_differs) {
                differs.push((id.clone(), r.record));
            }
            crate::outln!(
                "  {:<24} {:>3} {} {:>3} {}, {} {}",
                id,
                rep.records.len(),
                lang.t("hồ sơ,", "records,"),
                valid,
                lang.t("hợp lệ", "valid"),
                conflicts,
                lang.t("xung đột", "conflicts")
            );
        }
        for (id, r) in &differs {
            crate::outln!(
                "  {} {id}: {} {}",
                lang.t("Lưu ý tại", "Note at"),
                r.short(),
                lang.t(
                    "— trạng thái đã duyệt khác trạng thái hiện tại (sửa sau khi duyệt)",
                    "— approved state differs from current state (edited after approval)"
                )
            );
        }
        if all_valid {
            crate::outln!(
                "  => {}",
                lang.t(
                    "Tất cả chuỗi phê duyệt hợp lệ (all chains valid)",
                    "all chains valid"
                )
            );
        } else {
            crate::outln!(
                "  => {}",
                lang.t("CÓ CHUỖI PHÊ DUYỆT KHÔNG HỢP LỆ", "SOME CHAINS ARE INVALID")
            );
        }

        // 5. Progress reports.
        let now = self.tick();
        for (node, target) in [("tld", Some(700_000)), ("ldld-phu-yen", None)] {
            let n = &self.nodes[node];
            crate::progress::print(
                lang,
                n,
                n.unit(),
                prog,
                programme.name.as_str(),
                2,
                target,
                now,
            )
            .map_err(fail)?;
        }
        crate::outln!(
            "\n{}\n  sangkien --data {} verify --json",
            lang.t(
                "Mỗi nút là một thư mục dữ liệu; thử:",
                "Each node is a data directory; try:"
            ),
            self.dir.join("ldld-phu-yen").display()
        );
        Ok(u8::from(!all_valid))
    }

    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        unit: &str,
        title: &str,
        author: &str,
        position: &str,
        sector: Sector,
        benefit_vnd: u64,
        confidential: bool,
        recognised: bool,
    ) -> Result<RecordId, Failure> {
        let node = &self.nodes[unit];
        let superior = node
            .directory()
            .parent_at(node.unit(), now_ms())
            .cloned()
            .ok_or_else(|| fail("no parent"))?;
        let prog = self.nodes["tld"]
            .store()
            .records()
            .map_err(fail)?
            .into_iter()
            .find(|r| {
                matches!(
                    records::check(&self.nodes["tld"], *r, now_ms()).map(|x| x.content),
                    Ok(Some(RecordContent::Programme(_)))
                )
            })
            .ok_or_else(|| fail("no programme"))?;
        let initiative = Initiative {
            title: t(title),
            authors: vec![Author {
                name: t(author),
                position: t(position),
            }],
            origin: node.unit().clone(),
            superior,
            programme: Some(prog),
            phase: 2,
            sector,
            summary: t("Rút ngắn thời gian, giảm chi phí, nâng cao an toàn lao động"),
            registered_on: date("2022-12-20"),
            description: Description {
                current_state: t("Quy trình cũ thủ công, tốn nhiều thời gian"),
                solution: t("Cải tiến quy trình và thiết bị, áp dụng công nghệ mới"),
                novelty: t("Lần đầu áp dụng tại đơn vị"),
                scope: t("Toàn đơn vị và các đơn vị cùng ngành"),
                effectiveness: t("Tiết kiệm chi phí, tăng năng suất"),
            },
            benefit_vnd,
            application: Application::Applied,
            recognition: recognised.then(|| EmployerRecognition {
                decision_number: t("12/QĐ-GĐ"),
                date: date("2023-02-15"),
                reward: t("Giấy khen và 2.000.000 đồng"),
            }),
            confidential,
            attachments: Vec::new(),
            commitment_salt: confidential.then(records::new_salt),
        };
        let now = self.tick();
        let id = records::create(
            self.node(unit),
            &RecordContent::Initiative(Box::new(initiative)),
            now,
        )
        .map_err(fail)?;
        let what = if confidential {
            self.lang.t(
                "(bí mật công nghệ: chỉ phần công khai đi quá cấp trên trực tiếp)",
                "(technology secret: only its public part travels beyond the direct superior)",
            )
        } else {
            ""
        };
        crate::outln!(
            "  [{}] {} «{title}», {} {} VND {what}",
            self.name(unit),
            self.lang.t("đăng ký sáng kiến", "registers initiative"),
            self.lang.t("giá trị làm lợi", "benefit value"),
            self.lang.int(benefit_vnd)
        );
        Ok(id)
    }
}
