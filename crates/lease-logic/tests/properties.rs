//! Properties of the core that hold for every input, checked on generated ones.

use json_patch::Patch as JsonPatch;
use lease_logic::{DEFAULT_LEASE_KEY, Op, Outcome, PodState, Reading, evaluate_json};
use proptest::prelude::*;
use serde_json::{Value, json};

const KEYS: [&str; 9] = ["action", "outcome", "reason", "before", "after", "annotation", "patch", "lookup", "live"];

/// A few pods, so that holders and claimants often coincide.
fn pod() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["openebs/pool-a", "openebs/pool-b", "openebs/pool-c", "other/pool-a"])
        .prop_map(str::to_owned)
}

fn state() -> impl Strategy<Value = PodState> {
    prop::sample::select(PodState::ALL.to_vec())
}

fn counter() -> impl Strategy<Value = i64> {
    prop_oneof![0..20i64, Just(i64::MAX), Just(i64::MAX - 1), Just(i64::MIN), -3..0i64]
}

/// Lease values of every kind: canonical, respelled, released, blank, unidentifiable, malformed.
fn lease_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (pod(), counter()).prop_map(|(h, n)| format!(r#"{{"holder":"{h}","leaderTransition":{n}}}"#)),
        1 => (pod(), counter()).prop_map(|(h, n)| format!(r#"{{ "LeaderTransition" : {n}, "HOLDER":"{h}", "x":[1e400] }}"#)),
        2 => (prop::sample::select(vec!["", " ", "\u{3000}"]), counter())
            .prop_map(|(h, n)| format!(r#"{{"holder":"{h}","leaderTransition":{n}}}"#)),
        1 => prop::sample::select(vec!["", "  ", "\t\n", "null", "{}"]).prop_map(str::to_owned),
        1 => (prop::sample::select(vec!["pool-a", "Openebs/x", "a/b/c", "<ns>/x", "ns/é"]), counter())
            .prop_map(|(h, n)| format!(r#"{{"holder":"{h}","leaderTransition":{n}}}"#)),
        1 => prop::sample::select(vec!["{x", "[]", "{\"holder\":1}", "{\"leaderTransition\":1.5}", "&", "é{"]).prop_map(str::to_owned),
    ]
}

/// A CStorPool with the lease in every place it can be (or not be).
fn object() -> impl Strategy<Value = Value> {
    let annotations = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        Just(Some(json!({"other": "x"}))),
        lease_value().prop_map(|v| Some(json!({"other": "x", DEFAULT_LEASE_KEY: v}))),
        lease_value().prop_map(|v| Some(json!({DEFAULT_LEASE_KEY: v}))),
    ];
    (annotations, prop::option::weighted(0.9, 1u32..100_000)).prop_map(|(annotations, rv)| {
        let mut metadata = json!({"name": "csp-1", "uid": "u-1"});
        if let Some(rv) = rv {
            metadata["resourceVersion"] = json!(rv.to_string());
        }
        if let Some(annotations) = annotations {
            metadata["annotations"] = annotations;
        }
        json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata, "spec": {"x": [1, 2]}})
    })
}

fn annotation_of(object: &Value) -> Option<&str> {
    object["metadata"]["annotations"][DEFAULT_LEASE_KEY].as_str()
}

fn decide(request: &Value) -> Value {
    let bytes = serde_json::to_vec(request).expect("serialisable");
    serde_json::from_slice(&evaluate_json(&bytes)).expect("a decision document is JSON")
}

/// A request for hold or release, with or without the holder's state.
fn write_request() -> impl Strategy<Value = Value> {
    (object(), prop::bool::ANY, pod(), prop::option::of((pod(), state())), prop::bool::ANY).prop_map(
        |(object, hold, claimant, holder, force)| {
            let mut request = json!({"action": if hold { "hold" } else { "release" }, "object": object, "claimant": claimant, "force": force});
            if let Some((pod, state)) = holder {
                request["holderPod"] = json!({"pod": pod, "state": state.as_str()});
            }
            request
        },
    )
}

/// Applies a decision's patch to the object it was decided on, as the API server would.
fn apply(object: &Value, decision: &Value) -> Result<Value, json_patch::PatchError> {
    let patch: JsonPatch = serde_json::from_value(decision["patch"].clone()).expect("the patch is RFC 6902");
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch)?;
    Ok(patched)
}

/// The member names of a JSON object, in document order.
struct TopLevelKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TopLevelKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TopLevelKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(TopLevelKeys(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Any bytes give a decision document with SPEC's keys in SPEC's order, and the same bytes
    /// give the same document.
    #[test]
    fn any_bytes_give_a_decision_document(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let first = evaluate_json(&bytes);
        prop_assert_eq!(&first, &evaluate_json(&bytes));
        let keys: TopLevelKeys = serde_json::from_slice(&first)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {}", String::from_utf8_lossy(&first)));
        prop_assert_eq!(keys.0, KEYS);
    }

    /// Mutated requests (bytes flipped in a real one) still give a decision, deterministically.
    #[test]
    fn mutated_requests_give_a_decision(request in write_request(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = serde_json::to_vec(&request).expect("serialisable");
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let first = evaluate_json(&bytes);
        prop_assert_eq!(&first, &evaluate_json(&bytes));
        prop_assert!(serde_json::from_slice::<Value>(&first).is_ok());
    }

    /// Applying a decision's patch to its object, and reading the lease again, gives exactly
    /// `after` and `annotation`; every write starts with a `test`.
    #[test]
    fn the_patch_writes_exactly_after(request in write_request()) {
        let decision = decide(&request);
        if decision["patch"].is_null() {
            prop_assert!(decision["annotation"].is_null());
            return Ok(());
        }
        let patch = decision["patch"].as_array().expect("an array");
        prop_assert_eq!(patch.len(), 2);
        prop_assert_eq!(&patch[0]["op"], "test");
        let patched = apply(&request["object"], &decision).expect("the test passes on the observed object");
        let written = annotation_of(&patched).expect("the lease is written");
        prop_assert_eq!(Some(written), decision["annotation"].as_str());
        let lease = match Reading::of(lease_logic::LeaseSlot::Value(written)) {
            Reading::Held(lease, _) | Reading::Released(lease) => lease,
            other => panic!("written lease reads as {other:?}"),
        };
        prop_assert_eq!(serde_json::to_value(&lease).expect("serialisable"), decision["after"].clone());
    }

    /// A patch never applies to an object whose lease changed since it was observed.
    #[test]
    fn the_patch_fails_on_a_changed_lease(request in write_request(), other in lease_value()) {
        let decision = decide(&request);
        if decision["patch"].is_null() || annotation_of(&request["object"]) == Some(other.as_str()) {
            return Ok(());
        }
        let mut changed = request["object"].clone();
        changed["metadata"]["annotations"] = json!({DEFAULT_LEASE_KEY: other});
        changed["metadata"]["resourceVersion"] = json!("changed");
        prop_assert!(apply(&changed, &decision).is_err());
    }

    /// Along any sequence of holds and releases by random claimants with random pod states,
    /// `leaderTransition` never decreases, every write is guarded, and the protocol's own writes
    /// (without force) are allowed by `review` for the claimant's pod identity.
    #[test]
    fn sequences_keep_the_counter_and_the_policy(
        start in object(),
        steps in prop::collection::vec((prop::bool::ANY, pod(), state(), prop::bool::weighted(0.1)), 1..40),
    ) {
        let mut object = start;
        object["metadata"]["resourceVersion"] = json!("1");
        let mut previous: Option<i64> = None;
        for (version, (hold, claimant, holder_state, force)) in (2u32..).zip(steps) {
            let mut request = json!({"action": if hold { "hold" } else { "release" }, "object": object, "claimant": claimant, "force": force});
            let mut decision = decide(&request);
            if decision["outcome"] == Outcome::NeedHolderStatus.as_str() {
                let lookup = &decision["lookup"];
                let holder = format!("{}/{}", lookup["namespace"].as_str().unwrap_or(""), lookup["name"].as_str().unwrap_or(""));
                request["holderPod"] = json!({"pod": holder, "state": holder_state.as_str()});
                decision = decide(&request);
                prop_assert_ne!(&decision["outcome"], "needHolderStatus");
            }
            if decision["patch"].is_null() {
                continue;
            }
            prop_assert_eq!(&decision["patch"][0]["op"], "test");
            let mut patched = apply(&object, &decision).expect("the observed object takes its own patch");
            patched["metadata"]["resourceVersion"] = json!(version.to_string());
            let counter = decision["after"]["leaderTransition"].as_i64().expect("an integer");
            if let Some(before) = previous {
                prop_assert!(counter >= before, "leaderTransition fell from {before} to {counter}");
            }
            if !force {
                let (namespace, name) = claimant.split_once('/').expect("a pod reference");
                let mut review = json!({"action": "review", "request": {
                    "operation": "UPDATE",
                    "userInfo": {"username": format!("system:serviceaccount:{namespace}:pool"), "groups": ["system:serviceaccounts"],
                                 "extra": {"authentication.kubernetes.io/pod-name": [name]}},
                    "oldObject": object, "object": patched,
                }});
                if let Some(holder) = request.get("holderPod") {
                    review["holderPod"] = holder.clone();
                }
                let verdict = decide(&review);
                prop_assert_eq!(&verdict["outcome"], "allowed", "the policy blocked {} -> {}: {}", decision["before"], decision["after"], verdict["reason"]);
            }
            previous = Some(counter);
            object = patched;
        }
    }

    /// The decision document is written byte for byte as serde_json writes the same decision.
    #[test]
    fn decisions_are_written_as_serde_json_writes_them(request in write_request(), reason in any::<String>()) {
        let mut decision = lease_logic::evaluate(&serde_json::to_vec(&request).expect("serialisable"));
        prop_assert_eq!(decision.to_json(), serde_json::to_vec(&decision).expect("serialisable"));
        decision.reason = reason;
        prop_assert_eq!(decision.to_json(), serde_json::to_vec(&decision).expect("serialisable"));
    }
}

#[test]
fn ops_are_test_then_replace_or_add() {
    let request =
        br#"{"action":"hold","claimant":"ns/p","object":{"metadata":{"resourceVersion":"1","annotations":{}}}}"#;
    let decision = lease_logic::evaluate(request);
    let ops: Vec<Op> = decision.patch.expect("a write").0.iter().map(|op| op.op).collect();
    assert_eq!(ops, [Op::Test, Op::Add]);
}
