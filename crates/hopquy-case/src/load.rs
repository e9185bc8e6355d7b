//! Reading user files from disk: cases, regulation catalogues, profiles (with inheritance),
//! the target (with its secret) and data dictionaries. Every loader returns all the
//! diagnostics it can find rather than stopping at the first.

use std::fmt;
use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::check;
use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::loaded::{LoadedCase, LoadedDictionary, LoadedRegulation, ProfileSource, ResolvedProfile};
use crate::model::{
    AnswersFile, CaseFile, CredentialDictionary, PathDictionary, ProfileFile, REDACTED, Regulation, TargetFile,
};
use crate::typed::{Case, Step};

/// Definition files are small; a multi-megabyte "case" is a mistake (wrong path, binary).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Deeper nesting than this under test-cases/ is a symlink loop or a mistake.
const MAX_DIRECTORY_DEPTH: usize = 16;
/// Longer profile inheritance chains are almost certainly a mistake.
const MAX_INHERITANCE_DEPTH: usize = 16;

/// Directories under test-cases/ that hold other kinds of files.
pub const NON_CASE_DIRECTORIES: &[&str] = &["regulations", "data"];

/// The target file with its password resolved. The raw text is private because it may hold
/// the literal password; use [`LoadedTarget::redacted_toml`] for anything that is stored or
/// shown.
#[derive(Clone)]
pub struct LoadedTarget {
    pub path: PathBuf,
    /// The parsed file. `credentials.password` is always `None` here: the password lives
    /// only behind [`LoadedTarget::password`].
    pub target: TargetFile,
    raw_text: String,
    password: String,
    password_value_span: Option<Range<usize>>,
}

impl fmt::Debug for LoadedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedTarget")
            .field("path", &self.path)
            .field("target", &self.target)
            .field("password", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl LoadedTarget {
    /// `diagnostic` (the profile this target names could not be loaded) re-anchored at the
    /// `profile = …` value of the target file: that is the line the lab fixes.
    pub fn at_profile_line(&self, diagnostic: Diagnostic) -> Diagnostic {
        let file = SourceFile::new(&self.path, &self.raw_text);
        let mut anchored = file.error_at(self.target.connection.profile.span(), diagnostic.message);
        anchored.expected = diagnostic.expected;
        anchored.hint = diagnostic.hint;
        anchored.notes = diagnostic.notes;
        check::target::redact_target_diagnostics(vec![anchored], Some(&self.password))
            .pop()
            .unwrap_or_else(|| Diagnostic::whole_file(&self.path, "profile not found"))
    }

    /// The target's password. Never log or record it.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The file as the lab wrote it, with the `password = "…"` value replaced by
    /// `"[REDACTED]"`; every other byte is unchanged, except that any other occurrence of the
    /// password in the file (a comment, say) is also replaced.
    pub fn redacted_toml(&self) -> String {
        let text = &self.raw_text;
        let scrub = |part: &str| {
            if self.password.is_empty() {
                part.to_string()
            } else {
                part.replace(&self.password, REDACTED)
            }
        };
        match &self.password_value_span {
            Some(span) if text.get(span.clone()).is_some() => format!(
                "{}\"{REDACTED}\"{}",
                scrub(&text[..span.start]),
                scrub(&text[span.end..])
            ),
            _ => scrub(text),
        }
    }
}

/// Reads a user file with a size bound.
pub(crate) fn read_user_file_text(path: &Path) -> Result<String, Vec<Diagnostic>> {
    read_user_file(path)
}

fn read_user_file(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let cannot_read = |error: std::io::Error| vec![Diagnostic::whole_file(path, format!("cannot read file: {error}"))];
    let file = fs::File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::whole_file(
            path,
            format!("file is larger than {MAX_FILE_BYTES} bytes; is this the right file?"),
        )]);
    }
    String::from_utf8(bytes).map_err(|error| {
        vec![
            Diagnostic::whole_file(
                path,
                format!(
                    "file is not UTF-8 (invalid byte at offset {})",
                    error.utf8_error().valid_up_to()
                ),
            )
            .with_hint("TOML files must be UTF-8 encoded"),
        ]
    })
}

