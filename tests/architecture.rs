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
        let code: String = code
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        modules.insert(parts.join("::"), code);
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
