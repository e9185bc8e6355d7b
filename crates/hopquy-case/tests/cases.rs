#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, LOCKOUT_CASE, assert_rendered_location, case_errors, line_of, variant};

#[test]
fn the_base_case_loads_with_its_exact_text() {
    let fixture = Fixture::new();
    let path = fixture.write("lockout-http.toml", LOCKOUT_CASE);
    let loaded = hopquy_case::load_case(&path).unwrap();
    assert_eq!(loaded.case.id.get_ref(), "lockout-http");
    assert_eq!(loaded.case.steps.len(), 3);
    assert_eq!(loaded.text, LOCKOUT_CASE);
    assert_eq!(loaded.path, path);
}

#[test]
fn malformed_toml_points_at_line_and_column() {
    let fixture = Fixture::new();
    let text = variant("since = \"0.1.0\"", "since = 0.1.0.1");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = &diagnostics[0];
    assert!(diagnostic.message.starts_with("invalid TOML"), "{diagnostic}");
    let (line, column) = assert_rendered_location(diagnostic, &fixture.path("lockout-http.toml"));
    assert_eq!(line, line_of(&text, "since = 0.1.0.1"));
    assert!(column > "since = ".len(), "column {column} should be inside the value");
    assert!(diagnostic.to_string().contains("since = 0.1.0.1"), "{diagnostic}");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let fixture = Fixture::new();
    let text = variant("fresh_connection = true", "fresh_conection = true");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.message, "unknown key `fresh_conection` in step \"burst\"");
    assert_eq!(diagnostic.line, line_of(&text, "fresh_conection"));
    assert_eq!(diagnostic.column, 1);
    assert_eq!(diagnostic.hint.as_deref(), Some("did you mean `fresh_connection`?"));
    // The expected list is what a login step accepts, not every key any step accepts.
    let expected = diagnostic.expected.as_deref().unwrap();
    assert!(
        expected.contains("repeat") && expected.contains("credentials"),
        "{expected}"
    );
    assert!(!expected.contains("prompt_vi"), "{expected}");
    let rendered = diagnostic.to_string();
    assert!(rendered.contains("^^^^^^^^^^^^^^^"), "{rendered}");
    assert!(
        rendered.contains("= hint: did you mean `fresh_connection`?"),
        "{rendered}"
    );
}

#[test]
fn a_familiar_word_for_a_key_gets_an_alias_hint() {
    let fixture = Fixture::new();
    let text = variant("repeat = \"${params.attempts}\"", "atempts = 5");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.message, "unknown key `atempts` in step \"burst\"");
    let hint = diagnostic.hint.as_deref().unwrap();
    assert!(hint.starts_with("did you mean `repeat`?"), "{hint}");
}

#[test]
fn wrong_type_names_the_key_and_the_expected_type() {
    let fixture = Fixture::new();
    let text = variant("fresh_connection = true", "fresh_connection = 5");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(
        diagnostic.message,
        "`fresh_connection` in step \"burst\" must be true or false, found the number 5"
    );
    assert_eq!(diagnostic.expected.as_deref(), Some("true or false"));
    assert_eq!(diagnostic.line, line_of(&text, "fresh_connection = 5"));
    assert_eq!(diagnostic.column, "fresh_connection = ".len() + 1);
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let fixture = Fixture::new();
    let text = variant("kind = \"automated\"", "kind = \"automatic\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.message, "unknown value `automatic` for `kind`");
    assert_eq!(
        diagnostic.expected.as_deref(),
        Some("one of: automated, operator, document")
    );
    assert_eq!(diagnostic.hint.as_deref(), Some("did you mean `automated`?"));
}

#[test]
fn parameter_of_another_action_is_rejected_at_its_key() {
    let fixture = Fixture::new();
    let text = variant("credentials = \"target\"\n", "credentials = \"target\"\nseconds = 5\n");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    let diagnostic = &diagnostics[0];
    assert_eq!(
        diagnostic.message,
        "`seconds` is not a parameter of action `login` (step \"locked-check\")"
    );
    assert_eq!(diagnostic.line, line_of(&text, "seconds = 5"));
    assert_eq!(diagnostic.column, 1);
    let hint = diagnostic.hint.as_deref().unwrap();
    assert!(hint.contains("`wait`"), "{hint}");
}

#[test]
fn unknown_action_suggests_a_known_one() {
    let fixture = Fixture::new();
    let text = variant("action = \"wait\"", "action = \"wiat\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.message, "unknown action `wiat` in step \"recover\"");
    assert_eq!(diagnostic.hint.as_deref(), Some("did you mean `wait`?"));
    assert!(diagnostic.expected.as_deref().unwrap().contains("login"));
}

#[test]
fn missing_required_parameter_and_missing_key_are_reported() {
    let fixture = Fixture::new();
    let text = variant("seconds = \"${params.duration_s}\"\n", "");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert_eq!(
        diagnostics[0].message,
        "missing parameter `seconds` for action `wait` in step \"recover\""
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "[[steps]]\nid = \"recover\""));

    // A key the struct requires is serde's to report; it still gets a location and context.
    let text = variant("because = \"a wrong password was accepted\"\n", "");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "missing key `because` in expectation 1 of step \"burst\""
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "[[steps.expect]]"));
}