/// Parses `text` both as a spanned tree and as `T`; `check` then runs on both.
fn parse_file<T, R>(
    path: &Path,
    text: &str,
    check: impl FnOnce(SourceFile<'_>, &DeTable<'_>, &T) -> R,
) -> Result<(T, R), Vec<Diagnostic>>
where
    T: DeserializeOwned,
{
    let file = SourceFile::new(path, text);
    let root = doc::parse(file)?;
    let value: T = toml::from_str(text).map_err(|error| vec![doc::serde_error(file, root.get_ref(), &error)])?;
    let checked = check(file, root.get_ref(), &value);
    Ok((value, checked))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> PathBuf {
    path.file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| path.to_path_buf())
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// Loads and validates one case file. Its `id` must equal the file stem.
pub fn load_case(path: impl AsRef<Path>) -> Result<LoadedCase, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = read_user_file(path)?;
    let stem = file_stem(path);
    let (case, mut diagnostics) = parse_file(path, &text, |file, root, case: &CaseFile| {
        check::case::check_case_file(file, root, case, &stem)
    })?;
    if !diagnostics.is_empty() {
        return Err(std::mem::take(&mut diagnostics));
    }
    let case = typed_case(SourceFile::new(path, &text), case)?;
    Ok(LoadedCase {
        relative_path: file_name(path),
        path: path.to_path_buf(),
        text,
        case,
    })
}

/// The typed form of a checked case file. The checks report every problem the conversion can
/// meet at its position; this is the one place the flat steps become actions.
fn typed_case(file: SourceFile<'_>, case: CaseFile) -> Result<Case, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    for step in &case.steps {
        if let Err(error) = Step::from_file(step) {
            diagnostics.push(file.error_at(step.action.span(), format!("step \"{}\": {error}", step.id.get_ref())));
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Case::try_from(case).map_err(|error| vec![file.error_at(0..0, error.to_string())])
}

/// Loads every `*.toml` under `dir` recursively, except in `regulations/` and `data/` at its
/// top level, sorted by path. Case ids must be unique across the suite.
pub fn load_cases(dir: impl AsRef<Path>) -> (Vec<LoadedCase>, Vec<Diagnostic>) {
    let dir = dir.as_ref();
    let mut diagnostics = Vec::new();
    let mut paths = Vec::new();
    collect_toml_files(dir, 0, true, &mut paths, &mut diagnostics);
    paths.sort();
    let mut cases: Vec<LoadedCase> = Vec::new();
    for path in paths {
        match load_case(&path) {
            Ok(mut loaded) => {
                loaded.relative_path = relative_to(dir, &path);
                cases.push(loaded);
            }
            Err(mut errors) => diagnostics.append(&mut errors),
        }
    }
    let (mut duplicate_ids, duplicates) = check::suite::duplicate_case_ids(&cases);
    diagnostics.append(&mut duplicate_ids);
    let cases = cases
        .into_iter()
        .enumerate()
        .filter(|(index, _)| !duplicates.contains(index))
        .map(|(_, loaded)| loaded)
        .collect();
    (cases, diagnostics)
}

fn relative_to(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn collect_toml_files(
    dir: &Path,
    depth: usize,
    skip_non_case_directories: bool,
    found: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if depth > MAX_DIRECTORY_DEPTH {
        diagnostics.push(Diagnostic::whole_file(
            dir,
            format!("directory nesting deeper than {MAX_DIRECTORY_DEPTH} levels (symlink loop?)"),
        ));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic::whole_file(dir, format!("cannot read directory: {error}")));
            return;
        }
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Follows symlinks, so a linked directory of cases is walked like a real one.
        let Ok(metadata) = fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            if skip_non_case_directories && depth == 0 && NON_CASE_DIRECTORIES.contains(&name.as_str()) {
                continue;
            }
            collect_toml_files(&path, depth + 1, skip_non_case_directories, found, diagnostics);
        } else if path.extension().is_some_and(|extension| extension == "toml") {
            found.push(path);
        }
    }
}

/// `*.toml` directly in `dir`, sorted; a missing directory is an error.
fn toml_files_in(dir: &Path) -> Result<Vec<PathBuf>, Vec<Diagnostic>> {
    let entries = fs::read_dir(dir)
        .map_err(|error| vec![Diagnostic::whole_file(dir, format!("cannot read directory: {error}"))])?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|extension| extension == "toml")
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
                && path.is_file()
        })
        .collect();
    paths.sort();
    Ok(paths)
}

// ---------------------------------------------------------------------------------------
// Regulation catalogues
// ---------------------------------------------------------------------------------------

