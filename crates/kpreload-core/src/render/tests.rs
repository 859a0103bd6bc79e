use super::*;

fn file() -> PoolsFile {
    PoolsFile::parse(
        include_str!("../../../../config/pools.yaml"),
        "config/pools.yaml",
    )
    .unwrap()
}

#[test]
fn shape_of_a_rendered_preloader() {
    let f = file();
    let ds = render_pool(&f, &f.pools[1]);
    assert_eq!(ds.metadata.name.as_deref(), Some("image-preloader-ml"));
    assert_eq!(ds.metadata.namespace.as_deref(), Some("kube-system"));
    let spec = ds.spec.template.spec.unwrap();
    assert_eq!(spec.host_pid, Some(true));
    assert_eq!(spec.automount_service_account_token, Some(false));
    let init = spec.init_containers.unwrap();
    // First the cleanup container, a sidecar: it runs (and can be exec'd into) while the
    // images after it pull.
    let cleanup = &init[0];
    assert_eq!(cleanup.name, CLEANUP_CONTAINER);
    assert!(is_sidecar(cleanup));
    assert_eq!(
        cleanup.security_context.as_ref().unwrap().privileged,
        Some(true)
    );
    assert_eq!(init[1].name, NOOP_CONTAINER);
    assert!(init[1..].iter().all(|c| !is_sidecar(c)));
    let images: Vec<_> = init[2..].iter().map(|c| c.image.clone().unwrap()).collect();
    assert_eq!(
        images,
        [
            "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
            "tensorflow/tensorflow:2.15.0-gpu",
            "jupyter/scipy-notebook:latest"
        ]
    );
    for c in &init[2..] {
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(c.command.as_deref(), Some(&[NOOP_PATH.to_string()][..]));
    }
    // The main container only holds the pod: unprivileged.
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(spec.containers[0].name, HOLD_CONTAINER);
    assert_eq!(
        spec.containers[0]
            .security_context
            .as_ref()
            .unwrap()
            .privileged,
        None
    );
    let terms = spec
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms;
    assert_eq!(terms.len(), 1);
    assert_eq!(spec.tolerations.unwrap()[0].value.as_deref(), Some("ml"));
}

#[test]
fn container_names_are_unique_and_valid() {
    let digest = format!("app@sha256:{}", "0".repeat(64));
    let images: Vec<ImageRef> = ["a/app:1", "b/app:1", "x.io/my_app.v2:1", digest.as_str()]
        .iter()
        .map(|s| ImageRef::parse(s).unwrap())
        .collect();
    let names = container_names(&images);
    assert_eq!(names[0], "preload-app");
    assert_eq!(names[1], "preload-app-2");
    assert_eq!(names[2], "preload-my-app-v2");
    assert_eq!(names[3], "preload-app-3");
    for n in &names {
        assert!(
            super::super::pools::dns_label_problem(n, 63).is_none(),
            "{n}"
        );
    }
}

fn refs(list: &[&str]) -> Vec<ImageRef> {
    list.iter().map(|s| ImageRef::parse(s).unwrap()).collect()
}

#[test]
fn shards_cover_every_image_once_balanced_by_size_in_pull_order() {
    let images = refs(&["a:1", "b:1", "c:1", "d:1", "e:1"]);
    let size = |i: &ImageRef| -> Option<u64> {
        match i.repository() {
            "library/a" => Some(400),
            "library/b" => Some(300),
            "library/c" => Some(200),
            "library/d" => Some(100),
            _ => None, // e: the median of the known (300 of 100..400 sorted: index 2)
        }
    };
    let parts = shard_images(&images, 2, &size);
    // Largest first onto the lighter: a→1 (400), b→2 (300), e(300)→2 (600), c→1 (600),
    // d→1 (700): 700 | 600, each in the pool's order.
    let names: Vec<Vec<&str>> = parts
        .iter()
        .map(|p| p.iter().map(|i| i.written()).collect())
        .collect();
    assert_eq!(names, [vec!["a:1", "c:1", "d:1"], vec!["b:1", "e:1"]]);
    // More shards than images: one image each, none empty.
    let parts = shard_images(&images[..2], 5, &size);
    assert_eq!(parts.len(), 2);
    // With no size known, by count.
    let parts = shard_images(&images, 3, &|_| None);
    let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert_eq!(lens, [2, 2, 1]);
}

