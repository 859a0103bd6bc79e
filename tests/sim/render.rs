//! Rendering pools into preloader DaemonSets, and reading DaemonSets back into pools.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload::core::adopt::{Origin, read_preloader};
use kpreload::core::pools::PoolsFile;
use kpreload::core::render::{render_all, to_yaml};
use kpreload::core::selector::{Operator, Taint, TaintEffect, TolerationOperator};

fn example() -> PoolsFile {
    PoolsFile::load("config/pools.yaml".as_ref()).expect("config/pools.yaml parses")
}

fn article(name: &str) -> DaemonSet {
    let text = std::fs::read_to_string(format!("tests/fixtures/article/{name}.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_rendered_daemonset_reads_back_into_the_same_pool() {
    let file = example();
    let daemonsets = render_all(&file);
    assert_eq!(daemonsets.len(), file.pools.len());
    for (ds, pool) in daemonsets.iter().zip(&file.pools) {
        let back = read_preloader(ds).expect("recognised").expect("readable");
        assert_eq!(back.origin, Origin::Rendered);
        assert_eq!(back.namespace, "kube-system");
        assert_eq!(back.name, format!("image-preloader-{}", pool.name));
        assert_eq!(&back.pool, pool);
    }
}

#[test]
fn rendered_yaml_parses_back_as_the_same_daemonsets() {
    let file = example();
    let daemonsets = render_all(&file);
    let yaml = to_yaml(&daemonsets);
    let docs: Vec<DaemonSet> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs, daemonsets);
    assert!(yaml.starts_with("apiVersion: apps/v1\nkind: DaemonSet\n"));
}

#[test]
fn the_articles_cluster_wide_preloader_is_the_default_pool() {
    let p = read_preloader(&article("image-preloader"))
        .unwrap()
        .unwrap();
    assert_eq!(p.origin, Origin::HandWritten);
    assert_eq!(p.pool.name, "default");
    assert!(p.pool.selector.is_everything());
    assert_eq!(p.pool.tolerations.len(), 1);
    assert_eq!(p.pool.tolerations[0].operator, TolerationOperator::Exists);
    assert!(p.pool.tolerations[0].key.is_empty());
    let images: Vec<_> = p.pool.images.iter().map(|i| i.normalized()).collect();
    assert_eq!(
        images,
        [
            "docker.io/g1g1/py-kube:latest",
            "docker.io/library/python:3.12-slim",
            "docker.io/library/golang:1.23",
            "docker.io/library/rust:1.83",
        ]
    );
    // It runs on every node, tainted or not.
    let tainted = [Taint {
        key: "workload".into(),
        value: "ml".into(),
        effect: TaintEffect::NoSchedule,
    }];
    assert!(p.pool.covers(&labels(&[]), &tainted));
}

#[test]
fn the_articles_pool_preloaders_keep_their_selectors_and_tolerations() {
    for (name, pool, images) in [
        (
            "image-preloader-ml",
            "ml",
            vec![
                "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
                "tensorflow/tensorflow:2.15.0-gpu",
                "jupyter/scipy-notebook:latest",
            ],
        ),
        (
            "image-preloader-web",
            "web",
            vec!["nginx:1.25-alpine", "node:20-alpine", "redis:7-alpine"],
        ),
    ] {
        let p = read_preloader(&article(name)).unwrap().unwrap();
        assert_eq!(p.origin, Origin::HandWritten);
        assert_eq!(p.pool.name, pool);
        let term = &p.pool.selector.terms;
        assert_eq!(term.len(), 1);
        assert_eq!(term[0].len(), 1);
        assert_eq!(term[0][0].key, "workload-type");
        assert_eq!(term[0][0].operator, Operator::In);
        assert_eq!(term[0][0].values, [pool]);
        let t = &p.pool.tolerations[0];
        assert_eq!((t.key.as_str(), t.value.as_str()), ("workload", pool));
        assert_eq!(t.operator, TolerationOperator::Equal);
        assert_eq!(t.effect, Some(TaintEffect::NoSchedule));
        let written: Vec<_> = p.pool.images.iter().map(|i| i.written()).collect();
        assert_eq!(written, images);

        let own = [Taint {
            key: "workload".into(),
            value: pool.into(),
            effect: TaintEffect::NoSchedule,
        }];
        assert!(p.pool.covers(&labels(&[("workload-type", pool)]), &own));
        assert!(!p.pool.covers(&labels(&[("workload-type", "other")]), &[]));
    }
}

#[test]
fn the_articles_cleanup_variant_is_still_a_preloader() {
    let p = read_preloader(&article("image-preloader-cleanup"))
        .unwrap()
        .unwrap();
    assert_eq!(p.pool.name, "default");
    assert_eq!(p.pool.images.len(), 4);
}

#[test]
fn other_daemonsets_are_not_preloaders() {
    let mut ds = article("image-preloader-ml");
    ds.metadata.name = Some("fluentd".into());
    assert!(read_preloader(&ds).is_none());

    let mut ds = article("image-preloader-ml");
    let spec = ds.spec.template.spec.as_mut().unwrap();
    spec.init_containers.as_mut().unwrap()[0].command =
        Some(vec!["/bin/sh".into(), "-c".into(), "migrate --all".into()]);
    assert!(
        read_preloader(&ds).is_none(),
        "an init container that does work is not a pull"
    );
}

#[test]
fn a_preloader_with_a_bad_image_says_which() {
    let mut ds = article("image-preloader-web");
    let spec = ds.spec.template.spec.as_mut().unwrap();
    spec.init_containers.as_mut().unwrap()[1].image = Some("Node:20".into());
    let err = read_preloader(&ds).unwrap().unwrap_err();
    assert_eq!(
        err,
        "the preloader image-preloader-web: init container preload-node: the repository \"Node\" has uppercase letters; repository names must be lowercase"
    );
}