/// Loads one catalogue: its id equals the file stem, clause and group ids are unique, and
/// each clause's group exists when groups are listed.
pub fn load_regulation(path: impl AsRef<Path>) -> Result<LoadedRegulation, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = read_user_file(path)?;
    let (regulation, diagnostics) = parse_file(path, &text, |file, root, regulation: &Regulation| {
        check::regulation::check_regulation(file, root, regulation, &file_stem(path))
    })?;
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(LoadedRegulation {
        relative_path: file_name(path),
        path: path.to_path_buf(),
        text,
        regulation,
    })
}

/// Loads every `*.toml` directly in `dir` as a catalogue; regulation ids must be unique.
pub fn load_regulations(dir: impl AsRef<Path>) -> (Vec<LoadedRegulation>, Vec<Diagnostic>) {
    let dir = dir.as_ref();
    let mut diagnostics = Vec::new();
    let paths = match toml_files_in(dir) {
        Ok(paths) => paths,
        Err(diagnostics) => return (Vec::new(), diagnostics),
    };
    let mut regulations = Vec::new();
    for path in paths {
        match load_regulation(&path) {
            Ok(mut loaded) => {
                loaded.relative_path = relative_to(dir, &path);
                regulations.push(loaded);
            }
            Err(mut errors) => diagnostics.append(&mut errors),
        }
    }
    (regulations, diagnostics)
}

// ---------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------

fn is_bare_name(name_or_path: &str) -> bool {
    !name_or_path.contains(['/', '\\']) && !name_or_path.ends_with(".toml")
}

/// Loads a profile by stem (looked up in `profiles_dir`) or by path, and merges its
/// `inherits` chain. A parent is looked up beside the child first, then in `profiles_dir`.
pub fn load_profile(name_or_path: &str, profiles_dir: impl AsRef<Path>) -> Result<ResolvedProfile, Vec<Diagnostic>> {
    let profiles_dir = profiles_dir.as_ref();
    let first_path = if is_bare_name(name_or_path) {
        profiles_dir.join(format!("{name_or_path}.toml"))
    } else {
        PathBuf::from(name_or_path)
    };
    if !first_path.is_file() {
        let mut diagnostic = Diagnostic::whole_file(&first_path, format!("profile `{name_or_path}` not found"));
        if is_bare_name(name_or_path) {
            let available = available_stems(profiles_dir);
            diagnostic = diagnostic
                .with_expected(format!(
                    "a profile in {}: {}",
                    profiles_dir.display(),
                    one_of(available.iter().map(String::as_str))
                ))
                .with_optional_hint(did_you_mean_hint(name_or_path, available.iter().map(String::as_str)));
        }
        return Err(vec![diagnostic]);
    }

    let mut chain: Vec<ProfileSource> = Vec::new();
    let mut files: Vec<ProfileFile> = Vec::new();
    let mut visited: Vec<PathBuf> = Vec::new();
    let mut next = Some(first_path);
    while let Some(path) = next.take() {
        let canonical = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let text = read_user_file(&path)?;
        let (profile, diagnostics) = parse_file(&path, &text, check::profile::check_profile_file)?;
        if !diagnostics.is_empty() {
            return Err(diagnostics);
        }
        visited.push(canonical);
        let stem = file_stem(&path);
        if let Some(parent) = &profile.inherits {
            let file = SourceFile::new(&path, &text);
            let parent_name = parent.get_ref();
            let beside = path.parent().map(|dir| dir.join(format!("{parent_name}.toml")));
            let parent_path = beside
                .filter(|candidate| candidate.is_file())
                .unwrap_or_else(|| profiles_dir.join(format!("{parent_name}.toml")));
            if !parent_path.is_file() {
                let available = available_stems(profiles_dir);
                return Err(vec![
                    file.error_at(parent.span(), format!("parent profile `{parent_name}` not found"))
                        .with_expected(format!(
                            "a profile stem in {}: {}",
                            profiles_dir.display(),
                            one_of(available.iter().map(String::as_str))
                        ))
                        .with_optional_hint(did_you_mean_hint(parent_name, available.iter().map(String::as_str))),
                ]);
            }
            let parent_canonical = fs::canonicalize(&parent_path).unwrap_or_else(|_| parent_path.clone());
            if visited.contains(&parent_canonical) {
                let mut names: Vec<String> = chain.iter().map(|source| source.name.clone()).collect();
                names.push(stem.clone());
                names.push(parent_name.clone());
                return Err(vec![
                    file.error_at(
                        parent.span(),
                        format!("profile inheritance cycle: {}", names.join(" → ")),
                    )
                    .with_hint("remove `inherits` from one profile of the cycle"),
                ]);
            }
            if visited.len() >= MAX_INHERITANCE_DEPTH {
                return Err(vec![file.error_at(
                    parent.span(),
                    format!("profile inheritance deeper than {MAX_INHERITANCE_DEPTH} levels"),
                )]);
            }
            next = Some(parent_path);
        }
        chain.push(ProfileSource { name: stem, path, text });
        files.push(profile);
    }

    let merged = merge_profiles(&files);
    let diagnostics = check::profile::check_merged_profile(&merged, &chain, &files);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let name = chain.first().map(|source| source.name.clone()).unwrap_or_default();
    Ok(ResolvedProfile {
        name,
        profile: merged,
        chain,
    })
}

