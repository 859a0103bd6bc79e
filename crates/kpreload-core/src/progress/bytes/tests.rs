//! The tracker, the estimate and the floors; and which node a split pool's pull is read
//! through.

use super::*;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn pull(reference: &str, offset: u64) -> ActivePull {
    ActivePull {
        reference: reference.into(),
        offset,
        age_seconds: None,
    }
}

fn done(t: &Tracker, image: &str, now: Timestamp) -> u64 {
    t.live("n1", image, None, now).unwrap().bytes.done
}

#[test]
fn a_finished_layer_leaving_the_list_keeps_its_bytes() {
    let mut t = Tracker::default();
    let since = Some(at(0));
    t.observe("n1", "img", since, &[pull("layer-a", 100)], at(1));
    t.observe("n1", "img", since, &[pull("layer-a", 300)], at(2));
    // layer-a is committed (gone from the list); layer-b begins.
    t.observe("n1", "img", since, &[pull("layer-b", 50)], at(3));
    let l = t.live("n1", "img", None, at(3)).unwrap().bytes;
    assert_eq!(l.done, 350, "300 of the finished layer and 50 of the next");
    assert_eq!((l.restarts, l.estimated), (0, false));
    // 100 B at 1 s to 350 B at 3 s: 125 B/s.
    assert_eq!(l.rate, Some(125.0));
}

#[test]
fn a_blob_that_starts_over_keeps_what_it_reached_and_counts_one_restart() {
    let mut t = Tracker::default();
    let since = Some(at(0));
    t.observe("n1", "img", since, &[pull("layer-a", 500)], at(1));
    t.observe("n1", "img", since, &[pull("layer-a", 20)], at(2));
    let l = t.live("n1", "img", None, at(2)).unwrap().bytes;
    assert_eq!(l.done, 500, "never backwards");
    assert_eq!(l.restarts, 1);
    // A new attempt by the kubelet (its Pulling event is newer), read with its blob
    // starting over too: one more restart, not two.
    t.observe("n1", "img", Some(at(30)), &[pull("layer-a", 10)], at(31));
    let l = t.live("n1", "img", None, at(31)).unwrap().bytes;
    assert_eq!((l.done, l.restarts), (500, 2));
}

#[test]
fn another_image_starts_a_new_count() {
    let mut t = Tracker::default();
    t.observe("n1", "a", None, &[pull("layer-a", 500)], at(1));
    t.observe("n1", "b", None, &[pull("layer-b", 10)], at(2));
    assert_eq!(t.live("n1", "a", None, at(2)), None);
    assert_eq!(done(&t, "b", at(2)), 10);
    t.observe("n1", "b", None, &[pull("layer-b", 110)], at(3));
    assert_eq!(
        t.live("n1", "b", None, at(3)).unwrap().bytes.rate,
        Some(100.0)
    );
}

#[test]
fn a_pull_first_read_part_way_counts_the_unseen_blobs_as_an_estimate() {
    let mut t = Tracker::default();
    // Pulling since 0 s; read at 60 s, its blob under way for 20 s with 400 B: the 40 s
    // before it brought about 40 × 20 B/s unseen.
    let p = ActivePull {
        age_seconds: Some(20),
        ..pull("layer-b", 400)
    };
    t.observe("n1", "img", Some(at(0)), &[p], at(60));
    let l = t.live("n1", "img", None, at(60)).unwrap().bytes;
    assert_eq!((l.done, l.estimated, l.rate), (1200, true, Some(20.0)));
    // Read from the start, nothing is unseen.
    let mut t = Tracker::default();
    let p = ActivePull {
        age_seconds: Some(4),
        ..pull("layer-a", 400)
    };
    t.observe("n1", "img", Some(at(0)), &[p], at(5));
    let l = t.live("n1", "img", None, at(5)).unwrap().bytes;
    assert_eq!((l.done, l.estimated, l.rate), (400, false, Some(100.0)));
}

