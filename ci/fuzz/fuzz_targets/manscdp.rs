//! MANSCDP XML (GB28181 MESSAGE bodies): parsing any bytes ends in a message or an error,
//! within the catalog item limit; the declared encoding is read without panicking. Our own
//! queries, with a device id made of the input's alphanumerics and XML specials, parse back
//! to the same query (the id is escaped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::manscdp::{self, Message, MAX_CATALOG_ITEMS};

fuzz_target!(|data: &[u8]| {
    let _ = manscdp::declared_encoding(data);
    if let Ok(Message::CatalogResponse { items, .. }) = manscdp::parse(data) {
        assert!(items.len() <= MAX_CATALOG_ITEMS);
    }

    let id: String = data
        .iter()
        .take(64)
        .map(|&b| b as char)
        .filter(|c| c.is_ascii_alphanumeric() || "<>&\"'".contains(*c))
        .collect();
    if id.is_empty() {
        return;
    }
    let sn = data.len() as u32;
    let query = manscdp::catalog_query(sn, &id);
    assert_eq!(
        manscdp::parse(query.as_bytes()),
        Ok(Message::CatalogQuery {
            sn,
            device_id: id.clone()
        })
    );
    let query = manscdp::device_info_query(sn, &id);
    assert_eq!(
        manscdp::parse(query.as_bytes()),
        Ok(Message::DeviceInfoQuery { sn, device_id: id })
    );
});
