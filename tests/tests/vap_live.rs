//! The webhook-less tier: `deploy/validating-admission-policy.yaml` in a real kube-apiserver,
//! judging every `review` vector of `tests/vectors/` replayed as a real write.
//!
//! For each vector the old CStorPool is created (as admin, outside the policy's object selector),
//! then the vector's write is made through the real `kubectl` as the vector's user, impersonated
//! with its username, groups and extra (so `authentication.kubernetes.io/pod-name` reaches the
//! policy exactly as a pod-bound token carries it). Each write is made twice, against two bindings
//! of the shipped policy: one with the shipped settings (what it cannot judge is allowed, for the
//! webhook to decide) and one with `whenValueUnreadable` and `whenHolderPhaseNeeded` at `deny`. A
//! write allowed by the first and denied by the second is one the policy does not decide; any other
//! answer is the policy's decision, and must be the core's for every state the holder pod could
//! be in. A token from the real TokenRequest API, bound to a real pod, is checked as well. Runs
//! only with `CSPLEASE_LIVE=1`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use csplease_tests::cluster::{self, TestCluster};
use csplease_tests::fixture::{Csp, LEASE_KEY, Pods, lease, lease_of, namespace, unique};
use csplease_tests::vectors::{self, Case};
use serde::Deserialize as _;
use serde_json::{Map, Value, json};

/// The label the test bindings select their CStorPools by.
const SELECTOR_LABEL: &str = "csplease.openebs.io/vap-test";
/// The group every impersonated writer is also given: it holds the RBAC to write CStorPools, and
/// is no break-glass group, so it changes no decision.
const WRITER_ROLE: &str = "csplease-vap-writer";
/// The user a vector without a username writes as (impersonation needs one).
const NO_USERNAME: &str = "csplease-vap-nobody";
/// Every state a holder pod can be reported in (SPEC section 3).
const POD_STATES: [&str; 7] = ["Running", "Pending", "Succeeded", "Failed", "Unknown", "NotFound", "LookupFailed"];

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

/// The documents of `deploy/validating-admission-policy.yaml`, by kind.
fn shipped(kind: &str) -> Value {
    let path = cluster::deploy_dir().join("validating-admission-policy.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/validating-admission-policy.yaml is readable");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("the manifest is YAML"))
        .find(|doc| doc["kind"] == kind)
        .unwrap_or_else(|| panic!("deploy/validating-admission-policy.yaml has no {kind}"))
}

/// The shipped policy installed under a name of this test process, with its RBAC for the
/// impersonated writers; removed again when dropped.
struct Installed {
    cluster: &'static TestCluster,
    policy: String,
    namespace: String,
    writers: String,
    bindings: Vec<String>,
    dir: PathBuf,
    /// The admin kubeconfig, as JSON: the base of every impersonating one.
    admin: Value,
}

/// One binding of the policy: its settings, and the label value its CStorPools carry.
struct Binding {
    name: String,
    selector: String,
    strict: bool,
}