#[test]
fn a_part_way_reading_with_ages_rounded_to_the_minute_adds_nothing_and_says_it_is_short() {
    // "About a minute" (60 to 119 s): the blob's start cannot be told, so no unseen
    // bytes are made up; the figure is marked an estimate all the same.
    let mut t = Tracker::default();
    let p = ActivePull {
        age_seconds: Some(60),
        ..pull("layer-b", 6000)
    };
    t.observe("n1", "img", Some(at(0)), &[p], at(110));
    let l = t.live("n1", "img", Some(at(0)), at(110)).unwrap().bytes;
    assert_eq!((l.done, l.estimated), (6000, true));
}

#[test]
fn a_new_attempt_not_read_yet_goes_on_from_its_own_start_not_through_the_back_off() {
    let mut t = Tracker::default();
    t.observe("n1", "img", Some(at(0)), &[pull("layer-a", 100)], at(1));
    t.observe("n1", "img", Some(at(0)), &[pull("layer-a", 300)], at(3));
    // It failed at 5 s; the kubelet tries again at 300 s and it is now 310 s: 10 s of
    // the new attempt at the last rate (100 B/s), not 307 s.
    let r = t.live("n1", "img", Some(at(300)), at(310)).unwrap();
    assert_eq!(r.age_seconds, 10.0);
    assert_eq!((r.bytes.restarts, r.bytes.estimated), (1, true));
    let e = estimate(Some(r), Some(100_000), None, None).unwrap();
    assert_eq!(e.done, 300, "10 s is not stale yet: as read");
    let r = t.live("n1", "img", Some(at(300)), at(320)).unwrap();
    let e = estimate(Some(r), Some(100_000), None, None).unwrap();
    assert_eq!(e.done, 300 + 20 * 100);
}

#[test]
fn a_stale_reading_goes_on_at_its_rate_as_an_estimate() {
    let mut t = Tracker::default();
    t.observe("n1", "img", None, &[pull("layer-a", 100)], at(0));
    t.observe("n1", "img", None, &[pull("layer-a", 300)], at(2));
    // Fresh: as read.
    let fresh = estimate(t.live("n1", "img", None, at(3)), Some(10_000), None, None).unwrap();
    assert_eq!((fresh.done, fresh.estimated), (300, false));
    // 20 s after the last reading, at its 100 B/s: an estimate.
    let stale = estimate(t.live("n1", "img", None, at(22)), Some(10_000), None, None).unwrap();
    assert_eq!(
        (stale.done, stale.estimated, stale.rate),
        (2300, true, Some(100.0))
    );
}

#[test]
fn estimates_stay_short_of_the_size_and_readings_are_capped_at_it() {
    let e = estimate(None, Some(1000), Some(20.0), Some(100.0)).unwrap();
    assert_eq!((e.done, e.estimated), (990, true));
    let e = estimate(None, None, Some(2.0), Some(100.0)).unwrap();
    assert_eq!((e.done, e.total), (200, None));
    assert_eq!(estimate(None, Some(1000), Some(2.0), None), None);
    let read = Reading {
        bytes: PullBytes {
            done: 1004,
            total: None,
            rate: Some(5.0),
            estimated: false,
            restarts: 0,
        },
        age_seconds: 0.5,
    };
    let l = estimate(Some(read), Some(1000), None, None).unwrap();
    assert_eq!((l.done, l.total, l.estimated), (1000, Some(1000), false));
    assert_eq!(l.eta_seconds(), Some(0.0));
}

fn overview_pulling(since: i64, done: u64) -> Overview {
    let mut pool = crate::fixtures::pool_progress(
        "p",
        vec![crate::fixtures::node_progress(
            "n1",
            vec![super::super::ImageProgress {
                image: "img".into(),
                container: "preload-img".into(),
                state: ImageState::Pulling {
                    since: Some(at(since)),
                    bytes: Some(PullBytes {
                        done,
                        total: Some(1000),
                        rate: None,
                        estimated: true,
                        restarts: 0,
                    }),
                },
            }],
        )],
    );
    pool.images = vec!["img".into()];
    Overview {
        pools: vec![Arc::new(pool)],
        unpooled: Vec::new(),
    }
}

