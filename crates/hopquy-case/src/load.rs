//! Reading user files from disk: cases, regulation catalogues, profiles (with inheritance),
//! the target (with its secret) and data dictionaries. Every loader returns all the
//! diagnostics it can find rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::model::{
    AnswersFile, Case, CaseFile, CredentialDictionary, Op, PASSWORD_CLASSES, PathDictionary, ProfileFile, Regulation,
    TargetFile,
};
use crate::step::Step;
use crate::validate::{self, is_kebab};

/// Definition files are small; a multi-megabyte "case" is a mistake (wrong path, binary).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Deeper nesting than this under test-cases/ is a symlink loop or a mistake.
const MAX_DIRECTORY_DEPTH: usize = 16;
/// Longer profile inheritance chains are almost certainly a mistake.
const MAX_INHERITANCE_DEPTH: usize = 16;

/// Directories under test-cases/ that hold other kinds of files.
pub const NON_CASE_DIRECTORIES: &[&str] = &["regulations", "data"];

/// A validated case and the exact bytes it came from (copied into evidence bundles).
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub path: PathBuf,
    /// Path relative to the test-cases directory (`/`-separated); the file name when
    /// loaded on its own.
    pub relative_path: PathBuf,
    pub text: String,
    pub case: Case,
}

#[derive(Debug, Clone)]
pub struct LoadedRegulation {
    pub path: PathBuf,
    pub relative_path: PathBuf,
    pub text: String,
    pub regulation: Regulation,
}

/// A data dictionary: `name` is the file stem cases refer to (`dictionary:<name>`).
#[derive(Debug, Clone)]
pub struct LoadedDictionary<T> {
    pub name: String,
    pub path: PathBuf,
    pub relative_path: PathBuf,
    pub text: String,
    pub dictionary: T,
}

/// One file of a profile's inheritance chain, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSource {
    /// File stem.
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// A profile with its `inherits` chain merged.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// Stem of the requested profile file.
    pub name: String,
    /// The merged result: child ports override parent ports by name, child ops replace
    /// parent ops of the same name wholesale, `rtsp` and `risky_ports` come from the
    /// nearest file that sets them.
    pub profile: ProfileFile,
    /// The files read, requested profile first, root ancestor last (for the bundle's
    /// definitions/).
    pub chain: Vec<ProfileSource>,
}

impl ResolvedProfile {
    pub fn op(&self, name: &str) -> Option<&Op> {
        self.profile.ops.get(name)
    }

    pub fn port(&self, name: &str) -> Option<u16> {
        self.profile.ports.get(name).copied()
    }
}

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

pub const REDACTED: &str = "[REDACTED]";

