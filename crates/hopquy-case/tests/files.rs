#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Fixture, LOCKOUT_CASE, assert_rendered_location, line_of};

// ---------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------

const BASE_PROFILE: &str = r#"name = "Base"
description = "parent"

[ports]
http = 80
rtsp = 554

[ops.login-check]
path = "/ISAPI/Security/userCheck"
auth = "digest"
accepted = { status = [200] }
rejected = { status = [401] }

[ops.identity]
path = "/ISAPI/System/deviceInfo"
description = "parent identity"

[rtsp]
paths = ["/Streaming/Channels/101"]
"#;

const CHILD_PROFILE: &str = r#"name = "Child"
description = "child"
inherits = "base"

[ports]
http = 8080
ssh = 22

[ops.identity]
path = "/cgi-bin/magicBox.cgi?action=getSystemInfo"
"#;

#[test]
fn profile_inheritance_merges_ports_and_replaces_ops_wholesale() {
    let fixture = Fixture::new();
    fixture.write("profiles/base.toml", BASE_PROFILE);
    fixture.write("profiles/child.toml", CHILD_PROFILE);
    let resolved = hopquy_case::load_profile("child", fixture.path("profiles")).unwrap();
    let profile = &resolved.profile;
    assert_eq!(resolved.name, "child");
    assert_eq!(profile.name, "Child");
    assert_eq!(resolved.port("http"), Some(8080), "child port overrides the parent's");
    assert_eq!(resolved.port("rtsp"), Some(554), "parent port is inherited");
    assert_eq!(resolved.port("ssh"), Some(22));
    let identity = resolved.op("identity").unwrap();
    assert_eq!(identity.path, "/cgi-bin/magicBox.cgi?action=getSystemInfo");
    assert_eq!(
        identity.description, None,
        "the child's op replaces the parent's wholesale"
    );
    assert_eq!(resolved.op("login-check").unwrap().auth.as_deref(), Some("digest"));
    assert_eq!(profile.rtsp.as_ref().unwrap().paths, ["/Streaming/Channels/101"]);
    let chain: Vec<(&str, &str)> = resolved
        .chain
        .iter()
        .map(|source| (source.name.as_str(), source.text.as_str()))
        .collect();
    assert_eq!(chain, [("child", CHILD_PROFILE), ("base", BASE_PROFILE)]);

    // A path works as well as a stem.
    let by_path = fixture.path("profiles/child.toml");
    let resolved = hopquy_case::load_profile(by_path.to_str().unwrap(), fixture.path("elsewhere")).unwrap();
    assert_eq!(resolved.port("http"), Some(8080));
}

#[test]
fn profile_inheritance_cycle_is_named() {
    let fixture = Fixture::new();
    fixture.write(
        "profiles/a.toml",
        "name = \"A\"\ndescription = \"\"\ninherits = \"b\"\n",
    );
    fixture.write(
        "profiles/b.toml",
        "name = \"B\"\ndescription = \"\"\ninherits = \"c\"\n",
    );
    fixture.write(
        "profiles/c.toml",
        "name = \"C\"\ndescription = \"\"\ninherits = \"a\"\n",
    );
    let diagnostics = hopquy_case::load_profile("a", fixture.path("profiles")).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].message, "profile inheritance cycle: a → b → c → a");
    assert_rendered_location(&diagnostics[0], &fixture.path("profiles/c.toml"));
    assert_eq!(diagnostics[0].line, 3);
}

#[test]
fn profile_errors_name_the_problem() {
    let fixture = Fixture::new();
    let diagnostics = hopquy_case::load_profile("onvfi", fixture.path("profiles")).unwrap_err();
    assert_eq!(diagnostics[0].message, "profile `onvfi` not found");

    fixture.write(
        "profiles/onvif.toml",
        "name = \"O\"\ndescription = \"\"\n[ops.identity]\npath = \"/onvif/device_service\"\nport = \"onvif\"\n",
    );
    let diagnostics = hopquy_case::load_profile("onvfi", fixture.path("profiles")).unwrap_err();
    assert_eq!(diagnostics[0].hint.as_deref(), Some("did you mean `onvif`?"));

    let diagnostics = hopquy_case::load_profile("onvif", fixture.path("profiles")).unwrap_err();
    assert_eq!(
        diagnostics[0].message,
        "op `identity` uses port `onvif`, which the profile does not define"
    );
    assert_eq!(diagnostics[0].line, 5);

    fixture.write(
        "profiles/bad.toml",
        "name = \"B\"\ndescription = \"\"\n[ops.login-check]\npath = \"/x\"\nlocked = { body_matches = \"(\" }\n",
    );
    let diagnostics = hopquy_case::load_profile("bad", fixture.path("profiles")).unwrap_err();
    assert!(
        diagnostics[0]
            .message
            .contains("`locked.body_matches` of op `login-check` is not a valid regular expression"),
        "{}",
        diagnostics[0]
    );
}

