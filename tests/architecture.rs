//! The code is layered as `docs/architecture.md` says: every top-level module of `src/` is in
//! its table, and every `crate::` path in a module's code (tests aside) names a module on a
//! lower layer. A cycle between modules, a stage importing the shell, or the vocabulary
//! importing anything fails here, with the file and the import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of each module, from the table in `docs/architecture.md`.
fn layers(root: &Path) -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| 3 | `decode` | ... |" splits into "", "3", "`decode`", ...
        if cells.len() < 4 {
            continue;
        }
        let (Ok(layer), Some(module)) = (
            cells[1].parse::<u32>(),
            cells[2].strip_prefix('`').and_then(|m| m.strip_suffix('`')),
        ) else {
            continue;
        };
        assert!(
            layers.insert(module.to_string(), layer).is_none(),
            "{module} is in the table twice"
        );
    }
    layers
}

/// The library's top-level modules and the files of each (`lib.rs` and `main.rs` aside).
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let top = top.trim_end_matches(".rs").to_string();
            if top == "lib" || top == "main" {
                continue;
            }
            out.entry(top).or_default().push(path);
        }
    }
    out
}

/// The code of a file without its unit tests (they may use anything).
fn product_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The top-level modules a piece of code names through `crate::`, in `use crate::a::..`,
/// `crate::a::f()` and `use crate::{a::.., b}` forms.
fn imported(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            // Nested braces are not used at the top of a group here; take each item's head.
            for item in group[..end].split(',') {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    out.push(head);
                }
            }
            continue;
        }
        let head: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !head.is_empty() {
            out.push(head);
        }
    }
    out
}

#[test]
fn every_import_goes_down_the_layers_of_the_architecture_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(root);
    let modules = modules(&root.join("src"));
    assert!(layers.len() >= 20, "the table was not read: {layers:?}");
    let missing: Vec<&String> = modules
        .keys()
        .filter(|m| !layers.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from docs/architecture.md: {missing:?}"
    );
    let stale: Vec<&String> = layers
        .keys()
        .filter(|m| !modules.contains_key(*m))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md names modules that do not exist: {stale:?}"
    );
    let mut wrong = Vec::new();
    let mut edges = 0;
    for (module, files) in &modules {
        let own = layers[module];
        for file in files {
            for target in imported(&product_code(file)) {
                if &target == module {
                    continue;
                }
                let Some(&theirs) = layers.get(&target) else {
                    wrong.push(format!("{}: crate::{target} is no module", file.display()));
                    continue;
                };
                edges += 1;
                if theirs >= own {
                    wrong.push(format!(
                        "{}: {module} (layer {own}) imports {target} (layer {theirs})",
                        file.strip_prefix(root).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        edges > 50,
        "too few imports found ({edges}): the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_sees_every_form_of_import() {
    let code =
        "use crate::decode::Frame;\nuse crate::{speech::asr, report};\nlet x = crate::vision::f();";
    assert_eq!(imported(code), ["decode", "speech", "report", "vision"]);
}

/// The API column of the table: module name -> "public" or "internal".
fn api_column(root: &Path) -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 7 || cells[1].parse::<u32>().is_err() {
                return None;
            }
            let module = cells[2].strip_prefix('`')?.strip_suffix('`')?;
            Some((module.to_string(), cells[5].to_string()))
        })
        .collect()
}

/// How `src/lib.rs` declares each top-level module: `pub mod x;` is public; a name inside
/// `internal_mod! { .. }`, or a `pub mod` hidden from the documentation, is internal.
fn declared(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_internal = false;
    let mut hidden = false;
    for line in lib.lines().map(str::trim) {
        if line.starts_with("internal_mod!") {
            in_internal = true;
        } else if in_internal && line == "}" {
            in_internal = false;
        } else if line == "#[doc(hidden)]" {
            hidden = true;
        } else if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
            .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            let api = if hidden { "internal" } else { "public" };
            out.insert(name.to_string(), api.to_string());
            hidden = false;
        } else if in_internal && !line.starts_with("#[") {
            if let Some(name) = line.strip_suffix(';') {
                out.insert(name.to_string(), "internal".to_string());
            }
        }
        if !line.starts_with("#[") {
            // An attribute applies to the next item only.
            hidden = false;
        }
    }
    out
}

#[test]
fn the_public_modules_are_the_ones_the_architecture_document_calls_public() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let documented = api_column(root);
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let declared = declared(&lib);
    assert!(declared.len() >= 20, "lib.rs was not read: {declared:?}");
    assert!(
        declared.values().filter(|a| *a == "internal").count() >= 10,
        "too few internal modules found: {declared:?}"
    );
    assert_eq!(
        documented, declared,
        "the API column of docs/architecture.md against src/lib.rs"
    );
}

#[test]
fn the_declaration_scan_tells_public_from_internal() {
    let lib = "pub mod a;\n#[cfg(feature = \"x\")]\n#[doc(hidden)]\npub mod b;\n\
               internal_mod! {\n    c;\n    #[cfg(feature = \"service\")]\n    d;\n}\npub mod e;\n\
               #[doc(hidden)]\npub mod $name;\npub mod f;";
    let d = declared(lib);
    let api: Vec<(&str, &str)> = d.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        api,
        [
            ("a", "public"),
            ("b", "internal"),
            ("c", "internal"),
            ("d", "internal"),
            ("e", "public"),
            ("f", "public")
        ]
    );
}
