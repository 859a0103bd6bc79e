//! Every broken pools file and image reference in `tests/invalid/` ends in its one-sentence
//! error, with the place it stands.

use std::path::Path;

use kpreload::core::pools::PoolsFile;
use kpreload::core::reference::ImageRef;

/// Checks every file of a corpus: its first line `# expect: …` is the error after the
/// file's name, for the parser given.
fn check_corpus(dir: &str, parse: impl Fn(&str, &str) -> Option<String>) -> usize {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` first line", path.display()));
        let name = path.display().to_string();
        let got = parse(&text, &name).unwrap_or_else(|| "accepted".to_string());
        if got != format!("{name}{expect}") {
            wrong.push(format!(
                "{name}\n  expected {name}{expect}\n  got      {got}"
            ));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    checked
}

#[test]
fn broken_pools_files() {
    let checked = check_corpus("tests/invalid/pools", |text, name| {
        PoolsFile::parse(text, name).err().map(|e| e.to_string())
    });
    assert!(checked >= 20, "only {checked} files in the corpus");
}

#[test]
fn broken_references() {
    let text = std::fs::read_to_string("tests/invalid/references.tsv").unwrap();
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (reference, expect) = line.split_once('\t').unwrap();
        let err = ImageRef::parse(reference).expect_err(reference);
        assert_eq!(err.to_string(), expect, "{reference:?}");
        checked += 1;
    }
    assert!(checked >= 15);
}

#[test]
fn a_missing_pools_file_says_what_to_do() {
    let err = PoolsFile::load(Path::new("no/such/pools.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no/such/pools.yaml: there is no such pools file; pass its path with -f FILE"
    );
}

#[test]
fn broken_scenarios() {
    let checked = check_corpus("tests/invalid/scenarios", |text, name| {
        kpreload::sim::scenario::parse(text, name)
            .err()
            .map(|e| e.to_string())
    });
    assert!(checked >= 14, "only {checked} files in the corpus");
}
