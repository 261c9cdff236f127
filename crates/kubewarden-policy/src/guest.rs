//! The waPC guest: the functions Kubewarden's policy evaluator calls, and the one host call the
//! policy makes (the holder pod's lookup). Compiled for WebAssembly only.

use wapc_guest::prelude::{CallResult, host_call, register_function};

/// Registers the policy's waPC functions; the waPC host calls it once per instance.
// SAFETY of the `unsafe(no_mangle)`: the host finds this function by its name, and no other
// symbol of the module is called `wapc_init`.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("protocol_version", protocol_version);
    register_function("validate_settings", validate_settings);
    register_function("validate", validate);
}

fn protocol_version(_payload: &[u8]) -> CallResult {
    Ok(crate::PROTOCOL_VERSION.to_vec())
}

fn validate_settings(payload: &[u8]) -> CallResult {
    Ok(crate::validate_settings(payload))
}

fn validate(payload: &[u8]) -> CallResult {
    Ok(crate::validate(payload, |pod| {
        match host_call(crate::HOST_BINDING, crate::HOST_NAMESPACE, crate::HOST_OPERATION, &crate::list_request(pod)) {
            Ok(list) => crate::facts_from_list(Ok(&list), pod),
            Err(error) => crate::facts_from_list(Err(&error.to_string()), pod),
        }
    }))
}
