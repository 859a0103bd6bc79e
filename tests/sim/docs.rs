//! The docs say what the code does: the keys table in docs/tui.md is generated from the
//! default keymap, every link between the docs leads to a file that exists, nothing cites a
//! file outside the repository, and real output of `status`, `plan` and `check` (and the
//! shipped pools file and scenarios) validates against the JSON Schemas in docs/schemas.
//! `KPRELOAD_BLESS=1 cargo test --test sim docs` writes the generated keys table.

use std::path::{Path, PathBuf};

use kpreload::tui::config::Config;
use serde_json::Value;

use crate::support;

const BEGIN: &str = "<!-- keys: generated from assets/config.yaml by tests/sim/docs.rs -->\n";
const END: &str = "<!-- end of keys -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_keys_table_is_the_keymaps() {
    let path = root().join("docs/tui.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find(BEGIN).expect("docs/tui.md has the keys marker") + BEGIN.len();
    let end = start
        + text[start..]
            .find(END)
            .expect("docs/tui.md has the end marker");
    let generated = Config::default_config().keys_markdown();
    if std::env::var_os("KPRELOAD_BLESS").is_some() {
        let text = format!("{}{generated}{}", &text[..start], &text[end..]);
        std::fs::write(&path, text).unwrap();
        return;
    }
    assert_eq!(
        &text[start..end],
        generated,
        "docs/tui.md's keys differ from the keymap; KPRELOAD_BLESS=1 cargo test --test sim docs updates them"
    );
    assert!(generated.contains("| findings |") && generated.contains("`q` `Ctrl-c`"));
}

/// The Markdown files of the repository's own docs.
fn markdown() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("CONTRIBUTING.md"),
        root().join("CHANGELOG.md"),
    ];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            files.push(p);
        }
    }
    files
}

/// `[text](target)` links of a Markdown text, as written.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// What lies outside the repository (spelled in parts, so that this file does not cite them).
const OUTSIDE: [&str; 3] = [
    concat!("../", "shared"),
    concat!("DESIGN", ".md"),
    concat!("STYLE", ".md"),
];

/// Every source, build and doc file of the repository, outside `target/`.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            repository_files(&path, out);
        } else if ["rs", "md", "toml"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_in_the_repository_cites_a_file_outside_it() {
    let mut files = Vec::new();
    repository_files(&root(), &mut files);
    assert!(files.len() > 100, "{} files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for cited in OUTSIDE {
            assert!(
                !text.contains(cited),
                "{} cites {cited}, outside the repository",
                file.display()
            );
        }
    }
}

#[test]
fn every_link_between_the_docs_leads_somewhere_and_none_leaves_the_repository() {
    let mut checked = 0;
    for file in markdown() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for link in links(&text) {
            if link.starts_with("http") || link.starts_with('#') {
                continue;
            }
            let target = link.split('#').next().unwrap();
            let path = file.parent().unwrap().join(target);
            assert!(
                path.exists(),
                "{name} links to {link}, which does not exist"
            );
            let inside = path.canonicalize().unwrap().starts_with(root());
            assert!(inside, "{name} links to {link}, outside the repository");
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: the parsing is off"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md is {lines} lines: the manual belongs in docs/"
    );
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = root().join("docs/schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, doc: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

fn run_json(cluster: &support::Cluster, args: &[&str]) -> Value {
    let kc = cluster.kubeconfig.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    let o = support::kpreload(&all);
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn real_output_follows_the_json_contracts() {
    let cluster = support::Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    let status = schema("status.schema.json");
    let plan = schema("plan.schema.json");
    let check = schema("check.schema.json");

    // Mid-rollout (pulling, queued, failed: the demo's ml pool has an image the registry
    // lacks), then once more later.
    let first = run_json(&cluster, &["status", "-o", "json"]);
    assert_valid(&status, "status -o json", &first);
    let failed = support::eventually(
        30,
        || run_json(&cluster, &["status", "-o", "json"]),
        |s| s.to_string().contains("\"state\":\"failed\""),
    );
    assert_valid(&status, "status -o json with a failure", &failed);
    let doc = run_json(&cluster, &["plan", "-o", "json"]);
    assert_valid(&plan, "plan -o json", &doc);
    assert!(
        doc["totals"]["remove_images"].as_u64().unwrap() > 0,
        "{doc:#}"
    );
    let doc = run_json(&cluster, &["check", "-o", "json"]);
    assert_valid(&check, "check -o json", &doc);
    assert!(!doc["findings"].as_array().unwrap().is_empty());

    // The schemas do refuse: a field taken away, a state not in the contract.
    let mut broken = first.clone();
    broken["pools"][0]
        .as_object_mut()
        .unwrap()
        .remove("nodes_ready");
    assert!(!status.is_valid(&broken));
    let mut broken = first;
    broken["pools"][0]["nodes"][0]["images"][0]["state"] = "downloading".into();
    assert!(!status.is_valid(&broken));
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .collect()
}

#[test]
fn the_shipped_pools_file_and_scenarios_follow_their_schemas() {
    let pools = schema("pools.schema.json");
    for doc in yaml_documents(&root().join("config/pools.yaml")) {
        assert_valid(&pools, "config/pools.yaml", &doc);
    }
    let mut unknown = yaml_documents(&root().join("config/pools.yaml")).remove(0);
    unknown["pools"][0]["imagez"] = Value::Array(Vec::new());
    assert!(!pools.is_valid(&unknown), "an unknown field is refused");
    // The scheduled cleanup's section: what the parser takes, the schema takes; its rules
    // are the file's, so a keep of its own is refused by both.
    let mut scheduled = yaml_documents(&root().join("config/pools.yaml")).remove(0);
    scheduled["cleanup"] =
        serde_json::json!({"schedule": "0 3 * * *", "image": "r.example/kpreload:0.1.0"});
    assert_valid(&pools, "a cleanup section", &scheduled);
    let yaml = serde_yaml::to_string(&scheduled).unwrap();
    kpreload::core::pools::PoolsFile::parse(&yaml, "cleanup.yaml").unwrap();
    scheduled["cleanup"]["keep"] = Value::from(3);
    assert!(!pools.is_valid(&scheduled), "cleanup.keep is refused");
    let yaml = serde_yaml::to_string(&scheduled).unwrap();
    assert!(kpreload::core::pools::PoolsFile::parse(&yaml, "cleanup.yaml").is_err());

    let scenario = schema("scenario.schema.json");
    let mut simulations = 0;
    for dir in ["config/scenarios", "tests/fixtures/scenarios"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            for doc in yaml_documents(&path) {
                if doc["kind"] == "Simulation" {
                    assert_valid(&scenario, &path.display().to_string(), &doc);
                    simulations += 1;
                }
            }
        }
    }
    assert!(simulations >= 4, "{simulations} Simulation documents found");
}

#[test]
fn every_finding_code_of_the_contract_is_explained_in_the_docs() {
    let text = std::fs::read_to_string(root().join("docs/schemas/check.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let codes = schema["$defs"]["finding"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    let check = std::fs::read_to_string(root().join("docs/check.md")).unwrap();
    assert!(codes.len() >= 10, "{codes:?}");
    for code in codes {
        let row = format!("| `{}` |", code.as_str().unwrap());
        assert!(check.contains(&row), "docs/check.md has no row for {code}");
    }
    // The split-pools row names all three shapes it reports.
    let split = check
        .lines()
        .find(|l| l.starts_with("| `split-incomplete` |"))
        .unwrap();
    assert!(
        split.contains("missing") && split.contains("two splits") && split.contains("twice"),
        "{split}"
    );
}
