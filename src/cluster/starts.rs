//! The workloads' container starts, from the kubelet's events in every namespace: one
//! server-side field selector per reason (`involvedObject.kind=Pod,reason=Pulled`, and
//! `Pulling`, `Failed`), so the API server sends only these. Nothing is reflected: each event
//! becomes a small [`Start`] at once and the event is dropped; what is kept, and for how long,
//! is the window's business (`core::payoff`).

use std::time::Duration;

use futures_util::StreamExt;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::watch::{Link, Update, Watch, describe};
use crate::core::objects::Event;
use crate::core::payoff::{Start, start_of};

/// The reasons the kubelet gives its image events.
pub const REASONS: [&str; 3] = ["Pulled", "Pulling", "Failed"];

/// At most this often the starts seen are handed over.
const BATCH: Duration = Duration::from_millis(500);
/// How long a failed watch must stay quiet before a probe may call it live again.
const PROBE: Duration = Duration::from_secs(2);

fn fields(reason: &str) -> String {
    format!("involvedObject.kind=Pod,reason={reason}")
}

/// Whether a watch failed for want of permission (403).
fn forbidden(e: &watcher::Error) -> bool {
    matches!(
        e,
        watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            | watcher::Error::WatchFailed(kube::Error::Api(s)) if s.code == 403
    )
}

/// Every start the API server still holds events for (it keeps them an hour by default),
/// page by page, each page turned into starts before the next is read.
pub async fn list(client: &kube::Client) -> Result<Vec<Start>, String> {
    let api = Api::<Event>::all(client.clone());
    let mut out = Vec::new();
    for reason in REASONS {
        let mut params = ListParams::default().fields(&fields(reason)).limit(500);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| super::api_error(&e, "list events in all namespaces"))?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            out.extend(page.items.iter().filter_map(start_of));
            match next {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Watches the starts in every namespace; they stop when `tx`'s receiver is dropped. The
/// link reported is the worst of the three watches'.
pub fn spawn(client: &kube::Client, tx: &UnboundedSender<Update>) -> tokio::task::JoinHandle<()> {
    let api = Api::<Event>::all(client.clone());
    let tx = tx.clone();
    tokio::spawn(async move {
        let streams = REASONS.map(|reason| {
            watcher(
                api.clone(),
                watcher::Config::default().fields(&fields(reason)),
            )
            .default_backoff()
            .boxed()
        });
        let mut all = futures_util::stream::select_all(
            streams
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.map(move |e| (i, e))),
        );
        let mut batch: Vec<Start> = Vec::new();
        let mut tick = tokio::time::interval(BATCH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Each watch's state: listed once, failing now.
        let mut listed = [false; REASONS.len()];
        let mut failing: [Option<String>; REASONS.len()] = Default::default();
        let mut shown: Option<Link> = None;
        // After a failure a resumed watch may stay quiet: a small list proves the API
        // answers again (as the other watches do).
        let mut failed_at: [Option<tokio::time::Instant>; REASONS.len()] = Default::default();
        let mut probe = tokio::time::interval(PROBE);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let _ = tx.send(Update::Link(Watch::Starts, Link::Connecting));
        loop {
            tokio::select! {
                next = all.next() => match next {
                    Some((i, Ok(e))) => {
                        failing[i] = None;
                        failed_at[i] = None;
                        match e {
                            watcher::Event::Apply(ev) | watcher::Event::InitApply(ev) => {
                                batch.extend(start_of(&ev));
                            }
                            watcher::Event::InitDone => listed[i] = true,
                            watcher::Event::Delete(_) | watcher::Event::Init => {}
                        }
                    }
                    Some((i, Err(e))) => {
                        tracing::warn!(watch = ?Watch::Starts, error = %e, "watch failed");
                        failing[i] = Some(describe(&e, Watch::Starts, "in all namespaces"));
                        // Not allowed is not a blip: the watcher's back-off asks again, no probe.
                        failed_at[i] = (!forbidden(&e)).then(tokio::time::Instant::now);
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    if !batch.is_empty()
                        && tx.send(Update::Starts(std::mem::take(&mut batch))).is_err()
                    {
                        return;
                    }
                }
                _ = probe.tick(), if failed_at.iter().any(Option::is_some) => {
                    for i in 0..REASONS.len() {
                        if failed_at[i].is_none_or(|t| t.elapsed() < PROBE) {
                            continue;
                        }
                        let params = ListParams::default().fields(&fields(REASONS[i])).limit(1);
                        // A probe that hangs must not hold the batches up.
                        let answered = tokio::time::timeout(PROBE, api.list_metadata(&params)).await;
                        if matches!(answered, Ok(Ok(_))) {
                            failing[i] = None;
                            failed_at[i] = None;
                        }
                    }
                }
                () = tx.closed() => return,
            }
            let link = match failing.iter().flatten().next() {
                Some(why) => Link::Retrying(why.clone()),
                None if listed.iter().all(|l| *l) => Link::Live,
                None => Link::Connecting,
            };
            if shown.as_ref() != Some(&link) {
                // The starts listed so far go first: Live means they are all in.
                if !batch.is_empty() && tx.send(Update::Starts(std::mem::take(&mut batch))).is_err()
                {
                    return;
                }
                if tx.send(Update::Link(Watch::Starts, link.clone())).is_err() {
                    return;
                }
                shown = Some(link);
            }
        }
    })
}

/// Every pool's payoff from the events the API server holds now, for a one-shot command:
/// the pools and their nodes as `snapshot` has them, `headroom` a pool's least room before
/// image GC where it is known.
pub async fn figures(
    client: &kube::Client,
    snapshot: &crate::core::progress::Snapshot,
    headroom: impl Fn(&str) -> Option<i64>,
) -> Result<Vec<crate::core::payoff::Figures>, String> {
    let mut starts = list(client).await?;
    // Oldest first: the window keeps the latest.
    starts.sort_by_key(|s| s.at);
    let scopes = crate::core::payoff::Scopes::of(snapshot);
    let mut window = crate::core::payoff::Window::default();
    let now = jiff::Timestamp::now().as_second();
    for s in starts {
        window.record(s, &scopes, now);
    }
    window.expire(now);
    Ok(scopes.figures(&window, headroom))
}