fn available_stems(dir: &Path) -> Vec<String> {
    toml_files_in(dir)
        .map(|paths| paths.iter().map(|path| file_stem(path)).collect())
        .unwrap_or_default()
}

/// `files` is child first; the merge starts from the root ancestor.
fn merge_profiles(files: &[ProfileFile]) -> ProfileFile {
    let mut merged = ProfileFile::default();
    for (position, file) in files.iter().rev().enumerate() {
        if position == 0 {
            merged = file.clone();
            continue;
        }
        merged.name = file.name.clone();
        merged.description = file.description.clone();
        merged.inherits = file.inherits.clone();
        for (port_name, port) in &file.ports {
            merged.ports.insert(port_name.clone(), *port);
        }
        for (op_name, op) in &file.ops {
            merged.ops.insert(op_name.clone(), op.clone());
        }
        if file.rtsp.is_some() {
            merged.rtsp = file.rtsp.clone();
        }
        if file.risky_ports.is_some() {
            merged.risky_ports = file.risky_ports.clone();
        }
        if file.factory_default.is_some() {
            merged.factory_default = file.factory_default.clone();
        }
    }
    merged
}

// ---------------------------------------------------------------------------------------
// Target
// ---------------------------------------------------------------------------------------

/// Loads the target file and resolves its password from `password` or `password_env`
/// (exactly one; the variable is read from the process environment). The password never
/// appears in diagnostics.
pub fn load_target(path: impl AsRef<Path>) -> Result<LoadedTarget, Vec<Diagnostic>> {
    load_target_with(path, |variable| std::env::var(variable).ok())
}

/// Like [`load_target`], but `password_env` is resolved through `lookup` instead of the
/// process environment: the demo and the tests hand the simulator's password over without
/// writing it to a file or exporting it to child processes.
pub fn load_target_with(
    path: impl AsRef<Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<LoadedTarget, Vec<Diagnostic>> {
    let path = path.as_ref();
    let raw_text = read_user_file(path)?;
    let parsed = parse_file(path, &raw_text, |file, root, target| {
        check::target::check_target(file, root, target, &lookup)
    });
    let (mut target, (diagnostics, password, password_value_span)) = match parsed {
        Ok(parsed) => parsed,
        Err(diagnostics) => return Err(check::target::redact_target_diagnostics(diagnostics, None)),
    };
    if !diagnostics.is_empty() {
        return Err(check::target::redact_target_diagnostics(
            diagnostics,
            password.as_deref(),
        ));
    }
    let Some(password) = password else {
        return Err(vec![Diagnostic::whole_file(
            path,
            "the target's password could not be resolved",
        )]);
    };
    target.credentials.password = None;
    Ok(LoadedTarget {
        path: path.to_path_buf(),
        target,
        raw_text,
        password,
        password_value_span,
    })
}

/// Checks a target file offline: everything [`load_target`] checks except whether the
/// `password_env` variable is set, which only a run needs (a lab validates its files on a
/// machine that holds no device password). The result's password is empty: it is for
/// checking (the profile it names…), never for a run.
pub fn check_target_file(path: impl AsRef<Path>) -> Result<LoadedTarget, Vec<Diagnostic>> {
    load_target_with(path, |_| Some(String::new()))
}

// ---------------------------------------------------------------------------------------
// Data dictionaries
// ---------------------------------------------------------------------------------------

fn load_dictionary<T: DeserializeOwned>(
    path: &Path,
    check: impl FnOnce(SourceFile<'_>, &DeTable<'_>, &T) -> Vec<Diagnostic>,
) -> Result<LoadedDictionary<T>, Vec<Diagnostic>> {
    let text = read_user_file(path)?;
    let (dictionary, diagnostics) = parse_file(path, &text, check)?;
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(LoadedDictionary {
        name: file_stem(path),
        relative_path: file_name(path),
        path: path.to_path_buf(),
        text,
        dictionary,
    })
}

/// Loads `[[credential]] username/password/source` entries (public default credentials).
pub fn load_credential_dictionary(
    path: impl AsRef<Path>,
) -> Result<LoadedDictionary<CredentialDictionary>, Vec<Diagnostic>> {
    load_dictionary(path.as_ref(), |file, root, dictionary: &CredentialDictionary| {
        check::dictionary::credential_dictionary(file, root, dictionary)
    })
}

/// Loads `[[path]] path/family/source` entries (RTSP stream paths).
pub fn load_path_dictionary(path: impl AsRef<Path>) -> Result<LoadedDictionary<PathDictionary>, Vec<Diagnostic>> {
    load_dictionary(path.as_ref(), |file, root, dictionary: &PathDictionary| {
        check::dictionary::path_dictionary(file, root, dictionary)
    })
}

// ---------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------

/// Everything under test-cases/: cases, regulation catalogues and data dictionaries.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// The test-cases directory.
    pub root: PathBuf,
    pub cases: Vec<LoadedCase>,
    pub regulations: Vec<LoadedRegulation>,
    pub credential_dictionaries: Vec<LoadedDictionary<CredentialDictionary>>,
    pub path_dictionaries: Vec<LoadedDictionary<PathDictionary>>,
}

