//! Exports `platform:plugin/plugin@9.0.0`, which the host must refuse by name.

// The generated export glue is unsafe by nature (canonical ABI entry points).
#![allow(unsafe_code)]

wit_bindgen::generate!({ world: "platform-plugin", path: "wit" });

struct Future;

impl exports::platform::plugin::plugin::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);