impl Installed {
    fn new(cluster: &'static TestCluster) -> Installed {
        let policy = unique("csplease-lease-policy");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&policy);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let mut vap = shipped("ValidatingAdmissionPolicy");
        vap["metadata"]["name"] = json!(policy);
        cluster.apply(&vap);
        let writers = unique(WRITER_ROLE);
        cluster.apply(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": writers},
            "rules": [{"apiGroups": ["openebs.io"], "resources": ["cstorpools"],
                       "verbs": ["get", "create", "update", "patch", "delete"]}]}));
        cluster.apply(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": writers},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": writers},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": writers}]}));
        let namespace = namespace(cluster, "vap");
        let admin = cluster.kubectl_ok(&["config", "view", "--minify", "--raw", "-o", "json"], None);
        let admin = serde_json::from_str(&admin).expect("kubeconfig JSON");
        Installed { cluster, policy, namespace, writers, bindings: Vec::new(), dir, admin }
    }

    /// Binds the policy to CStorPools labelled with a new selector, with the shipped settings but
    /// `groups` as the break-glass groups (when given) and, when `strict`, both "cannot decide"
    /// settings at `deny`; waits until the API server enforces it.
    fn bind(&mut self, groups: Option<&[String]>, strict: bool) -> Binding {
        let name = unique(&self.policy);
        let mut settings = shipped("ConfigMap");
        settings["metadata"] = json!({"name": name, "namespace": self.namespace});
        if let Some(groups) = groups {
            settings["data"]["breakGlassGroups"] = json!(groups.join(","));
        }
        if strict {
            settings["data"]["whenValueUnreadable"] = json!("deny");
            settings["data"]["whenHolderPhaseNeeded"] = json!("deny");
        }
        self.cluster.apply(&settings);
        let mut binding = shipped("ValidatingAdmissionPolicyBinding");
        binding["metadata"]["name"] = json!(name);
        binding["spec"]["policyName"] = json!(self.policy);
        binding["spec"]["paramRef"]["name"] = json!(name);
        binding["spec"]["paramRef"]["namespace"] = json!(self.namespace);
        binding["spec"]["matchResources"] = json!({"objectSelector": {"matchLabels": {SELECTOR_LABEL: name}}});
        self.cluster.apply(&binding);
        self.bindings.push(name.clone());
        let binding = Binding { selector: name.clone(), name, strict };
        self.wait_enforced(&binding);
        binding
    }

    /// Waits until a value that is not a lease is refused on a CStorPool of `binding` (rule 2
    /// refuses it for everyone): the policy is loaded, and the binding and its settings seen. Each try creates a new
    /// CStorPool, so a try the policy did not yet judge leaves nothing to undo.
    fn wait_enforced(&self, binding: &Binding) {
        let started = Instant::now();
        loop {
            let probe = unique("csp-vap-probe");
            let object = json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                "metadata": {"name": probe, "labels": {SELECTOR_LABEL: binding.selector},
                             "annotations": {LEASE_KEY: "not a lease"}}});
            let path = self.dir.join(format!("{probe}.json"));
            std::fs::write(&path, object.to_string()).expect("write the probe");
            let out = run(self.cluster.kubectl_admin().arg("create").arg("-f").arg(&path));
            // Refused by the policy's own rule; until the API server sees the binding's ConfigMap it
            // refuses with "no params found" instead.
            if matches!(verdict(&out, self, binding), Some(Verdict::Denied(m)) if m.starts_with("csplease lease policy: "))
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "binding {} was not enforced within 120 s: {}; policy status: {}",
                binding.name,
                stderr(&out),
                self.cluster.kubectl_ok(&["get", "validatingadmissionpolicy", &self.policy, "-o", "json"], None)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `kubectl` as admin impersonating `user` (with the writers' group added).
    fn kubectl_as(&self, user: &User) -> Command {
        let mut config = self.admin.clone();
        let mut groups = user.groups.clone();
        groups.push(self.writers.clone());
        let entry = &mut config["users"][0]["user"];
        entry["as"] = json!(user.username);
        entry["as-groups"] = json!(groups);
        if !user.extra.is_empty() {
            entry["as-user-extra"] = Value::Object(user.extra.clone());
        }
        let path = self.dir.join(format!("{}.kubeconfig", unique("as")));
        std::fs::write(&path, config.to_string()).expect("write the kubeconfig");
        cluster::kubectl(&path)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let delete = |args: &[&str]| {
            let _ = self.cluster.kubectl_admin().args(["delete", "--ignore-not-found"]).args(args).output();
        };
        for binding in &self.bindings {
            delete(&["validatingadmissionpolicybinding", binding]);
        }
        delete(&["validatingadmissionpolicy", &self.policy]);
        delete(&["clusterrolebinding", &self.writers]);
        delete(&["clusterrole", &self.writers]);
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("kubectl runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What the policy answered a write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Allowed,
    /// Denied by this binding, with the policy's message.
    Denied(String),
}

/// The policy's answer to the write that gave `out`; `None` when it failed for another reason.
fn verdict(out: &Output, installed: &Installed, binding: &Binding) -> Option<Verdict> {
    if out.status.success() {
        return Some(Verdict::Allowed);
    }
    let text = stderr(out);
    let by =
        format!("ValidatingAdmissionPolicy '{}' with binding '{}' denied request: ", installed.policy, binding.name);
    text.split_once(&by).map(|(_, message)| Verdict::Denied(message.trim_end().to_owned()))
}

/// A requester, as the API server will see it.
#[derive(Debug, Clone)]
struct User {
    username: String,
    groups: Vec<String>,
    extra: Map<String, Value>,
}

/// One review vector as the nearest real write.
#[derive(Debug)]
struct Replay {
    operation: String,
    /// The lease before (UPDATE, DELETE), `None` when absent.
    old: Option<String>,
    /// The lease written (CREATE, UPDATE), `None` when absent.
    new: Option<String>,
    user: User,
    /// The break-glass groups the vector configures (`None`: the default).
    break_glass: Option<Vec<String>>,
    holder_pod: Option<Value>,
    /// Whether the write differs from the vector's request (its user or settings could not be
    /// expressed exactly).
    nearest: bool,
}

/// The lease value of an object of the vector's request (`None` when absent or not a string).
fn lease_in(object: Option<&Value>, key: &str) -> Option<String> {
    object?.get("metadata")?.get("annotations")?.get(key)?.as_str().map(str::to_owned)
}

/// The nearest real write for `case`, or why there is none.
fn replay_of(case: &Case) -> Result<Replay, String> {
    let document: Value = serde_json::from_slice(&case.request).map_err(|_| "not a JSON request".to_owned())?;
    let request = document.get("request").filter(|r| r.is_object()).ok_or("no AdmissionRequest")?;
    let key = document.get("leaseKey").and_then(Value::as_str).unwrap_or(LEASE_KEY);
    if key != LEASE_KEY {
        return Err(format!("lease key {key}: the policy ships for {LEASE_KEY}"));
    }
    let operation = request.get("operation").and_then(Value::as_str).unwrap_or_default().to_owned();
    let object = request.get("object").filter(|o| o.is_object());
    let old_object = request.get("oldObject").filter(|o| o.is_object());
    match operation.as_str() {
        "CREATE" if object.is_none() => return Err("a CREATE without an object".into()),
        "UPDATE" if object.is_none() || old_object.is_none() => return Err("an UPDATE without both objects".into()),
        "CREATE" | "UPDATE" | "DELETE" => {}
        other => return Err(format!("operation {other:?} is not a write to a CStorPool")),
    }
    let (user, user_exact) = user_of(request.get("userInfo"));
    let (break_glass, groups_exact) = match document.get("breakGlassGroups") {
        None | Some(Value::Null) => (None, true),
        Some(Value::Array(groups)) => {
            let strings: Vec<String> = groups.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            let exact = strings.len() == groups.len();
            (Some(strings), exact)
        }
        Some(_) => (Some(Vec::new()), false),
    };
    Ok(Replay {
        old: if operation == "CREATE" { None } else { lease_in(old_object, key) },
        new: if operation == "DELETE" { None } else { lease_in(object, key) },
        operation,
        user,
        break_glass,
        holder_pod: document.get("holderPod").cloned().filter(|p| !p.is_null()),
        nearest: !(user_exact && groups_exact),
    })
}

/// The user a real request carries for the vector's `userInfo`: string members kept, anything a
/// real request cannot carry dropped (and the answer marked as not exact).
fn user_of(info: Option<&Value>) -> (User, bool) {
    let empty = Map::new();
    let info = match info {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(info)) => info,
        Some(_) => {
            return (User { username: NO_USERNAME.into(), groups: Vec::new(), extra: Map::new() }, false);
        }
    };
    let mut exact = true;
    let username = match info.get("username") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        None | Some(Value::Null) => NO_USERNAME.into(),
        Some(_) => {
            exact = false;
            NO_USERNAME.into()
        }
    };
    let mut groups = Vec::new();
    if let Some(list) = info.get("groups").and_then(Value::as_array) {
        for group in list {
            match group.as_str() {
                Some(group) => groups.push(group.to_owned()),
                None => exact = false,
            }
        }
    }
    let mut extra = Map::new();
    if let Some(map) = info.get("extra").and_then(Value::as_object) {
        for (key, values) in map {
            match values {
                Value::Array(list) if list.iter().all(Value::is_string) => {
                    extra.insert(key.clone(), values.clone());
                }
                Value::Null => {}
                _ => exact = false,
            }
        }
    }
    (User { username, groups, extra }, exact)
}