impl Suite {
    /// Loads the suite. `root` is the test-cases directory, or a directory that contains
    /// `test-cases/` (the repository root). Returns whatever loaded plus every diagnostic;
    /// a caller that needs a clean suite checks that the list is empty.
    pub fn load(root: impl AsRef<Path>) -> (Suite, Vec<Diagnostic>) {
        let given = root.as_ref();
        let nested = given.join("test-cases");
        let root = if nested.is_dir() { nested } else { given.to_path_buf() };
        let mut diagnostics = Vec::new();

        let (cases, mut case_diagnostics) = load_cases(&root);
        diagnostics.append(&mut case_diagnostics);

        let (mut regulations, mut regulation_diagnostics) = load_regulations(root.join("regulations"));
        for loaded in &mut regulations {
            loaded.relative_path = Path::new("regulations").join(&loaded.relative_path);
        }
        diagnostics.append(&mut regulation_diagnostics);

        let mut suite = Suite {
            root: root.clone(),
            cases,
            regulations,
            ..Suite::default()
        };
        let data_dir = root.join("data");
        if data_dir.is_dir() {
            match toml_files_in(&data_dir) {
                Ok(paths) => {
                    for path in paths {
                        suite.load_data_file(&path, &mut diagnostics);
                    }
                }
                Err(mut errors) => diagnostics.append(&mut errors),
            }
        }
        if !suite.regulations.is_empty() {
            diagnostics.append(&mut check::suite::validate_against_catalogue(
                &suite.cases,
                &suite.regulations,
            ));
        }
        diagnostics.append(&mut suite.check_dictionary_references());
        (suite, diagnostics)
    }

    fn load_data_file(&mut self, path: &Path, diagnostics: &mut Vec<Diagnostic>) {
        let text = match read_user_file(path) {
            Ok(text) => text,
            Err(mut errors) => {
                diagnostics.append(&mut errors);
                return;
            }
        };
        let file = SourceFile::new(path, &text);
        let root = match doc::parse(file) {
            Ok(root) => root,
            Err(mut errors) => {
                diagnostics.append(&mut errors);
                return;
            }
        };
        let relative = Path::new("data").join(file_name(path));
        if root.get_ref().contains_key("credential") {
            match load_credential_dictionary(path) {
                Ok(mut loaded) => {
                    loaded.relative_path = relative;
                    self.credential_dictionaries.push(loaded);
                }
                Err(mut errors) => diagnostics.append(&mut errors),
            }
        } else if root.get_ref().contains_key("path") {
            match load_path_dictionary(path) {
                Ok(mut loaded) => {
                    loaded.relative_path = relative;
                    self.path_dictionaries.push(loaded);
                }
                Err(mut errors) => diagnostics.append(&mut errors),
            }
        } else {
            diagnostics.push(Diagnostic::whole_file(path, "unrecognised data file").with_expected(
                "`[[credential]]` entries (username, password, source) or `[[path]]` entries (path, family, source)",
            ));
        }
    }