#[test]
fn missing_ops_lists_needs_and_step_ops_the_profile_lacks() {
    let fixture = Fixture::new();
    fixture.write("profiles/base.toml", BASE_PROFILE);
    let profile = hopquy_case::load_profile("base", fixture.path("profiles"))
        .unwrap()
        .profile;
    let case_path = fixture.write("lockout-http.toml", LOCKOUT_CASE);
    let case = hopquy_case::load_case(&case_path).unwrap().case;
    assert!(hopquy_case::missing_ops(&case, &profile).is_empty());

    let text = LOCKOUT_CASE
        .replacen(
            "needs = [\"login-check\"]",
            "needs = [\"login-check\", \"lockout-config\"]",
            1,
        )
        .replacen(
            "credentials = \"target\"\n",
            "credentials = \"target\"\nop = \"users-check\"\n",
            1,
        );
    let case_path = fixture.write("lockout-http.toml", &text);
    let case = hopquy_case::load_case(&case_path).unwrap().case;
    assert_eq!(
        hopquy_case::missing_ops(&case, &profile),
        ["lockout-config", "users-check"]
    );
}

// ---------------------------------------------------------------------------------------
// Target
// ---------------------------------------------------------------------------------------

const TARGET: &str = r#"[device]
vendor = "Example"
model = "IPC-1000"
firmware = "1.2.3"

[connection]
host = "127.0.0.1"
profile = "onvif"   # family
ports = { http = 8080 }

[credentials]
username = "admin"
password = "s3cr3t-Pa55"   # set at the bench

[declared]
open_tcp_ports = [80, 443, 554]
lockout = { attempts = 5, window_s = 30, duration_s = 300 }
"#;

#[test]
fn redacted_toml_hides_the_password_and_keeps_every_other_byte() {
    let fixture = Fixture::new();
    let path = fixture.write("target.toml", TARGET);
    let target = hopquy_case::load_target(&path).unwrap();
    assert_eq!(target.password(), "s3cr3t-Pa55");
    assert_eq!(target.target.credentials.username, "admin");
    assert_eq!(
        target
            .target
            .declared
            .lockout
            .as_ref()
            .and_then(|lockout| lockout.attempts),
        Some(5)
    );
    let redacted = target.redacted_toml();
    assert_eq!(redacted, TARGET.replace("\"s3cr3t-Pa55\"", "\"[REDACTED]\""));
    assert!(!redacted.contains("s3cr3t"));
    // The redacted file is still a valid target file.
    let reparsed: hopquy_case::TargetFile = toml::from_str(&redacted).unwrap();
    assert_eq!(reparsed.credentials.password.as_deref(), Some("[REDACTED]"));
    assert!(!format!("{target:?}").contains("s3cr3t"));
    assert!(!format!("{:?}", target.target).contains("s3cr3t"));
    let parsed: hopquy_case::TargetFile = toml::from_str(TARGET).unwrap();
    assert!(
        !format!("{parsed:?}").contains("s3cr3t"),
        "CredentialsSection's Debug must not print the password"
    );
}

#[test]
fn redaction_also_covers_the_password_repeated_elsewhere() {
    let fixture = Fixture::new();
    let text = TARGET.replace("# set at the bench", "# was s3cr3t-Pa55 last year too");
    let path = fixture.write("target.toml", &text);
    let redacted = hopquy_case::load_target(&path).unwrap().redacted_toml();
    assert!(!redacted.contains("s3cr3t"), "{redacted}");
    assert!(redacted.contains("# was [REDACTED] last year too"));
}

#[test]
fn target_password_from_the_environment() {
    let fixture = Fixture::new();
    // PATH is set in every test environment; setting a variable would need `unsafe`.
    let text = TARGET.replace("password = \"s3cr3t-Pa55\"", "password_env = \"PATH\"");
    let path = fixture.write("target.toml", &text);
    let target = hopquy_case::load_target(&path).unwrap();
    assert_eq!(target.password(), std::env::var("PATH").unwrap());
    assert_eq!(target.redacted_toml(), text);
}

#[test]
fn target_with_password_env_unset_names_the_variable() {
    let fixture = Fixture::new();
    let variable = "HOPQUY_TEST_PASSWORD_THAT_IS_NEVER_SET_7F3A";
    let text = TARGET.replace("password = \"s3cr3t-Pa55\"", &format!("password_env = \"{variable}\""));
    let path = fixture.write("target.toml", &text);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        diagnostics[0].message,
        format!("environment variable `{variable}` is not set")
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "password_env"));
    assert_rendered_location(&diagnostics[0], &path);
}