#[test]
fn duplicate_step_id_points_at_both() {
    let fixture = Fixture::new();
    let text = variant("id = \"locked-check\"", "id = \"burst\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let duplicate = diagnostics
        .iter()
        .find(|diagnostic| diagnostic.message == "duplicate step id `burst`")
        .unwrap();
    let second_line = text
        .match_indices("id = \"burst\"")
        .nth(1)
        .map(|(offset, _)| text[..offset].matches('\n').count() + 1);
    assert_eq!(Some(duplicate.line), second_line);
    let first_line = line_of(&text, "id = \"burst\"");
    assert!(
        duplicate.notes[0].contains(&format!("lockout-http.toml:{first_line}:")),
        "{duplicate}"
    );
}

#[test]
fn bad_template_references_are_reported_at_the_template() {
    let fixture = Fixture::new();
    let text = variant("repeat = \"${params.attempts}\"", "repeat = \"${params.atempts}\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(
        diagnostic.message,
        "`${params.atempts}` refers to an undeclared parameter `atempts`"
    );
    assert_eq!(diagnostic.hint.as_deref(), Some("did you mean `attempts`?"));
    assert_eq!(diagnostic.column, "repeat = \"".len() + 1);

    // A later step has no observations yet.
    let text = variant("\"${steps.burst.attempts}\"", "\"${steps.recover.waited_s}\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics[0].message.contains("refers to a later step"),
        "{}",
        diagnostics[0]
    );

    // An observation the earlier step's action does not produce.
    let text = variant("\"${steps.burst.attempts}\"", "\"${steps.burst.atempts}\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "`${steps.burst.atempts}`: `atempts` is not an observation of action `login`"
    );

    // The password is never templatable.
    let text = variant("\"${steps.burst.attempts}\"", "\"${target.password}\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics[0].message.contains("never available to templates"),
        "{}",
        diagnostics[0]
    );
    // The runner prints `because` verbatim, so a template there would show as `${…}`.
    let text = variant(
        "because = \"a wrong password was accepted\"",
        "because = \"${params.attempts} accepted\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert_eq!(
        diagnostics[0].message,
        "templates are not substituted in `because` (expectation 1 of step \"burst\")"
    );
}

#[test]
fn declared_param_must_name_a_declared_field() {
    let fixture = Fixture::new();
    let text = variant("declared = \"lockout.duration_s\"", "declared = \"lockout.duration\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "`lockout.duration` is not a field of the target's [declared] table"
    );
    assert_eq!(
        diagnostics[0].hint.as_deref(),
        Some("did you mean `lockout.duration_s`?")
    );
}

#[test]
fn regex_that_does_not_compile_is_rejected() {
    let fixture = Fixture::new();
    let text = variant(
        "that = \"accepted\"\nequals = 0\nbecause = \"a wrong",
        "that = \"outcomes\"\nmatches = 'locked(['\nbecause = \"a wrong",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert!(
        diagnostics[0]
            .message
            .starts_with("`matches` is not a valid regular expression in expectation 1 of step \"burst\""),
        "{}",
        diagnostics[0]
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "matches = 'locked(['"));
}

#[test]
fn expectations_need_exactly_one_comparison_on_a_real_observation() {
    let fixture = Fixture::new();
    let text = variant(
        "equals = 0\nbecause = \"a wrong",
        "equals = 0\nat_most = 1\nbecause = \"a wrong",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics[0]
            .message
            .contains("more than one comparison (`equals` and `at_most`)"),
        "{}",
        diagnostics[0]
    );
    assert_eq!(diagnostics[0].line, line_of(&text, "at_most = 1"));

    let text = variant("equals = 0\nbecause = \"a wrong", "because = \"a wrong");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "expectation 1 of step \"burst\" has no comparison"
    );

    let text = variant(
        "that = \"accepted\"\nequals = 0\nbecause = \"a wrong",
        "that = \"acepted\"\nequals = 0\nbecause = \"a wrong",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "`acepted` is not an observation of action `login` (expectation 1 of step \"burst\")"
    );
    assert_eq!(diagnostics[0].hint.as_deref(), Some("did you mean `accepted`?"));
}

