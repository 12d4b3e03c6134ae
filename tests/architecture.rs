//! The layering ARCHITECTURE.md describes, checked on the source itself: no two source files
//! import each other (directly or round a loop), `exit.rs` knows nothing of the domain, and the
//! library below the edge (`cli/`, `cmd/`, `main.rs`) neither prints, nor exits the process, nor
//! returns `anyhow` errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/` by module path (`plandir::layout`, `cli`), without its unit
/// tests (everything from its first `#[cfg(test)]` on) and comments.
fn modules() -> BTreeMap<String, String> {
    sources()
        .into_iter()
        .map(|(name, code)| {
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            (name, code)
        })
        .collect()
}

/// Every `.rs` file under `src/` by module path, without its unit tests, comments kept.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src_dir(), &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src_dir()).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        modules.insert(parts.join("::"), code.to_string());
    }
    modules
}

/// The module a `crate::a::b::c` reference lands in: its longest prefix that is a file.
fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|candidate| modules.get_key_value(&candidate).map(|(k, _)| k.as_str()))
}

/// The paths a piece of code names: `crate::a::b` (and each item of a group `crate::a::{b, c::d}`),
/// and `m::x` where `m` was imported as a module with `use crate::…::m;`.
fn referenced_paths(code: &str, modules: &BTreeMap<String, String>) -> Vec<String> {
    let path_end = |text: &str| {
        text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len())
    };
    let mut paths = Vec::new();
    let mut aliases = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let end = path_end(rest);
        let head = rest[..end].trim_end_matches(':').to_string();
        if rest[end..].starts_with('{') {
            let group = &rest[end + 1..];
            let items = &group[..group.find('}').unwrap_or(0)];
            for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                paths.push(format!("{head}::{item}"));
            }
        }
        if modules.contains_key(&head) && rest[end..].starts_with(';') {
            aliases.push(head.clone());
        }
        paths.push(head);
    }
    for module in aliases {
        let alias = module.rsplit("::").next().unwrap_or_default();
        for (at, _) in code.match_indices(&format!("{alias}::")) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + alias.len() + 2..];
            paths.push(format!("{module}::{}", &rest[..path_end(rest)]));
        }
    }
    paths
}

/// Which modules each module refers to.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut graph = BTreeMap::new();
    for (name, code) in modules {
        let targets = referenced_paths(code, modules)
            .iter()
            .filter_map(|path| resolve(path.trim_end_matches(':'), modules))
            .filter(|target| target != name)
            .collect();
        graph.insert(name.as_str(), targets);
    }
    graph
}

