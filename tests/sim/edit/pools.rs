//! Editing and deleting whole pools: a broken pools file, deletion, the conversion of a hand-written preloader, a pool only the file has, a pool over several DaemonSets.

use super::*;

#[test]
fn a_broken_pools_file_is_refused_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pools.yaml");
    std::fs::write(
        &path,
        "pools:\n  - name: web\n    images: [nginx:1.25, Nginx:2]\n",
    )
    .unwrap();
    let o = support::kpreload(&["demo", "-f", path.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pools.yaml:3:26:"), "line and column: {err}");
    assert!(err.contains("uppercase"), "{err}");
}

#[test]
fn deleting_a_preloader_needs_its_pools_name_typed() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        press(&mut s.app, ":pool web<Enter>D");
        assert!(
            matches!(s.app.edit.as_ref().unwrap().step, Step::Delete { .. }),
            "{}",
            s.step()
        );
        press(&mut s.app, "yes<Enter>");
        assert!(s.app.effects.is_empty(), "only the pool's name confirms");
        press(&mut s.app, "web<Enter>");
        s.work().await;
        assert!(
            s.app
                .notice
                .as_deref()
                .unwrap()
                .contains("image-preloader-web deleted"),
            "{:?}",
            s.app.notice
        );
        let gone = Api::<DaemonSet>::namespaced(s.client.clone(), "kube-system")
            .get_opt("image-preloader-web")
            .await
            .unwrap();
        assert!(gone.is_none());
        let gone = s
            .until(20, |a| !a.overview.pools.iter().any(|p| p.pool == "web"))
            .await;
        assert!(gone, "the pool leaves the list");
    });
}

#[test]
fn the_first_edit_of_a_hand_written_preloader_converts_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = support::demo_with_articles_ml(dir.path());
    let cluster = Cluster::start_at(scenario.to_str().unwrap(), Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        let ok = s
            .until(20, |a| a.overview.pools.iter().any(|p| p.pool == "ml"))
            .await;
        assert!(ok);
        press(&mut s.app, ":pool ml<Enter>e");
        // Nothing changed in the list, but the preview proposes the conversion.
        press(&mut s.app, "p");
        s.work().await;
        let Step::Preview(p) = &s.app.edit.as_ref().unwrap().step else {
            panic!("a preview: {}", s.step());
        };
        assert_eq!(p.converts.as_deref(), Some("image-preloader-ml"));
        assert!(
            p.summary[0].starts_with("converts the hand-written image-preloader-ml"),
            "{:?}",
            p.summary
        );
        assert!(
            p.diff
                .iter()
                .any(|l| l.sign == '+' && l.text.contains("kpreload.dev/pool: ml"))
        );
        press(&mut s.app, "y");
        s.work().await;
        assert!(
            s.app.notice.as_deref().unwrap().contains("converted"),
            "{:?}",
            s.app.notice
        );
        let ds = Api::<DaemonSet>::namespaced(s.client.clone(), "kube-system")
            .get("image-preloader-ml")
            .await
            .unwrap();
        let labels = ds.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("kpreload")
        );
        let images = init_images(&ds);
        assert_eq!(
            images[1..],
            [
                "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime".to_string(),
                "tensorflow/tensorflow:2.15.0-gpu".to_string(),
                "jupyter/scipy-notebook:latest".to_string()
            ],
            "the same images, in the same order"
        );
        let rendered = s
            .until(20, |a| {
                a.overview.pools.iter().any(|p| {
                    p.pool == "ml"
                        && p.origin == kpreload::core::adopt::Origin::Rendered
                        && p.nodes.len() == 3
                })
            })
            .await;
        assert!(
            rendered,
            "the pool is the rendered preloader's now, on the same 3 nodes"
        );
    });
}

#[test]
fn a_change_made_after_the_editor_opened_is_a_conflict_at_the_preview() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        press(&mut s.app, ":pool web<Enter>e");
        // Someone else (another kpreload, say) adds an image while this editor is open.
        let api = Api::<DaemonSet>::namespaced(s.client.clone(), "kube-system");
        let mut theirs = s.web().await;
        let spec = theirs.spec.template.spec.as_mut().unwrap();
        let mut busybox = spec.init_containers.as_ref().unwrap()[1].clone();
        busybox.name = "preload-busybox".into();
        busybox.image = Some("busybox:1.36".into());
        spec.init_containers.as_mut().unwrap().push(busybox);
        api.replace("image-preloader-web", &Default::default(), &theirs)
            .await
            .unwrap();

        // Our draft moves redis first; the preview refuses to undo their image.
        press(&mut s.app, "GKKp");
        s.work().await;
        let Step::Conflict(c) = &s.app.edit.as_ref().unwrap().step else {
            panic!("a conflict: {}", s.step());
        };
        assert!(
            c.summary.contains("changed since the editor opened"),
            "{}",
            c.summary
        );
        assert_eq!(c.changes, ["+ busybox:1.36  (pulled 4th)"]);
        assert!(init_images(&s.web().await).contains(&"busybox:1.36".to_string()));
        // Reopened (once the watch has brought their change), the editor starts from it.
        let seen = s
            .until(20, |a| {
                a.overview.pools.iter().any(|p| {
                    p.pool == "web" && p.images.iter().any(|i| i.ends_with("busybox:1.36"))
                })
            })
            .await;
        assert!(seen);
        press(&mut s.app, "e");
        let e = s.app.edit.as_ref().unwrap();
        let images: Vec<&str> = e.draft.images.iter().map(|i| i.written()).collect();
        assert!(images.contains(&"busybox:1.36"), "{images:?}");
    });
}