#[test]
fn every_semantic_error_of_a_file_is_reported() {
    let fixture = Fixture::new();
    let text = LOCKOUT_CASE
        .replacen("action = \"wait\"", "action = \"wiat\"", 1)
        .replacen("id = \"locked-check\"", "id = \"burst\"", 1)
        .replacen("repeat = \"${params.attempts}\"", "repeat = 0", 1)
        .replacen("fail = [\"hardened+no-lockout\"]", "fail = [\"Hardened\"]", 1);
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let messages: Vec<&str> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message.as_str())
        .collect();
    assert!(
        messages.contains(&"unknown action `wiat` in step \"recover\""),
        "{messages:?}"
    );
    assert!(messages.contains(&"duplicate step id `burst`"), "{messages:?}");
    assert!(
        messages.contains(&"invalid value `0` for `repeat` in step \"burst\""),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`Hardened` is not a simulator setup"),
        "{messages:?}"
    );
    assert_eq!(diagnostics.len(), 4, "{messages:?}");
}

#[test]
fn kinds_steps_and_fixtures_must_agree() {
    let fixture = Fixture::new();
    let operator_step = "[[steps]]\nid = \"ask\"\naction = \"operator\"\nprompt = \"Reset it\"\nprompt_vi = \"Đặt lại\"\nanswer = \"confirm\"\n\n[sim]";
    let text = variant("[sim]", operator_step);
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "an automated case cannot contain a `operator` step"
    );

    let text = variant("[sim]\npass = [\"hardened\"]\nfail = [\"hardened+no-lockout\"]\n", "");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics[0]
            .message
            .starts_with("an automated case needs a [sim] table"),
        "{}",
        diagnostics[0]
    );

    let text = variant("kind = \"automated\"", "kind = \"operator\"");
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(
        diagnostics[0].message,
        "a `operator` case needs at least one operator or document step"
    );
}

#[test]
fn case_id_must_equal_the_file_stem() {
    let fixture = Fixture::new();
    let diagnostics = case_errors(&fixture, "lockout-rtsp", LOCKOUT_CASE);
    assert_eq!(
        diagnostics[0].message,
        "case id `lockout-http` differs from the file name"
    );
    assert_eq!(diagnostics[0].line, 1);
    assert_eq!(diagnostics[0].column, "id = ".len() + 1);
}

#[test]
fn every_diagnostic_renders_with_its_location_line() {
    let fixture = Fixture::new();
    let broken = [
        ("a", LOCKOUT_CASE.replacen("[clauses]", "[clauses", 1)),
        (
            "b",
            LOCKOUT_CASE.replacen("id = \"lockout-http\"", "id = \"b\"\nextra = 1", 1),
        ),
        (
            "c",
            LOCKOUT_CASE
                .replacen("id = \"lockout-http\"", "id = \"c\"", 1)
                .replacen("action = \"wait\"", "action = \"nap\"", 1),
        ),
        (
            "d",
            LOCKOUT_CASE
                .replacen("id = \"lockout-http\"", "id = \"d\"", 1)
                .replacen("declared = \"lockout.attempts\"", "declared = \"nope\"", 1),
        ),
        ("e", String::new()),
    ];
    let mut seen = 0;
    for (stem, text) in broken {
        let path = fixture.path(&format!("{stem}.toml"));
        for diagnostic in case_errors(&fixture, stem, &text) {
            assert_rendered_location(&diagnostic, &path);
            seen += 1;
        }
    }
    let missing = fixture.path("missing.toml");
    let diagnostics = hopquy_case::load_case(&missing).unwrap_err();
    assert_rendered_location(&diagnostics[0], &missing);
    assert!(seen >= 5);
}

#[test]
fn find_templates_is_exported_for_the_runner() {
    let templates = hopquy_case::find_templates("${params.attempts}");
    assert_eq!(templates.len(), 1);
    assert!(templates[0].whole);
    assert_eq!(
        templates[0].source,
        hopquy_case::TemplateSource::Param("attempts".into())
    );
}