/// What the core decides for the replayed write: the set of `allowed` (true) / not allowed
/// (false) over every state the holder pod could be in (one answer when the vector supplies the
/// state, or none is needed).
fn core_outcomes(replay: &Replay, writers: &str) -> BTreeSet<bool> {
    let object = |lease: &Option<String>| match lease {
        Some(value) => json!({"metadata": {"name": "csp", "annotations": {LEASE_KEY: value}}}),
        None => json!({"metadata": {"name": "csp"}}),
    };
    let mut groups = replay.user.groups.clone();
    groups.extend(["system:authenticated".to_owned(), writers.to_owned()]);
    let mut request = json!({"uid": "replay", "operation": replay.operation,
        "userInfo": {"username": replay.user.username, "groups": groups, "extra": replay.user.extra}});
    if replay.operation != "CREATE" {
        request["oldObject"] = object(&replay.old);
    }
    if replay.operation != "DELETE" {
        request["object"] = object(&replay.new);
    }
    let mut document = json!({"action": "review", "request": request});
    if let Some(groups) = &replay.break_glass {
        document["breakGlassGroups"] = json!(groups);
    }
    let decide = |document: &Value| -> Value {
        let bytes = serde_json::to_vec(document).expect("serialisable");
        serde_json::from_slice(&lease_logic::evaluate_json(&bytes)).expect("a decision document")
    };
    if let Some(pod) = &replay.holder_pod {
        document["holderPod"] = pod.clone();
    }
    let first = decide(&document);
    if first["outcome"] != "needHolderStatus" {
        return BTreeSet::from([first["outcome"] == "allowed"]);
    }
    let pod = format!(
        "{}/{}",
        first["lookup"]["namespace"].as_str().unwrap_or_default(),
        first["lookup"]["name"].as_str().unwrap_or_default()
    );
    POD_STATES
        .iter()
        .map(|state| {
            document["holderPod"] = json!({"pod": pod, "state": state});
            let decision = decide(&document);
            assert_ne!(decision["outcome"], "needHolderStatus", "the core asks twice: {decision}");
            decision["outcome"] == "allowed"
        })
        .collect()
}