fn shown(o: &Overview) -> (u64, u32) {
    match &o.pools[0].nodes[0].images[0].state {
        ImageState::Pulling { bytes: Some(b), .. } => (b.done, b.restarts),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_screen_never_shows_less_and_a_new_attempt_is_drawn_as_started_over() {
    let mut floors = Floors::default();
    let mut o = overview_pulling(0, 400);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (400, 0));
    // A reading lower than the estimate shown (or a rate that fell): still 400.
    let mut o = overview_pulling(0, 250);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (400, 0));
    let mut o = overview_pulling(0, 500);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (500, 0));
    // The kubelet tries again (a newer Pulling): the figure stays, and says so.
    let mut o = overview_pulling(90, 10);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (500, 1));
    let mut o = overview_pulling(90, 600);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (600, 1), "counted once per attempt");
    // Held up, a figure stays short of the size (1000 here): it never says done.
    let mut floors = Floors::default();
    let mut o = overview_pulling(0, 1200);
    floors.apply(&mut o);
    let mut o = overview_pulling(0, 100);
    floors.apply(&mut o);
    assert_eq!(shown(&o), (990, 0));
}

/// A pool is shared with the Deriver that keeps it: the floors copy it only to raise a
/// figure, and the Deriver's copy never changes.
#[test]
fn the_floors_copy_a_pool_only_to_raise_a_figure() {
    let mut floors = Floors::default();
    let mut o = overview_pulling(0, 400);
    let kept = o.pools[0].clone();
    floors.apply(&mut o);
    assert!(Arc::ptr_eq(&o.pools[0], &kept), "nothing to raise: shared");
    let mut o = overview_pulling(0, 250);
    let kept = o.pools[0].clone();
    floors.apply(&mut o);
    assert_eq!(shown(&o), (400, 0));
    assert!(!Arc::ptr_eq(&o.pools[0], &kept));
    assert_eq!(
        shown(&Overview {
            pools: vec![kept],
            unpooled: Vec::new()
        }),
        (250, 0)
    );
}

mod shards {
    use serde_json::json;

    use super::super::*;
    use crate::fixtures;

    #[test]
    fn a_later_shards_pull_says_why_the_first_shards_container_cannot_be_read_through() {
        let file = crate::pools::PoolsFile::parse(
            "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\n\
             pools:\n- name: web\n  shards: 2\n  images: [a:1, b:1]\n",
            "p.yaml",
        )
        .unwrap();
        let shards = crate::render::render_shards(&file, &file.pools[0], &|_| None, &[]);
        assert_eq!(shards.len(), 2);
        let one = fixtures::daemonset(&crate::render::to_yaml(&shards[..1]), "ds-1");
        let two = fixtures::daemonset(&crate::render::to_yaml(&shards[1..]), "ds-2");
        let status =
            |name: &str, state: serde_json::Value| fixtures::container_status(name, false, state);
        let waiting = |name: &str| status(name, json!({"waiting": {"reason": "PodInitializing"}}));
        let first = fixtures::preloader_pod(
            &one,
            "image-preloader-web-1-of-2-aaaaa",
            "n1",
            "2026-11-28T10:00:00Z",
            json!({"phase": "Pending", "initContainerStatuses": [
                status("cleanup", json!({"waiting": {"reason": "ContainerCreating"}})),
                waiting("kpreload-noop"),
                waiting("preload-a"),
            ]}),
        );
        let second = fixtures::preloader_pod(
            &two,
            "image-preloader-web-2-of-2-bbbbb",
            "n1",
            "2026-11-28T10:00:00Z",
            json!({"phase": "Pending", "initContainerStatuses": [
                status("kpreload-noop", json!({"terminated": {"exitCode": 0, "reason": "Completed"}})),
                waiting("preload-b"),
            ]}),
        );
        let snapshot = Snapshot {
            nodes: vec![fixtures::node("n1").ready().build()],
            pods: vec![first, second],
            daemonsets: vec![one, two],
            events: vec![fixtures::event_of(fixtures::event(
                "image-preloader-web-2-of-2-bbbbb",
                1,
                "2026-11-28T10:00:02Z",
                "Normal",
                "Pulling",
                "Pulling image \"b:1\"",
            ))],
            ..Default::default()
        };
        let o = crate::progress::derive(&snapshot, Timestamp::from_second(1_764_324_010).unwrap());
        let targets = live_targets(&snapshot, &o, &["n1".to_string()]);
        let [(_, Err(why))] = targets.as_slice() else {
            panic!("{targets:?}");
        };
        assert!(why.contains("container cleanup"), "{why}");
    }
}