#[test]
fn a_live_split_is_kept_and_only_new_images_are_placed() {
    let images = refs(&["a:1", "b:1", "c:1", "d:1"]);
    let by_count = shard_images(&images, 2, &|_| None);
    let written = |parts: &[Vec<ImageRef>]| -> Vec<Vec<String>> {
        parts
            .iter()
            .map(|p| p.iter().map(|i| i.written().to_string()).collect())
            .collect()
    };
    assert_eq!(written(&by_count), [["a:1", "c:1"], ["b:1", "d:1"]]);
    // Sizes known later would split a|d b|c; the live split stays as it is.
    let size = |i: &ImageRef| -> Option<u64> {
        match i.repository() {
            "library/a" => Some(400),
            "library/b" => Some(300),
            "library/c" => Some(200),
            "library/d" => Some(100),
            _ => Some(250),
        }
    };
    let again = shard_images_keeping(&images, 2, &size, &by_count);
    assert_eq!(again, by_count);
    // c removed and e added: b and d stay together, e joins the lighter shard (a: 400
    // against b + d: 400, so the first).
    let next = refs(&["a:1", "b:1", "d:1", "e:1"]);
    let placed = shard_images_keeping(&next, 2, &size, &by_count);
    assert_eq!(written(&placed), [["a:1", "e:1"], ["b:1", "d:1"]]);
    // A previous split of another count is no guide.
    assert_eq!(
        shard_images_keeping(&images, 2, &size, &by_count[..1]),
        shard_images(&images, 2, &size)
    );
}

#[test]
fn a_split_pool_short_of_a_shard_or_split_twice_reads_as_one_pool_with_its_shape_told() {
    use super::super::adopt::group;
    let f = file();
    let mut web = f.pools[2].clone();
    web.shards = 3;
    let three = render_shards(&f, &web, &|_| None, &[]);
    assert_eq!(three.len(), 3);
    let whole = group(three.iter());
    assert_eq!((whole.len(), whole[0].shape.as_deref()), (1, None));

    // Shard 2 deleted: still one pool, with two shards' images, and the gap told.
    let short = group([&three[0], &three[2]]);
    assert_eq!(short.len(), 1);
    let told = short[0].shape.clone().unwrap();
    assert!(
        told.contains("missing 1 of its 3 DaemonSets (image-preloader-web-2-of-3)"),
        "{told}"
    );
    assert!(!told.contains("cleanup"), "{told}");
    // Shard 1 (the one with the cleanup container) deleted: said too.
    let told = group([&three[1], &three[2]])[0].shape.clone().unwrap();
    assert!(
        told.contains("cleanup has no container to run in"),
        "{told}"
    );

    // An apply stopped between creating the split and deleting the single DaemonSet.
    let single = render_pool(&f, &f.pools[2]);
    let both = group([&single, &three[0], &three[1], &three[2]]);
    assert_eq!(both.len(), 1, "one pool, not two");
    assert_eq!(
        both[0].daemonsets[0].metadata.name.as_deref(),
        Some("image-preloader-web")
    );
    let told = both[0].shape.clone().unwrap();
    assert!(
        told.contains(
            "the pool web has DaemonSets of two splits at once (image-preloader-web, \
             image-preloader-web-1-of-3, image-preloader-web-2-of-3, \
             image-preloader-web-3-of-3): an apply"
        ),
        "{told}"
    );
    // Every image is known there (each split is whole): cleanup is not blocked.
    let arcs = |ds: &[&DaemonSet]| -> Vec<std::sync::Arc<DaemonSet>> {
        ds.iter()
            .map(|d| std::sync::Arc::new((*d).clone()))
            .collect()
    };
    let blocking = super::super::cleanup::blocking_problems;
    assert_eq!(
        blocking(&arcs(&[&single, &three[0], &three[1], &three[2]])),
        Vec::<String>::new()
    );
    // The new split short of a shard beside the old DaemonSet: the gap is named, and
    // that blocks cleanup (the missing shard's images are not known).
    let partial = group([&single, &three[0], &three[2]]);
    let told = partial[0].shape.clone().unwrap();
    assert!(
        told.contains("; image-preloader-web-2-of-3 not there"),
        "{told}"
    );
    assert_eq!(partial[0].missing, ["image-preloader-web-2-of-3"]);
    let blocked = blocking(&arcs(&[&single, &three[0], &three[2]]));
    assert_eq!(
        blocked,
        [
            "the pool web is missing a DaemonSet (image-preloader-web-2-of-3); apply the \
          pools file again"
        ]
    );
    assert_eq!(blocking(&arcs(&[&three[0], &three[2]])).len(), 1);
    // One DaemonSet alone is whole.
    assert_eq!(group([&single])[0].shape, None);

    // A copy of the one DaemonSet under another name (our labels, no shard): both are
    // read, every image is known, and the sentence names the one to keep.
    let mut copy = single.clone();
    copy.metadata.name = Some("web-preloader-copy".into());
    let twins = group([&single, &copy]);
    assert_eq!(twins.len(), 1);
    assert_eq!(
        twins[0].shape.as_deref(),
        Some(
            "the pool web has 2 DaemonSets where it has one (image-preloader-web, \
             web-preloader-copy): keep image-preloader-web, the name kpreload gives it, \
             and delete the other"
        )
    );
    assert!(twins[0].missing.is_empty());
    assert_eq!(blocking(&arcs(&[&single, &copy])), Vec::<String>::new());
    // A shard twice, neither of kpreload's name.
    let mut a = three[1].clone();
    a.metadata.name = Some("copy-a".into());
    let mut b = three[1].clone();
    b.metadata.name = Some("copy-b".into());
    let told = group([&three[0], &a, &b, &three[2]])[0]
        .shape
        .clone()
        .unwrap();
    assert!(
        told.contains(
            "2 DaemonSets for its shard 2-of-3 (copy-a, copy-b): delete them and apply \
             the pools file again, which creates image-preloader-web-2-of-3"
        ),
        "{told}"
    );
    // A shard twice while another is missing: both are told.
    let told = group([&a, &b, &three[2]])[0].shape.clone().unwrap();
    assert!(
        told.contains("; image-preloader-web-1-of-3 not there"),
        "{told}"
    );

    // Rendering again over the gap: shards 1 and 3 keep their images, the missing
    // shard gets exactly the images no live shard has.
    let again = render_shards(&f, &web, &|_| None, &[&three[0], &three[2]]);
    let images = |d: &DaemonSet| -> Vec<String> {
        d.spec
            .template
            .spec
            .as_ref()
            .unwrap()
            .init_containers
            .as_ref()
            .unwrap()[1..]
            .iter()
            .map(|c| c.image.clone().unwrap())
            .collect()
    };
    assert_eq!(images(&again[0]), images(&three[0]));
    assert_eq!(images(&again[1]), images(&three[1]));
    assert_eq!(images(&again[2]), images(&three[2]));
}

