//! Writing: compact JSON, escaped exactly as serde_json escapes (SPEC.md section 5).

use super::validate::plain_run;

/// Appends `text` as a JSON string: `"` and `\` escaped, `\b \f \n \r \t` in their short
/// forms, other characters below U+0020 as `\u00xx` (lowercase hex), everything else raw.
pub fn write_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.push('"');
    let mut start = 0;
    loop {
        // `plain_run` stops only at ASCII bytes, so both ends are character boundaries.
        let stop = plain_run(bytes, start);
        out.push_str(text.get(start..stop).unwrap_or(""));
        let Some(&byte) = bytes.get(stop) else { break };
        out.push('\\');
        match byte {
            b'"' | b'\\' => out.push(char::from(byte)),
            0x08 => out.push('b'),
            0x0c => out.push('f'),
            b'\n' => out.push('n'),
            b'\r' => out.push('r'),
            b'\t' => out.push('t'),
            _ => {
                out.push_str("u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
        start = stop + 1;
    }
    out.push('"');
}

/// Appends an integer.
pub fn write_i64(out: &mut String, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}
