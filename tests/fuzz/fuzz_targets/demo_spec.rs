//! The model spec the ingest targets decode for: the embedded demo model (numeric and categorical
//! features), loaded once.

use std::sync::OnceLock;

use driftwatch::monitor::reference::ModelSpec;

pub fn spec() -> &'static ModelSpec {
    static SPEC: OnceLock<ModelSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let config = driftwatch::config::Sources::embedded().validate().unwrap();
        driftwatch::monitor::reference::load_model(config.models[0].clone()).unwrap().0
    })
}
