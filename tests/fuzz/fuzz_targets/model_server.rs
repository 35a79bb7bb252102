//! The model-server decoders (`/ingest/oip/{model}` and KServe logger CloudEvents at
//! `/ingest/kserve`) on arbitrary bytes: the first byte picks the route and event kind, the rest is
//! the body. Each returns what it decoded or a 4xx error naming a field, never panics.
#![no_main]

mod demo_spec;

use driftwatch::ingest::{ModelServerBody, decode_model_server};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let kind = match mode % 4 {
        0 => ModelServerBody::Oip,
        1 => ModelServerBody::StructuredEvent,
        2 => ModelServerBody::BinaryEvent { ce_type: "org.kubeflow.serving.inference.request", ce_id: "42" },
        _ => ModelServerBody::BinaryEvent { ce_type: "org.kubeflow.serving.inference.response", ce_id: "42" },
    };
    if let Err(e) = decode_model_server(demo_spec::spec(), kind, body) {
        assert!(e.status().is_client_error(), "{e:?}");
        assert!(e.field().is_some(), "an error names its field: {e:?}");
    }
});
