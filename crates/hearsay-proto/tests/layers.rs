//! hearsay-proto's modules form layers: no module reaches, directly or through others, back
//! into a module that reaches it (docs/ARCHITECTURE.md). This test reads the crate's source,
//! takes every `crate::<module>` a module's non-test code names, and fails on any cycle,
//! naming it. Test code (`#[cfg(test)]` items) may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Source text with comments, string and char literals blanked out (so neither a doc link
/// nor a format string counts as an edge, and braces in them do not count).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            i += end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str("\"\"");
            i += end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = j + 1;
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            out.push_str("' '");
            i += char_literal_len(rest).unwrap_or(1);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br"`…: the number of hashes of a raw string starting here.
fn raw_string_start(s: &str) -> Option<usize> {
    let s = s.strip_prefix('b').unwrap_or(s);
    let s = s.strip_prefix('r')?;
    let hashes = s.len() - s.trim_start_matches('#').len();
    s[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a char literal starting here (`'a'`, `'\n'`, `'\u{7f}'`), or None for a
/// lifetime.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        let end = s[2..].find('\'')?;
        return Some(2 + end + 1);
    }
    let (j, close) = chars.next()?;
    (close == '\'').then_some(j + 1)
}

/// Code with every `#[cfg(test)]` item removed.
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        // The item ends at its `;` if that comes before any `{`, else where its braces close.
        let semi = item.find(';');
        let open = item.find('{');
        let end = match (semi, open) {
            (Some(s), Some(o)) if s < o => s + 1,
            (Some(s), None) => s + 1,
            (_, Some(o)) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (k, c) in item[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every top-level module a piece of code names through `crate::`, including the members
/// of `use crate::{a, b::c}` groups.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `hearsay_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1usize;
            let mut end = group.len();
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            // Top-level entries of the group: split at depth-0 commas.
            let mut depth = 0usize;
            let mut start = 0;
            let body = &group[..end];
            for (k, c) in body.char_indices().chain([(body.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(first_ident(&body[start..k]));
                        start = k + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(first_ident(rest));
        }
    }
    names.remove("");
    names
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The module graph of the crate under `src`: for each top-level module (a file `x.rs`, or a
/// folder `x/`), the other top-level modules its non-test code names. Files that are only
/// compiled for tests (declared `#[cfg(test)] mod x;`) are left out. A name that is not a
/// module (an item of the crate root) is an error: the root holds only modules and re-exports.
fn graph(src: &Path) -> Result<Graph, String> {
    let mut files: Vec<(String, String)> = Vec::new();
    let test_only = test_only_files(src)?;
    for path in rust_files(src)? {
        if test_only.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let Ok(rel) = path.strip_prefix(src) else {
            continue;
        };
        let top = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        let module = top.unwrap_or_default().trim_end_matches(".rs").to_string();
        if module != "lib" {
            files.push((module, read(&path)?));
        }
    }
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, text) in &files {
        for to in named_modules(&without_tests(&code_only(text))) {
            if !modules.contains(&to) {
                return Err(format!(
                    "module `{module}` names `crate::{to}`, which is not a module: \
                     name the module that defines it"
                ));
            }
            if &to != module {
                graph.entry(module.clone()).or_default().insert(to);
            }
        }
    }
    Ok(graph)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The files (or folders) of modules declared `#[cfg(test)] mod x;` anywhere under `src`.
fn test_only_files(src: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in rust_files(src)? {
        let code = code_only(&read(&path)?);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(src);
        // `lib.rs` and `mod.rs` own their folder; `x.rs` owns the folder `x/`.
        let base = if stem == "lib" || stem == "mod" {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            let Some(decl) = item.strip_prefix("mod ") else {
                continue;
            };
            let name = first_ident(decl);
            if decl[name.len()..].trim_start().starts_with(';') {
                out.push(base.join(format!("{name}.rs")));
                out.push(base.join(&name));
            }
        }
    }
    Ok(out)
}

/// A cycle of the graph, as the modules along it (the first repeated at the end), if any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        at: &'a str,
        graph: &'a Graph,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(at, Mark::Open);
        path.push(at);
        for to in graph.get(at).into_iter().flatten() {
            match marks.get(to.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = path.iter().position(|m| m == to).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|m| m.to_string()).collect();
                    cycle.push(to.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(to, graph, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(at, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(m, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Each module's layer: 0 for a module that names no other, else one above the highest it
/// names (defined because the graph has no cycle).
fn layers(graph: &Graph) -> BTreeMap<String, usize> {
    fn layer(m: &str, graph: &Graph, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(&l) = memo.get(m) {
            return l;
        }
        let l = graph
            .get(m)
            .into_iter()
            .flatten()
            .map(|to| layer(to, graph, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(m.to_string(), l);
        l
    }
    let mut memo = BTreeMap::new();
    for m in graph.keys() {
        layer(m, graph, &mut memo);
    }
    memo
}

fn proto_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    graph(&src).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn proto_modules_form_layers_without_a_cycle() {
    let graph = proto_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "hearsay-proto's modules have an import cycle: {} (see docs/ARCHITECTURE.md for the \
             layers; move the shared item down a layer)",
            cycle.join(" → ")
        );
    }
    let mut by_layer: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (m, l) in layers(&graph) {
        by_layer.entry(l).or_default().push(m);
    }
    for (l, ms) in &by_layer {
        println!("layer {l}: {}", ms.join(" "));
    }
}

/// The leaves and the seam sit where docs/ARCHITECTURE.md says: the leaves name no module,
/// and no module below the machines names a machine.
#[test]
fn leaves_name_nothing_and_nothing_below_the_machines_names_one() {
    let graph = proto_graph();
    for leaf in ["time", "quorum", "id"] {
        assert_eq!(graph[leaf], BTreeSet::new(), "`{leaf}` is a leaf");
    }
    for (m, to) in &graph {
        if m != "peer" && m != "seed" {
            assert!(
                !to.contains("peer") && !to.contains("seed"),
                "`{m}` names a machine: {to:?}"
            );
        }
    }
}

/// The check itself: adding one back edge to the real graph (a leaf naming a machine) is
/// caught and named; a test module naming anything is not an edge.
#[test]
fn a_back_edge_is_caught_and_test_code_is_not_an_edge() {
    let mut graph = proto_graph();
    graph.get_mut("id").map(|e| e.insert("peer".to_string()));
    let cycle = find_cycle(&graph).expect("id → peer closes a cycle");
    assert!(cycle.contains(&"id".to_string()) && cycle.contains(&"peer".to_string()));
    assert_eq!(cycle.first(), cycle.last());

    let code = code_only(
        "use crate::time::Time;\n\
         /// [`crate::peer`] in a doc is no edge\n\
         const S: &str = \"crate::seed\";\n\
         use crate::{id::{PeerId, Keypair}, sig};\n\
         #[cfg(test)]\nmod tests { use crate::node::Input; fn f() { let _ = '{'; } }\n\
         fn g() -> crate::wire::Msg { crate::wire::Msg::GetPeers }\n",
    );
    let names: Vec<String> = named_modules(&without_tests(&code)).into_iter().collect();
    assert_eq!(names, ["id", "sig", "time", "wire"]);
}

/// Most lines of implementation in one file of proto (issue 14): past it, a part wants a file
/// of its own.
const MAX_FILE_LINES: usize = 800;

/// No file of proto holds more than [`MAX_FILE_LINES`] lines of implementation: its lines
/// without its `#[cfg(test)]` items (test-only files do not count).
#[test]
fn no_file_holds_more_than_eight_hundred_lines_of_implementation() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let test_only = test_only_files(&src).unwrap_or_else(|e| panic!("{e}"));
    let mut over = Vec::new();
    for path in rust_files(&src).unwrap_or_else(|e| panic!("{e}")) {
        if test_only.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let text = read(&path).unwrap_or_else(|e| panic!("{e}"));
        let lines = without_tests(&code_only(&text)).lines().count();
        if lines > MAX_FILE_LINES {
            over.push(format!("{} ({lines} lines)", path.display()));
        }
    }
    assert!(over.is_empty(), "over {MAX_FILE_LINES} lines: {over:?}");
}
