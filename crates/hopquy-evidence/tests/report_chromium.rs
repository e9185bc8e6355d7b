//! report.html as a browser shows and prints it: a full 36-clause bundle is rendered by
//! headless Chromium, and the DOM it builds is checked for both languages, every clause with
//! its verdict, the lab's fields and the signature status. Chromium is a peer (Debian package
//! `chromium`); when it is missing the test says so and passes, unless
//! `HOPQUY_REQUIRE_PEERS=1`, which makes a missing peer a failure.
// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hopquy_evidence::*;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Far above the ~2 s a render takes; only a wedged browser reaches it.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// False (after saying so) when the peer is missing; panics instead under CI's
/// `HOPQUY_REQUIRE_PEERS=1`.
fn peer_available(program: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{program} not installed, and HOPQUY_REQUIRE_PEERS=1"
    );
    println!("skipped: {program} not installed");
    false
}

/// Runs headless Chromium on `page`, printing it to `pdf`; returns the serialised DOM.
fn render(page: &Path, pdf: &Path, profile_dir: &Path) -> String {
    let url = format!("file://{}", page.display());
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read on a thread so a full pipe cannot stall the browser while we wait for it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        stdout.read_to_string(&mut dom).map(|_| dom)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium exited with {status}");
    reader.join().unwrap().unwrap()
}

/// The `<tr id="clause-N">…</tr>` rows of the results-by-clause table.
fn clause_rows(dom: &str) -> Vec<&str> {
    dom.split("<tr id=\"clause-")
        .skip(1)
        .map(|chunk| chunk.split("</tr>").next().unwrap())
        .collect()
}

#[test]
fn report_renders_in_chromium_with_every_clause_both_languages_and_lab_fields() {
    if !peer_available("chromium", Path::new(CHROMIUM).exists()) {
        return;
    }
    let results = catalogue_results();
    assert_eq!(results.clauses.len(), 36, "the QCVN 135:2024 catalogue has 36 clauses");
    let ctx = ReportContext {
        lab_name: Some("Trung tâm Kiểm định Thử nghiệm Số 1".into()),
        lab_address: Some("18 Nguyễn Du, Hà Nội".into()),
        accreditation: Some("VILAS 1234".into()),
        customer: Some("Công ty Camera Việt".into()),
        operator: Some("Nguyễn Văn An".into()),
        approved_by: Some("Trần Thị Bình".into()),
        report_id: Some("KQ-2026-0042".into()),
        issue_date: Some("2026-03-02".into()),
        regulation_title: Some("QCVN 135:2024/BTTTT".into()),
        remarks: Some("Không có sai khác / No deviations".into()),
        case_set_digest: Some("sha256:0123abcd".into()),
        ..ReportContext::default()
    };
    let (key, _) = generate_keypair().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let finished = write_bundle(&dir, &results, ctx.clone(), Some(&key));
    let fingerprint = finished.signer_fingerprint.clone().unwrap();

    let pdf = tmp.path().join("report.pdf");
    let dom = render(&dir.join("report.html"), &pdf, &tmp.path().join("chromium-profile"));

    assert!(
        dom.contains("<html lang=\"vi\">"),
        "not the report: {}",
        &dom[..dom.len().min(300)]
    );
    for heading in [
        "Báo cáo thử nghiệm",
        "Test report",
        "Thông tin chung",
        "General information",
        "Kết quả theo điều khoản",
        "Results by clause",
        "Chi tiết ca thử",
        "Case details",
        "Tính toàn vẹn của bằng chứng",
        "Evidence integrity",
    ] {
        assert!(dom.contains(heading), "heading {heading:?} missing");
    }
    for field in [
        ctx.lab_name.as_deref().unwrap(),
        ctx.lab_address.as_deref().unwrap(),
        ctx.accreditation.as_deref().unwrap(),
        ctx.customer.as_deref().unwrap(),
        ctx.operator.as_deref().unwrap(),
        ctx.approved_by.as_deref().unwrap(),
        ctx.report_id.as_deref().unwrap(),
        ctx.issue_date.as_deref().unwrap(),
        ctx.case_set_digest.as_deref().unwrap(),
        "Example",
        "IPC-1000",
        "SN0001",
    ] {
        assert!(dom.contains(field), "lab or device field {field:?} missing");
    }
    assert!(
        dom.contains("Đã ký bằng khóa / Signed with key"),
        "signature status missing"
    );
    assert!(dom.contains(&fingerprint), "signer fingerprint {fingerprint} missing");
    assert!(!dom.contains("Không ký / Unsigned"));

    // Every clause is a row of its own, in catalogue order, with its aggregated verdict in
    // both languages and both titles.
    let rows = clause_rows(&dom);
    assert_eq!(rows.len(), results.clauses.len(), "one row per clause");
    let catalogue = catalogue_clauses();
    for (row, (id, title_vi, title_en)) in rows.iter().zip(&catalogue) {
        let clause = results.clauses.iter().find(|c| &c.id == id).unwrap();
        assert!(
            row.contains(&format!("<td class=\"mono\">{id}</td>")),
            "row for {id} out of place: {row}"
        );
        let (vi, en) = match clause.verdict {
            Verdict::Pass => ("Đạt", "Pass"),
            Verdict::Fail => ("Không đạt", "Fail"),
            Verdict::Error => ("Lỗi khi thử", "Error"),
            Verdict::Inconclusive => ("Không kết luận được", "Inconclusive"),
            Verdict::NotApplicable => ("Không áp dụng", "Not applicable"),
        };
        let css = format!("verdict v-{}", clause.verdict);
        assert!(row.contains(&css), "clause {id}: expected {css} in {row}");
        assert!(
            row.contains(vi) && row.contains(en),
            "clause {id}: verdict text {vi} / {en} missing"
        );
        assert!(
            row.contains(&html_escape(title_vi)) && row.contains(&html_escape(title_en)),
            "clause {id}: titles missing"
        );
    }
    for verdict in [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Error,
        Verdict::Inconclusive,
        Verdict::NotApplicable,
    ] {
        assert!(
            results.clauses.iter().any(|c| c.verdict == verdict),
            "the run should exercise {verdict}"
        );
    }

    let pdf_bytes = std::fs::read(&pdf).unwrap();
    assert!(pdf_bytes.starts_with(b"%PDF-"), "print-to-pdf did not produce a PDF");
    let page_objects = count(&pdf_bytes, b"/Type /Page") - count(&pdf_bytes, b"/Type /Pages");
    assert!(page_objects > 1, "36 clauses and their cases cannot fit one A4 page");
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// What Chromium's serialiser writes for text: `&`, `<`, `>` and non-breaking space escaped.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}
