use super::*;

const D: &str = "sha256:1910d1835ca6b92ce1611f4115928a417e17d06b2ee89ce65aafda3070d044f9";

fn n(text: &str) -> String {
    ImageRef::parse(text).unwrap().normalized()
}

#[test]
fn docker_hub_names_are_completed() {
    assert_eq!(n("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(n("nginx:1.25"), "docker.io/library/nginx:1.25");
    assert_eq!(n("g1g1/py-kube"), "docker.io/g1g1/py-kube:latest");
    assert_eq!(
        n("index.docker.io/library/nginx:1"),
        "docker.io/library/nginx:1"
    );
    assert_eq!(
        ImageRef::parse("nginx").unwrap(),
        ImageRef::parse("docker.io/library/nginx:latest").unwrap()
    );
}

#[test]
fn registry_port_is_not_a_tag() {
    let a = ImageRef::parse("registry.local:5000/team/app:1.2").unwrap();
    assert_eq!(a.registry(), "registry.local:5000");
    assert_eq!(a.repository(), "team/app");
    assert_eq!(a.tag(), Some("1.2"));
    assert_eq!(a.name(), "registry.local:5000/team/app");
    let b = ImageRef::parse("registry.local:5000/other").unwrap();
    assert_eq!(b.tag(), Some("latest"));
    assert_ne!(a.name(), b.name());
    let local = ImageRef::parse("localhost/app:1").unwrap();
    assert_eq!(local.registry(), "localhost");
}

#[test]
fn digest_and_tag_plus_digest() {
    let d = ImageRef::parse(&format!("g1g1/py-kube@{D}")).unwrap();
    assert_eq!(d.tag(), None);
    assert_eq!(d.digest(), Some(D));
    assert_eq!(d.normalized(), format!("docker.io/g1g1/py-kube@{D}"));
    let both = ImageRef::parse(&format!("nginx:1.25@{D}")).unwrap();
    assert_eq!(both.tag(), Some("1.25"));
    assert_eq!(both.digest(), Some(D));
    assert_eq!(both.familiar(), format!("nginx:1.25@{D}"));
}

#[test]
fn image_ids_are_not_references() {
    let id = format!("sha256:{}", "ab".repeat(32));
    assert!(matches!(ImageName::parse(&id), Ok(ImageName::Id(_))));
    assert!(matches!(
        ImageName::parse(&format!("docker-pullable://nginx@{D}")),
        Ok(ImageName::Ref(_))
    ));
    assert!(ImageId::parse("sha256:abc").is_none());
}

#[test]
fn familiar_forms() {
    assert_eq!(
        ImageRef::parse("docker.io/library/nginx:1")
            .unwrap()
            .familiar(),
        "nginx:1"
    );
    assert_eq!(
        ImageRef::parse("g1g1/py-kube").unwrap().familiar(),
        "g1g1/py-kube:latest"
    );
    assert_eq!(
        ImageRef::parse("registry.k8s.io/pause:3.9")
            .unwrap()
            .familiar(),
        "registry.k8s.io/pause:3.9"
    );
    // Shortened only where the short form reads back as the same image (found by
    // fuzz/fuzz_targets/image_reference.rs: `docker.io/library/ndocker.ig/alpine` was
    // shortened to `ndocker.ig/alpine`, an image of the registry ndocker.ig).
    for (text, short) in [
        (
            "docker.io/library/ndocker.ig/alpine",
            "library/ndocker.ig/alpine:latest",
        ),
        ("docker.io/foo.com/x:1", "docker.io/foo.com/x:1"),
        ("docker.io/localhost/x:1", "docker.io/localhost/x:1"),
        ("docker.io/library/a/b:2", "library/a/b:2"),
        ("docker.io/foo.com:1", "foo.com:1"),
    ] {
        let r = ImageRef::parse(text).unwrap();
        assert_eq!(r.familiar(), short, "{text}");
        assert_eq!(ImageRef::parse(short).unwrap(), r, "{short}");
    }
    assert_eq!(
        ImageRef::parse("docker.io/foo.com/x")
            .unwrap()
            .familiar_name(),
        "docker.io/foo.com/x"
    );
}

#[test]
fn errors_name_the_problem() {
    use ReferenceError::*;
    assert_eq!(ImageRef::parse(""), Err(Empty));
    assert!(matches!(ImageRef::parse("Nginx:1"), Err(Uppercase(_))));
    assert!(matches!(
        ImageRef::parse("ghcr.io/Org/app"),
        Err(Uppercase(_))
    ));
    assert!(matches!(ImageRef::parse("nginx:"), Err(EmptyTag(_))));
    assert!(matches!(
        ImageRef::parse(&"0123456789abcdef".repeat(4)),
        Err(IdNotName(_))
    ));
    assert!(matches!(ImageRef::parse("nginx:-x"), Err(BadTag(_))));
    assert!(matches!(
        ImageRef::parse(&format!("nginx:{}", "a".repeat(129))),
        Err(BadTag(_))
    ));
    assert!(matches!(ImageRef::parse("nginx@"), Err(EmptyDigest(_))));
    assert!(matches!(
        ImageRef::parse("nginx@sha256:abcd"),
        Err(DigestLength {
            expected: 64,
            got: 4,
            ..
        })
    ));
    assert!(matches!(
        ImageRef::parse("nginx@md5:abcd"),
        Err(UnsupportedDigest(_))
    ));
    assert!(matches!(ImageRef::parse("nginx@sha256"), Err(BadDigest(_))));
    assert!(matches!(ImageRef::parse("nginx 1.25"), Err(Whitespace(_))));
    assert!(matches!(ImageRef::parse("-nginx"), Err(BadRepository(_))));
    assert!(matches!(ImageRef::parse("a//b"), Err(BadRepository(_))));
    assert!(matches!(ImageRef::parse(&"a".repeat(300)), Err(TooLong(_))));
    // 255 in all with Docker Hub's `docker.io/library/`, its registry: found by
    // fuzz/fuzz_targets/image_reference.rs, where a 245-character name was taken and
    // its full form refused.
    let fits = format!("a/{}", "b".repeat(255 - "docker.io/".len() - 2));
    assert_eq!(ImageRef::parse(&fits).unwrap().name().len(), 255);
    let over = format!("a/{}", "b".repeat(255 - "docker.io/".len() - 1));
    assert!(matches!(ImageRef::parse(&over), Err(TooLong(_))));
    assert_eq!(
        ImageRef::parse("Nginx").unwrap_err().to_string(),
        "the repository \"Nginx\" has uppercase letters; repository names must be lowercase"
    );
    // What was typed is quoted with its control characters escaped: the sentence stays
    // one line and writes nothing raw to the terminal (found by
    // fuzz/fuzz_targets/image_reference.rs).
    assert_eq!(
        ImageRef::parse("nginx:1.\n\0").unwrap_err().to_string(),
        "\"nginx:1.\\n\\0\" contains white space; an image reference has none"
    );
}

#[test]
fn uppercase_registry_host_is_allowed() {
    assert_eq!(
        ImageRef::parse("Registry.Example.com/app:1")
            .unwrap()
            .registry(),
        "Registry.Example.com"
    );
}