/// A loop in the import graph, if there is one.
fn find_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|&n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for &next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|&node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_source_file_imports_itself_round_a_loop() {
    let modules = modules();
    assert!(modules.contains_key("plandir::layout") && modules.contains_key("cli::dispatch"));
    let graph = imports(&modules);
    assert!(
        graph["cli::dispatch"].contains("cmd::run"),
        "the import scan sees the dispatch's imports: {:?}",
        graph["cli::dispatch"]
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_planted_cycle_is_found() {
    let mut modules = BTreeMap::new();
    modules.insert("a".to_string(), "use crate::b::{X, c::Y};".to_string());
    modules.insert("b".to_string(), String::new());
    modules.insert("b::c".to_string(), "use crate::a;".to_string());
    let graph = imports(&modules);
    assert_eq!(find_cycle(&graph), Some(vec!["a", "b::c", "a"]));
}

#[test]
fn exit_codes_know_nothing_of_the_domain() {
    let modules = modules();
    let graph = imports(&modules);
    assert!(
        graph["exit"].is_empty(),
        "exit.rs imports {:?}",
        graph["exit"]
    );
}

#[test]
fn the_library_neither_prints_nor_exits_nor_returns_anyhow() {
    let edge = |name: &str| name == "main" || name.starts_with("cli") || name.starts_with("cmd");
    let forbidden = [
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "process::exit",
        "anyhow",
    ];
    let mut found = Vec::new();
    for (name, code) in modules().iter().filter(|(name, _)| !edge(name)) {
        for word in forbidden {
            if code.contains(word) {
                found.push(format!("{name}: {word}"));
            }
        }
    }
    assert!(found.is_empty(), "below the edge: {found:#?}");
}

#[test]
fn only_the_runner_starts_ffmpeg() {
    // The runner is where children are guarded (process group, death signal, signals); a
    // command started anywhere else would escape all of it. `Argv::command` is private to
    // `ffmpeg/`; doctor's lock probe starts vre itself, not ffmpeg.
    let allowed = ["ffmpeg::runner", "ffmpeg::argv", "inspect::doctor"];
    let starts = [".spawn()", ".output()", ".status()", "Command::new"];
    let mut found = Vec::new();
    for (name, code) in modules().iter() {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        for word in starts {
            if code.contains(word) {
                found.push(format!("{name}: {word}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "children started outside the runner: {found:#?}"
    );
}

/// The string literals of Rust source (comments, char literals and lifetimes skipped), with
/// their escapes resolved as far as a reader of the message sees them (`\n`, line continuations).
fn string_literals(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && at(i + 1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' {
            // A char literal ('"', '\'', '\n') or a lifetime ('a).
            if at(i + 1) == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == Some('\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == 'r' && !word_before && matches!(at(i + 1), Some('"' | '#')) {
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == Some('#') {
                hashes += 1;
                j += 1;
            }
            if at(j) != Some('"') {
                i += 1;
                continue;
            }
            let start = j + 1;
            let mut end = start;
            while end < chars.len()
                && !(chars[end] == '"' && (1..=hashes).all(|k| at(end + k) == Some('#')))
            {
                end += 1;
            }
            found.push(chars[start..end.min(chars.len())].iter().collect());
            i = end + 1 + hashes;
        } else if c == '"' {
            let mut text = String::new();
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                match (chars[j], at(j + 1)) {
                    ('\\', Some('\n')) => {
                        j += 2;
                        while at(j).is_some_and(char::is_whitespace) {
                            j += 1;
                        }
                    }
                    ('\\', Some('n')) => {
                        text.push('\n');
                        j += 2;
                    }
                    ('\\', Some(escaped)) => {
                        text.push(escaped);
                        j += 2;
                    }
                    (other, _) => {
                        text.push(other);
                        j += 1;
                    }
                }
            }
            found.push(text);
            i = j + 1;
        } else {
            i += 1;
        }
    }
    found
}

/// The `--flags` a message names, each with the verb it belongs to: the verb of the command it
/// sits in (`vre VERB …`, up to a closing backtick or the end of the line), or `None` for a
/// bare flag, which belongs to the verb printing the message.
/// A flag followed by `:` labels the option a message is about (`--vf: the filter chain …`):
/// it suggests nothing.
fn flags_named(message: &str, verbs: &[&str]) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    let mut commands: Vec<(usize, usize, String)> = Vec::new();
    for (at, _) in message.match_indices("vre ") {
        let rest = &message[at + 4..];
        let verb: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        let end = rest.find(['`', '\n']).map_or(message.len(), |e| at + 4 + e);
        if verbs.contains(&verb.as_str()) {
            commands.push((at, end, verb));
        }
    }
    for (at, _) in message.match_indices("--") {
        let before = message[..at].chars().next_back();
        let name: String = message[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let label = message[at + 2 + name.len()..].starts_with(':');
        if before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            || !name.starts_with(|c: char| c.is_ascii_lowercase())
            || label
        {
            continue;
        }
        let verb = commands
            .iter()
            .find(|(start, end, _)| (*start..*end).contains(&at))
            .map(|(_, _, verb)| verb.clone());
        found.push((verb, format!("--{name}")));
    }
    found
}

/// Imports through which no message travels, each with the reason: without them, every module
/// a verb's file reaches may print its messages through that verb.
const SILENT_IMPORTS: [(&str, &str, &str); 4] = [
    (
        "plandir::claim",
        "sys::disk",
        "names the filesystem type in lock errors (`filesystem_type`); refuses nothing for space",
    ),
    (
        "cmd::summary",
        "assemble",
        "describes an `Assembled`; `vre plan` prints no error of assembly",
    ),
    (
        "work::scheduler",
        "plan",
        "runs the plan's trial only for `vre run` (its `TrialGate`), which prints those errors",
    ),
    (
        "inspect::doctor",
        "sys::disk",
        "formats sizes (`human`); `vre doctor` refuses nothing for space",
    ),
];

/// Messages that only some of the verbs reaching their module can print: module, the start of
/// the message, those verbs, and why.
const SCOPED_MESSAGES: [(&str, &str, &[&str], &str); 4] = [
    (
        "plandir::error",
        "{} already holds a different plan",
        &["plan", "run", "bench"],
        "only writing a plan (`plandir::write::write_plan`) finds a different one",
    ),
    (
        "assemble",
        "{when}; pass --overwrite (-y)",
        &["assemble", "run"],
        "`vre bench` always replaces its own scratch output",
    ),
    (
        "plandir::schema",
        "--vf",
        &["plan", "run", "bench"],
        "names the chain a filter file belongs to (`--vf's lut3d filter reads …`) in messages of \
         every verb; it is advice only where the chain can be given",
    ),
    (
        "plandir::schema",
        "--af",
        &["plan", "run", "bench"],
        "names the chain a filter file belongs to, as `--vf` above",
    ),
];

#[test]
fn every_flag_a_message_suggests_exists_on_the_verb_that_prints_it() {
    use clap::CommandFactory;
    let modules = modules();
    let sources = sources();
    let mut graph = imports(&modules);
    for (from, to, _) in SILENT_IMPORTS {
        assert!(
            graph
                .get_mut(from)
                .is_some_and(|targets| targets.remove(to)),
            "{from} no longer imports {to}: drop it from SILENT_IMPORTS"
        );
    }
    let cli = vre::cli::args::Cli::command();
    let long_flags = |cmd: &clap::Command| -> BTreeSet<String> {
        cmd.get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .chain(["--help".to_string(), "--version".to_string()])
            .collect()
    };
    let global = long_flags(&cli);
    let flags_of = |verb: &str| -> Option<BTreeSet<String>> {
        let sub = cli.find_subcommand(verb)?;
        Some(long_flags(sub).union(&global).cloned().collect())
    };
    let verbs: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for sub in cli.get_subcommands() {
        let verb = sub.get_name();
        let root = format!("cmd::{verb}");
        let mut reached = BTreeSet::from(["cli::args"]);
        let mut stack: Vec<&str> = modules
            .get_key_value(&root)
            .map(|(k, _)| k.as_str())
            .into_iter()
            .collect();
        while let Some(module) = stack.pop() {
            if reached.insert(module) || module == root {
                stack.extend(graph.get(module).into_iter().flatten().copied());
            }
        }
        let own = flags_of(verb).unwrap();
        for module in reached {
            for message in string_literals(&sources[module]) {
                let scoped_away = SCOPED_MESSAGES.iter().any(|(m, start, printers, _)| {
                    *m == module && message.starts_with(start) && !printers.contains(&verb)
                });
                if scoped_away {
                    continue;
                }
                for (named_verb, flag) in flags_named(&message, &verbs) {
                    checked += 1;
                    let (owner, flags) = match &named_verb {
                        Some(named) => (named.as_str(), flags_of(named)),
                        None if module == "cli::args" => continue,
                        None => (verb, Some(own.clone())),
                    };
                    if !flags.is_some_and(|f| f.contains(&flag)) {
                        wrong.push(format!(
                            "`vre {verb}` can print {message:?} ({module}): `vre {owner}` has no {flag}"
                        ));
                    }
                }
            }
        }
    }
    for (module, start, _, _) in SCOPED_MESSAGES {
        assert!(
            string_literals(&sources[module])
                .iter()
                .any(|m| m.starts_with(start)),
            "{module} no longer has a message starting {start:?}: drop it from SCOPED_MESSAGES"
        );
    }
    assert!(
        checked > 50,
        "the scan finds the flags in messages ({checked})"
    );
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_flag_scan_attributes_flags_to_the_verb_of_their_command() {
    let literals = string_literals(
        r##"let a = "pass --force or `vre plan ... --chunks 2`"; // "--not-this"
        let b = '"'; let c = r#"vre work --json"#; let d = "multi\
            line --retry-failed";"##,
    );
    assert_eq!(
        literals,
        [
            "pass --force or `vre plan ... --chunks 2`",
            "vre work --json",
            "multiline --retry-failed"
        ]
    );
    let verbs = ["plan", "run", "work"];
    assert_eq!(
        flags_named(&literals[0], &verbs),
        [
            (None, "--force".to_string()),
            (Some("plan".to_string()), "--chunks".to_string())
        ]
    );
    assert_eq!(
        flags_named(
            "--- ffmpeg stderr ---\nvre run x --vf y\nthen --json; vre writes --fps; --crf: 99",
            &verbs
        ),
        [
            (Some("run".to_string()), "--vf".to_string()),
            (None, "--json".to_string()),
            (None, "--fps".to_string())
        ]
    );
}