impl LoadedTarget {
    /// `diagnostic` (the profile this target names could not be loaded) re-anchored at the
    /// `profile = …` value of the target file: that is the line the lab fixes.
    pub fn at_profile_line(&self, diagnostic: Diagnostic) -> Diagnostic {
        let file = SourceFile::new(&self.path, &self.raw_text);
        let mut anchored = file.error_at(self.target.connection.profile.span(), diagnostic.message);
        anchored.expected = diagnostic.expected;
        anchored.hint = diagnostic.hint;
        anchored.notes = diagnostic.notes;
        redact_target_diagnostics(vec![anchored], Some(&self.password))
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
    let (case, mut diagnostics) = parse_file(path, &text, |file, root, case: &CaseFile| {
        let mut diagnostics = validate::validate_case(file, root, case);
        let stem = file_stem(path);
        if case.id.get_ref() != &stem {
            diagnostics.insert(
                0,
                file.error_at(
                    case.id.span(),
                    format!("case id `{}` differs from the file name", case.id.get_ref()),
                )
                .with_expected(format!("`{stem}` (the file stem)"))
                .with_hint(format!(
                    "set `id = \"{stem}\"` or rename the file to `{}.toml`",
                    case.id.get_ref()
                )),
            );
        }
        diagnostics
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
    let mut first_by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut duplicates = BTreeSet::new();
    for (index, loaded) in cases.iter().enumerate() {
        let id = loaded.case.id.get_ref().clone();
        if let Some(&first) = first_by_id.get(&id) {
            let first_case = &cases[first];
            let first_file = SourceFile::new(&first_case.path, &first_case.text);
            let file = SourceFile::new(&loaded.path, &loaded.text);
            diagnostics.push(
                file.error_at(loaded.case.id.span(), format!("duplicate case id `{id}`"))
                    .with_note(format!(
                        "also defined at {}",
                        first_file.location_of(first_case.case.id.span().start)
                    ))
                    .with_hint("case ids (file stems) must be unique across test-cases/; rename one file"),
            );
            duplicates.insert(index);
        } else {
            first_by_id.insert(id, index);
        }
    }
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

fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

/// Loads one catalogue: its id equals the file stem, clause and group ids are unique, and
/// each clause's group exists when groups are listed.
pub fn load_regulation(path: impl AsRef<Path>) -> Result<LoadedRegulation, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = read_user_file(path)?;
    let (regulation, diagnostics) = parse_file(path, &text, |file, root, regulation: &Regulation| {
        check_regulation(file, root, regulation, &file_stem(path))
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

fn check_regulation(file: SourceFile<'_>, root: &DeTable<'_>, regulation: &Regulation, stem: &str) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let value_span = |table: &DeTable<'_>, key: &str| doc::get(table, key).map_or(0..0, |(_, value)| value.span());
    if regulation.id != stem {
        diagnostics.push(
            file.error_at(
                value_span(root, "id"),
                format!("regulation id `{}` differs from the file name", regulation.id),
            )
            .with_expected(format!("`{stem}` (the file stem)")),
        );
    }
    if !is_iso_date(&regulation.effective) {
        diagnostics.push(
            file.error_at(
                value_span(root, "effective"),
                format!("`{}` is not a date", regulation.effective),
            )
            .with_expected("YYYY-MM-DD"),
        );
    }
    let tables_of = |key: &str| -> Vec<&DeTable<'_>> {
        root.get(key)
            .and_then(doc::as_array)
            .map(|items| items.iter().filter_map(doc::as_table).collect())
            .unwrap_or_default()
    };
    let group_tables = tables_of("groups");
    let clause_tables = tables_of("clauses");
    if regulation.clauses.is_empty() {
        diagnostics.push(file.error_at(
            doc::get(root, "clauses").map_or(0..0, |(key, _)| key.span()),
            "the catalogue lists no clauses",
        ));
    }
    let mut group_first: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, group) in regulation.groups.iter().enumerate() {
        let span = group_tables.get(index).map_or(0..0, |table| value_span(table, "id"));
        if let Some(first) = group_first.get(group.id.as_str()) {
            let first_span = group_tables.get(*first).map_or(0..0, |table| value_span(table, "id"));
            diagnostics.push(
                file.error_at(span, format!("duplicate group id `{}`", group.id))
                    .with_note(format!("first defined at {}", file.location_of(first_span.start))),
            );
        } else {
            group_first.insert(&group.id, index);
        }
    }
    let group_ids: Vec<&str> = regulation.groups.iter().map(|group| group.id.as_str()).collect();
    let mut clause_first: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, clause) in regulation.clauses.iter().enumerate() {
        let table = clause_tables.get(index);
        let id_span = table.map_or(0..0, |table| value_span(table, "id"));
        if let Some(first) = clause_first.get(clause.id.as_str()) {
            let first_span = clause_tables.get(*first).map_or(0..0, |table| value_span(table, "id"));
            diagnostics.push(
                file.error_at(id_span, format!("duplicate clause id `{}`", clause.id))
                    .with_note(format!("first defined at {}", file.location_of(first_span.start))),
            );
        } else {
            clause_first.insert(&clause.id, index);
        }
        if !group_ids.is_empty() && !group_ids.contains(&clause.group.as_str()) {
            let span = table.map_or(0..0, |table| value_span(table, "group"));
            diagnostics.push(
                file.error_at(
                    span,
                    format!("clause `{}` names unknown group `{}`", clause.id, clause.group),
                )
                .with_expected(one_of(group_ids.iter().copied()))
                .with_optional_hint(did_you_mean_hint(&clause.group, group_ids.iter().copied())),
            );
        }
    }
    diagnostics
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
        let (profile, diagnostics) = parse_file(&path, &text, check_profile_file)?;
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
    let diagnostics = check_merged_profile(&merged, &chain, &files);
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
    }
    merged
}

/// Checks that need only one profile file.
fn check_profile_file(file: SourceFile<'_>, root: &DeTable<'_>, profile: &ProfileFile) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let ops_table = root.get("ops").and_then(doc::as_table);
    let ports_table = root.get("ports").and_then(doc::as_table);
    for (name, port) in &profile.ports {
        let (key_span, value_span) = ports_table
            .and_then(|table| doc::get(table, name))
            .map_or((0..0, 0..0), |(key, value)| (key.span(), value.span()));
        if !is_kebab(name) {
            diagnostics.push(
                file.error_at(key_span, format!("port name `{name}` is not lowercase-kebab"))
                    .with_expected("a name such as `http`, `rtsp`, `dahua-sdk`"),
            );
        }
        if *port == 0 {
            diagnostics.push(
                file.error_at(value_span, format!("port `{name}` is 0"))
                    .with_expected("a port from 1 to 65535"),
            );
        }
    }
    for (name, op) in &profile.ops {
        let op_table = ops_table.and_then(|table| doc::get(table, name));
        let key_span = op_table.map_or(0..0, |(key, _)| key.span());
        let op_table = op_table.and_then(|(_, value)| doc::as_table(value));
        let span_of = |key: &str| {
            op_table
                .and_then(|table| doc::get(table, key))
                .map_or(key_span.clone(), |(_, value)| value.span())
        };
        if !is_kebab(name) {
            diagnostics.push(
                file.error_at(
                    key_span.clone(),
                    format!("operation name `{name}` is not lowercase-kebab"),
                )
                .with_expected("a name such as `login-check`, `users`, `factory-reset`"),
            );
        }
        if !op.path.starts_with('/') {
            diagnostics.push(
                file.error_at(span_of("path"), format!("path of op `{name}` does not start with `/`"))
                    .with_hint(format!("write `/{}`", op.path)),
            );
        }
        if let Some(method) = &op.method
            && (method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()))
        {
            diagnostics.push(
                file.error_at(
                    span_of("method"),
                    format!("`{method}` is not an HTTP method (op `{name}`)"),
                )
                .with_expected("an upper-case method such as `GET`, `POST`, `PUT`"),
            );
        }
        if let Some(auth) = &op.auth {
            let allowed = ["none", "basic", "digest", "usernametoken", "any"];
            if !allowed.contains(&auth.as_str()) {
                diagnostics.push(
                    file.error_at(span_of("auth"), format!("unknown auth `{auth}` (op `{name}`)"))
                        .with_expected(one_of(allowed))
                        .with_optional_hint(did_you_mean_hint(auth, allowed)),
                );
            }
        }
        for (label, classifier) in [
            ("accepted", &op.accepted),
            ("rejected", &op.rejected),
            ("locked", &op.locked),
        ] {
            let Some(classifier) = classifier else {
                continue;
            };
            if let Some(pattern) = &classifier.body_matches
                && let Err(error) = regex::Regex::new(pattern)
            {
                let span = op_table
                    .and_then(|table| table.get(label))
                    .and_then(doc::as_table)
                    .and_then(|table| doc::get(table, "body_matches"))
                    .map_or(key_span.clone(), |(_, value)| value.span());
                let reason = error.to_string();
                let reason = reason.lines().last().unwrap_or("invalid").trim().to_string();
                diagnostics.push(
                    file.error_at(
                        span,
                        format!("`{label}.body_matches` of op `{name}` is not a valid regular expression: {reason}"),
                    )
                    .with_expected("a regular expression in Rust `regex` syntax"),
                );
            }
            if classifier.status.is_empty() && classifier.body_contains.is_none() && classifier.body_matches.is_none() {
                diagnostics.push(
                    file.error_at(
                        span_of(label),
                        format!("`{label}` classifier of op `{name}` has no condition"),
                    )
                    .with_expected("`status`, `body_contains` or `body_matches`"),
                );
            }
        }
    }
    for (name, op) in &profile.ops {
        diagnostics.extend(check_user_op(file, ops_table, name, op));
    }
    if let Some(rtsp) = &profile.rtsp {
        for path in &rtsp.paths {
            if !path.starts_with('/') {
                let span = root
                    .get("rtsp")
                    .and_then(doc::as_table)
                    .and_then(|table| doc::get(table, "paths"))
                    .map_or(0..0, |(_, value)| value.span());
                diagnostics.push(
                    file.error_at(span, format!("RTSP path `{path}` does not start with `/`"))
                        .with_hint(format!("write `/{path}`")),
                );
            }
        }
    }
    diagnostics
}