    fn check_dictionary_references(&self) -> Vec<Diagnostic> {
        let credential_names: Vec<&str> = self
            .credential_dictionaries
            .iter()
            .map(|loaded| loaded.name.as_str())
            .collect();
        let path_names: Vec<&str> = self
            .path_dictionaries
            .iter()
            .map(|loaded| loaded.name.as_str())
            .collect();
        check::suite::dictionary_references(&self.root, &self.cases, &credential_names, &path_names)
    }

    pub fn case(&self, id: &str) -> Option<&LoadedCase> {
        self.cases.iter().find(|loaded| loaded.case.id.get_ref() == id)
    }

    pub fn regulation(&self, id: &str) -> Option<&LoadedRegulation> {
        self.regulations.iter().find(|loaded| loaded.regulation.id == id)
    }

    pub fn credential_dictionary(&self, name: &str) -> Option<&LoadedDictionary<CredentialDictionary>> {
        self.credential_dictionaries.iter().find(|loaded| loaded.name == name)
    }

    pub fn path_dictionary(&self, name: &str) -> Option<&LoadedDictionary<PathDictionary>> {
        self.path_dictionaries.iter().find(|loaded| loaded.name == name)
    }

    /// Every loaded definition file as (path relative to test-cases/, `/`-separated; text),
    /// sorted by path: what the bundle's definitions/ holds.
    pub fn files(&self) -> Vec<(String, &str)> {
        let mut files: Vec<(String, &str)> = Vec::new();
        files.extend(
            self.cases
                .iter()
                .map(|loaded| (slash_path(&loaded.relative_path), loaded.text.as_str())),
        );
        files.extend(
            self.regulations
                .iter()
                .map(|loaded| (slash_path(&loaded.relative_path), loaded.text.as_str())),
        );
        files.extend(
            self.credential_dictionaries
                .iter()
                .map(|loaded| (slash_path(&loaded.relative_path), loaded.text.as_str())),
        );
        files.extend(
            self.path_dictionaries
                .iter()
                .map(|loaded| (slash_path(&loaded.relative_path), loaded.text.as_str())),
        );
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }

    /// Lower-case hex SHA-256 identifying the definition set. For each file in
    /// [`Suite::files`] order it hashes: the relative path (UTF-8), a 0 byte, the content
    /// length as 8 bytes big-endian, the content. Independent of where the suite lives.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, text) in self.files() {
            hasher.update(path.as_bytes());
            hasher.update([0u8]);
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

// ---------------------------------------------------------------------------------------
// Operator answers
// ---------------------------------------------------------------------------------------

/// Parses an answers file (`[[answer]] case step answer attachments note by`); each
/// (case, step) may be answered once.
pub fn parse_answers(path: impl AsRef<Path>, text: &str) -> Result<AnswersFile, Vec<Diagnostic>> {
    parse_answers_for(path, text, None)
}

/// Like [`parse_answers`], and with `cases`, every answer must name one of them and one of
/// its operator or document steps: a mistyped id would otherwise leave the step unanswered
/// (an inconclusive verdict) without a word.
pub fn parse_answers_for(
    path: impl AsRef<Path>,
    text: &str,
    cases: Option<&[&Case]>,
) -> Result<AnswersFile, Vec<Diagnostic>> {
    let path = path.as_ref();
    let (answers, diagnostics) = parse_file(path, text, |file, root, answers: &AnswersFile| {
        check::answers::check_answers(file, root, answers, cases)
    })?;
    if diagnostics.is_empty() {
        Ok(answers)
    } else {
        Err(diagnostics)
    }
}

/// Reads and parses an answers file.
pub fn load_answers(path: impl AsRef<Path>) -> Result<AnswersFile, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = read_user_file(path)?;
    parse_answers(path, &text)
}

/// Reads an answers file and checks its ids against `cases` ([`parse_answers_for`]).
pub fn load_answers_for(path: impl AsRef<Path>, cases: &[&Case]) -> Result<AnswersFile, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = read_user_file(path)?;
    parse_answers_for(path, &text, Some(cases))
}
