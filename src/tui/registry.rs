//! What the images' registries answered in this session, and what is being asked: the
//! editor asks before it adds an image, and the preview for every image of the draft. The
//! loop does the asking (`Effect::CheckImages`, one task per image, the client's own limit
//! of a few at once); drawing only reads what is here.

use std::collections::{HashMap, HashSet};

use crate::core::reference::ImageRef;
use crate::core::registry::{Answer, Found, Platform};
use crate::registry::key;

/// What the registries name the tags now: (registry host, digest) by normalised reference.
pub type Digests = HashMap<String, (String, String)>;

#[derive(Debug)]
pub struct Registries {
    /// Why nothing is asked (`--no-registry`), if so.
    pub off: Option<String>,
    answers: HashMap<String, Answer>,
    asking: HashSet<String>,
}

impl Default for Registries {
    /// Off until the loop has a client to ask with (tests turn it on with [`Registries::on`]).
    fn default() -> Self {
        Registries {
            off: Some("the images' registries are not asked".into()),
            answers: HashMap::new(),
            asking: HashSet::new(),
        }
    }
}

impl Registries {
    pub fn off(why: &str) -> Registries {
        Registries {
            off: Some(why.to_string()),
            ..Default::default()
        }
    }

    pub fn on() -> Registries {
        Registries {
            off: None,
            ..Default::default()
        }
    }

    pub fn answer(&self, image: &ImageRef, platforms: &[Platform]) -> Option<&Answer> {
        self.answers.get(&key(image, platforms))
    }

    /// Any answer for `image`, asked for any platforms.
    pub fn answer_any(&self, image: &ImageRef) -> Option<&Answer> {
        let plain = image.normalized();
        let prefix = format!("{plain} ");
        self.answers
            .iter()
            .filter(|(k, _)| **k == plain || k.starts_with(&prefix))
            .map(|(_, a)| a)
            .max_by_key(|a| a.found().is_some())
    }

    /// The digest each answered tag names now, for the findings.
    pub fn digests(&self) -> Digests {
        self.answers
            .iter()
            .filter_map(|(k, a)| {
                let f = a.found()?;
                let image = k.split(' ').next()?.to_string();
                Some((image, (f.registry.clone(), f.digest.clone())))
            })
            .collect()
    }

    /// Whether an answer for `image` is awaited.
    pub fn asking(&self, image: &ImageRef, platforms: &[Platform]) -> bool {
        self.asking.contains(&key(image, platforms))
    }

    /// Of `images`, those to ask about now (not answered, not being asked), marked asked.
    pub fn to_ask(
        &mut self,
        images: &[ImageRef],
        platforms: &[Platform],
    ) -> Vec<(ImageRef, Vec<Platform>)> {
        if self.off.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for image in images {
            let k = key(image, platforms);
            if self.answers.contains_key(&k) || !self.asking.insert(k) {
                continue;
            }
            out.push((image.clone(), platforms.to_vec()));
        }
        out
    }

    pub fn answered(&mut self, image: &ImageRef, platforms: &[Platform], answer: Answer) {
        let k = key(image, platforms);
        self.asking.remove(&k);
        self.answers.insert(k, answer);
    }

    /// The loop stopped its tasks (a namespace switch): what was being asked is asked again
    /// when needed.
    pub fn forget_pending(&mut self) {
        self.asking.clear();
    }

    /// What the registries found of `images`, by normalised reference, for the preview's
    /// sizes.
    pub fn found(&self, images: &[ImageRef], platforms: &[Platform]) -> HashMap<String, Found> {
        images
            .iter()
            .filter_map(|i| {
                let f = self.answer(i, platforms)?.found()?;
                Some((i.normalized(), f.clone()))
            })
            .collect()
    }
}
