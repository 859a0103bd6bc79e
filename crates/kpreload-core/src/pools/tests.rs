use super::*;

#[test]
fn the_example_file_parses() {
    let text = include_str!("../../../../config/pools.yaml");
    let file = PoolsFile::parse(text, "config/pools.yaml").unwrap();
    let names: Vec<_> = file.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "ml", "web"]);
    assert_eq!(file.namespace, "kube-system");
    let ml = &file.pools[1];
    assert_eq!(ml.selector.to_string(), "workload-type=ml");
    assert_eq!(
        ml.images[0].written(),
        "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime"
    );
    assert_eq!(file.pools[0].selector, NodeSelector::default());
    let ml_node = BTreeMap::from([("workload-type".to_string(), "ml".to_string())]);
    let taint = Taint {
        key: "workload".into(),
        value: "ml".into(),
        effect: TaintEffect::NoSchedule,
    };
    assert!(ml.covers(&ml_node, std::slice::from_ref(&taint)));
    assert!(!file.pools[2].covers(&ml_node, std::slice::from_ref(&taint)));
    assert!(file.pools[0].covers(&ml_node, std::slice::from_ref(&taint)));
    // A cordoned or pressured node still runs the preloader (the DaemonSet controller
    // tolerates those taints for it); an unreachable one takes no new pod.
    let node_taint = |key: &str, effect| Taint {
        key: format!("node.kubernetes.io/{key}"),
        value: String::new(),
        effect,
    };
    let cordoned = [
        taint.clone(),
        node_taint("unschedulable", TaintEffect::NoSchedule),
    ];
    assert!(ml.covers(&ml_node, &cordoned));
    let pressured = [
        taint.clone(),
        node_taint("disk-pressure", TaintEffect::NoSchedule),
    ];
    assert!(ml.covers(&ml_node, &pressured));
    let unreachable = [taint, node_taint("unreachable", TaintEffect::NoSchedule)];
    assert!(!ml.covers(&ml_node, &unreachable));
}

#[test]
fn errors_carry_file_line_and_column() {
    let text = "pools:\n  - name: web\n    images:\n      - nginx:1.25\n      - Nginx:1.26\n";
    let e = PoolsFile::parse(text, "p.yaml").unwrap_err();
    assert_eq!(e.location, Some((5, 9)));
    assert_eq!(
        e.to_string(),
        "p.yaml:5:9: pools[0].images[1]: the repository \"Nginx\" has uppercase letters; repository names must be lowercase"
    );
}

#[test]
fn the_cleanup_section_is_checked_where_it_is_written() {
    let base = "pools:\n  - name: web\n    images: [nginx:1.25]\n";
    let parse = |cleanup: &str| PoolsFile::parse(&format!("{base}cleanup:\n{cleanup}"), "p.yaml");
    let ok = parse("  image: registry.local:5000/kpreload:0.1.0\n").unwrap();
    assert_eq!(
        ok.cleanup,
        Some(Cleanup {
            schedule: DEFAULT_CLEANUP_SCHEDULE.into(),
            image: "registry.local:5000/kpreload:0.1.0".into(),
            pool: None,
        })
    );
    assert_eq!(PoolsFile::parse(base, "p.yaml").unwrap().cleanup, None);
    let said = |cleanup: &str| parse(cleanup).unwrap_err().to_string();
    assert_eq!(
        said("  image: k:1\n  schedule: daily\n"),
        "p.yaml:6:13: cleanup.schedule: \"daily\" is not a cron schedule: give five fields, minute hour day-of-month month day-of-week (\"0 3 * * *\" is 3 AM daily), or @daily, @hourly, @weekly"
    );
    assert!(
        said("  image: k:1\n  keep: 3\n")
            .starts_with("p.yaml:6:9: cleanup.keep: keep is not set here: the scheduled cleanup keeps and protects what the file says at its top"),
    );
    assert!(said("  image: k:1\n  protect: [x]\n").contains("cleanup.protect:"));
    assert_eq!(
        said("  image: k:1\n  pool: ml\n"),
        "p.yaml:6:9: cleanup.pool: the file has no pool named \"ml\"; its pools are web"
    );
    assert!(
        said("  schedule: \"@daily\"\n").contains("cleanup: the scheduled cleanup needs `image:`")
    );
    assert!(said("  image: \"Bad Image\"\n").starts_with("p.yaml:5:10: cleanup.image:"));
    assert!(said("  image: k:1\n  when: now\n").contains("unknown field `when`"));
    // `cleanup:` alone (its first line uncommented) is said, not taken for no section.
    assert_eq!(
        PoolsFile::parse(&format!("{base}cleanup:\n"), "p.yaml")
            .unwrap_err()
            .to_string(),
        "p.yaml:4:1: cleanup: the cleanup: section is empty; give its image: (the image holding the kpreload binary), or remove the line"
    );
    assert_eq!(cron_problem("@every 1h30m"), None);
    assert!(cron_problem("@every soon").is_some());
    assert!(cron_problem("@every").is_some());
}