/// Longest password a target may declare as its minimum (the `password-policy` action's bound).
pub const MAX_DECLARED_PASSWORD_LENGTH: u32 = 64;

/// The `${…}` values the `password-policy` action fills in, per operation: a user-management
/// op says where the temporary user's name, password and id go; no other op may use them.
pub const USER_OP_TEMPLATES: &[(&str, &[&str])] = &[
    ("create-user", &["user.name", "user.password"]),
    ("delete-user", &["user.name", "user.id"]),
];

/// `create-user` / `delete-user`: templates limited to what the action provides, a `rejected`
/// classifier that recognises a weak-password refusal, a `created_id` pattern that captures.
fn check_user_op(file: SourceFile<'_>, ops_table: Option<&DeTable<'_>>, name: &str, op: &Op) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let op_entry = ops_table.and_then(|table| doc::get(table, name));
    let key_span = op_entry.map_or(0..0, |(key, _)| key.span());
    let op_table = op_entry.and_then(|(_, value)| doc::as_table(value));
    let span_of = |key: &str| {
        op_table
            .and_then(|table| doc::get(table, key))
            .map_or(key_span.clone(), |(_, value)| value.span())
    };
    let allowed = USER_OP_TEMPLATES
        .iter()
        .find(|(op_name, _)| *op_name == name)
        .map(|(_, allowed)| *allowed);
    let mut used = BTreeSet::new();
    for (field, text) in [("path", Some(op.path.as_str())), ("body", op.body.as_deref())] {
        let Some(text) = text else { continue };
        for reference in user_op_references(text) {
            match allowed {
                Some(allowed) if allowed.contains(&reference.as_str()) => {
                    used.insert(reference);
                }
                Some(allowed) => diagnostics.push(
                    file.error_at(
                        span_of(field),
                        format!("op `{name}` uses `${{{reference}}}` in its {field}"),
                    )
                    .with_expected(format!(
                        "only {} (filled in by the `password-policy` action)",
                        allowed
                            .iter()
                            .map(|a| format!("`${{{a}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .with_optional_hint(did_you_mean_hint(&reference, allowed.iter().copied())),
                ),
                None if reference.starts_with("user.") => diagnostics.push(
                    file.error_at(
                        span_of(field),
                        format!("op `{name}` uses `${{{reference}}}` in its {field}"),
                    )
                    .with_expected("`${user.…}` only in the `create-user` and `delete-user` operations"),
                ),
                None => {}
            }
        }
    }
    match name {
        "create-user" => {
            for needed in ["user.name", "user.password"] {
                if !used.contains(needed) {
                    diagnostics.push(
                        file.error_at(key_span.clone(), format!("op `create-user` never uses `${{{needed}}}`"))
                            .with_expected("the temporary user's name and password in the path or body")
                            .with_hint(format!("put `${{{needed}}}` where the request carries it")),
                    );
                }
            }
            if op.rejected.is_none() {
                diagnostics.push(
                    file.error_at(key_span.clone(), "op `create-user` has no `rejected` classifier")
                        .with_expected(
                            "`rejected = { … }` matching the device's weak-password refusal (and nothing else)",
                        )
                        .with_hint(
                            "a refusal no classifier recognises is `unknown`, which makes the case inconclusive",
                        ),
                );
            }
        }
        "delete-user" if !used.contains("user.name") && !used.contains("user.id") => {
            diagnostics.push(
                file.error_at(key_span.clone(), "op `delete-user` names no user")
                    .with_expected("`${user.name}` or `${user.id}` in the path or body"),
            );
        }
        _ => {}
    }
    if let Some(pattern) = &op.created_id {
        match regex::Regex::new(pattern) {
            Ok(re) if re.captures_len() >= 2 => {}
            Ok(_) => diagnostics.push(
                file.error_at(
                    span_of("created_id"),
                    format!("`created_id` of op `{name}` has no capture group"),
                )
                .with_expected("a regular expression whose first group `( … )` is the id")
                .with_hint("e.g. '<id>\\s*([0-9]+)\\s*</id>'"),
            ),
            Err(error) => {
                let reason = error.to_string();
                let reason = reason.lines().last().unwrap_or("invalid").trim().to_string();
                diagnostics.push(
                    file.error_at(
                        span_of("created_id"),
                        format!("`created_id` of op `{name}` is not a valid regular expression: {reason}"),
                    )
                    .with_expected("a regular expression in Rust `regex` syntax"),
                );
            }
        }
    }
    diagnostics
}

/// The `${…}` references in an op's path or body, trimmed.
pub fn user_op_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            found.push(after.trim().to_string());
            break;
        };
        found.push(after[..end].trim().to_string());
        rest = &after[end + 1..];
    }
    found
}

