//! The REST request builder on any request: the first byte picks the
//! method, the rest is `path NUL query NUL body`. A route that matches is
//! built into its request message, which must then read the same after
//! the JSON mapping both ways and after protobuf encoding.
#![no_main]

use std::sync::OnceLock;

use fip_gateway::rest::json;
use fip_gateway::rest::table::{Lookup, RouteTable};
use http::Method;
use prost::Message;
use prost_reflect::ReflectMessage;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::from_pool(fip_gateway::descriptors::pool()).expect("the route table builds")
    })
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PATCH,
    Method::PUT,
    Method::DELETE,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(method) % METHODS.len()];
    let mut parts = rest.splitn(3, |b| *b == 0);
    let (Some(path), query, body) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let query = query.and_then(|q| std::str::from_utf8(q).ok());
    let Lookup::Found(route, params) = table().lookup(method, path) else {
        return;
    };
    let Ok(message) =
        fip_gateway::rest::request::build(route, &params, query, body.unwrap_or_default())
    else {
        return;
    };
    let descriptor = message.descriptor();
    let text = json::to_json(&message);
    let again = json::from_json(text.clone(), &descriptor)
        .unwrap_or_else(|e| panic!("its own JSON does not read back: {e}: {text}"));
    // The JSON mapping writes defaults out, so compare what is said, not
    // which fields were set.
    assert_eq!(
        json::to_json(&again),
        text,
        "JSON round trip changed the message"
    );
    let bytes = message.encode_to_vec();
    let decoded = prost_reflect::DynamicMessage::decode(descriptor, bytes.as_slice())
        .expect("its own encoding decodes");
    assert_eq!(
        json::to_json(&decoded),
        text,
        "protobuf round trip changed the message"
    );
});
