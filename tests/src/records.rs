//! Length-prefixed records: how the tests hand many byte strings to their JavaScript drivers
//! (Node, Chromium) and read their answers back. Each record is 4 bytes of little-endian length,
//! then the bytes.

/// Joins records into one buffer.
pub fn frame(records: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(&u32::try_from(record.len()).expect("record fits u32").to_le_bytes());
        out.extend_from_slice(&record);
    }
    out
}

/// Splits a buffer written by [`frame`] (or a driver) back into its records.
///
/// # Panics
/// On a record that claims more bytes than the buffer holds.
pub fn unframe(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((head, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*head) as usize;
        out.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    out
}
