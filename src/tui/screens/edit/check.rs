//! The registry in the editor: an image is asked of its registry before it goes into the
//! draft (refused, in the registry's words, if it does not exist or lacks a platform of the
//! pool's nodes; let in, marked unchecked, if the registry could not say), and the preview's
//! sizes, times and FITS come from the manifests of the nodes' platforms.

use super::{Editor, Preview, Step};
use crate::core::edit::{self, Rates};
use crate::core::pools::Pool;
use crate::core::reference::ImageRef;
use crate::core::registry::Platform;
use crate::tui::app::{App, Effect};

/// Whether Enter in a picker goes on.
pub(super) enum Gate {
    /// Take the choice; with a sentence about what the registry said.
    Go(Option<String>),
    /// Refused (the picker says why), or waiting for the registry.
    Stop,
}

/// The platforms of the nodes `pool` runs on.
pub(super) fn platforms(app: &App, pool: &Pool) -> Vec<Platform> {
    let nodes = super::open::nodes_of(app, pool);
    Platform::of_nodes(
        app.snapshot
            .nodes
            .iter()
            .filter(|n| {
                n.metadata
                    .name
                    .as_ref()
                    .is_some_and(|name| nodes.contains(name))
            })
            .map(|n| n.as_ref()),
    )
}

/// The image an Add or Tag picker's choice would put in the draft (None: the draft refuses
/// it anyway, or nothing changes).
fn candidate(e: &Editor, chosen: &str) -> Option<ImageRef> {
    let mut trial = e.draft.clone();
    match &e.step {
        Step::Add(_) => {
            let at = trial
                .add(e.selected + usize::from(!e.draft.images.is_empty()), chosen)
                .ok()?;
            trial.images.get(at).cloned()
        }
        Step::Tag(_) => {
            trial.set_tag(e.selected, chosen).ok()?;
            let image = trial.images.get(e.selected)?;
            (Some(image) != e.draft.images.get(e.selected)).then(|| image.clone())
        }
        _ => None,
    }
}

/// Before Enter takes an image: what its registry says, asked if not known yet.
pub(super) fn gate(app: &mut App, chosen: &str) -> Gate {
    let Some(e) = app.edit.as_ref() else {
        return Gate::Stop;
    };
    if chosen.trim().is_empty() || app.registries.off.is_some() {
        return Gate::Go(None);
    }
    let Some(image) = candidate(e, chosen) else {
        return Gate::Go(None);
    };
    let platforms = platforms(app, &e.drafted());
    let answer = app.registries.answer(&image, &platforms).cloned();
    let asks = match &answer {
        Some(_) => Vec::new(),
        None => app
            .registries
            .to_ask(std::slice::from_ref(&image), &platforms),
    };
    let Some(e) = app.edit.as_mut() else {
        return Gate::Stop;
    };
    let (Step::Add(p) | Step::Tag(p)) = &mut e.step else {
        return Gate::Go(None);
    };
    let Some(answer) = answer else {
        p.text = chosen.to_string();
        p.error = None;
        p.checking = Some(image.normalized());
        if !asks.is_empty() {
            app.effects.push(Effect::CheckImages(asks));
        }
        app.notice = Some(format!(
            "asking {} about {}…",
            image.registry(),
            image.written()
        ));
        return Gate::Stop;
    };
    p.checking = None;
    let said = answer.sentence(image.written(), &platforms);
    if answer.refuses(&platforms) {
        p.error = Some(said);
        app.notice = None;
        return Gate::Stop;
    }
    Gate::Go(Some(said))
}

/// An answer came in: a picker waiting for it goes on, a preview is sized again.
pub fn checked(app: &mut App, image: &ImageRef) {
    let Some(e) = app.edit.as_ref() else { return };
    match &e.step {
        Step::Add(p) | Step::Tag(p) if p.checking.as_deref() == Some(&image.normalized()) => {
            let text = p.text.clone();
            if let Some(Step::Add(p) | Step::Tag(p)) = app.edit.as_mut().map(|e| &mut e.step) {
                p.checking = None;
            }
            app.notice = None;
            super::keys::accept(app, text);
        }
        Step::Preview(_) => size_preview(app),
        Step::List if e.pinning.as_deref() == Some(&image.normalized()) => pin(app, image),
        _ => {}
    }
}

