//! The layering `src/lib.rs` promises, checked: each top-level module of the sidecar may name only
//! the modules below it (`crate::x` paths, in `use` lines or inline), so there is no import cycle.
//! The statistics are a separate crate, so the compiler already keeps them free of the sidecar.

use std::collections::BTreeMap;
use std::path::Path;

/// Top to bottom, as in lib.rs. Modules on one line are siblings and may not name each other.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["tools"],
    &["server"],
    &["pipeline", "report"],
    &["ingest", "series", "retrain"],
    &["monitor"],
    &["metrics"],
    &["config"],
    &["json", "durable", "digest", "clock", "arrow_guard"],
    &["error"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` a source text refers to, outside comments.
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for line in text.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let name: String = rest[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            refs.push(name);
            rest = &rest[i + 7..];
        }
    }
    refs
}

#[test]
fn every_module_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let own = layer_of(module).unwrap_or_else(|| panic!("{module} is not in LAYERS: add it where it belongs"));
        for name in crate_refs(&std::fs::read_to_string(file).unwrap()) {
            if name == module {
                continue;
            }
            let target = layer_of(&name).unwrap_or_else(|| panic!("{}: crate::{name} is not in LAYERS", rel.display()));
            if target <= own {
                upward.entry(rel.display().to_string()).or_default().push(name);
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up or sideways: {upward:#?}");
}

#[test]
fn the_checker_sees_inline_paths_and_skips_comments() {
    let text = "use crate::config::Config;\n// crate::server is only mentioned\nlet x = crate::clock::unix_now();";
    assert_eq!(crate_refs(text), ["config", "clock"]);
}
