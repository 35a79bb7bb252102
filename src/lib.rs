pub mod drift;
pub mod kernels;
