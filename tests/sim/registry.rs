//! The registry client (`kpreload::registry`) against a real registry on loopback: an image
//! that exists, one that does not, a multi-platform index, a registry behind htpasswd basic
//! auth (no token service), and one that does not answer.

use kpreload::core::reference::ImageRef;
use kpreload::core::registry::{Answer, Platform};
use kpreload::registry::{Options, Registry};

use crate::local_registry::{self, PASSWORD};

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("a reference")
}

fn amd64() -> Platform {
    Platform::new("linux", "amd64")
}

fn arm64() -> Platform {
    Platform::new("linux", "arm64")
}

/// A client that reads no credentials but those of `dir` (none when it holds no config).
fn client(dir: &std::path::Path) -> Registry {
    Registry::new(Options {
        docker_config: Some(dir.to_path_buf()),
        ..Default::default()
    })
}

#[tokio::test]
async fn an_image_that_exists_is_found_with_its_digest_and_compressed_size_once() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let pushed = r.push("web/api", "1.1", 300_000);
    let registry = client(r.dir());
    let answer = registry.check(&image(&pushed.reference), &[amd64()]).await;
    let Answer::Found(found) = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(found.digest, pushed.digest);
    assert!(!found.index);
    assert_eq!(found.bytes_for(Some(&amd64())), Some(pushed.bytes[0].1));
    // Layer bytes plus the config: more than the layer alone, which is 300,000.
    assert!(pushed.bytes[0].1 > 300_000);
    assert!(!answer.refuses(&[amd64()]));
    // Asked again: from memory.
    let again = registry.check(&image(&pushed.reference), &[amd64()]).await;
    assert_eq!(again, answer);
    assert_eq!(registry.asked(), 1);
}

#[tokio::test]
async fn a_missing_tag_or_repository_is_refused_in_the_registrys_words() {
    // The CNCF distribution answers MANIFEST_UNKNOWN ("manifest unknown") for both; other
    // registries say NAME_UNKNOWN for a repository: either is passed on as said.
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    r.push("web/api", "1.1", 1000);
    let registry = client(r.dir());
    let tag = registry
        .check(&image(&format!("{}/web/api:9.9", r.host)), &[])
        .await;
    let Answer::Missing {
        words,
        registry: host,
    } = &tag
    else {
        panic!("{tag:?}")
    };
    assert_eq!(host, &r.host);
    assert_eq!(words, "manifest unknown");
    assert!(tag.refuses(&[]));
    let repo = registry
        .check(&image(&format!("{}/web/nothing:1.0", r.host)), &[])
        .await;
    let Answer::Missing { words, .. } = &repo else {
        panic!("{repo:?}")
    };
    assert_eq!(words, "manifest unknown");
    let said = repo.sentence("web/nothing:1.0", &[]);
    assert_eq!(
        said,
        format!(
            "web/nothing:1.0 does not exist: {} answered \"manifest unknown\". Check the name and the tag.",
            r.host
        )
    );
}

#[tokio::test]
async fn an_index_is_sized_per_node_platform_and_a_platform_it_lacks_refuses() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let pushed = r.push_index(
        "ml/torch",
        "2.4",
        &[("linux", "amd64", 200_000), ("linux", "arm64", 150_000)],
    );
    let registry = client(r.dir());
    let both = registry
        .check(&image(&pushed.reference), &[amd64(), arm64()])
        .await;
    let Answer::Found(found) = &both else {
        panic!("{both:?}")
    };
    assert!(found.index);
    assert_eq!(found.digest, pushed.digest, "the tag names the index");
    assert_eq!(found.bytes_for(Some(&amd64())), Some(pushed.bytes[0].1));
    assert_eq!(found.bytes_for(Some(&arm64())), Some(pushed.bytes[1].1));
    assert_ne!(pushed.bytes[0].1, pushed.bytes[1].1);
    let s390x = Platform::new("linux", "s390x");
    let lacking = registry
        .check(&image(&pushed.reference), &[amd64(), s390x.clone()])
        .await;
    assert!(lacking.refuses(&[amd64(), s390x.clone()]));
    let said = lacking.sentence("ml/torch:2.4", &[amd64(), s390x]);
    assert!(said.contains("no image for linux/s390x"), "{said}");
    assert!(said.contains("linux/amd64, linux/arm64"), "{said}");
}

#[tokio::test]
async fn a_registry_behind_basic_auth_wants_the_login_from_the_docker_config() {
    let Some(r) = local_registry::Registry::start_with_login() else {
        return;
    };
    let pushed = r.push("private/app", "3.0", 5000);
    let reference = image(&pushed.reference);

    // No config: the registry's 401 (a Basic challenge, no token service) is "unchecked".
    let anonymous = client(&r.dir().join("no-config"))
        .check(&reference, &[])
        .await;
    let Answer::Denied {
        credentials: None, ..
    } = &anonymous
    else {
        panic!("{anonymous:?}")
    };
    assert!(!anonymous.refuses(&[]) && anonymous.unchecked());
    let said = anonymous.sentence(&pushed.reference, &[]);
    assert!(said.contains(&format!("docker login {}", r.host)), "{said}");

    // The right login, as `docker login` writes it.
    let good = client(&r.docker_config(PASSWORD))
        .check(&reference, &[])
        .await;
    let Answer::Found(found) = &good else {
        panic!("{good:?}")
    };
    assert_eq!(found.digest, pushed.digest);

    // A wrong password: refused, naming where it came from — and never the password.
    let dir = r.docker_config("not-the-password");
    let bad = client(&dir).check(&reference, &[]).await;
    let Answer::Denied {
        credentials: Some(place),
        ..
    } = &bad
    else {
        panic!("{bad:?}")
    };
    assert_eq!(place, &dir.join("config.json").display().to_string());
    let said = bad.sentence(&pushed.reference, &[]);
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(!said.contains("not-the-password") && !format!("{bad:?}").contains("not-the-password"));
}

#[tokio::test]
async fn a_registry_that_does_not_answer_leaves_the_image_unchecked_in_one_sentence() {
    let host = local_registry::silent_host();
    let dir = tempfile::tempdir().expect("a directory");
    let answer = client(dir.path())
        .check(&image(&format!("{host}/web/api:1.0")), &[])
        .await;
    let Answer::Unreachable { why, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(why, "connection refused");
    assert!(!answer.refuses(&[]));
    assert_eq!(
        answer.sentence("web/api:1.0", &[]),
        format!(
            "{host} could not be reached (connection refused), so web/api:1.0 was not checked."
        )
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_unreachable_not_missing() {
    let dir = tempfile::tempdir().expect("a directory");
    let answer = client(dir.path())
        .check(&image("registry.invalid/web/api:1.0"), &[])
        .await;
    let Answer::Unreachable { why, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(why, "its name does not resolve");
}