#[test]
fn target_needs_exactly_one_password_source_and_never_prints_it() {
    let fixture = Fixture::new();
    let both = TARGET.replace(
        "password = \"s3cr3t-Pa55\"",
        "password = \"s3cr3t-Pa55\"\npassword_env = \"PATH\"",
    );
    let path = fixture.write("target.toml", &both);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    assert_eq!(
        diagnostics[0].message,
        "both `password` and `password_env` are set in [credentials]"
    );
    // The quoted source line is the password_env line, not the password's.
    assert!(!hopquy_case::render_diagnostics(&diagnostics).contains("s3cr3t"));

    let neither = TARGET.replace("password = \"s3cr3t-Pa55\"   # set at the bench\n", "");
    let path = fixture.write("target.toml", &neither);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    assert_eq!(diagnostics[0].message, "[credentials] gives no password");

    let url_host = TARGET.replace("host = \"127.0.0.1\"", "host = \"http://127.0.0.1/\"");
    let path = fixture.write("target.toml", &url_host);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    assert!(
        diagnostics[0].message.starts_with("`host` must be a bare address"),
        "{}",
        diagnostics[0]
    );
    assert!(!hopquy_case::render_diagnostics(&diagnostics).contains("s3cr3t"));
}

// ---------------------------------------------------------------------------------------
// Regulations, suite, dictionaries, answers
// ---------------------------------------------------------------------------------------

const REGULATION: &str = r#"id = "qcvn135-2024"
title_vi = "QCVN 135:2024/BTTTT"
title_en = "QCVN 135:2024/BTTTT"
issued_by = "Circular 21/2024/TT-BTTTT"
effective = "2026-01-01"

[[groups]]
id = "2.1"
title_vi = "Mật khẩu duy nhất"
title_en = "Unique passwords"

[[clauses]]
id = "2.1.5"
group = "2.1"
title_vi = "Chống dò mật khẩu"
title_en = "Brute-force resistance"
requirement = "Limits repeated authentication attempts."
confidence = "M"

[[clauses]]
id = "2.1.6"
group = "2.1"
title_vi = "x"
title_en = "x"
requirement = "x"
confidence = "L"
"#;

#[test]
fn regulation_clause_ids_must_be_unique_and_groups_known() {
    let fixture = Fixture::new();
    let text = REGULATION.replacen("id = \"2.1.6\"\ngroup = \"2.1\"", "id = \"2.1.5\"\ngroup = \"2.2\"", 1);
    let path = fixture.write("qcvn135-2024.toml", &text);
    let diagnostics = hopquy_case::load_regulation(&path).unwrap_err();
    let messages: Vec<&str> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "duplicate clause id `2.1.5`",
            "clause `2.1.5` names unknown group `2.2`"
        ]
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "id = \"2.1.5\"\ngroup = \"2.2\""));

    let text = REGULATION.replacen("confidence = \"L\"\n", "", 1);
    let path = fixture.write("qcvn135-2024.toml", &text);
    let diagnostics = hopquy_case::load_regulation(&path).unwrap_err();
    assert_eq!(diagnostics[0].message, "missing key `confidence` in [clauses.#2]");
}

fn write_suite(fixture: &Fixture) {
    fixture.write("test-cases/2.1-unique-password/lockout-http.toml", LOCKOUT_CASE);
    fixture.write("test-cases/regulations/qcvn135-2024.toml", REGULATION);
    fixture.write(
        "test-cases/data/default-credentials.toml",
        "[[credential]]\nusername = \"admin\"\npassword = \"12345\"\nsource = \"vendor manual\"\n",
    );
    fixture.write(
        "test-cases/data/rtsp-paths.toml",
        "[[path]]\npath = \"/Streaming/Channels/101\"\nfamily = \"hikvision\"\nsource = \"cameradar routes\"\n",
    );
}