/// Makes `replay`'s write to a CStorPool of `binding` and returns the policy's answer.
fn write(installed: &Installed, binding: &Binding, replay: &Replay) -> Verdict {
    let cluster = installed.cluster;
    let name = unique("csp-vap");
    let mut kubectl = installed.kubectl_as(&replay.user);
    let labels = json!({SELECTOR_LABEL: binding.selector});
    match replay.operation.as_str() {
        "CREATE" => {
            let mut metadata = json!({"name": name, "labels": labels});
            if let Some(new) = &replay.new {
                metadata["annotations"] = json!({LEASE_KEY: new});
            }
            let object = json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata,
                "spec": {"poolSpec": {"poolType": "striped"}}});
            let path = installed.dir.join(format!("{name}.json"));
            std::fs::write(&path, object.to_string()).expect("write the object");
            kubectl.args(["create", "-f"]).arg(&path);
        }
        operation => {
            // The old object, outside every binding's selector: the policy does not judge it.
            match &replay.old {
                Some(old) => Csp::named(&name).lease(old),
                None => Csp::named(&name),
            }
            .create(cluster);
            if operation == "DELETE" {
                let label = format!("{SELECTOR_LABEL}={}", binding.selector);
                cluster.kubectl_ok(&["label", "csp", &name, &label], None);
                kubectl.args(["delete", "csp", &name]);
            } else {
                let patch = json!({"metadata": {"labels": labels, "annotations": {LEASE_KEY: replay.new}}});
                kubectl.args(["patch", "csp", &name, "--type=merge", "-p", &patch.to_string()]);
            }
        }
    }
    let out = run(&mut kubectl);
    verdict(&out, installed, binding)
        .unwrap_or_else(|| panic!("the write failed for another reason than the policy: {}", stderr(&out)))
}

