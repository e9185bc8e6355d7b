#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hopquy_case::Diagnostic;

/// A temporary directory with helpers to write fixture files.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A complete, valid automated case; tests derive broken variants from it.
pub const LOCKOUT_CASE: &str = r#"id = "lockout-http"
title = "Repeated wrong passwords lock the login"
title_vi = "Đăng nhập sai liên tiếp làm khóa đăng nhập"
kind = "automated"
method = "functional"
effect = "locks-account"
since = "0.1.0"
needs = ["login-check"]
summary = "Wrong passwords in a burst, then the right one must be refused."

[clauses]
qcvn135-2024 = ["2.1.5"]

[params.attempts]
default = 5
declared = "lockout.attempts"
source = "Decision 724/QĐ-BTTTT"

[params.duration_s]
default = 300
declared = "lockout.duration_s"

[[steps]]
id = "burst"
action = "login"
credentials = "wrong-password"
repeat = "${params.attempts}"
fresh_connection = true
[[steps.expect]]
that = "accepted"
equals = 0
because = "a wrong password was accepted"

[[steps]]
id = "locked-check"
action = "login"
credentials = "target"
[[steps.expect]]
that = "accepted"
equals = 0
because = "the correct password was accepted after the failures"
[[steps.expect]]
that = "attempts"
at_most = "${steps.burst.attempts}"
because = "the check made more attempts than the burst"

[[steps]]
id = "recover"
action = "wait"
always = true
seconds = "${params.duration_s}"

[sim]
pass = ["hardened"]
fail = ["hardened+no-lockout"]
"#;

/// Writes `text` as `<stem>.toml` and loads it as a case, expecting failure.
pub fn case_errors(fixture: &Fixture, stem: &str, text: &str) -> Vec<Diagnostic> {
    let path = fixture.write(&format!("{stem}.toml"), text);
    match hopquy_case::load_case(&path) {
        Ok(loaded) => panic!("expected {stem} to be rejected, loaded {:?}", loaded.case.id),
        Err(diagnostics) => diagnostics,
    }
}

/// Replaces exactly one occurrence of `from` in the base case.
pub fn variant(from: &str, to: &str) -> String {
    assert_eq!(
        LOCKOUT_CASE.matches(from).count(),
        1,
        "`{from}` must occur once in the base case"
    );
    LOCKOUT_CASE.replacen(from, to, 1)
}

/// Checks the rustc-style header of a rendered diagnostic and returns (line, column).
pub fn assert_rendered_location(diagnostic: &Diagnostic, file: &Path) -> (usize, usize) {
    let rendered = diagnostic.to_string();
    assert!(rendered.starts_with("error: "), "{rendered}");
    let arrow = format!("--> {}:{}:{}", file.display(), diagnostic.line, diagnostic.column);
    assert!(
        rendered.lines().nth(1).is_some_and(|line| line.trim_start() == arrow),
        "{rendered}"
    );
    assert!(diagnostic.line >= 1 && diagnostic.column >= 1);
    (diagnostic.line, diagnostic.column)
}

/// 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let offset = text.find(needle).unwrap();
    text[..offset].matches('\n').count() + 1
}
