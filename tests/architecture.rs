//! The shape of the code, checked on the sources themselves: the layers of `src/lib.rs`'s
//! Layout (a module uses only those below it, so no import circle can form), no circle
//! between the files of a module, and no function longer than a screen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// The layers, bottom first: each module may use only the modules before it.
const LAYERS: &[&str] = &[
    "model",
    "clock",
    "retry",
    "calendar",
    "tariffs",
    "config",
    "translations",
    "http",
    "supervisor",
    "gateway",
    "store",
    "sync",
    "derived",
    "statistics",
    "entities",
    "mqtt",
    "scheduler",
    "pipeline",
    "check",
    "web",
    "app",
    "demo",
];

/// A function of `src/` (tests aside) fits on a screen.
const MAX_FUNCTION_LINES: usize = 60;

/// A source file of `src/`: its top-level module, its name within it, its syntax.
struct Source {
    path: PathBuf,
    module: String,
    /// `mod` for the module's own file (`foo.rs`, `foo/mod.rs`), else the file's stem.
    file: String,
    syntax: syn::File,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&root).unwrap().to_path_buf();
            let parts: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            // The crate root and the binary are above every layer; tests are not layered.
            if matches!(parts[0].as_str(), "lib" | "main") || parts.contains(&"tests".into()) {
                return None;
            }
            let file = match parts.as_slice() {
                [_] => "mod".to_string(),
                [.., last] if last == "mod" => "mod".to_string(),
                [_, second, ..] => second.clone(),
                [] => unreachable!(),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            Some(Source {
                module: parts[0].clone(),
                file,
                path: relative,
                syntax,
            })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// The `crate::…` and `super::…` paths of a file, outside its tests.
#[derive(Default)]
struct Uses {
    /// `crate::x::y…` as `[x, y]`.
    crate_paths: Vec<Vec<String>>,
    /// `super::x…` as `x`.
    super_names: Vec<String>,
}

impl Uses {
    fn add(&mut self, segments: Vec<String>) {
        match segments.first().map(String::as_str) {
            Some("crate") => self.crate_paths.push(segments[1..].to_vec()),
            Some("super") if segments.len() > 1 => self.super_names.push(segments[1].clone()),
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for Uses {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut prefix = Vec::new();
        use_tree(&item.tree, &mut prefix, self);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

fn use_tree(tree: &syn::UseTree, prefix: &mut Vec<String>, uses: &mut Uses) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_tree(&p.tree, prefix, uses);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            uses.add(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            uses.add(path);
        }
        syn::UseTree::Glob(_) => uses.add(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_tree(t, prefix, uses)),
    }
}

fn uses_of(source: &Source) -> Uses {
    let mut uses = Uses::default();
    uses.visit_file(&source.syntax);
    uses
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for source in sources() {
        seen.insert(source.module.clone());
        let Some(layer) = LAYERS.iter().position(|m| *m == source.module) else {
            wrong.push(format!(
                "{}: module {} has no layer",
                source.path.display(),
                source.module
            ));
            continue;
        };
        for path in uses_of(&source).crate_paths {
            let Some(used) = path.first() else { continue };
            match LAYERS.iter().position(|m| m == used) {
                Some(other) if other < layer || *used == source.module => {}
                Some(_) => wrong.push(format!(
                    "{} ({}) uses crate::{} above it",
                    source.path.display(),
                    source.module,
                    path.join("::")
                )),
                None => wrong.push(format!("{}: crate::{used}?", source.path.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let layered: BTreeSet<String> = LAYERS.iter().map(|m| m.to_string()).collect();
    assert_eq!(seen, layered, "the layers name every module of src/");
}

#[test]
fn the_files_of_a_module_use_each_other_in_one_direction() {
    let sources = sources();
    let mut graphs: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for source in &sources {
        let siblings: BTreeSet<&str> = sources
            .iter()
            .filter(|s| s.module == source.module && s.file != "mod")
            .map(|s| s.file.as_str())
            .collect();
        let uses = uses_of(source);
        let within = uses
            .crate_paths
            .iter()
            .filter(|p| p.first() == Some(&source.module))
            .filter_map(|p| p.get(1).cloned());
        // `super::` in a file of the module names a sibling (or the module's own items).
        let named = within.chain(uses.super_names.iter().cloned());
        let edges = graphs
            .entry(source.module.as_str())
            .or_default()
            .entry(source.file.clone())
            .or_default();
        // The module's own file is its face: it re-exports its files, which may use it.
        if source.file != "mod" {
            edges.extend(named.filter(|n| siblings.contains(n.as_str()) && *n != source.file));
        }
    }
    for (module, graph) in &graphs {
        if let Some(circle) = find_circle(graph) {
            panic!(
                "a circle between the files of {module}: {}",
                circle.join(" → ")
            );
        }
    }
}

/// A circle of the graph, if any (depth-first search).
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Every function and method outside tests, with its first and last line.
#[derive(Default)]
struct Functions {
    found: Vec<(String, usize, usize)>,
}

impl Functions {
    fn add(&mut self, name: &syn::Ident, signature: &syn::Signature, block: &syn::Block) {
        let start = signature.fn_token.span().start().line;
        let end = block.span().end().line;
        self.found.push((name.to_string(), start, end));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.add(&item.sig.ident, &item.sig, &item.block);
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.add(&item.sig.ident, &item.sig, &item.block);
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.add(&item.sig.ident, &item.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

#[test]
fn every_function_fits_on_a_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut long = Vec::new();
    for path in files.iter().filter(|p| !p.ends_with("tests.rs")) {
        let text = std::fs::read_to_string(path).unwrap();
        let syntax = syn::parse_file(&text).unwrap();
        let mut functions = Functions::default();
        functions.visit_file(&syntax);
        for (name, start, end) in functions.found {
            let lines = end - start + 1;
            if lines > MAX_FUNCTION_LINES {
                let file = path.strip_prefix(&root).unwrap().display();
                long.push(format!("src/{file}:{start} {name}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_FUNCTION_LINES} lines: {long:#?}"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // A circle is found, and the sources are read (a check over nothing would pass).
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        find_circle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    let sources = sources();
    assert!(sources.len() > 40, "{} files", sources.len());
    let sync = sources
        .iter()
        .find(|s| s.module == "sync" && s.file == "mod")
        .unwrap();
    assert!(uses_of(sync).crate_paths.iter().any(|p| p[0] == "store"));
}