/// How the policy fared on one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agreement {
    Agree,
    /// Allowed with the shipped settings, denied when told to deny what it cannot decide.
    Undecided,
    Disagree,
}

#[test]
fn every_review_vector_replayed_as_a_real_write() {
    let Some(cluster) = live("every_review_vector_replayed_as_a_real_write") else {
        return;
    };
    let mut installed = Installed::new(cluster);
    let cases: Vec<Case> = vectors::load()
        .into_iter()
        .filter(|case| {
            serde_json::from_slice::<Value>(&case.request).is_ok_and(|r| r.get("action") == Some(&json!("review")))
        })
        .collect();
    assert!(cases.len() >= 50, "only {} review vectors", cases.len());

    let mut replays = Vec::new();
    let mut no_write = Vec::new();
    for case in &cases {
        match replay_of(case) {
            Ok(replay) => replays.push((case, replay)),
            Err(why) => no_write.push(format!("{}: {why}", case.name)),
        }
    }
    // One pair of bindings (shipped settings, and strict) per set of break-glass groups in use.
    let group_sets: BTreeSet<Option<Vec<String>>> = replays.iter().map(|(_, r)| r.break_glass.clone()).collect();
    let mut bindings = Vec::new();
    for groups in &group_sets {
        for strict in [false, true] {
            bindings.push((groups.clone(), installed.bind(groups.as_deref(), strict)));
        }
    }
    let binding_for = |groups: &Option<Vec<String>>, strict: bool| {
        bindings.iter().find(|(g, b)| g == groups && b.strict == strict).map(|(_, b)| b).expect("a binding")
    };

    let mut rows = Vec::new();
    let mut counts = [0usize; 3];
    let (mut exact, mut nearest) = (0, 0);
    let mut undecided_value = 0;
    let mut failures = Vec::new();
    for (case, replay) in &replays {
        if replay.nearest {
            nearest += 1;
        } else {
            exact += 1;
        }
        let shipped = write(&installed, binding_for(&replay.break_glass, false), replay);
        let strict = write(&installed, binding_for(&replay.break_glass, true), replay);
        let core = core_outcomes(replay, &installed.writers);
        let agreement = match (&shipped, &strict) {
            (Verdict::Allowed, Verdict::Denied(message)) => {
                if message.contains("whenValueUnreadable") {
                    undecided_value += 1;
                }
                Agreement::Undecided
            }
            (Verdict::Allowed, Verdict::Allowed) if core == BTreeSet::from([true]) => Agreement::Agree,
            (Verdict::Denied(_), Verdict::Denied(_)) if core == BTreeSet::from([false]) => Agreement::Agree,
            _ => Agreement::Disagree,
        };
        counts[agreement as usize] += 1;
        let core_text = match core.iter().copied().collect::<Vec<_>>().as_slice() {
            [true] => "allowed",
            [false] => "denied",
            _ => "depends on the holder's phase",
        };
        let policy_text = match (&shipped, agreement) {
            (_, Agreement::Undecided) => "undecided (allowed, left to the webhook)".to_owned(),
            (Verdict::Allowed, _) => "allowed".to_owned(),
            (Verdict::Denied(message), _) => format!("denied: {message}"),
        };
        if agreement == Agreement::Disagree {
            failures.push(format!("{}: core {core_text}, policy {shipped:?} / strict {strict:?}", case.name));
        }
        rows.push(format!(
            "  {:<9} {:<30} {}{}",
            format!("{agreement:?}").to_lowercase(),
            core_text,
            case.name,
            if replay.nearest { " (nearest write)" } else { "" }
        ));
        rows.push(format!("            policy: {policy_text}"));
    }
    let mut report = std::io::stderr().lock();
    let _ = writeln!(report, "ValidatingAdmissionPolicy against the core, per review vector:\n{}", rows.join("\n"));
    for why in &no_write {
        let _ = writeln!(report, "  no write  {why}");
    }
    let _ = writeln!(
        report,
        "{} review vectors: {} replayed ({exact} exactly, {nearest} as the nearest real write), {} not a write \
         the API server makes\nagree {} | policy-undecided {} ({undecided_value} unreadable value, {} holder phase) \
         | disagree {}",
        cases.len(),
        replays.len(),
        no_write.len(),
        counts[0],
        counts[1],
        counts[1] - undecided_value,
        counts[2]
    );
    assert!(failures.is_empty(), "the policy disagrees with the core:\n{}", failures.join("\n"));
    assert!(counts[0] >= 30, "the policy decides too little: {counts:?}");
}

