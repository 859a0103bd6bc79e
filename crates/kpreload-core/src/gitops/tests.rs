use super::*;
use crate::selector::{NodeSelector, Requirement, Toleration};

const FILE: &str = include_str!("../../../../config/pools.yaml");

fn refs(list: &[&str]) -> Vec<ImageRef> {
    list.iter().map(|i| ImageRef::parse(i).unwrap()).collect()
}

#[test]
fn new_images_replace_one_pools_list_and_nothing_else_changes() {
    let images = refs(&["nginx:1.27-alpine", "redis:7-alpine", "node:22-alpine"]);
    let out = set_images(FILE, "pools.yaml", "web", &images).unwrap();
    let file = PoolsFile::parse(&out, "pools.yaml").unwrap();
    let web = file.pools.iter().find(|p| p.name == "web").unwrap();
    assert_eq!(web.images, images);
    // Only the web pool's image lines differ; the comments everywhere else are intact.
    let diff = crate::edit::unified(FILE, &out, "pools.yaml");
    let mut changed: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .filter(|l| l.starts_with('+') || l.starts_with('-'))
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            "+      - nginx:1.27-alpine",
            "+      - node:22-alpine",
            "-      - nginx:1.25-alpine",
            "-      - node:20-alpine",
        ]
    );
    assert!(out.contains("keep: 3                      # large images"));
}

#[test]
fn a_kept_image_keeps_its_comment() {
    let text =
        "pools:\n  - name: a\n    images:\n      - nginx:1.25 # the web server\n      - redis:7\n";
    let out = set_images(text, "f", "a", &refs(&["redis:7", "nginx:1.25"])).unwrap();
    assert_eq!(
        out,
        "pools:\n  - name: a\n    images:\n      - redis:7\n      - nginx:1.25 # the web server\n"
    );
}

#[test]
fn a_flow_list_stays_a_flow_list() {
    let text = "pools:\n  - name: a\n    images: [nginx:1.25, redis:7]   # two\n";
    let out = set_images(text, "f", "a", &refs(&["nginx:1.27"])).unwrap();
    assert_eq!(
        out,
        "pools:\n  - name: a\n    images: [nginx:1.27]   # two\n"
    );
}

#[test]
fn an_unknown_pool_or_a_broken_file_is_refused() {
    let err = set_images(FILE, "pools.yaml", "gpu", &refs(&["a"])).unwrap_err();
    assert!(err.contains("no pool named \"gpu\""), "{err}");
    let err = set_images(
        "pools:\n  - name: a\n    images: [x\n",
        "f",
        "a",
        &refs(&["a"]),
    )
    .unwrap_err();
    assert!(err.starts_with("f:"), "the place comes first: {err}");
}

fn gpu() -> Pool {
    Pool {
        name: "gpu".into(),
        selector: NodeSelector {
            terms: vec![vec![Requirement::equals("accelerator", "true")]],
        },
        tolerations: vec![Toleration {
            key: "nvidia.com/gpu".into(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: Some(crate::selector::TaintEffect::NoSchedule),
            toleration_seconds: None,
        }],
        images: refs(&["pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"]),
        keep: None,
        protect: None,
        shards: 1,
        pull_secrets: vec![],
    }
}

#[test]
fn a_new_pool_is_appended_and_reads_back_the_same() {
    let out = add_pool(FILE, "pools.yaml", &gpu()).unwrap();
    assert!(
        out.starts_with(FILE.trim_end()),
        "the rest of the file is untouched"
    );
    let file = PoolsFile::parse(&out, "pools.yaml").unwrap();
    assert_eq!(file.pools.last().unwrap(), &gpu());
    // A label value YAML would read as a boolean is quoted.
    assert!(out.contains("accelerator: \"true\""), "{out}");
    let err = add_pool(&out, "pools.yaml", &gpu()).unwrap_err();
    assert!(err.contains("already has a pool named \"gpu\""), "{err}");
}

#[test]
fn a_pool_is_removed_with_its_block_only() {
    let out = remove_pool(FILE, "pools.yaml", "ml").unwrap();
    let file = PoolsFile::parse(&out, "pools.yaml").unwrap();
    let names: Vec<&str> = file.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "web"]);
    assert!(!out.contains("tensorflow"));
    assert!(out.contains("# standard nodes for web services"));
    // The last pool too, and never the only one.
    let out = remove_pool(&out, "pools.yaml", "web").unwrap();
    assert_eq!(PoolsFile::parse(&out, "pools.yaml").unwrap().pools.len(), 1);
    let err = remove_pool(&out, "pools.yaml", "default").unwrap_err();
    assert!(err.contains("only pool"), "{err}");
}

#[test]
fn the_file_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pools.yaml");
    std::fs::write(&path, FILE).unwrap();
    write_atomically(&path, "changed\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "changed\n");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
}

#[test]
fn comment_lines_above_a_kept_image_go_with_it() {
    let text =
        "pools:\n  - name: a\n    images:\n      - nginx:1.25\n      # sessions\n      - redis:7\n";
    let out = set_images(text, "f", "a", &refs(&["redis:7", "busybox:1"])).unwrap();
    assert_eq!(
        out,
        "pools:\n  - name: a\n    images:\n      # sessions\n      - redis:7\n      - busybox:1\n"
    );
}

#[test]
fn a_new_pools_labels_may_come_in_any_order_and_crlf_stays_crlf() {
    let mut pool = gpu();
    pool.selector.terms = vec![vec![
        Requirement::equals("zone", "x"),
        Requirement::equals("app", "y"),
    ]];
    let text = "pools:\r\n  - name: a\r\n    images: [nginx:1]\r\n# the end\r\nkeep: 3\r\n";
    let out = add_pool(text, "f", &pool).unwrap();
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "only CRLF: {out:?}"
    );
    assert!(
        out.ends_with("# the end\r\nkeep: 3\r\n"),
        "the comment stays with its key: {out:?}"
    );
    let file = PoolsFile::parse(&out, "f").unwrap();
    assert_eq!(file.pools[1].selector.terms[0][0].key, "app");
}

#[test]
fn a_linked_file_is_replaced_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.yaml");
    let link = dir.path().join("pools.yaml");
    std::fs::write(&target, "old\n").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    write_atomically(&link, "new\n").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
}