#[test]
fn suite_loads_cases_catalogues_and_data_with_a_stable_digest() {
    let first = Fixture::new();
    write_suite(&first);
    let (suite, diagnostics) = hopquy_case::Suite::load(first.dir.path());
    assert!(
        diagnostics.is_empty(),
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert_eq!(suite.cases.len(), 1, "regulations/ and data/ are not cases");
    assert_eq!(suite.regulations.len(), 1);
    assert_eq!(
        suite.credential_dictionaries[0].dictionary.credential[0].password,
        "12345"
    );
    assert_eq!(suite.path_dictionaries[0].name, "rtsp-paths");
    let files: Vec<String> = suite.files().into_iter().map(|(path, _)| path).collect();
    assert_eq!(
        files,
        [
            "2.1-unique-password/lockout-http.toml",
            "data/default-credentials.toml",
            "data/rtsp-paths.toml",
            "regulations/qcvn135-2024.toml"
        ]
    );

    // Same files elsewhere: same digest. One byte changed: another digest.
    let second = Fixture::new();
    write_suite(&second);
    let (same, _) = hopquy_case::Suite::load(second.path("test-cases"));
    assert_eq!(suite.digest(), same.digest());
    assert_eq!(suite.digest().len(), 64);
    second.write(
        "test-cases/2.1-unique-password/lockout-http.toml",
        &format!("{LOCKOUT_CASE}\n"),
    );
    let (changed, _) = hopquy_case::Suite::load(second.path("test-cases"));
    assert_ne!(suite.digest(), changed.digest());
}

#[test]
fn suite_checks_clauses_against_the_catalogue_and_ids_across_files() {
    let fixture = Fixture::new();
    write_suite(&fixture);
    let text = LOCKOUT_CASE.replacen(
        "qcvn135-2024 = [\"2.1.5\"]",
        "qcvn135-2024 = [\"2.1.5\", \"2.1.9\"]\nqcvn135 = [\"2.1.5\"]",
        1,
    );
    fixture.write("test-cases/2.1-unique-password/lockout-http.toml", &text);
    fixture.write("test-cases/other/lockout-http.toml", LOCKOUT_CASE);
    let (suite, diagnostics) = hopquy_case::Suite::load(fixture.dir.path());
    let messages: Vec<&str> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message.as_str())
        .collect();
    assert!(messages.contains(&"duplicate case id `lockout-http`"), "{messages:?}");
    assert!(
        messages.contains(&"clause `2.1.9` is not in the catalogue of `qcvn135-2024`"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"unknown regulation `qcvn135` in [clauses]"),
        "{messages:?}"
    );
    assert_eq!(suite.cases.len(), 1, "the duplicate is dropped");
    let unknown = diagnostics
        .iter()
        .find(|diagnostic| diagnostic.message.starts_with("unknown regulation"))
        .unwrap();
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `qcvn135-2024`?"));
    for diagnostic in &diagnostics {
        assert_rendered_location(diagnostic, &diagnostic.file);
    }
}

#[test]
fn suite_checks_dictionary_references() {
    let fixture = Fixture::new();
    write_suite(&fixture);
    let text = LOCKOUT_CASE.replacen(
        "credentials = \"target\"",
        "credentials = \"dictionary:default-credential\"",
        1,
    );
    fixture.write("test-cases/2.1-unique-password/lockout-http.toml", &text);
    let (_, diagnostics) = hopquy_case::Suite::load(fixture.dir.path());
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert!(
        diagnostics[0]
            .message
            .starts_with("no credentials dictionary `default-credential`")
    );
    assert_eq!(
        diagnostics[0].hint.as_deref(),
        Some("did you mean `default-credentials`?")
    );
}

#[test]
fn load_cases_is_sorted_and_skips_non_case_directories() {
    let fixture = Fixture::new();
    for stem in ["b-case", "a-case"] {
        let text = LOCKOUT_CASE.replacen("id = \"lockout-http\"", &format!("id = \"{stem}\""), 1);
        fixture.write(&format!("cases/group/{stem}.toml"), &text);
    }
    fixture.write("cases/regulations/not-a-case.toml", "garbage = [");
    fixture.write("cases/data/not-a-case.toml", "garbage = [");
    let (cases, diagnostics) = hopquy_case::load_cases(fixture.path("cases"));
    assert!(
        diagnostics.is_empty(),
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    let ids: Vec<&str> = cases.iter().map(|loaded| loaded.case.id.get_ref().as_str()).collect();
    assert_eq!(ids, ["a-case", "b-case"]);
    assert_eq!(cases[0].relative_path, Path::new("group/a-case.toml"));
}

#[test]
fn dictionary_entries_are_checked() {
    let fixture = Fixture::new();
    let path = fixture.write(
        "rtsp-paths.toml",
        "[[path]]\npath = \"Streaming/Channels/101\"\nfamily = \"Hikvision\"\nsource = \"\"\n",
    );
    let diagnostics = hopquy_case::load_path_dictionary(&path).unwrap_err();
    let messages: Vec<&str> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "`Streaming/Channels/101` is not a usable RTSP path",
            "family `Hikvision` is not lowercase-kebab",
            "empty `source`"
        ]
    );
    let path = fixture.write(
        "creds.toml",
        "[[credential]]\nusername = \"admin\"\npassword = \"\"\nsource = \"a\"\n[[credential]]\nusername = \"admin\"\npassword = \"\"\nsource = \"b\"\n",
    );
    let diagnostics = hopquy_case::load_credential_dictionary(&path).unwrap_err();
    assert_eq!(diagnostics[0].message, "duplicate credential `admin` / ``");
    assert_eq!(diagnostics[0].line, 6);
}

