//! Model quality: metrics of predictions against the labels that arrive for them ([`metrics`]),
//! and their estimate before labels arrive, from the classifier's own probabilities ([`cbpe`]).

pub mod cbpe;
pub mod metrics;