#[test]
fn a_real_pod_bound_token_may_write_only_its_own_pod() {
    let Some(cluster) = live("a_real_pod_bound_token_may_write_only_its_own_pod") else {
        return;
    };
    let mut installed = Installed::new(cluster);
    let binding = installed.bind(None, false);
    let ns = namespace(cluster, "vap-token");
    cluster.kubectl_ok(&["-n", &ns, "create", "serviceaccount", "pool"], None);
    let role_binding = unique("csplease-vap-pool");
    cluster.kubectl_ok(
        &[
            "create",
            "clusterrolebinding",
            &role_binding,
            &format!("--clusterrole={}", installed.writers),
            &format!("--serviceaccount={ns}:pool"),
        ],
        None,
    );
    Pods::new(&ns, &["pool-a", "pool-b"]).service_account("pool").create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let token = cluster.kubectl_ok(
        &["-n", &ns, "create", "token", "pool", "--bound-object-kind", "Pod", "--bound-object-name", "pool-a"],
        None,
    );
    let kubeconfig = cluster.token_kubeconfig(&installed.dir, token.trim());
    let annotate = |csp: &str, value: &str| {
        run(cluster::kubectl(&kubeconfig).args([
            "annotate",
            "--overwrite",
            "csp",
            csp,
            &format!("{LEASE_KEY}={value}"),
        ]))
    };
    let csp = |lease: &str| {
        let name = unique("csp-vap-token");
        Csp::named(&name).lease(lease).create(cluster);
        cluster.kubectl_ok(&["label", "csp", &name, &format!("{SELECTOR_LABEL}={}", binding.selector)], None);
        name
    };

    // pool-a may not write pool-b as the holder, whatever the counter ...
    let released = csp(&lease_of("", 4));
    let out = annotate(&released, &lease_of(&b, 5));
    match verdict(&out, &installed, &binding) {
        Some(Verdict::Denied(message)) => {
            assert!(message.contains(&format!("pod {a} may write only itself")), "{message}")
        }
        other => panic!("pool-a wrote pool-b as the holder: {other:?} {}", stderr(&out)),
    }
    // ... takes the released lease for itself with the next counter, and not with another ...
    let out = annotate(&released, &lease_of(&a, 9));
    assert!(matches!(verdict(&out, &installed, &binding), Some(Verdict::Denied(_))), "{}", stderr(&out));
    let out = annotate(&released, &lease_of(&a, 5));
    assert_eq!(verdict(&out, &installed, &binding), Some(Verdict::Allowed), "{}", stderr(&out));
    assert_eq!(lease(cluster, &released), Some(lease_of(&a, 5)));
    // ... and releases it keeping the counter.
    let out = annotate(&released, &lease_of("", 5));
    assert_eq!(verdict(&out, &installed, &binding), Some(Verdict::Allowed), "{}", stderr(&out));
    // pool-b's lease: releasing it, or taking it with the next counter, needs pool-b's phase,
    // which the policy cannot see: it leaves both to the webhook.
    let held = csp(&lease_of(&b, 2));
    let out = annotate(&held, &lease_of(&a, 3));
    assert_eq!(verdict(&out, &installed, &binding), Some(Verdict::Allowed), "{}", stderr(&out));
    cluster.kubectl_ok(&["delete", "clusterrolebinding", &role_binding], None);
}