/// Checks that need the whole chain: every op's named port exists after merging.
fn check_merged_profile(merged: &ProfileFile, chain: &[ProfileSource], files: &[ProfileFile]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let port_names: Vec<&str> = merged.ports.keys().map(String::as_str).collect();
    for (name, op) in &merged.ops {
        let Some(port) = &op.port else { continue };
        if merged.ports.contains_key(port) {
            continue;
        }
        // Point at the file whose op won the merge.
        let Some(index) = files.iter().position(|file| file.ops.get(name) == Some(op)) else {
            continue;
        };
        let Some(source) = chain.get(index) else {
            continue;
        };
        let file = SourceFile::new(&source.path, &source.text);
        let span = DeTable::parse(&source.text)
            .ok()
            .and_then(|root| {
                root.get_ref()
                    .get("ops")
                    .and_then(doc::as_table)
                    .and_then(|ops| ops.get(name.as_str()))
                    .and_then(doc::as_table)
                    .and_then(|table| table.get("port"))
                    .map(|value| value.span())
            })
            .unwrap_or(0..0);
        diagnostics.push(
            file.error_at(
                span,
                format!("op `{name}` uses port `{port}`, which the profile does not define"),
            )
            .with_expected(format!("a port from [ports]: {}", one_of(port_names.iter().copied())))
            .with_optional_hint(did_you_mean_hint(port, port_names.iter().copied())),
        );
    }
    diagnostics
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
        check_target(file, root, target, &lookup)
    });
    let (mut target, (diagnostics, password, password_value_span)) = match parsed {
        Ok(parsed) => parsed,
        Err(diagnostics) => return Err(redact_target_diagnostics(diagnostics, None)),
    };
    if !diagnostics.is_empty() {
        return Err(redact_target_diagnostics(diagnostics, password.as_deref()));
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

/// Keys of a target file whose values are never secret, so diagnostics may quote them.
const TARGET_PUBLIC_KEYS: &[&str] = &[
    "vendor",
    "model",
    "firmware",
    "serial",
    "host",
    "profile",
    "ports",
    "max_connections",
    "min_connect_gap_ms",
    "timeout_s",
    "web",
    "username",
    "password_env",
    "open_tcp_ports",
    "lockout",
    "attempts",
    "window_s",
    "duration_s",
    "password_policy",
    "min_length",
    "required_classes",
];

/// Diagnostics quote source lines and serde quotes values; in a target file either may be
/// the password (a mistyped `pasword = "…"` key, a syntax error inside the string). Only
/// values of known public keys (and unquoted values of harmless-looking keys) are shown; a
/// known password is replaced wherever it still appears.
fn redact_target_diagnostics(mut diagnostics: Vec<Diagnostic>, password: Option<&str>) -> Vec<Diagnostic> {
    let scrub = |text: &mut String| {
        if let Some(password) = password.filter(|password| !password.is_empty()) {
            *text = text.replace(password, REDACTED);
        }
    };
    for diagnostic in &mut diagnostics {
        if let Some(snippet) = &mut diagnostic.snippet
            && let Some(redacted) = redact_target_line(&snippet.line_text)
        {
            snippet.line_text = redacted;
            let length = snippet.line_text.chars().count();
            snippet.start_column = snippet.start_column.min(length).max(1);
            snippet.width = snippet.width.min(length + 1 - snippet.start_column).max(1);
        }
        let subject_is_public = diagnostic
            .message
            .split('`')
            .nth(1)
            .is_some_and(|key| TARGET_PUBLIC_KEYS.contains(&key));
        if !subject_is_public
            && let Some(found) = diagnostic
                .message
                .find(": found ")
                .or_else(|| diagnostic.message.find(", found "))
        {
            diagnostic.message.truncate(found);
        }
        scrub(&mut diagnostic.message);
        if let Some(snippet) = &mut diagnostic.snippet {
            scrub(&mut snippet.line_text);
        }
        for text in diagnostic
            .expected
            .iter_mut()
            .chain(diagnostic.hint.iter_mut())
            .chain(diagnostic.notes.iter_mut())
        {
            scrub(text);
        }
    }
    diagnostics
}

/// The line to show instead of `line`, or None when it can be shown as is.
fn redact_target_line(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('[') {
        return None;
    }
    let Some((key, _)) = line.split_once('=') else {
        // A continuation line of a multi-line string, or garbage: it could be anything.
        return Some("[line hidden: it may contain the password]".to_string());
    };
    let secret_looking = |name: &str| {
        let lowered = name.to_ascii_lowercase();
        ["pas", "pw", "secret", "key", "token"]
            .iter()
            .any(|word| lowered.contains(word))
    };
    // Every key on the line, inline tables included (`credentials = { password = "…" }`).
    let segments: Vec<&str> = line.split('=').collect();
    let keys = segments[..segments.len() - 1].iter().map(|segment| {
        segment
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',' || c == '.')
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '\''])
    });
    // Only what may be the password is hidden: a mistyped `hots = "…"` or `firmware` line is
    // the lab's own text and the excerpt must show it (the known password is replaced
    // wherever it appears anyway).
    if !keys
        .into_iter()
        .any(|k| !TARGET_PUBLIC_KEYS.contains(&k) && secret_looking(k))
    {
        return None;
    }
    Some(format!("{key}= \"{REDACTED}\""))
}