#[test]
fn the_shipped_data_dictionaries_load() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-cases/data");
    let credentials = hopquy_case::load_credential_dictionary(data.join("default-credentials.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert!(
        credentials
            .dictionary
            .credential
            .iter()
            .any(|entry| entry.username == "admin" && entry.password == "12345")
    );
    assert!(
        credentials
            .dictionary
            .credential
            .iter()
            .all(|entry| !entry.source.is_empty())
    );
    let paths = hopquy_case::load_path_dictionary(data.join("rtsp-paths.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert!(
        paths
            .dictionary
            .path
            .iter()
            .any(|entry| entry.path == "/Streaming/Channels/101")
    );
}

#[test]
fn answers_file_rejects_a_step_answered_twice() {
    let text = "[[answer]]\ncase = \"factory-reset\"\nstep = \"reset\"\nanswer = \"done\"\n\n[[answer]]\ncase = \"factory-reset\"\nstep = \"reset\"\nanswer = \"yes\"\n";
    let diagnostics = hopquy_case::parse_answers("answers.toml", text).unwrap_err();
    assert_eq!(
        diagnostics[0].message,
        "step `reset` of case `factory-reset` is answered twice"
    );
    assert_eq!(diagnostics[0].line, 8);
    let fine = hopquy_case::parse_answers("answers.toml", &text[..text.find("\n\n").unwrap() + 1]).unwrap();
    assert_eq!(fine.answer[0].answer, "done");
}

#[test]
fn target_diagnostics_never_quote_the_password() {
    let fixture = Fixture::new();
    let broken = [
        TARGET.replace("password = \"s3cr3t-Pa55\"", "pasword = \"s3cr3t-Pa55\""),
        TARGET.replace("password = \"s3cr3t-Pa55\"", "password = \"s3cr3t-Pa55"),
        TARGET.replace("password = \"s3cr3t-Pa55\"", "password = 5533771"),
        TARGET
            .replace("host = \"127.0.0.1\"", "host = \"\"")
            .replace("# set at the bench", "# s3cr3t-Pa55"),
    ];
    for text in broken {
        let path = fixture.write("target.toml", &text);
        let diagnostics = hopquy_case::load_target(&path).unwrap_err();
        let rendered = hopquy_case::render_diagnostics(&diagnostics);
        assert!(
            !rendered.contains("s3cr3t") && !rendered.contains("5533771"),
            "{rendered}"
        );
        for diagnostic in &diagnostics {
            assert_rendered_location(diagnostic, &path);
        }
    }
}

#[test]
fn target_typo_gets_a_target_hint() {
    let fixture = Fixture::new();
    let text = TARGET.replace("password = \"s3cr3t-Pa55\"", "pasword = \"s3cr3t-Pa55\"");
    let path = fixture.write("target.toml", &text);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    assert_eq!(diagnostics[0].message, "unknown key `pasword` in [credentials]");
    assert_eq!(diagnostics[0].hint.as_deref(), Some("did you mean `password`?"));
    assert_eq!(
        diagnostics[0].snippet.as_ref().unwrap().line_text,
        "pasword = \"[REDACTED]\""
    );
}

#[test]
fn user_management_ops_are_checked() {
    let fixture = Fixture::new();
    fixture.write(
        "profiles/users.toml",
        r#"name = "U"
description = ""
[ops.create-user]
method = "POST"
path = "/users"
body = "<u>${user.name}</u><p>${target.password}</p>"
accepted = { status = [200] }
created_id = "<id>[0-9]+</id>"
[ops.delete-user]
method = "DELETE"
path = "/users/${user.password}"
[ops.identity]
path = "/info/${user.name}"
"#,
    );
    let diagnostics = hopquy_case::load_profile("users", fixture.path("profiles")).unwrap_err();
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    for expected in [
        "op `create-user` uses `${target.password}` in its body",
        "op `create-user` never uses `${user.password}`",
        "op `create-user` has no `rejected` classifier",
        "`created_id` of op `create-user` has no capture group",
        "op `delete-user` uses `${user.password}` in its path",
        "op `delete-user` names no user",
        "op `identity` uses `${user.name}` in its path",
    ] {
        assert!(messages.contains(&expected), "missing {expected:?} in {messages:#?}");
    }
    let body = diagnostics
        .iter()
        .find(|d| d.message.contains("target.password"))
        .unwrap();
    assert_eq!(body.line, 6);
    assert!(body.expected.as_deref().unwrap_or_default().contains("`${user.name}`"));

    // The shipped profiles bind both operations.
    for name in ["hikvision-isapi", "dahua", "onvif", "simcam"] {
        let profile = hopquy_case::load_profile(name, Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles"))
            .unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
        assert!(
            profile.op("create-user").is_some() && profile.op("delete-user").is_some(),
            "{name}"
        );
    }
}

#[test]
fn declared_password_policy_is_checked() {
    let fixture = Fixture::new();
    let good = TARGET.replace(
        "lockout = {",
        "password_policy = { min_length = 10, required_classes = [\"upper\", \"digit\"] }\nlockout = {",
    );
    let path = fixture.write("target.toml", &good);
    let target = hopquy_case::load_target(&path).unwrap();
    let policy = target.target.declared.password_policy.unwrap();
    assert_eq!(policy.min_length, Some(10));

    let bad = TARGET.replace(
        "lockout = {",
        "password_policy = { min_length = 0, required_classes = [\"uper\", \"digit\", \"digit\"] }\nlockout = {",
    );
    let path = fixture.write("target.toml", &bad);
    let diagnostics = hopquy_case::load_target(&path).unwrap_err();
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"`min_length` is 0"), "{messages:?}");
    let class = diagnostics
        .iter()
        .find(|d| d.message == "`uper` is not a character class")
        .unwrap();
    assert_eq!(class.hint.as_deref(), Some("did you mean `upper`?"));
    assert_eq!(class.line, line_of(&bad, "password_policy"));
    assert!(
        messages.contains(&"`digit` is listed twice in `required_classes`"),
        "{messages:?}"
    );
}