#[test]
fn in_gitops_mode_a_pool_only_the_file_has_is_edited_by_name() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pools.yaml");
    std::fs::write(&path, std::fs::read_to_string("config/pools.yaml").unwrap()).unwrap();
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, Some(path.clone())).await;
        assert!(
            !s.app.overview.pools.iter().any(|p| p.pool == "default"),
            "not in the cluster"
        );
        press(&mut s.app, ":edit default<Enter>");
        let e = s
            .app
            .edit
            .as_ref()
            .expect("the editor opens on the file's pool");
        assert_eq!(e.draft.images.len(), 4);
        press(&mut s.app, "Gaalpine:3.20<Enter>p");
        s.work().await;
        press(&mut s.app, "y");
        s.work().await;
        let file = kpreload::core::pools::PoolsFile::load(&path).unwrap();
        let default = file.pools.iter().find(|p| p.name == "default").unwrap();
        assert_eq!(default.images.last().unwrap().written(), "alpine:3.20");
    });
}

#[test]
fn a_pool_over_several_daemonsets_is_not_edited_in_part() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        // web split over 2 beside its one DaemonSet, as an apply stopped part-way leaves it.
        let file = kpreload::core::pools::PoolsFile::parse(
            include_str!("../../../config/pools.yaml"),
            "config/pools.yaml",
        )
        .unwrap();
        let mut web = file.pools.iter().find(|p| p.name == "web").unwrap().clone();
        web.shards = 2;
        let api = Api::<DaemonSet>::namespaced(s.client.clone(), "kube-system");
        for ds in kpreload::core::render::render_shards(&file, &web, &|_| None, &[]) {
            api.create(&Default::default(), &ds).await.unwrap();
        }
        let folded = s
            .until(20, |a| {
                a.overview
                    .pools
                    .iter()
                    .any(|p| p.pool == "web" && p.shards.len() == 3)
            })
            .await;
        assert!(folded, "the three DaemonSets read as one pool");
        let pool = s.app.overview.pools.iter().find(|p| p.pool == "web");
        // Both shapes pull the same images: each counts once on each node.
        let p = pool.unwrap();
        assert_eq!(
            p.images_total(),
            p.nodes.len() * p.images.len(),
            "{:?}",
            p.nodes[0].images
        );
        let warning = pool.and_then(|p| p.warning.clone()).unwrap_or_default();
        assert!(
            warning.contains("has DaemonSets of two splits at once"),
            "{warning:?}"
        );
        assert_eq!(
            s.app
                .overview
                .pools
                .iter()
                .filter(|p| p.pool == "web")
                .count(),
            1
        );

        // Editing or deleting would touch one of the three: both refuse and say how.
        press(&mut s.app, ":pool web<Enter>e");
        assert!(s.app.edit.is_none(), "{}", s.step());
        let notice = s.app.notice.clone().unwrap_or_default();
        assert!(
            notice.contains(
                "the pool web has 3 DaemonSets (image-preloader-web, image-preloader-web-1-of-2, \
                 image-preloader-web-2-of-2)"
            ) && notice.contains("pools file"),
            "{notice}"
        );
        press(&mut s.app, "D");
        assert!(s.app.edit.is_none(), "{}", s.step());
        let notice = s.app.notice.clone().unwrap_or_default();
        assert!(
            notice.contains("kubectl delete daemonset -n kube-system image-preloader-web "),
            "{notice}"
        );
        assert!(notice.contains("image-preloader-web-2-of-2"), "{notice}");

        // Once the one DaemonSet is gone the split is whole: no warning, still not editable
        // in part.
        api.delete("image-preloader-web", &Default::default())
            .await
            .unwrap();
        let whole = s
            .until(20, |a| {
                a.overview
                    .pools
                    .iter()
                    .any(|p| p.pool == "web" && p.shards.len() == 2 && p.warning.is_none())
            })
            .await;
        assert!(whole, "{:?}", s.app.overview.pools);
        press(&mut s.app, "e");
        assert!(s.app.edit.is_none(), "{}", s.step());
        let notice = s.app.notice.clone().unwrap_or_default();
        assert!(
            notice.contains(
                "the pool web is split over 2 DaemonSets (image-preloader-web-1-of-2, \
                 image-preloader-web-2-of-2)"
            ),
            "{notice}"
        );
    });
}
