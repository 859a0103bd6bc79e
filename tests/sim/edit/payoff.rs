//! The payoff against the simulator: the demo's checkout workload starts pods on the web pool,
//! which preloads one of its two images (nginx, not python:3.12-slim). The kubelets' own events say which starts found
//! their image and what the others cost; the pool reports the image it misses first, and
//! after the editor adds it (`A`, preview, apply) a new start finds it preloaded.

use super::*;
use kpreload::core::payoff::{Figures, Mark};

/// The checkout's image the web pool does not preload, as its pods write it and normalised.
const SLIM: &str = "python:3.12-slim";
const THE_APP: &str = "docker.io/library/python:3.12-slim";

fn figures(app: &App, pool: &str) -> Option<Figures> {
    app.payoff.figures(pool, None)
}

/// Go's duration text as the kubelet prints it (`7.301s`, `1m13.5s`, `850ms`), read here
/// on its own, not by the product's reader.
fn go_seconds(text: &str) -> f64 {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse::<f64>().unwrap() / 1000.0;
    }
    let text = text.strip_suffix('s').unwrap();
    match text.split_once('m') {
        Some((m, s)) => m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap_or(0.0),
        None => text.parse().unwrap(),
    }
}

/// The pull seconds the kubelets reported for `image` on the web nodes, straight from the
/// API's events.
async fn kubelet_seconds(client: &kube::Client, image: &str) -> (usize, f64) {
    let events = Api::<k8s_openapi::api::core::v1::Event>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap();
    let prefix = format!("Successfully pulled image \"{image}\" in ");
    let mut n = 0;
    let mut total = 0.0;
    for e in events.items {
        let on_web = e
            .source
            .as_ref()
            .and_then(|s| s.host.as_deref())
            .is_some_and(|h| h.starts_with("web-"));
        let workload = e.involved_object.namespace.as_deref() == Some("shop");
        if let Some(rest) = e.message.as_deref().and_then(|m| m.strip_prefix(&prefix))
            && on_web
            && workload
        {
            n += 1;
            total += go_seconds(rest.split(' ').next().unwrap());
        }
    }
    (n, total)
}

#[test]
fn the_image_a_pool_misses_comes_first_and_once_added_its_next_start_finds_it() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        // The checkout's pods pull python:3.12-slim on the web nodes.
        let missed = s
            .until(60, |a| {
                figures(a, "web")
                    .is_some_and(|f| f.images.iter().any(|c| c.image == THE_APP && c.pulled >= 2))
            })
            .await;
        assert!(
            missed,
            "python:3.12-slim pulled by workloads: {:?}",
            figures(&s.app, "web")
        );
        // Quiet: no pull under way, and as many pulls counted as the API's events tell of
        // (read here directly; the starts come in batches, so it is asked until they agree).
        let mut events = (0, 0.0);
        let mut agreed = false;
        for _ in 0..60 {
            events = kubelet_seconds(&s.client, SLIM).await;
            let pulls = events.0;
            agreed = s
                .until(1, |a| {
                    figures(a, "web").is_some_and(|f| {
                        f.pulling == 0
                            && f.images
                                .iter()
                                .any(|c| c.image == THE_APP && c.pulled == pulls)
                    })
                })
                .await;
            if agreed {
                break;
            }
        }
        let (pulls, seconds) = events;
        let f = figures(&s.app, "web").unwrap();
        assert!(agreed, "{pulls} pulls in the events: {:?}", f.images);
        let first = &f.images[0];
        assert_eq!(first.image, THE_APP, "{:?}", f.images);
        assert_eq!(first.mark, Mark::NotPreloaded);
        assert_eq!(f.suggestions[0].image, THE_APP);
        assert_eq!(
            f.suggestions[0].bytes,
            Some(43_474_862),
            "the kubelet's size"
        );
        // The seconds are the kubelets' own, summed.
        assert!(pulls >= 2);
        assert!(
            (first.pull_seconds - seconds).abs() < 0.01,
            "{} against the events' {seconds}",
            first.pull_seconds
        );
        // Only the workloads' starts: not the preloader's own pulls (node, redis, busybox),
        // and nothing from the ml pool, where no workload runs.
        let images: Vec<&str> = f.images.iter().map(|c| c.image.as_str()).collect();
        let mut sorted = images.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["docker.io/library/nginx:1.25-alpine", THE_APP],
            "{images:?}"
        );
        let nginx = f.images.iter().find(|c| c.image.contains("nginx")).unwrap();
        assert_eq!(nginx.mark, Mark::Preloaded);
        assert_eq!(figures(&s.app, "ml").map(|f| f.starts), Some(0));
        assert!(f.hit_rate.is_some_and(|r| r < 1.0));

        // The command line says the same.
        let out = support::kpreload(&[
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
            "status",
            "-o",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let web = v["pools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pool"] == "web")
            .unwrap();
        assert_eq!(web["suggestions"][0]["image"], THE_APP);
        assert!(web["pull_seconds"].as_f64().unwrap() >= seconds - 0.01);
        let ml = v["pools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pool"] == "ml")
            .unwrap();
        assert_eq!(ml["starts"], 0);
        assert_eq!(ml["hit_rate"], serde_json::Value::Null);

        // A on the pool's screen: the editor, with python:3.12-slim added; preview, apply.
        press(&mut s.app, ":pool web<Enter>A");
        assert_eq!(s.app.view().screen, Screen::Edit, "{:?}", s.app.notice);
        let draft = crate::tui::edit::draft(&s.app);
        assert_eq!(draft.last().map(String::as_str), Some(SLIM), "{draft:?}");
        press(&mut s.app, "p");
        s.work().await;
        press(&mut s.app, "y");
        s.work().await;
        assert!(init_images(&s.web().await).contains(&SLIM.to_string()));

        // Once the preloader has it on a node, a new workload start there finds it.
        let found = s
            .until(90, |a| {
                figures(a, "web").is_some_and(|f| {
                    f.images
                        .iter()
                        .any(|c| c.image == THE_APP && c.hit_rate_preloaded.is_some())
                })
            })
            .await;
        let f = figures(&s.app, "web").unwrap();
        assert!(found, "a start after the preload: {:?}", f.images);
        let slim = f.images.iter().find(|c| c.image == THE_APP).unwrap();
        assert_eq!(slim.hit_rate_preloaded, Some(1.0), "{slim:?}");
        assert_eq!(slim.mark, Mark::Preloaded);
        assert!(f.suggestions.is_empty(), "{:?}", f.suggestions);
    });
}
