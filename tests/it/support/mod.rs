//! What the integration tests share: starting the sidecar (in process through `app(state)`, or as
//! the real binary), a real HTTP receiver for webhooks, and the external programs.

pub(crate) mod process;
pub(crate) mod receiver;
pub(crate) mod server;
