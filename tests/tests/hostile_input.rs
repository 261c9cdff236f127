//! Hostile input: annotation values up to 256 KiB, nesting 10,000 deep, invalid UTF-8 and NUL
//! bytes, integers beyond 64 bits, names at and past their length limits. Each gets a correct
//! decision or an `invalid` one with a reason, from the native core and from the WASM module in
//! wasmtime alike (byte for byte), in bounded time; nothing panics, traps or hangs. The plugin
//! binary refuses bad names with one clear line before it contacts any cluster.
//!
//! The last test runs the plugin against a live API server (`CSPLEASE_LIVE=1`): a 256 KiB
//! annotation and over-long names, each a clear one-line error or the right lease, and nothing
//! changed by an error.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasm_sandbox::{Config, Host, LeaseModule};

const KEY: &str = "openebs.io/csp-lease";
const KIB: usize = 1024;
/// Generous on a busy 2-core machine, for a debug build: what "does not hang" means here.
const BOUND: Duration = Duration::from_secs(20);

fn module() -> &'static LeaseModule {
    static MODULE: OnceLock<LeaseModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache");
        let host = Host::new(Config { cache_dir: Some(cache), ..Config::default() }).expect("host");
        host.load_embedded().expect("the embedded module loads")
    })
}

/// Decides `request` natively and in wasmtime; both must answer the same bytes in bounded time.
/// Returns the decision document.
fn decide(request: &[u8]) -> Value {
    let started = Instant::now();
    let native = lease_logic::evaluate_json(request);
    let native_took = started.elapsed();
    let started = Instant::now();
    let wasm = module().try_evaluate(request).unwrap_or_else(|e| panic!("wasmtime failed on hostile input: {e}"));
    let wasm_took = started.elapsed();
    assert!(native_took < BOUND && wasm_took < BOUND, "bounded: native {native_took:?}, wasm {wasm_took:?}");
    assert!(native == wasm, "native and wasmtime differ on a {}-byte request", request.len());
    let doc: Value = serde_json::from_slice(&native).expect("a decision document is JSON");
    let reason = doc["reason"].as_str().expect("a reason");
    assert!(!reason.is_empty() && !reason.contains('\n'), "one clear sentence: {reason:?}");
    doc
}

fn outcome(doc: &Value) -> &str {
    doc["outcome"].as_str().expect("an outcome")
}

fn object(annotation: Option<&str>) -> Value {
    let mut metadata = json!({"name": "csp-1", "resourceVersion": "7"});
    if let Some(value) = annotation {
        metadata["annotations"] = json!({ KEY: value });
    }
    json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata})
}

fn request(action: &str, annotation: Option<&str>, claimant: &str, force: bool) -> Vec<u8> {
    json!({"action": action, "object": object(annotation), "claimant": claimant, "force": force})
        .to_string()
        .into_bytes()
}

fn hold(annotation: &str) -> Value {
    decide(&request("hold", Some(annotation), "openebs/pool-a", false))
}