#[test]
fn a_split_pool_is_k_daemonsets_and_only_the_first_cleans() {
    let f = file();
    let mut web = f.pools[2].clone();
    web.shards = 2;
    let all = render_shards(&f, &web, &|_| None, &[]);
    let names: Vec<&str> = all
        .iter()
        .map(|d| d.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        ["image-preloader-web-1-of-2", "image-preloader-web-2-of-2"]
    );
    let mut seen = Vec::new();
    for (i, ds) in all.iter().enumerate() {
        let selector = ds.spec.selector.match_labels.clone().unwrap();
        assert_eq!(selector[LABEL_SHARD], format!("{}-of-2", i + 1));
        let template = ds.spec.template.metadata.as_ref().unwrap().labels.clone();
        assert_eq!(template.unwrap()[LABEL_SHARD], selector[LABEL_SHARD]);
        let spec = ds.spec.template.spec.as_ref().unwrap();
        let main = &spec.containers[0];
        assert_eq!(main.name, HOLD_CONTAINER);
        let init = spec.init_containers.as_ref().unwrap();
        let sidecars: Vec<&str> = init
            .iter()
            .filter(|c| is_sidecar(c))
            .map(|c| c.name.as_str())
            .collect();
        if i == 0 {
            assert_eq!(sidecars, [CLEANUP_CONTAINER]);
            assert_eq!(spec.host_pid, Some(true));
        } else {
            assert!(sidecars.is_empty(), "{sidecars:?}");
            assert_eq!(spec.host_pid, None);
        }
        seen.extend(
            init.iter()
                .filter(|c| !is_sidecar(c) && c.name != NOOP_CONTAINER)
                .map(|c| c.image.clone().unwrap()),
        );
    }
    seen.sort();
    let mut want: Vec<String> = web.images.iter().map(|i| i.written().to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "every image in exactly one shard");

    // Read back, the shards fold into one pool with every image.
    let groups = super::super::adopt::group(all.iter());
    assert_eq!(groups.len(), 1);
    let p = groups[0].preloader.as_ref().unwrap();
    assert_eq!(p.pool.shards, 2);
    let mut back: Vec<String> = p
        .pool
        .images
        .iter()
        .map(|i| i.written().to_string())
        .collect();
    back.sort();
    assert_eq!(back, want);
    assert_eq!(Shard::parse("2-of-3"), Some(Shard { index: 2, count: 3 }));
    assert_eq!(Shard::parse("4-of-3"), None);
    assert_eq!(Shard::parse("x"), None);
}

#[test]
fn the_sidecar_needs_kubernetes_1_29_and_an_unreadable_version_is_let_through() {
    assert!(sidecars_run_on("1", "29", "v1.29.0").is_ok());
    assert!(sidecars_run_on("1", "33+", "v1.33.5-eks-abc").is_ok());
    assert!(sidecars_run_on("2", "0", "").is_ok());
    let old = sidecars_run_on("1", "28+", "v1.28.9-eks-1234").unwrap_err();
    assert!(
        old.starts_with("This cluster runs Kubernetes 1.28;"),
        "{old}"
    );
    assert!(old.contains("needs 1.29 or newer"), "{old}");
    // Empty fields (some distributions): the gitVersion says it.
    assert!(sidecars_run_on("", "", "v1.27.3+k3s1").is_err());
    assert!(sidecars_run_on("", "", "").is_ok());
}
