use super::*;
use crate::resources::find;

fn ds() -> &'static Resource {
    find("apps", "v1", "daemonsets").unwrap()
}

fn config(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "p", "namespace": "kube-system", "labels": {"a": "b"}},
           "spec": {"template": {"spec": {"initContainers": [{"name": "preload-nginx", "image": image}]}}}})
}

#[test]
fn field_sets_round_trip_through_fields_v1() {
    let set = field_set(&config("nginx:1"), false);
    assert!(set.contains(&vec![
        "f:spec".to_string(),
        "f:template".into(),
        "f:spec".into(),
        "f:initContainers".into(),
        "k:{\"name\":\"preload-nginx\"}".into(),
        "f:image".into()
    ]));
    assert!(set.contains(&vec![
        "f:metadata".to_string(),
        "f:labels".into(),
        "f:a".into()
    ]));
    assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
}

#[test]
fn apply_conflicts_and_force() {
    let first = apply(None, &config("nginx:1"), "kpreload", false, ds()).unwrap();
    // Same manager changes its own field: fine.
    let second = apply(Some(&first), &config("nginx:2"), "kpreload", false, ds()).unwrap();
    assert_eq!(
        second["spec"]["template"]["spec"]["initContainers"][0]["image"],
        "nginx:2"
    );
    // Another manager sets it differently: conflict naming the owner and the field.
    let e = apply(Some(&second), &config("nginx:3"), "other", false, ds()).unwrap_err();
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kpreload\": .spec.template.spec.initContainers[name=\"preload-nginx\"].image"
    );
    // Agreeing on the value is no conflict: both own it.
    let shared = apply(Some(&second), &config("nginx:2"), "other", false, ds()).unwrap();
    assert_eq!(read_managed(&shared).len(), 2);
    // Force takes the field over.
    let forced = apply(Some(&second), &config("nginx:3"), "other", true, ds()).unwrap();
    let m = read_managed(&forced);
    let kp = m.iter().find(|e| e.manager == "kpreload").unwrap();
    assert!(!kp.fields.iter().any(|p| p.last().unwrap() == "f:image"));
}

#[test]
fn applying_less_removes_what_only_this_manager_set() {
    let mut two = config("nginx:1");
    two["spec"]["template"]["spec"]["initContainers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "preload-redis", "image": "redis:7"}));
    let live = apply(None, &two, "kpreload", false, ds()).unwrap();
    let after = apply(Some(&live), &config("nginx:1"), "kpreload", false, ds()).unwrap();
    let names: Vec<_> = after["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["preload-nginx"]);
}

#[test]
fn applying_the_same_thing_twice_changes_nothing() {
    let mut first = apply(None, &config("nginx:1"), "kpreload", false, ds()).unwrap();
    // Pretend a while has passed since.
    first["metadata"]["managedFields"][0]["time"] = json!("2020-01-01T00:00:00Z");
    let second = apply(Some(&first), &config("nginx:1"), "kpreload", false, ds()).unwrap();
    assert_eq!(first, second);
    let third = apply(Some(&first), &config("nginx:2"), "kpreload", false, ds()).unwrap();
    assert_ne!(
        third["metadata"]["managedFields"][0]["time"],
        "2020-01-01T00:00:00Z"
    );
}

#[test]
fn an_item_another_manager_changed_is_not_dropped() {
    let mut two = config("nginx:1");
    two["spec"]["template"]["spec"]["initContainers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "preload-redis", "image": "redis:7"}));
    let mut live = apply(None, &two, "kpreload", false, ds()).unwrap();
    let old = live.clone();
    live["spec"]["template"]["spec"]["initContainers"][1]["image"] = json!("redis:8");
    record_update(&mut live, Some(&old), "kubectl-edit", "Update", ds());
    let after = apply(Some(&live), &config("nginx:1"), "kpreload", false, ds()).unwrap();
    let images: Vec<_> = after["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        ["nginx:1", "redis:8"],
        "the other manager's change survives"
    );
}

#[test]
fn updates_take_ownership_of_changed_fields() {
    let mut live = apply(None, &config("nginx:1"), "kpreload", false, ds()).unwrap();
    let old = live.clone();
    live["spec"]["template"]["spec"]["initContainers"][0]["image"] = json!("nginx:9");
    record_update(&mut live, Some(&old), "kubectl-edit", "Update", ds());
    let m = read_managed(&live);
    let edit = m.iter().find(|e| e.manager == "kubectl-edit").unwrap();
    assert!(edit.fields.iter().any(|p| p.last().unwrap() == "f:image"));
    let kp = m.iter().find(|e| e.manager == "kpreload").unwrap();
    assert!(!kp.fields.iter().any(|p| p.last().unwrap() == "f:image"));
    // kpreload applying its old value now conflicts with kubectl-edit.
    let e = apply(Some(&live), &config("nginx:1"), "kpreload", false, ds()).unwrap_err();
    assert!(e.message.contains("conflict with \"kubectl-edit\""));
}

/// Another manager takes one field of a container (force), then gives it back by applying
/// without the container: the field goes, the container (still kpreload's) stays; and it
/// can take it again.
#[test]
fn a_field_taken_then_given_back_leaves_the_owners_list_item() {
    let mine = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "hold", "image": "busybox", "resources": {"requests": {"cpu": "5m"}}}]}}}});
    let take = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"template": {"metadata": {"annotations": {"rev": "1"}}, "spec": {"containers": [
            {"name": "hold", "resources": {"requests": {"cpu": "10m"}}}]}}}});
    let give_back = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"template": {"metadata": {"annotations": {"rev": "2"}}, "spec": {}}}});
    let first = apply(None, &mine, "kpreload", false, ds()).unwrap();
    let taken = apply(Some(&first), &take, "other", true, ds()).unwrap();
    let hold = &taken["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(hold["resources"]["requests"]["cpu"], "10m");
    assert_eq!(hold["image"], "busybox");
    let back = apply(Some(&taken), &give_back, "other", false, ds()).unwrap();
    let containers = &back["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "{back:#}");
    assert_eq!(containers[0]["image"], "busybox");
    assert!(
        containers[0]["resources"]["requests"]["cpu"].is_null(),
        "{back:#}"
    );
    assert_eq!(
        back["spec"]["template"]["metadata"]["annotations"]["rev"],
        "2"
    );
    // And it can take the field again: the container is still there, with the new value.
    let again = apply(Some(&back), &take, "other", true, ds()).unwrap();
    let containers = &again["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "{again:#}");
    assert_eq!(containers[0]["image"], "busybox", "{again:#}");
    assert_eq!(containers[0]["resources"]["requests"]["cpu"], "10m");
}
