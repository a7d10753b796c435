//! JSON objects of API request bodies (`wire::json`): any bytes give members or an error,
//! never a panic; at most MAX_MEMBERS; and serde_json is the oracle: a body it reads as an
//! object of scalars is read by ours too, with every string member it has, and one it refuses
//! (or reads as anything else) is refused by ours. The hooks' `integer_member` reads any
//! object serde_json reads (within its depth and member caps), and finds the same `code`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::json::{decode_object, integer_member, JsonError, MAX_MEMBERS};

fuzz_target!(|data: &[u8]| {
    let code = integer_member(data, "code");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
            match &code {
                // serde_json keeps the last of a name given twice, we the first: compare
                // only when each name is there once (a member count below ours means not).
                Ok(found) if !text.contains("\"code\"") || text.matches("\"code\"").count() == 1 => {
                    if let Some(v) = map.get("code") {
                        if v.is_i64() {
                            assert_eq!(*found, v.as_i64(), "{text:?}");
                        }
                    }
                }
                Ok(_) | Err(JsonError::TooManyMembers) | Err(JsonError::Nested { .. }) => {}
                Err(e) => panic!("serde_json reads it, we refuse ({e}): {text:?}"),
            }
        }
    }
    let ours = decode_object(data);
    if let Ok(members) = &ours {
        assert!(members.len() <= MAX_MEMBERS);
    }
    // serde_json refuses what is not UTF-8, where we replace it: compare UTF-8 inputs only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            // serde_json's map keeps one of each name; we count every member.
            if matches!(ours, Err(JsonError::TooManyMembers)) {
                return;
            }
            let scalars = map.values().all(|v| !v.is_object() && !v.is_array());
            if !scalars || map.len() > MAX_MEMBERS {
                assert!(ours.is_err(), "nested or too many: {text:?}");
                return;
            }
            // A name given twice keeps serde_json's last value: an earlier nested one is
            // refused by ours, rightly, where serde_json's map shows only scalars.
            if let Err(JsonError::Nested { at }) = ours {
                assert!(
                    matches!(data.get(at), Some(b'{' | b'[')),
                    "nested at {at} without an object or array there: {text:?}"
                );
                return;
            }
            let members = ours.unwrap_or_else(|e| panic!("{e}: {text:?}"));
            // serde_json keeps the last member of a name, we keep every string member:
            // each string member it has is one of ours.
            for (k, v) in &map {
                if let Some(v) = v.as_str() {
                    assert!(
                        members.iter().any(|(n, m)| n == k && m == v),
                        "{k:?}: {v:?} missing in {members:?} of {text:?}"
                    );
                }
            }
        }
        Ok(_) => assert!(ours.is_err(), "not an object: {text:?}"),
        Err(e) => {
            // Lone surrogates: serde_json refuses `\ud800` alone, we replace it; and numbers
            // past f64's range, which RFC 8259 allows and we skip.
            let ours_too = !text.contains("\\u") && !e.to_string().contains("number out of range");
            if ours_too {
                assert!(ours.is_err(), "serde_json refuses {text:?}: {e}");
            }
        }
    }
});