#[test]
fn login_surfaces_check_op_auth_paths_and_options_at_their_values() {
    let fixture = Fixture::new();
    let burst = "repeat = \"${params.attempts}\"\n";
    // (replacement in the burst step, message start, hint or expected fragment)
    let cases = [
        (
            "surface = \"rtps\"\n",
            "invalid value `rtps` for `surface`",
            "did you mean `rtsp`?",
        ),
        (
            "surface = \"onvif\"\nop = \"login-check\"\n",
            "invalid value `login-check` for `op`",
            "ONVIF operation name",
        ),
        (
            "op = \"GetUsers\"\n",
            "invalid value `GetUsers` for `op`",
            "`surface = \"onvif\"`",
        ),
        (
            "surface = \"rtsp\"\nop = \"login-check\"\n",
            "`op` does not apply to surface `rtsp`",
            "`paths`",
        ),
        (
            "surface = \"onvif\"\nauth = \"basic\"\n",
            "invalid value `basic` for `auth` on surface `onvif`",
            "digest, usernametoken",
        ),
        (
            "surface = \"telnet\"\nauth = \"digest\"\n",
            "`auth` does not apply to surface `telnet`",
            "telnet service offers",
        ),
        (
            "surface = \"ssh\"\nop = \"login-check\"\n",
            "`op` does not apply to surface `ssh`",
            "keyboard-interactive",
        ),
        (
            "surface = \"ssh\"\nauth = \"basic\"\n",
            "`auth` does not apply to surface `ssh`",
            "ssh service offers",
        ),
        (
            "surface = \"shh\"\n",
            "invalid value `shh` for `surface`",
            "did you mean `ssh`?",
        ),
        (
            "paths = [\"/live\"]\n",
            "`paths` does not apply to surface `http`",
            "surface = \"rtsp\"",
        ),
        (
            "options = { reset_belw = 5 }\n",
            "unknown option `reset_belw` of action `login`",
            "did you mean `reset_below`?",
        ),
        (
            "options = { reset_below = 1 }\n",
            "invalid value `1` for `options.reset_below`",
            "an integer ≥ 2",
        ),
        (
            "options = { window_s = 30 }\n",
            "`options.window_s` needs `options.reset_below`",
            "threshold",
        ),
        (
            "options = { reset_below = 5, control_login = false }\n",
            "`options.control_login = false` needs `options.window_s`",
            "pacing per window",
        ),
        (
            "options = { reset_below = 5, window_s = 30, control_login = \"no\" }\n",
            "invalid value \"no\" for `options.control_login`",
            "true or false",
        ),
    ];
    for (added, message, detail) in cases {
        let text = variant(burst, &format!("{burst}{added}"));
        let diagnostics = case_errors(&fixture, "lockout-http", &text);
        assert_eq!(
            diagnostics.len(),
            1,
            "{added}: {}",
            hopquy_case::render_diagnostics(&diagnostics)
        );
        let diagnostic = &diagnostics[0];
        assert!(diagnostic.message.starts_with(message), "{added}: {diagnostic}");
        assert!(diagnostic.message.contains("step \"burst\""), "{added}: {diagnostic}");
        // The offending key is the last one added.
        let last = added.trim_end().lines().last().unwrap_or_default();
        assert_eq!(diagnostic.line, line_of(&text, last), "{added}");
        let rendered = diagnostic.to_string();
        assert!(rendered.contains(detail), "{added}: {rendered}");
    }
    // The valid forms load.
    for good in [
        "surface = \"rtsp\"\npaths = \"profile\"\noptions = { reset_below = \"${params.attempts}\", window_s = 30 }\n",
        "surface = \"onvif\"\nop = \"GetUsers\"\nauth = \"usernametoken\"\n",
        "surface = \"telnet\"\nport = 2323\noptions = { reset_below = 5, window_s = 30, control_login = false }\n",
    ] {
        let path = fixture.write("lockout-http.toml", &variant(burst, &format!("{burst}{good}")));
        assert!(hopquy_case::load_case(&path).is_ok(), "{good}");
    }
}