type TargetCheck = (Vec<Diagnostic>, Option<String>, Option<Range<usize>>);

fn check_target(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    target: &TargetFile,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> TargetCheck {
    let mut diagnostics = Vec::new();
    let section = |name: &str| root.get(name).and_then(doc::as_table);
    let entry_spans = |table: Option<&DeTable<'_>>, key: &str| {
        table
            .and_then(|table| doc::get(table, key))
            .map(|(key, value)| (key.span(), value.span()))
    };
    let section_key_span = |name: &str| doc::get(root, name).map_or(0..0, |(key, _)| key.span());

    let credentials = section("credentials");
    let password_spans = entry_spans(credentials, "password");
    let env_spans = entry_spans(credentials, "password_env");
    let mut password = None;
    match (&target.credentials.password, &target.credentials.password_env) {
        (Some(_), Some(_)) => {
            let span = env_spans.as_ref().map_or(0..0, |(key, _)| key.clone());
            diagnostics.push(
                file.error_at(span, "both `password` and `password_env` are set in [credentials]")
                    .with_expected("exactly one of them")
                    .with_hint("keep `password_env` and remove the literal `password`"),
            );
        }
        (None, None) => {
            diagnostics.push(
                file.error_at(section_key_span("credentials"), "[credentials] gives no password")
                    .with_expected("`password_env = \"VARIABLE\"` (preferred) or `password = \"…\"`"),
            );
        }
        (Some(literal), None) => password = Some(literal.clone()),
        (None, Some(variable)) => {
            let span = env_spans.as_ref().map_or(0..0, |(_, value)| value.clone());
            match lookup(variable) {
                Some(value) => password = Some(value),
                None => diagnostics.push(
                    file.error_at(span, format!("environment variable `{variable}` is not set"))
                        .with_expected(format!("`{variable}` to hold the device password"))
                        .with_hint(format!(
                            "export {variable}=… before running, or read it from your secret store"
                        )),
                ),
            }
        }
    }

    let connection = section("connection");
    let host = target.connection.host.trim();
    let host_span = entry_spans(connection, "host").map_or(0..0, |(_, value)| value);
    if host.is_empty() {
        diagnostics.push(
            file.error_at(host_span, "`host` is empty")
                .with_expected("an IP address or host name"),
        );
    } else if host.contains("://") || host.contains('/') {
        diagnostics.push(
            file.error_at(host_span, format!("`host` must be a bare address, not `{host}`"))
                .with_expected("an IP address or host name, e.g. `192.0.2.10`")
                .with_hint("ports go in [connection.ports]; the scheme is chosen per probe"),
        );
    }
    let ports = connection.and_then(|table| table.get("ports")).and_then(doc::as_table);
    for (name, port) in &target.connection.ports {
        let (key_span, value_span) = entry_spans(ports, name).unwrap_or((0..0, 0..0));
        if !is_kebab(name) {
            diagnostics.push(file.error_at(key_span, format!("port name `{name}` is not lowercase-kebab")));
        }
        if *port == 0 {
            diagnostics.push(
                file.error_at(value_span, format!("port `{name}` is 0"))
                    .with_expected("a port from 1 to 65535"),
            );
        }
    }
    for (key, zero) in [
        ("max_connections", target.connection.max_connections == Some(0)),
        ("timeout_s", target.connection.timeout_s == Some(0)),
    ] {
        if zero {
            let span = entry_spans(connection, key).map_or(0..0, |(_, value)| value);
            diagnostics.push(
                file.error_at(span, format!("`{key}` is 0"))
                    .with_expected("a number ≥ 1"),
            );
        }
    }
    if let Some(open) = &target.declared.open_tcp_ports
        && open.contains(&0)
    {
        let span = section("declared")
            .and_then(|table| doc::get(table, "open_tcp_ports"))
            .map_or(0..0, |(_, value)| value.span());
        diagnostics.push(
            file.error_at(span, "`open_tcp_ports` lists port 0")
                .with_expected("ports from 1 to 65535"),
        );
    }
    if let Some(policy) = &target.declared.password_policy {
        let policy_table = section("declared")
            .and_then(|table| table.get("password_policy"))
            .and_then(doc::as_table);
        let value_span = |key: &str| {
            policy_table
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        if let Some(length) = policy.min_length
            && !(1..=MAX_DECLARED_PASSWORD_LENGTH).contains(&length)
        {
            diagnostics.push(
                file.error_at(value_span("min_length"), format!("`min_length` is {length}"))
                    .with_expected(format!("a length from 1 to {MAX_DECLARED_PASSWORD_LENGTH}")),
            );
        }
        if let Some(classes) = &policy.required_classes {
            let mut seen = BTreeSet::new();
            for class in classes {
                if !PASSWORD_CLASSES.contains(&class.as_str()) {
                    diagnostics.push(
                        file.error_at(
                            value_span("required_classes"),
                            format!("`{class}` is not a character class"),
                        )
                        .with_expected(one_of(PASSWORD_CLASSES.iter().copied()))
                        .with_optional_hint(did_you_mean_hint(class, PASSWORD_CLASSES.iter().copied())),
                    );
                } else if !seen.insert(class.as_str()) {
                    diagnostics.push(
                        file.error_at(
                            value_span("required_classes"),
                            format!("`{class}` is listed twice in `required_classes`"),
                        )
                        .with_hint("list each class once"),
                    );
                }
            }
        }
    }
    let password_value_span = password_spans.map(|(_, value)| value);
    (diagnostics, password, password_value_span)
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

/// Entry tables of `[[key]]` with their spans.
fn entry_tables<'a, 'i>(root: &'a DeTable<'i>, key: &str) -> Vec<&'a DeTable<'i>> {
    root.get(key)
        .and_then(doc::as_array)
        .map(|items| items.iter().filter_map(doc::as_table).collect())
        .unwrap_or_default()
}

/// Loads `[[credential]] username/password/source` entries (public default credentials).
pub fn load_credential_dictionary(
    path: impl AsRef<Path>,
) -> Result<LoadedDictionary<CredentialDictionary>, Vec<Diagnostic>> {
    load_dictionary(path.as_ref(), |file, root, dictionary: &CredentialDictionary| {
        let mut diagnostics = Vec::new();
        let tables = entry_tables(root, "credential");
        if dictionary.credential.is_empty() {
            diagnostics.push(file.error_at(0..0, "the dictionary has no [[credential]] entries"));
        }
        let mut first: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (index, entry) in dictionary.credential.iter().enumerate() {
            let table = tables.get(index);
            let span_of = |key: &str| {
                table
                    .and_then(|table| doc::get(table, key))
                    .map_or(0..0, |(_, value)| value.span())
            };
            if entry.source.trim().is_empty() {
                diagnostics.push(
                    file.error_at(span_of("source"), "empty `source`")
                        .with_expected("where this credential is documented (tool, advisory, vendor manual)"),
                );
            }
            match first.get(&(entry.username.as_str(), entry.password.as_str())) {
                Some(first_index) => {
                    let first_span = tables
                        .get(*first_index)
                        .and_then(|table| doc::get(table, "username"))
                        .map_or(0..0, |(_, value)| value.span());
                    diagnostics.push(
                        file.error_at(
                            span_of("username"),
                            format!("duplicate credential `{}` / `{}`", entry.username, entry.password),
                        )
                        .with_note(format!("first listed at {}", file.location_of(first_span.start))),
                    );
                }
                None => {
                    first.insert((&entry.username, &entry.password), index);
                }
            }
        }
        diagnostics
    })
}

/// Loads `[[path]] path/family/source` entries (RTSP stream paths).
pub fn load_path_dictionary(path: impl AsRef<Path>) -> Result<LoadedDictionary<PathDictionary>, Vec<Diagnostic>> {
    load_dictionary(path.as_ref(), |file, root, dictionary: &PathDictionary| {
        let mut diagnostics = Vec::new();
        let tables = entry_tables(root, "path");
        if dictionary.path.is_empty() {
            diagnostics.push(file.error_at(0..0, "the dictionary has no [[path]] entries"));
        }
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, entry) in dictionary.path.iter().enumerate() {
            let table = tables.get(index);
            let span_of = |key: &str| {
                table
                    .and_then(|table| doc::get(table, key))
                    .map_or(0..0, |(_, value)| value.span())
            };
            if !entry.path.starts_with('/') || entry.path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                diagnostics.push(
                    file.error_at(span_of("path"), format!("`{}` is not a usable RTSP path", entry.path))
                        .with_expected("a path starting with `/`, without spaces"),
                );
            }
            if !is_kebab(&entry.family) {
                diagnostics.push(
                    file.error_at(
                        span_of("family"),
                        format!("family `{}` is not lowercase-kebab", entry.family),
                    )
                    .with_expected("e.g. `hikvision`, `dahua`, `generic`"),
                );
            }
            if entry.source.trim().is_empty() {
                diagnostics.push(
                    file.error_at(span_of("source"), "empty `source`")
                        .with_expected("where this path is documented"),
                );
            }
            match first.get(entry.path.as_str()) {
                Some(first_index) => {
                    let first_span = tables
                        .get(*first_index)
                        .and_then(|table| doc::get(table, "path"))
                        .map_or(0..0, |(_, value)| value.span());
                    diagnostics.push(
                        file.error_at(span_of("path"), format!("duplicate path `{}`", entry.path))
                            .with_note(format!("first listed at {}", file.location_of(first_span.start))),
                    );
                }
                None => {
                    first.insert(&entry.path, index);
                }
            }
        }
        diagnostics
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
            diagnostics.append(&mut validate::validate_against_catalogue(
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
        let mut diagnostics = Vec::new();
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
        for loaded in &self.cases {
            let file = SourceFile::new(&loaded.path, &loaded.text);
            for (kind, name, span) in validate::dictionary_references(&loaded.text) {
                let (names, entry) = if kind == "credentials" {
                    (&credential_names, "[[credential]]")
                } else {
                    (&path_names, "[[path]]")
                };
                if !names.contains(&name.as_str()) {
                    diagnostics.push(
                        file.error_at(
                            span,
                            format!("no {kind} dictionary `{name}` in {}", self.root.join("data").display()),
                        )
                        .with_expected(format!("a file of {entry} entries: {}", one_of(names.iter().copied())))
                        .with_optional_hint(did_you_mean_hint(&name, names.iter().copied())),
                    );
                }
            }
        }
        diagnostics
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
        let mut diagnostics = Vec::new();
        let tables = entry_tables(root, "answer");
        let span_of = |index: usize, key: &str| {
            tables
                .get(index)
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        let mut first: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (index, entry) in answers.answer.iter().enumerate() {
            if let Some(first_index) = first.get(&(entry.case.as_str(), entry.step.as_str())) {
                diagnostics.push(
                    file.error_at(
                        span_of(index, "step"),
                        format!("step `{}` of case `{}` is answered twice", entry.step, entry.case),
                    )
                    .with_note(format!(
                        "first answered at {}",
                        file.location_of(span_of(*first_index, "step").start)
                    )),
                );
            } else {
                first.insert((&entry.case, &entry.step), index);
            }
            if let Some(cases) = cases {
                diagnostics.extend(check_answer_ids(&file, cases, entry, |key| span_of(index, key)));
            }
            if entry.answer.trim().is_empty() && entry.attachments.is_empty() {
                diagnostics.push(
                    file.error_at(
                        span_of(index, "case"),
                        format!("the answer to `{}`/`{}` is empty", entry.case, entry.step),
                    )
                    .with_expected("`answer = \"…\"` or `attachments = [\"…\"]`"),
                );
            }
        }
        diagnostics
    })?;
    if diagnostics.is_empty() {
        Ok(answers)
    } else {
        Err(diagnostics)
    }
}

/// An answer's case and step ids against the cases a run can ask.
fn check_answer_ids(
    file: &SourceFile<'_>,
    cases: &[&Case],
    entry: &crate::model::AnswerEntry,
    span_of: impl Fn(&str) -> Range<usize>,
) -> Option<Diagnostic> {
    let Some(case) = cases.iter().find(|case| case.id.get_ref() == &entry.case) else {
        let ids: Vec<&str> = cases.iter().map(|case| case.id.get_ref().as_str()).collect();
        return Some(
            file.error_at(span_of("case"), format!("unknown case `{}`", entry.case))
                .with_expected("the id of a case in the suite (`hopquy list`)")
                .with_optional_hint(did_you_mean_hint(&entry.case, ids.iter().copied())),
        );
    };
    let asking: Vec<&str> = case
        .steps
        .iter()
        .filter(|step| step.action.get_ref().is_interactive())
        .map(|step| step.id.get_ref().as_str())
        .collect();
    if asking.contains(&entry.step.as_str()) {
        return None;
    }
    let what = if case.steps.iter().any(|step| step.id.get_ref() == &entry.step) {
        format!(
            "step `{}` of case `{}` asks no question (it is not an operator or document step)",
            entry.step, entry.case
        )
    } else {
        format!("case `{}` has no step `{}`", entry.case, entry.step)
    };
    Some(
        file.error_at(span_of("step"), what)
            .with_expected(if asking.is_empty() {
                format!("case `{}` has no operator or document step to answer", entry.case)
            } else {
                one_of(asking.iter().copied())
            })
            .with_optional_hint(did_you_mean_hint(&entry.step, asking.iter().copied())),
    )
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
