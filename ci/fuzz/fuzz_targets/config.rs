//! TOML configuration text: any text loads or is refused with an error; a configuration that
//! loads has no differences from itself (the reload diff is empty).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_str(text, "fuzz.toml") {
        Ok(config) => {
            let diff = config.diff(&config);
            assert!(diff.is_empty(), "a config differs from itself: {diff:?}");
            let _ = config.default_vhost();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