#[test]
fn password_policy_options_are_checked_at_their_key() {
    let fixture = Fixture::new();
    let text = variant(
        "[[steps]]\nid = \"locked-check\"",
        "[[steps]]\nid = \"policy\"\naction = \"password-policy\"\noptions = { min_lenght = 8, min_length = 0, required_classes = [\"upper\", \"symbol\"], login_check = \"yes\" }\n\n[[steps]]\nid = \"locked-check\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let line = line_of(&text, "min_lenght");
    let find = |needle: &str| {
        diagnostics
            .iter()
            .find(|d| d.message.contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic with {needle:?}: {diagnostics:#?}"))
    };
    let unknown = find("`min_lenght` is not an option of action `password-policy`");
    assert_eq!(unknown.line, line);
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `min_length`?"));
    assert!(
        find("invalid value `0` for `options.min_length`")
            .expected
            .as_deref()
            .unwrap_or_default()
            .contains("1 to 64")
    );
    let class = find("invalid class \"symbol\"");
    assert!(class.expected.as_deref().unwrap_or_default().contains("special"));
    find("invalid value \"yes\" for `options.login_check`");
    // The case needs the two user-management ops on whatever profile it runs against.
    let mut ok_text = variant(
        "[[steps]]\nid = \"locked-check\"",
        "[[steps]]\nid = \"policy\"\naction = \"password-policy\"\noptions = { min_length = \"${params.attempts}\" }\n\n[[steps]]\nid = \"locked-check\"",
    );
    ok_text.push('\n');
    let path = fixture.write("lockout-http.toml", &ok_text);
    let loaded = hopquy_case::load_case(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let ops = hopquy_case::required_ops(&loaded.case);
    assert!(
        ops.contains(&"create-user".to_owned()) && ops.contains(&"delete-user".to_owned()),
        "{ops:?}"
    );
}

#[test]
fn a_misspelt_cause_is_rejected_at_its_value_with_the_choices() {
    let fixture = Fixture::new();
    let text = variant(
        "because = \"a wrong password was accepted\"",
        "otherwise = \"inconclusive\"\ncause = \"target-credential\"\nbecause = \"a wrong password was accepted\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let diagnostic = &diagnostics[0];
    assert_eq!(
        diagnostic.message,
        "unknown value `target-credential` for `cause` in expectation 1 of step \"burst\""
    );
    assert_eq!(
        diagnostic.expected.as_deref(),
        Some(
            "one of: target-credentials, declaration-incomplete, surface-not-found, device-locked, \
             answer-missing, no-answer, unrecognised-answer, narrowed-by-target, no-firmware-image, no-vulndb, no-lab-network, capture-incomplete"
        )
    );
    assert_eq!(diagnostic.hint.as_deref(), Some("did you mean `target-credentials`?"));
    let path = fixture.path("lockout-http.toml");
    let (line, column) = assert_rendered_location(diagnostic, &path);
    assert_eq!(line, line_of(&text, "cause = \"target"));
    assert_eq!(column, "cause = ".len() + 1);
}

#[test]
fn a_cause_on_a_failing_expectation_is_rejected_at_its_key() {
    let fixture = Fixture::new();
    let text = variant(
        "because = \"a wrong password was accepted\"",
        "cause = \"device-locked\"\nbecause = \"a wrong password was accepted\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let diagnostic = &diagnostics[0];
    assert!(
        diagnostic.message.contains("`cause = \"device-locked\"`") && diagnostic.message.contains("`fail`"),
        "{}",
        diagnostic.message
    );
    assert_eq!(diagnostic.line, line_of(&text, "cause = \"device"));
    assert_eq!(diagnostic.column, 1);

    // The same cause with an undecided verdict loads.
    let accepted = text.replace("cause = \"device", "otherwise = \"inconclusive\"\ncause = \"device");
    let path = fixture.write("lockout-http.toml", &accepted);
    let loaded = hopquy_case::load_case(&path).unwrap();
    assert_eq!(
        loaded.case.steps[0].expect[0].cause,
        Some(hopquy_case::Cause::DeviceLocked)
    );
}

#[test]
fn a_case_that_measures_the_lockout_must_have_a_burst_a_check_and_a_recover() {
    let fixture = Fixture::new();
    let measuring = variant("since = \"0.1.0\"", "since = \"0.1.0\"\nmeasures = \"lockout\"");
    // The base case waits instead of recovering: nothing reads how long the lock lasted.
    let diagnostics = case_errors(&fixture, "lockout-http", &measuring);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert!(
        diagnostics[0].message.contains("no step measures a lock"),
        "{}",
        diagnostics[0]
    );
    assert_eq!(diagnostics[0].line, line_of(&measuring, "measures"));

    let recovering = measuring.replacen("action = \"wait\"", "action = \"recover\"", 1);
    let path = fixture.write("lockout-http.toml", &recovering);
    let loaded = hopquy_case::load_case(&path).unwrap();
    let found = loaded.case.lockout_measurements();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].surface.as_str(),
            found[0].burst,
            found[0].check,
            found[0].recover
        ),
        ("http", 0, 1, 2)
    );

    let read_only = recovering.replacen("effect = \"locks-account\"", "effect = \"read-only\"", 1);
    let diagnostics = case_errors(&fixture, "lockout-http", &read_only);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    assert!(
        diagnostics[0].message.contains("must lock the account"),
        "{}",
        diagnostics[0]
    );

    let typo = variant("since = \"0.1.0\"", "since = \"0.1.0\"\nmeasures = \"lockouts\"");
    assert!(!case_errors(&fixture, "lockout-http", &typo).is_empty());
}

#[test]
fn unknown_options_of_every_action_fail_validation_at_their_key() {
    // These passed `hopquy validate` before options were typed: a typo was caught at run
    // time (tls, ssh) or never (ports, onvif).
    let steps = [
        (
            "tls",
            "options = { version = [\"TLSv1.2\"] }",
            "version",
            Some("versions"),
        ),
        ("ssh", "options = { usr = \"admin\" }", "usr", Some("user")),
        (
            "ports",
            "options = { concurency = 8 }",
            "concurency",
            Some("concurrency"),
        ),
        (
            "onvif",
            "op = \"sweep\"\noptions = { include_writes = true }",
            "include_writes",
            Some("include_write"),
        ),
        ("onvif", "op = \"sweep\"\noptions = { zzz = true }", "zzz", None),
    ];
    for (action, keys, key, suggestion) in steps {
        let fixture = Fixture::new();
        let text = variant(
            "[[steps]]\nid = \"locked-check\"",
            &format!("[[steps]]\nid = \"probe\"\naction = \"{action}\"\n{keys}\n\n[[steps]]\nid = \"locked-check\""),
        );
        let diagnostics = case_errors(&fixture, "lockout-http", &text);
        let unknown = diagnostics
            .iter()
            .find(|d| {
                d.message
                    .contains(&format!("unknown option `{key}` of action `{action}`"))
            })
            .unwrap_or_else(|| panic!("{action}: no diagnostic for `{key}`: {diagnostics:#?}"));
        assert_eq!(unknown.line, line_of(&text, key), "{action}");
        assert_eq!(
            unknown.column,
            text.lines()
                .nth(unknown.line - 1)
                .and_then(|l| l.find(key))
                .map_or(0, |c| c + 1),
            "{action}"
        );
        let hint = suggestion.map(|s| format!("did you mean `{s}`?"));
        assert_eq!(unknown.hint, hint, "{action}");
    }
}

#[test]
fn option_values_of_the_probes_are_checked_and_good_ones_load() {
    let fixture = Fixture::new();
    let text = variant(
        "[[steps]]\nid = \"locked-check\"",
        "[[steps]]\nid = \"probe\"\naction = \"tls\"\noptions = { concurrency = 0, certificate = \"no\" }\n\n[[steps]]\nid = \"locked-check\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    for needle in [
        "invalid value `0` for `options.concurrency`",
        "invalid value \"no\" for `options.certificate`",
    ] {
        assert!(
            diagnostics.iter().any(|d| d.message.contains(needle)),
            "no {needle:?}: {diagnostics:#?}"
        );
    }
    let mut good = variant(
        "[[steps]]\nid = \"locked-check\"",
        "[[steps]]\nid = \"probe\"\naction = \"tls\"\noptions = { versions = [\"TLSv1.2\"], concurrency = 4, sni = \"cam\" }\n\n[[steps]]\nid = \"locked-check\"",
    );
    good.push('\n');
    let path = fixture.write("lockout-http.toml", &good);
    let loaded = hopquy_case::load_case(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let tls = loaded
        .case
        .steps
        .iter()
        .find_map(|step| match step.action.get_ref() {
            hopquy_case::StepAction::Tls(tls) => Some(tls.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no tls step"));
    assert_eq!(tls.options.concurrency, Some(toml::Value::Integer(4)));
}

#[test]
fn a_dictionary_on_a_single_credential_action_is_rejected_at_its_value() {
    let fixture = Fixture::new();
    let text = variant(
        "[[steps]]\nid = \"locked-check\"",
        "[[steps]]\nid = \"probe\"\naction = \"rtsp\"\ncredentials = \"dictionary:default-credentials\"\n\n[[steps]]\nid = \"locked-check\"",
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let found = diagnostics
        .iter()
        .find(|d| d.message.contains("`rtsp` sends one credential"))
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(found.line, line_of(&text, "dictionary:default-credentials"));
}

const CVE_OK: &str = "[[cves]]\nid = \"CVE-2017-7921\"\ncvss = 10.0\nkev = true\naffected = \"Hikvision V5.2.0–V5.4.0\"\nurl = \"https://nvd.nist.gov/vuln/detail/CVE-2017-7921\"\n\n[sim]";

#[test]
fn a_case_carries_its_cves() {
    let fixture = Fixture::new();
    let text = variant("[sim]", CVE_OK);
    let path = fixture.write("lockout-http.toml", &text);
    let loaded = hopquy_case::load_case(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let cve = &loaded.case.cves[0];
    assert_eq!(
        (cve.id.get_ref().as_str(), *cve.cvss.get_ref(), cve.kev),
        ("CVE-2017-7921", 10.0, true)
    );
}

#[test]
fn bad_cve_entries_are_reported_where_they_are() {
    let fixture = Fixture::new();
    let broken = CVE_OK
        .replace("CVE-2017-7921\"\ncvss", "CVE-17-7921\"\ncvss")
        .replace("cvss = 10.0", "cvss = 11.5")
        .replace("url = \"https://", "url = \"http://")
        .replace("[sim]", "[[cves]]\nid = \"CVE-2021-36260\"\ncvss = 9.8\nkev = true\nurl = \"https://x\"\n\n[[cves]]\nid = \"CVE-2021-36260\"\ncvss = 9.8\nkev = true\nurl = \"https://x\"\n\n[sim]");
    let text = variant("[sim]", &broken);
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.contains(&"`CVE-17-7921` is not a CVE id (cves entry 1)"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"CVSS score 11.5 is out of range (CVE-17-7921)"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`url` of CVE-17-7921 is not an https:// address"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`CVE-2021-36260` is listed twice in `cves`"),
        "{messages:?}"
    );
    let bad_id = diagnostics.iter().find(|d| d.message.contains("not a CVE id")).unwrap();
    assert_eq!(bad_id.line, line_of(&text, "CVE-17-7921"));
    // An unknown key in an entry is an error too, not dropped.
    let text = variant("[sim]", &CVE_OK.replace("kev = true", "kev = true\nepss = 0.9"));
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(diagnostics[0].message.contains("epss"), "{}", diagnostics[0]);
}

/// The burst step's one expectation, to swap its operator.
const BURST_EXPECT: &str = "fresh_connection = true\n[[steps.expect]]\nthat = \"accepted\"\nequals = 0";
const BURST_HEAD: &str = "fresh_connection = true\n[[steps.expect]]\nthat = \"accepted\"\n";

#[test]
fn version_operators_need_a_version_and_version_from_needs_them() {
    let fixture = Fixture::new();
    let text = variant(BURST_EXPECT, &format!("{BURST_HEAD}version_below = \"none\""));
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.starts_with("`version_below` needs a version")),
        "{diagnostics:?}"
    );
    let text = variant(
        BURST_EXPECT,
        &format!("{BURST_HEAD}equals = 0\nversion_from = 'build (\\d+)'"),
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.starts_with("`version_from` without a version comparison")),
        "{diagnostics:?}"
    );
    let text = variant(
        BURST_EXPECT,
        &format!("{BURST_HEAD}version_at_least = \"5.5\"\nversion_from = 'build (\\d+'"),
    );
    let diagnostics = case_errors(&fixture, "lockout-http", &text);
    assert!(
        diagnostics.iter().any(|d| d
            .message
            .starts_with("`version_from` is not a valid regular expression")),
        "{diagnostics:?}"
    );
    let text = variant(
        BURST_EXPECT,
        &format!("{BURST_HEAD}version_at_least = \"5.5\"\nversion_from = 'build (\\d+)'"),
    );
    let path = fixture.write("lockout-http.toml", &text);
    assert!(hopquy_case::load_case(&path).is_ok());
}

#[test]
fn redact_needs_a_capture_group_and_a_valid_pattern() {
    let fixture = Fixture::new();
    let case = |redact: &str| {
        format!(
            "id = \"disclosure\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\nsince = \"0.1.0\"\nsummary = \"s\"\n\n[clauses]\nqcvn135-2024 = [\"2.3.4\"]\n\n[[steps]]\nid = \"list\"\naction = \"http\"\npath = \"/users\"\nredact = '{redact}'\n[[steps.expect]]\nthat = \"status\"\nequals = 401\nbecause = \"b\"\n\n[sim]\npass = [\"hardened\"]\nfail = [\"legacy\"]\n"
        )
    };
    // A pattern with a group is valid: the shipped CVE-2018-9995 case carries one.
    for (redact, why) in [(r#""pwd":"[^"]*""#, "no capture group"), ("(unclosed", "unclosed")] {
        let text = case(redact);
        let diagnostics = case_errors(&fixture, "disclosure", &text);
        assert_eq!(
            diagnostics.len(),
            1,
            "{}",
            hopquy_case::render_diagnostics(&diagnostics)
        );
        let diagnostic = &diagnostics[0];
        assert!(
            diagnostic.message.contains("redact") && diagnostic.message.contains(why),
            "{}",
            diagnostic.message
        );
        assert_eq!(diagnostic.line, line_of(&text, "redact ="));
        assert!(
            diagnostic
                .expected
                .as_deref()
                .is_some_and(|e| e.contains("capture group"))
        );
    }
}

fn lab_net_step(keys: &str) -> String {
    format!(
        "[[steps]]\nid = \"record\"\naction = \"lab-net\"\n{keys}\n[[steps.expect]]\nthat = \"max_syns_per_second_after_restore\"\nat_most = 5\nbecause = \"the camera reconnected in a storm\"\n\n[sim]"
    )
}

/// A case with a lab-net step has to declare that it needs the lab network.
fn lab_net_case(step: &str) -> String {
    format!("lab_net = \"required\"\n{}", variant("[sim]", step))
}

#[test]
fn a_lab_net_step_loads_with_its_op_and_bounded_wait() {
    let fixture = Fixture::new();
    let text = lab_net_case(&lab_net_step("op = \"restore\"\nwait_s = 600\nalways = true"));
    let path = fixture.write("lockout-http.toml", &text);
    let loaded = hopquy_case::load_case(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let step = loaded.case.steps.iter().find(|s| s.id.get_ref() == "record").unwrap();
    match step.action.get_ref() {
        hopquy_case::StepAction::LabNet(lab) => {
            assert_eq!(*lab.op.get_ref(), hopquy_case::LabNetOp::Restore);
            assert_eq!(lab.wait_s.as_ref().and_then(toml::Value::as_integer), Some(600));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lab_net_step_rejects_an_unknown_op_a_long_wait_and_foreign_keys() {
    let fixture = Fixture::new();
    let first = |keys: &str| {
        let text = lab_net_case(&lab_net_step(keys));
        let d = case_errors(&fixture, "lockout-http", &text).remove(0);
        (d, text)
    };
    let (d, text) = first("op = \"pause\"");
    assert!(d.message.contains("`pause`") && d.message.contains("op"), "{d}");
    assert_eq!(d.expected.as_deref(), Some("one of: snapshot, cut, restore"));
    assert_eq!(d.line, line_of(&text, "op = \"pause\""));
    let (d, _) = first("op = \"snapshot\"\nwait_s = 601");
    assert!(d.expected.as_deref().is_some_and(|e| e.contains("0 to 600")), "{d}");
    let (d, _) = first("wait_s = 5");
    assert!(d.message.contains("op"), "a missing op must be named: {d}");
    let (d, _) = first("op = \"cut\"\nseconds = 5");
    assert!(d.message.contains("seconds"), "{d}");
    let (d, _) = first("op = \"cut\"\n[[steps.expect]]\nthat = \"nonsense\"\nequals = 1\nbecause = \"x\"");
    assert!(d.message.contains("nonsense"), "{d}");
}

#[test]
fn request_target_is_checked_like_the_probe_and_excludes_path_op_and_credentials() {
    let fixture = Fixture::new();
    let case = |keys: &str| {
        format!(
            "id = \"traversal\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\nsince = \"0.1.0\"\nsummary = \"s\"\n\n[clauses]\nqcvn135-2024 = [\"2.3.4\"]\n\n[[steps]]\nid = \"read\"\naction = \"http\"\n{keys}\n[[steps.expect]]\nthat = \"status\"\nequals = 404\nbecause = \"b\"\n\n[sim]\npass = [\"hardened\"]\nfail = [\"legacy\"]\n"
        )
    };
    // The shipped CVE-2017-7577 case's form is valid.
    let good = case("method = \"GET\"\nrequest_target = \"../../../../etc/passwd\"\nauth = \"none\"");
    let path = fixture.write("traversal.toml", &good);
    if let Err(diagnostics) = hopquy_case::load_case(&path) {
        panic!("{}", hopquy_case::render_diagnostics(&diagnostics));
    }
    let long = format!("request_target = \"{}\"", "a".repeat(2049));
    for (keys, at, why) in [
        (
            "request_target = \"http://evil.example/etc/passwd\"",
            "request_target =",
            "://",
        ),
        ("request_target = \"../a b\"", "request_target =", "0x20"),
        ("request_target = \"../a\\u0000\"", "request_target =", "0x00"),
        ("request_target = \"\"", "request_target =", "empty"),
        (long.as_str(), "request_target =", "2048"),
        ("request_target = \"../etc/passwd\"\npath = \"/x\"", "path =", "exclude"),
        (
            "request_target = \"../etc/passwd\"\nop = \"identity\"",
            "op =",
            "exclude",
        ),
        (
            "request_target = \"../etc/passwd\"\nauth = \"digest\"",
            "auth =",
            "auth",
        ),
        (
            "request_target = \"../etc/passwd\"\ncredentials = \"target\"",
            "credentials =",
            "credentials",
        ),
        (
            "request_target = \"../etc/passwd\"\nheaders = { Authorization = \"Basic YTpi\" }",
            "headers =",
            "Authorization",
        ),
    ] {
        let text = case(keys);
        let diagnostics = case_errors(&fixture, "traversal", &text);
        assert_eq!(
            diagnostics.len(),
            1,
            "{keys}: {}",
            hopquy_case::render_diagnostics(&diagnostics)
        );
        let diagnostic = &diagnostics[0];
        assert!(diagnostic.message.contains(why), "{keys}: {}", diagnostic.message);
        assert_eq!(diagnostic.line, line_of(&text, at), "{keys}");
        assert!(diagnostic.hint.is_some(), "{keys}: a hint");
    }
}
