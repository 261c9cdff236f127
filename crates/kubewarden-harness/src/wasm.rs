//! The few facts of a WebAssembly binary the policy's build and tests need: its custom sections,
//! read and appended, with `std` only (the build script includes this file with `#[path]`).

/// The custom section Kubewarden reads a policy's metadata from.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The payload of every custom section named `name`, in order.
///
/// # Errors
/// A message when `wasm` is not a well-formed module binary.
pub fn custom_sections<'a>(wasm: &'a [u8], name: &str) -> Result<Vec<&'a [u8]>, String> {
    let mut at = header(wasm)?;
    let mut found = Vec::new();
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = usize::try_from(uleb(wasm, &mut at)?).map_err(|_| "a section size overflows".to_owned())?;
        let end = at.checked_add(size).filter(|&end| end <= wasm.len()).ok_or("a section runs past the end")?;
        if id == 0 {
            let mut inner = at;
            let len = usize::try_from(uleb(wasm, &mut inner)?).map_err(|_| "a name length overflows".to_owned())?;
            let name_end = inner.checked_add(len).filter(|&e| e <= end).ok_or("a custom section name runs past it")?;
            if &wasm[inner..name_end] == name.as_bytes() {
                found.push(&wasm[name_end..end]);
            }
        }
        at = end;
    }
    Ok(found)
}

/// `wasm` with a custom section `name` holding `payload` appended.
///
/// # Errors
/// A message when `wasm` is not a module binary.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    header(wasm)?;
    let mut body = Vec::with_capacity(name.len() + payload.len() + 5);
    write_uleb(&mut body, name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(wasm.len() + body.len() + 6);
    out.extend_from_slice(wasm);
    out.push(0);
    write_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    Ok(out)
}

fn header(wasm: &[u8]) -> Result<usize, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" || wasm[4..8] != [1, 0, 0, 0] {
        return Err("not a WebAssembly module binary (no \\0asm version 1 header)".into());
    }
    Ok(8)
}

fn uleb(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or("a number runs past the end")?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("malformed LEB128 number".into())
}

fn write_uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