/// `@`: pins the selected image to the digest its tag names in the registry now (asked if
/// not known yet); without an answer, to the digest most of the pool's nodes hold.
pub(super) fn pin(app: &mut App, image: &ImageRef) {
    let Some(e) = app.edit.as_ref() else { return };
    // The pool's nodes, or for a pool not in the cluster yet those it would cover.
    let nodes = super::open::nodes_of(app, &e.drafted());
    let held = edit::majority_digest(&app.snapshot.nodes, &nodes, image);
    let answer = app.registries.answer_any(image).cloned();
    if answer.is_none() && app.registries.off.is_none() {
        let platforms = platforms(app, &e.drafted());
        if !app.registries.asking(image, &platforms) {
            let asks = app
                .registries
                .to_ask(std::slice::from_ref(image), &platforms);
            app.effects.push(Effect::CheckImages(asks));
        }
        if let Some(e) = app.edit.as_mut() {
            e.pinning = Some(image.normalized());
        }
        app.notice = Some(format!(
            "asking {} which digest {} names now…",
            image.registry(),
            image.written()
        ));
        return;
    }
    let Some(e) = app.edit.as_mut() else { return };
    e.pinning = None;
    // Where the image is now (the selection may have moved while the registry answered).
    let Some(at) = e.draft.images.iter().position(|i| i == image) else {
        return;
    };
    let holding = |digest: &str| -> String {
        match &held {
            Some(h) if h.digest == digest => format!(
                "{} of the {} nodes that hold {} have it",
                h.count,
                h.holding,
                image.written()
            ),
            Some(h) => format!(
                "none of the {} nodes that hold {} has it yet: they pull it when the change rolls out",
                h.holding,
                image.written()
            ),
            None => "no node of the pool holds it yet".into(),
        }
    };
    app.notice = Some(match (answer, &held) {
        (Some(crate::core::registry::Answer::Found(f)), _) => match e.draft.pin(at, &f.digest) {
            Ok(()) => format!(
                "pinned to {}, what {} names {} now ({})",
                f.digest,
                f.registry,
                image.written(),
                holding(&f.digest)
            ),
            Err(why) => why,
        },
        (other, Some(h)) => {
            let why = match other {
                Some(a) => format!("; {} did not say ({})", image.registry(), a.short(None)),
                None => String::new(),
            };
            match e.draft.pin(at, &h.digest) {
                Ok(()) => format!(
                    "pinned to {}, the digest most of the pool's nodes hold ({}){why}",
                    h.digest,
                    holding(&h.digest)
                ),
                Err(why) => why,
            }
        }
        (Some(a), None) => format!(
            "{}: nothing to pin it to",
            a.sentence(image.written(), &[]).trim_end_matches('.')
        ),
        (None, None) => format!(
            "no node of the pool holds {} yet and the registry is not asked: nothing to pin it to",
            image.written()
        ),
    });
}

/// The images of the draft whose registries are to be asked before the preview.
pub(super) fn ask_for_preview(app: &mut App) {
    let Some(e) = app.edit.as_ref() else { return };
    let pool = e.drafted();
    let platforms = platforms(app, &pool);
    let asks = app.registries.to_ask(&pool.images, &platforms);
    if !asks.is_empty() {
        app.effects.push(Effect::CheckImages(asks));
    }
}

/// The preview's pulls from the snapshot, the catalog, the registries' answers and the free
/// space read; and what the registries said that the operator must know.
pub(super) fn size_preview(app: &mut App) {
    let Some(e) = app.edit.as_ref() else { return };
    let pool = e.drafted();
    let nodes = super::open::nodes_of(app, &pool);
    let platforms = platforms(app, &pool);
    let rates = Rates::from_overview(&app.overview);
    let found = app.registries.found(&pool.images, &platforms);
    let mut answers = Vec::new();
    let mut checking = 0;
    for image in &pool.images {
        match app.registries.answer(image, &platforms) {
            Some(a) => answers.push((image.clone(), platforms.clone(), a.clone())),
            None => checking += usize::from(app.registries.asking(image, &platforms)),
        }
    }
    let pools = vec![format!("pool {}", pool.name); answers.len()];
    let (refusals, unchecked) = crate::commands::images::judge(&answers, &pools);
    let snapshot = &app.snapshot;
    let Some(e) = app.edit.as_mut() else { return };
    let Step::Preview(p) = &mut e.step else {
        return;
    };
    p.pulls = edit::pulls(
        snapshot,
        &nodes,
        &e.draft.images,
        &e.catalog,
        &found,
        &rates,
        &p.free,
    );
    p.refusals = refusals;
    p.unchecked = unchecked;
    p.checking = checking;
}

/// Applying a preview with an image that cannot be pulled: refused, saying which.
pub(super) fn refusal(p: &Preview) -> Option<String> {
    let first = p.refusals.first()?;
    Some(format!(
        "not applied: {first} Remove it (d) or pick another tag (t) first."
    ))
}
