//! `kubectl csplease decide`: the core's wire entry point, offline.
//!
//! Reads one request document, or JSON Lines, and writes one decision document per request, in
//! order. It needs no cluster: it answers "what would happen" for scripts and operators.

use std::io::{self, Read, Write};

/// Decides every request in `input` and writes the decisions to `output`, one a line; returns
/// how many it decided.
///
/// When the whole input is one JSON document (even spread over many lines), it is one request;
/// otherwise every non-blank line is a request (JSON Lines), and a bad line gives an `invalid`
/// decision for that line alone.
pub fn run(mut input: impl Read, mut output: impl Write) -> io::Result<usize> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let requests: Vec<&[u8]> = if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
        vec![&bytes]
    } else {
        bytes.split(|b| *b == b'\n').filter(|line| !line.iter().all(u8::is_ascii_whitespace)).collect()
    };
    for request in &requests {
        output.write_all(&lease_logic::evaluate_json(request))?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(requests.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(input: &str) -> Vec<String> {
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out).expect("in-memory I/O");
        String::from_utf8(out).expect("decisions are UTF-8").lines().map(str::to_owned).collect()
    }

    #[test]
    fn one_pretty_printed_request() {
        let out = decide("{\n  \"action\": \"status\",\n  \"object\": {\"metadata\": {}}\n}\n");
        assert_eq!(out.len(), 1);
        assert!(out[0].contains(r#""outcome":"vacant""#), "{out:?}");
    }

    #[test]
    fn json_lines_in_order_with_a_bad_line() {
        let out = decide("{\"action\":\"status\",\"object\":{\"metadata\":{}}}\n\nnot json\n{\"action\":\"steal\"}\n");
        let outcomes: Vec<_> =
            out.iter().map(|l| l.split(r#""outcome":""#).nth(1).and_then(|r| r.split('"').next())).collect();
        assert_eq!(outcomes, [Some("vacant"), Some("invalid"), Some("invalid")]);
    }
}