fn shipped_case(relative: &str) -> hopquy_case::LoadedCase {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-cases")
        .join(relative);
    hopquy_case::load_case(&path).unwrap()
}

#[test]
fn answers_name_a_known_case_and_one_of_its_question_steps() {
    let loaded = shipped_case("2.7-user-data/sensing-capabilities-ixit.toml");
    let cases = [&loaded.case];
    let answer =
        |case: &str, step: &str| format!("[[answer]]\ncase = \"{case}\"\nstep = \"{step}\"\nanswer = \"yes\"\n");

    let text = answer("sensing-capabilities-ixit", "conform");
    let diagnostics = hopquy_case::parse_answers_for("answers.toml", &text, Some(&cases)).unwrap_err();
    assert_eq!(
        diagnostics[0].message,
        "case `sensing-capabilities-ixit` has no step `conform`"
    );
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (3, 8));
    assert_eq!(diagnostics[0].hint.as_deref(), Some("did you mean `conforms`?"));
    assert!(hopquy_case::render_diagnostics(&diagnostics).contains("answers.toml:3:8"));

    let text = answer("sensing-capability-ixit", "conforms");
    let diagnostics = hopquy_case::parse_answers_for("answers.toml", &text, Some(&cases)).unwrap_err();
    assert_eq!(diagnostics[0].message, "unknown case `sensing-capability-ixit`");
    assert_eq!(diagnostics[0].line, 2);
    assert_eq!(
        diagnostics[0].hint.as_deref(),
        Some("did you mean `sensing-capabilities-ixit`?")
    );

    let text = answer("sensing-capabilities-ixit", "conforms");
    assert!(hopquy_case::parse_answers_for("answers.toml", &text, Some(&cases)).is_ok());
    // Without the cases only the file's own shape is checked.
    assert!(hopquy_case::parse_answers("answers.toml", &answer("x", "y")).is_ok());
}

#[test]
fn a_target_file_is_checkable_without_its_password_variable() {
    let fixture = Fixture::new();
    let variable = "HOPQUY_TEST_PASSWORD_THAT_IS_NEVER_SET_9C1E";
    let text = TARGET.replace("password = \"s3cr3t-Pa55\"", &format!("password_env = \"{variable}\""));
    let path = fixture.write("target.toml", &text);
    assert!(hopquy_case::load_target(&path).is_err(), "a run needs the variable");
    let target = hopquy_case::check_target_file(&path).unwrap();
    assert_eq!(target.target.credentials.password_env.as_deref(), Some(variable));
    // Every other problem is still found.
    let broken = text.replace("host = \"127.0.0.1\"", "host = \"\"");
    let path = fixture.write("target.toml", &broken);
    let diagnostics = hopquy_case::check_target_file(&path).unwrap_err();
    assert_eq!(diagnostics[0].message, "`host` is empty");
}

