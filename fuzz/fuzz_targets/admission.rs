//! The admission webhook's body handling takes any bytes: a body is either refused with a one-line
//! error or judged, and a judged body always gets an `admission.k8s.io/v1` AdmissionReview
//! response, JSON, echoing its uid, whose verdict is the core's. The first input byte picks what
//! the (single) lookup returns; the rest is the request body.
#![no_main]

use std::future::Future;
use std::task::{Context, Poll, Waker};

use csplease_admission::Admission;
use lease_logic::PodFacts;
use libfuzzer_sys::fuzz_target;

/// What a lookup may return: a phase (or none, or one the API does not define), 404, an error.
fn facts(choice: u8) -> PodFacts {
    let found = |phase: &str| PodFacts::Found { phase: Some(phase.to_owned()) };
    match choice % 8 {
        0 => found("Running"),
        1 => found("Pending"),
        2 => found("Succeeded"),
        3 => found("Failed"),
        4 => found("Evicted"),
        5 => PodFacts::Found { phase: None },
        6 => PodFacts::NotFound,
        _ => PodFacts::LookupFailed { error: "connection refused".to_owned() },
    }
}

/// Polls a future whose lookups answer at once to its end.
fn now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else { return };
    let groups = if choice & 0x80 != 0 { vec!["ops:breakglass".to_owned()] } else { Vec::new() };
    let admission = match Admission::parse(body, &groups) {
        Ok(admission) => admission,
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
            return;
        }
    };
    let mut lookups = 0;
    let response = now(admission.judge(lease_logic::evaluate_json, |_| {
        lookups += 1;
        let facts = facts(choice & 0x7f);
        async move { facts }
    }));
    assert!(lookups <= 1, "more than one lookup");
    let review: serde_json::Value = serde_json::from_slice(&response.body).expect("the response is JSON");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["response"]["uid"], admission.uid());
    assert_eq!(review["response"]["allowed"], response.allowed);
    assert_eq!(response.allowed, response.outcome == "allowed");
});