/// Asserts an `acquired` decision writing `{"holder":"openebs/pool-a","leaderTransition":n}`.
fn assert_acquired(doc: &Value, n: i64) {
    assert_eq!(outcome(doc), "acquired", "{}", doc["reason"]);
    assert_eq!(doc["annotation"], format!(r#"{{"holder":"openebs/pool-a","leaderTransition":{n}}}"#));
}

fn assert_invalid(doc: &Value, what: &str) {
    assert_eq!(outcome(doc), "invalid", "{what}: {}", doc["reason"]);
    assert_eq!(doc["patch"], Value::Null, "{what}: an invalid decision writes nothing");
}

#[test]
fn annotation_values_up_to_256_kib_get_the_right_decision() {
    // A released lease carrying a 256 KiB unknown member: read, acquired, and the guard tests
    // the whole observed value.
    let pad = "p".repeat(256 * KIB);
    let big = format!(r#"{{"holder":"","leaderTransition":3,"pad":"{pad}"}}"#);
    let doc = hold(&big);
    assert_acquired(&doc, 4);
    assert_eq!(
        doc["patch"][0],
        json!({"op": "test", "path": "/metadata/annotations/openebs.io~1csp-lease", "value": big})
    );

    // Non-ASCII padding: the API server re-encodes such values, so the guard is the resourceVersion.
    let wide = format!(r#"{{"holder":"","leaderTransition":3,"pad":"{}"}}"#, "é".repeat(128 * KIB));
    let doc = hold(&wide);
    assert_acquired(&doc, 4);
    assert_eq!(doc["patch"][0], json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}));

    // 256 KiB of white space is blank: vacant.
    assert_acquired(&hold(&" \t\n\r".repeat(64 * KIB)), 1);
    // A 256 KiB holder is not a pod reference: unidentifiable; --force takes over, counting on.
    let long_holder = format!(r#"{{"holder":"{}","leaderTransition":9}}"#, "h".repeat(256 * KIB));
    assert_invalid(&hold(&long_holder), "a 256 KiB holder");
    let forced = decide(&request("hold", Some(&long_holder), "openebs/pool-a", true));
    assert_eq!((outcome(&forced), forced["after"]["leaderTransition"].as_i64()), ("takenOver", Some(10)));
    // 256 KiB that is not JSON: malformed.
    assert_invalid(&hold(&format!(r#"{{"holder":"{}"#, "x".repeat(256 * KIB))), "256 KiB unterminated");
    let status = decide(&request("status", Some(&big), "openebs/pool-a", false));
    assert_eq!(outcome(&status), "released");
}

#[test]
fn nesting_is_limited_to_128_levels_and_10000_deep_is_refused_not_a_crash() {
    // The lease value: 1 (the object) + arrays; 128 levels read, 129 are malformed.
    let nested = |arrays: usize| {
        format!(r#"{{"holder":"","leaderTransition":2,"x":{}{}}}"#, "[".repeat(arrays), "]".repeat(arrays))
    };
    assert_acquired(&hold(&nested(127)), 3);
    assert_invalid(&hold(&nested(128)), "129 levels");
    assert_invalid(&hold(&nested(10_000)), "10,001 levels");
    assert_invalid(&hold(&"[".repeat(10_000)), "10,000 unclosed arrays");
    assert_invalid(&hold(&"{\"a\":".repeat(10_000)), "10,000 unclosed objects");

    // The request document itself, 10,000 deep, in an ignored member and as a whole.
    let deep = format!(
        r#"{{"action":"status","object":{{"metadata":{{}}}},"x":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_invalid(&decide(deep.as_bytes()), "a request 10,000 deep");
    let objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert_invalid(&decide(objects.as_bytes()), "10,000 nested objects");
    assert_invalid(&decide("[".repeat(100_000).as_bytes()), "100,000 open brackets");
}

#[test]
fn invalid_utf8_and_nul_bytes_are_invalid_requests() {
    let good = r#"{"action":"hold","claimant":"openebs/pool-a","object":{"metadata":{"resourceVersion":"1"}}}"#;
    assert_acquired(&decide(good.as_bytes()), 1);
    let splice = |at: &str, bytes: &[u8]| {
        let i = good.find(at).expect("splice point");
        [&good.as_bytes()[..i], bytes, &good.as_bytes()[i..]].concat()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("only 0xFF 0xFE", vec![0xFF, 0xFE]),
        ("0xFF in the claimant", splice("pool-a", &[0xFF])),
        ("an overlong '/' (C0 AF)", splice("pool-a", &[0xC0, 0xAF])),
        ("a truncated 3-byte sequence", splice("pool-a", &[0xE2, 0x82])),
        ("an encoded surrogate (ED A0 80)", splice("pool-a", &[0xED, 0xA0, 0x80])),
        ("a raw NUL between members", splice("\"claimant\"", b"\0")),
        ("a raw NUL in a string", splice("pool-a", b"\0")),
        ("a trailing NUL", [good.as_bytes(), b"\0"].concat()),
        ("an escaped NUL in the claimant", good.replace("pool-a", "pool\\u0000a").into_bytes()),
        ("a lone surrogate escape", good.replace("pool-a", "pool\\ud800a").into_bytes()),
    ];
    for (what, bytes) in &cases {
        assert_invalid(&decide(bytes), what);
    }
    // In the lease, a NUL in the holder makes it unidentifiable; a lone surrogate, malformed.
    assert_invalid(&hold(r#"{"holder":"openebs/po\u0000l","leaderTransition":1}"#), "NUL in the holder");
    assert_invalid(&hold(r#"{"holder":"openebs/pool\ud800","leaderTransition":1}"#), "lone surrogate in the holder");
    // A NUL in the lease key is just another key: no lease there, vacant.
    let odd_key = json!({"action": "status", "object": object(None), "leaseKey": "a\u{0}b"}).to_string();
    assert_eq!(outcome(&decide(odd_key.as_bytes())), "vacant");
}

#[test]
fn integers_beyond_64_bits_are_malformed_and_the_maximum_never_wraps() {
    let released = |n: &str| format!(r#"{{"holder":"","leaderTransition":{n}}}"#);
    for n in ["9223372036854775808", "18446744073709551616", "-9223372036854775809", "1e400", "1e2", "2.0", "-0"] {
        assert_invalid(&hold(&released(n)), n);
    }
    // The maximum: a hold would wrap, so it is invalid; a release keeps it.
    assert_invalid(&hold(&released("9223372036854775807")), "the maximum");
    let held = r#"{"holder":"openebs/pool-a","leaderTransition":9223372036854775807}"#;
    let release = decide(&request("release", Some(held), "openebs/pool-a", false));
    assert_eq!(outcome(&release), "released");
    assert_eq!(release["annotation"], r#"{"holder":"","leaderTransition":9223372036854775807}"#);
    // Negative counters fit in 64 bits and count on.
    assert_acquired(&hold(&released("-1")), 0);
    assert_acquired(&hold(&released("-9223372036854775808")), -9_223_372_036_854_775_807);
    // Outside the lease's fields, any JSON number is fine.
    assert_acquired(&hold(r#"{"holder":"","leaderTransition":5,"x":1e400,"y":-184467440737095516160}"#), 6);
    // In the request, a number where a boolean belongs is invalid, however large.
    let forced = json!({"action": "hold", "claimant": "openebs/pool-a", "object": object(None)}).to_string();
    assert_invalid(&decide(forced.replace("}}}", "}},\"force\":1e400}").as_bytes()), "force: 1e400");
}

#[test]
fn names_at_their_limits_are_read_and_past_them_refused() {
    let ns63 = "n".repeat(63);
    let pod253 = "p".repeat(253);
    let at_limit = format!("{ns63}/{pod253}");
    let doc = decide(&request("hold", None, &at_limit, false));
    assert_eq!(outcome(&doc), "acquired");
    assert_eq!(doc["after"]["holder"], at_limit.as_str());
    for (what, claimant) in [
        ("a 64-character namespace", format!("{}/{pod253}", "n".repeat(64))),
        ("a 254-character pod name", format!("{ns63}/{}", "p".repeat(254))),
        ("an empty name", format!("{ns63}/")),
        ("two slashes", format!("{ns63}/a/b")),
        ("upper case", "Openebs/pool-a".to_owned()),
    ] {
        assert_invalid(&decide(&request("hold", None, &claimant, false)), what);
    }
    // A lease naming a holder past the limits is unidentifiable (read, reported, forcible).
    let lease = format!(r#"{{"holder":"{}/{pod253}","leaderTransition":4}}"#, "n".repeat(64));
    let status = decide(&request("status", Some(&lease), "openebs/pool-a", false));
    assert_eq!((outcome(&status), status["before"]["leaderTransition"].as_i64()), ("invalid", Some(4)));
    let lease = format!(r#"{{"holder":"{at_limit}","leaderTransition":4}}"#);
    let status = decide(&request("status", Some(&lease), "openebs/pool-a", false));
    assert_eq!(outcome(&status), "held");
}

/// The plugin binary, with no cluster configured.
fn offline_plugin(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(csplease_tests::plugin::binary())
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("NAMESPACE")
        .env_remove("POD_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("the plugin ends");
    writer.join().expect("stdin written");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_plugin_refuses_over_long_claimants_before_contacting_a_cluster() {
    let holder = format!("{}/pool-a", "n".repeat(64));
    let (code, stdout, stderr) = offline_plugin(&["hold", "csp-1", "--holder", &holder], b"");
    assert_eq!(code, 2, "usage error: {stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: invalid claimant from --holder"), "{stderr}");
}

#[test]
fn the_plugin_decides_hostile_json_lines_one_decision_each() {
    let lines: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00garbage".to_vec(),
        [b"[".repeat(10_000), b"]".repeat(10_000)].concat(),
        br#"{"action":"hold","claimant":"a/b","object":{"metadata":{"resourceVersion":"1","annotations":{"openebs.io/csp-lease":"{\"holder\":\"\",\"leaderTransition\":18446744073709551616}"}}}}"#.to_vec(),
        br#"{"action":"status","object":{"metadata":{}}}"#.to_vec(),
    ];
    let input = lines.join(&b'\n');
    let _built = csplease_tests::plugin::binary(); // not timed: the first call may build it
    let started = Instant::now();
    let (code, stdout, stderr) = offline_plugin(&["decide"], &input);
    assert!(started.elapsed() < BOUND, "bounded");
    assert_eq!(code, 0, "{stderr}");
    let outcomes: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a decision")["outcome"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(outcomes, ["invalid", "invalid", "invalid", "vacant"]);
}

mod live {
    use csplease_tests::cluster::{self, TestCluster};
    use serde_json::{Value, json};

    use super::KEY;

    fn plugin(cluster: &TestCluster, args: &[&str]) -> (i32, String, String) {
        let out = csplease_tests::plugin::through_kubectl(cluster.kubectl_admin(), args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("kubectl runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn create(cluster: &TestCluster, name: &str, lease: &str) {
        let csp = json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                         "metadata": {"name": name, "annotations": { KEY: lease }},
                         "spec": {"poolSpec": {"poolType": "striped"}}});
        cluster.kubectl_ok(&["create", "-f", "-"], Some(&csp.to_string()));
    }

    fn get(cluster: &TestCluster, name: &str) -> Value {
        serde_json::from_str(&cluster.kubectl_ok(&["get", "csp", name, "-o", "json"], None)).expect("JSON")
    }

    fn one_line_error(stderr: &str, what: &str) {
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.len() < 2048, "{what}: {}", &stderr[..stderr.len().min(300)]);
    }

    #[test]
    fn the_plugin_on_a_256_kib_annotation_and_over_long_names() {
        if !cluster::live_or_skip("the_plugin_on_a_256_kib_annotation_and_over_long_names") {
            return;
        }
        let cluster = cluster::shared();
        let tag = std::process::id();
        // The API server allows 256 KiB of annotations in all; the lease takes nearly all of it.
        let pad = 256 * super::KIB - 1024;
        let big = format!(r#"{{"holder":"","leaderTransition":41,"pad":"{}"}}"#, "p".repeat(pad));
        let name = format!("hostile-big-{tag}");
        create(cluster, &name, &big);
        let (code, stdout, stderr) = plugin(cluster, &["hold", &name, "--holder", "hostile/pool-a"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("lease acquired by hostile/pool-a (leaderTransition 42)"), "{stdout}");
        assert_eq!(
            get(cluster, &name)["metadata"]["annotations"][KEY],
            r#"{"holder":"hostile/pool-a","leaderTransition":42}"#
        );

        // 256 KiB that nests far too deep: invalid, one short line, nothing written.
        let name = format!("hostile-deep-{tag}");
        let deep = "[".repeat(pad);
        create(cluster, &name, &deep);
        let before = get(cluster, &name)["metadata"]["resourceVersion"].clone();
        let (code, _, stderr) = plugin(cluster, &["hold", &name, "--holder", "hostile/pool-a"]);
        assert_eq!(code, 4, "{stderr}");
        one_line_error(&stderr, "a 256 KiB malformed lease");
        assert!(stderr.contains("--force"), "says how to repair it: {stderr}");
        assert_eq!(get(cluster, &name)["metadata"]["resourceVersion"], before, "nothing written");

        // Names: a CStorPool name past 253 characters, a claimant past its limits.
        let long_name = format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62));
        assert_eq!(long_name.len(), 254);
        let (code, _, stderr) = plugin(cluster, &["hold", &long_name, "--holder", "hostile/pool-a"]);
        assert_eq!(code, 1, "{stderr}");
        one_line_error(&stderr, "a 254-character CStorPool name");
        assert!(stderr.contains("is not a valid cstorpool name"), "{stderr}");
        let at_limit = &long_name[..253];
        create(cluster, at_limit, r#"{"holder":"","leaderTransition":0}"#);
        let holder = format!("{}/{}", "n".repeat(63), "p".repeat(253));
        let (code, _, stderr) = plugin(cluster, &["hold", at_limit, "--holder", &holder]);
        assert_eq!(code, 0, "a 253-character CStorPool and a claimant at both limits: {stderr}");
        let lease = get(cluster, at_limit)["metadata"]["annotations"][KEY].clone();
        assert_eq!(lease, format!(r#"{{"holder":"{holder}","leaderTransition":1}}"#));
        let over = format!("{}/{}", "n".repeat(64), "p".repeat(253));
        let (code, _, stderr) = plugin(cluster, &["release", at_limit, "--holder", &over]);
        assert_eq!(code, 2, "{stderr}");
        one_line_error(&stderr, "a 64-character namespace");
        assert_eq!(get(cluster, at_limit)["metadata"]["annotations"][KEY], lease, "nothing changed");
    }
}