#[test]
fn target_errors_show_the_labs_own_values_and_say_types_in_words() {
    let fixture = Fixture::new();
    let first = |text: &str| {
        let path = fixture.write("target.toml", text);
        hopquy_case::load_target(&path).unwrap_err().remove(0)
    };
    // A mistyped key: the excerpt is the user's own line.
    let d = first(&TARGET.replace("host = \"127.0.0.1\"", "hots = \"127.0.0.1\""));
    assert_eq!(d.snippet.as_ref().unwrap().line_text, "hots = \"127.0.0.1\"");
    let d = first(&TARGET.replace("firmware = \"1.2.3\"", "firmwre = \"V5.7.3 build 221123\""));
    assert_eq!(
        d.snippet.as_ref().unwrap().line_text,
        "firmwre = \"V5.7.3 build 221123\""
    );
    // …but anything that may be the password stays hidden.
    let d = first(&TARGET.replace("password = \"s3cr3t-Pa55\"", "passwd = \"s3cr3t-Pa55\""));
    assert!(!d.to_string().contains("s3cr3t"), "{d}");
    let d = first(&TARGET.replace(
        "username = \"admin\"",
        "username = \"admin\"\nother = { passwd = \"hunter2-x\" }",
    ));
    assert!(!d.to_string().contains("hunter2"), "{d}");

    let d = first(&TARGET.replace("http = 8080", "http = 70000"));
    assert_eq!(d.message, "port 70000 is out of range 1–65535 in [connection.ports]");
    let d = first(&TARGET.replace("ports = { http = 8080 }", "ports = { http = 8080 }\ntimeout_s = \"10\""));
    assert_eq!(
        d.message,
        "`timeout_s` in [connection] must be a whole number of seconds, found the string \"10\""
    );
    // A wrong type for the password never quotes it.
    let d = first(&TARGET.replace("password = \"s3cr3t-Pa55\"", "password = 5533771"));
    assert!(!d.to_string().contains("5533771"), "{d}");
}

#[test]
fn a_missing_profile_is_reported_at_the_targets_profile_line() {
    let fixture = Fixture::new();
    let text = TARGET.replace("profile = \"onvif\"", "profile = \"onvfi\"");
    let path = fixture.write("target.toml", &text);
    let target = hopquy_case::load_target(&path).unwrap();
    let diagnostics = hopquy_case::load_profile("onvfi", fixture.path("profiles")).unwrap_err();
    let anchored = target.at_profile_line(diagnostics[0].clone());
    assert_eq!(anchored.message, "profile `onvfi` not found");
    assert_eq!(anchored.line, line_of(&text, "profile = "));
    assert_eq!(anchored.column, "profile = ".len() + 1);
    assert_rendered_location(&anchored, &path);
    assert!(!anchored.to_string().contains("s3cr3t"));
}

/// `factory_default`: inherited unless the child names it (`[]` clears it), at most two pairs,
/// no empty user or password, no unknown key; each error at its line.
#[test]
fn factory_default_pairs_are_inherited_bounded_and_checked() {
    let fixture = Fixture::new();
    fixture.write(
        "profiles/base.toml",
        "name = \"Base\"\ndescription = \"\"\nfactory_default = [{ user = \"admin\", password = \"12345\" }]\n",
    );
    fixture.write(
        "profiles/child.toml",
        "name = \"C\"\ndescription = \"\"\ninherits = \"base\"\n",
    );
    fixture.write(
        "profiles/none.toml",
        "name = \"N\"\ndescription = \"\"\ninherits = \"base\"\nfactory_default = []\n",
    );
    let child = hopquy_case::load_profile("child", fixture.path("profiles")).unwrap();
    let pairs = child.profile.factory_default.unwrap();
    assert_eq!((pairs[0].user.as_str(), pairs[0].password.as_str()), ("admin", "12345"));
    let none = hopquy_case::load_profile("none", fixture.path("profiles")).unwrap();
    assert_eq!(none.profile.factory_default, Some(Vec::new()));

    fixture.write(
        "profiles/many.toml",
        "name = \"M\"\ndescription = \"\"\nfactory_default = [\n  { user = \"a\", password = \"1\" },\n  { user = \"b\", password = \"2\" },\n  { user = \"\", password = \"3\" },\n]\n",
    );
    let diagnostics = hopquy_case::load_profile("many", fixture.path("profiles")).unwrap_err();
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"3 factory default pairs; at most 2"), "{messages:?}");
    assert!(
        messages.contains(&"factory default pair 3 has an empty user or password"),
        "{messages:?}"
    );
    assert_eq!(diagnostics[0].line, 3);

    fixture.write(
        "profiles/typo.toml",
        "name = \"T\"\ndescription = \"\"\nfactory_default = [{ username = \"a\", password = \"1\" }]\n",
    );
    let diagnostics = hopquy_case::load_profile("typo", fixture.path("profiles")).unwrap_err();
    assert!(
        diagnostics[0].message.contains("username"),
        "{}",
        diagnostics[0].message
    );
}