#[test]
fn the_shipped_manifest_is_accepted_by_the_api_server() {
    let Some(cluster) = live("the_shipped_manifest_is_accepted_by_the_api_server") else {
        return;
    };
    // Its namespace must exist for a server-side dry run of the ConfigMap; nothing is created.
    let _ = cluster.create_namespace("csplease");
    let manifest = cluster::deploy_dir().join("validating-admission-policy.yaml");
    let out = cluster.kubectl_ok(&["apply", "--dry-run=server", "-f", manifest.to_str().expect("a UTF-8 path")], None);
    for kind in [
        "configmap/csplease-lease-policy",
        "validatingadmissionpolicy.admissionregistration.k8s.io/csplease-lease-policy",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/csplease-lease-policy",
    ] {
        assert!(out.contains(&format!("{kind} created (server dry run)")), "{kind} missing from\n{out}");
    }
}

#[test]
fn a_value_over_the_cel_cost_budget_is_refused() {
    let Some(cluster) = live("a_value_over_the_cel_cost_budget_is_refused") else {
        return;
    };
    let mut installed = Installed::new(cluster);
    let binding = installed.bind(None, false);
    // A released lease with a padding member, written by a break-glass admin: read and allowed
    // at 64 KiB; at 128 KiB reading it costs more than CEL's budget, and failurePolicy Fail
    // refuses it.
    let write = |kib: usize| {
        let name = unique("csp-vap-large");
        Csp::named(&name).create(cluster);
        let value = format!(r#"{{"holder":"","leaderTransition":0,"pad":"{}"}}"#, "x".repeat(kib * 1024));
        let labels = json!({SELECTOR_LABEL: binding.selector});
        let patch = json!({"metadata": {"labels": labels, "annotations": {LEASE_KEY: value}}});
        let path = installed.dir.join(format!("{name}.patch.json"));
        std::fs::write(&path, patch.to_string()).expect("write the patch");
        let out = run(cluster.kubectl_admin().args(["patch", "csp", &name, "--type=merge", "--patch-file"]).arg(&path));
        verdict(&out, &installed, &binding).unwrap_or_else(|| panic!("{kib} KiB: {}", stderr(&out)))
    };
    assert_eq!(write(64), Verdict::Allowed);
    match write(128) {
        Verdict::Denied(message) => assert!(message.contains("cost"), "{message}"),
        Verdict::Allowed => panic!("a 128 KiB value was read within CEL's cost budget"),
    }
}

#[test]
fn the_plugin_works_under_the_policy() {
    let Some(cluster) = live("the_plugin_works_under_the_policy") else {
        return;
    };
    let mut installed = Installed::new(cluster);
    let shipped = installed.bind(None, false);
    let strict = installed.bind(None, true);
    let ns = namespace(cluster, "vap-plugin");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let csp = |binding: &Binding| {
        let name = unique("csp-vap-plugin");
        Csp::named(&name).create(cluster);
        cluster.kubectl_ok(&["label", "csp", &name, &format!("{SELECTOR_LABEL}={}", binding.selector)], None);
        name
    };
    let plugin = |args: &[&str]| {
        run(&mut csplease_tests::plugin::through_kubectl(cluster.kubectl(cluster::Identity::Restricted), args))
    };

    // As shipped: hold, a takeover from a failed holder and a release pass unchanged.
    let name = csp(&shipped);
    let out = plugin(&["hold", &name, "--holder", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    csplease_tests::fixture::set_phase(cluster, &ns, "pool-a", "Failed");
    let out = plugin(&["hold", &name, "--holder", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)));
    let out = plugin(&["release", &name, "--holder", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of("", 2)));

    // Strict: the same takeover needs the holder's phase, so the policy refuses it, and the
    // plugin says who refused; nothing is written.
    let name = csp(&strict);
    let out = plugin(&["hold", &name, "--holder", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = plugin(&["hold", &name, "--holder", &b]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "a policy's refusal is a denial: {text}");
    assert!(text.contains("the cluster's admission policy refused"), "{text}");
    assert!(text.contains(&format!("ValidatingAdmissionPolicy '{}'", installed.policy)), "{text}");
    assert!(text.contains("whenHolderPhaseNeeded: deny"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)));
    eprintln!("plugin under the strict policy: exit {:?}: {text}", out.status.code());
}

#[test]
fn with_the_webhook_the_policy_refuses_first_and_the_webhook_decides_the_rest() {
    use csplease_tests::webhook::{self, Certs, DENIED_BY_WEBHOOK, Webhook};
    let Some(cluster) = live("with_the_webhook_the_policy_refuses_first_and_the_webhook_decides_the_rest") else {
        return;
    };
    let mut installed = Installed::new(cluster);
    let binding = installed.bind(None, false);
    let certs = Certs::generate(&installed.dir.join("certs"));
    let admin = cluster.admin_kubeconfig().to_str().expect("a UTF-8 path").to_owned();
    let server = Webhook::start(&certs, &["--kubeconfig", &admin, "--lookup-timeout-ms", "3000"]);
    let selector = unique("vap-and-webhook");
    let probe = unique("csp-webhook-probe");
    Csp::named(&probe).label(webhook::SELECTOR_LABEL, &selector).create(cluster);
    let config_name = unique("csplease-vap-webhook");
    let config = webhook::configuration(&config_name, &server.url(), &certs, &selector);
    if let Err(e) = webhook::register(cluster.admin_kubeconfig(), &config, &probe) {
        panic!("registering the webhook: {e}\nwebhook log:\n{}", server.log());
    }

    let ns = namespace(cluster, "vap-webhook");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-vap-webhook");
    Csp::named(&name).lease(&lease_of(&a, 3)).label(webhook::SELECTOR_LABEL, &selector).create(cluster);
    cluster.kubectl_ok(&["label", "csp", &name, &format!("{SELECTOR_LABEL}={}", binding.selector)], None);
    let annotate = |value: &str| {
        run(cluster.kubectl(cluster::Identity::Restricted).args([
            "annotate",
            "--overwrite",
            "csp",
            &name,
            &format!("{LEASE_KEY}={value}"),
        ]))
    };

    // A counter that skips: the policy refuses it.
    let out = annotate(&lease_of(&b, 9));
    assert!(matches!(verdict(&out, &installed, &binding), Some(Verdict::Denied(_))), "{}", stderr(&out));
    // A steal from the live pool-a with the right counter: the policy cannot tell, the webhook refuses.
    let out = annotate(&lease_of(&b, 4));
    assert!(stderr(&out).contains(DENIED_BY_WEBHOOK) && stderr(&out).contains(&a), "{}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 3)));
    // pool-a fails: the same write passes both.
    csplease_tests::fixture::set_phase(cluster, &ns, "pool-a", "Failed");
    let out = annotate(&lease_of(&b, 4));
    assert_eq!(verdict(&out, &installed, &binding), Some(Verdict::Allowed), "{}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 4)));
    let _ = cluster.kubectl_admin().args(["delete", "validatingwebhookconfiguration", &config_name]).output();
}