#[test]
fn declared_destinations_load_and_reach_the_declared_table() {
    let fixture = Fixture::new();
    let text = format!(
        "{TARGET}destinations = [\n  {{ host = \"cloud.example.com\", purpose = \"cloud video\", country = \"VN\", protocol = \"https\" }},\n  {{ network = \"203.0.113.0/24\", purpose = \"firmware updates\", country = \"SG\", protocol = \"https\" }},\n]\n"
    );
    let path = fixture.write("target.toml", &text);
    let target = hopquy_case::load_target(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let declared = target.target.declared.destinations.clone().unwrap_or_default();
    assert_eq!(declared.len(), 2);
    assert_eq!(declared[0].host.as_deref(), Some("cloud.example.com"));
    assert_eq!(declared[1].network.as_deref(), Some("203.0.113.0/24"));
}

#[test]
fn declared_destinations_get_precise_errors() {
    let fixture = Fixture::new();
    let first = |entry: &str| {
        let text = format!("{TARGET}destinations = [{entry}]\n");
        let path = fixture.write("target.toml", &text);
        let diagnostics = hopquy_case::load_target(&path).expect_err("an invalid destination loaded");
        let d = diagnostics
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no diagnostic"));
        assert_eq!(d.line, line_of(&text, "destinations ="), "{d}");
        d
    };
    let rest = "purpose = \"p\", country = \"VN\", protocol = \"https\"";
    let d = first(&format!(
        "{{ host = \"a.example\", network = \"203.0.113.0/24\", {rest} }}"
    ));
    assert_eq!(d.message, "destination 1 gives both `host` and `network`");
    let d = first(&format!("{{ {rest} }}"));
    assert_eq!(d.message, "destination 1 gives neither `host` nor `network`");
    let d = first(&format!("{{ network = \"203.0.113.7/24\", {rest} }}"));
    assert_eq!(
        d.message,
        "`network` of destination 1: `203.0.113.7/24` has host bits set (the network is `203.0.113.0/24`)"
    );
    let d = first(&format!("{{ network = \"203.0.113.0/40\", {rest} }}"));
    assert!(d.message.contains("prefix /40 is longer than an IPv4 address"), "{d}");
    let d = first(&format!("{{ host = \"https://a.example/\", {rest} }}"));
    assert!(
        d.message.starts_with("`host` of destination 1 is not a host name"),
        "{d}"
    );
    let d = first("{ host = \"a.example\", purpose = \"p\", country = \"vn\", protocol = \"https\" }");
    assert_eq!(
        d.message,
        "`country` of destination 1 is not an ISO 3166-1 alpha-2 code: `vn`"
    );
    assert_eq!(d.hint.as_deref(), Some("write `VN`"));
    let d = first("{ host = \"a.example\", purpose = \"p\", country = \"VN\", protocol = \"https\", port = 443 }");
    assert!(d.message.contains("port"), "an unknown key must be named: {d}");
}

#[test]
fn declared_data_storage_takes_only_the_locations_a_case_can_judge() {
    let fixture = Fixture::new();
    let load = |value: &str| {
        let text = format!("{TARGET}data_storage = {value}\n");
        let path = fixture.write("target.toml", &text);
        (hopquy_case::load_target(&path), line_of(&text, "data_storage ="))
    };
    for (value, location) in [
        ("{ location = \"local\" }", hopquy_case::StorageLocation::Local),
        ("{ location = \"vietnam\" }", hopquy_case::StorageLocation::Vietnam),
    ] {
        let (loaded, _) = load(value);
        let target = loaded.unwrap_or_else(|d| panic!("{value}: {d:?}"));
        assert_eq!(target.target.declared.data_storage.map(|s| s.location), Some(location));
    }
    for (value, says) in [
        ("{ location = \"abroad\" }", "abroad"),
        ("{ location = \"local\", region = \"VN-HN\" }", "region"),
        ("{ }", "location"),
    ] {
        let (loaded, line) = load(value);
        let diagnostics = loaded.expect_err("an invalid data_storage loaded");
        let d = &diagnostics[0];
        assert_eq!(d.line, line, "{d}");
        assert!(d.to_string().contains(says), "{value}: {d}");
    }
}
