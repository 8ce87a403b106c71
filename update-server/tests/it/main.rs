//! Integration tests of update-server, in one binary (one link on a 2-core machine).

mod admin;
mod backup;
mod compat;
mod config;
mod deploy;
mod faults;
mod flatcar;
mod fleet;
mod hostile;
mod lifecycle;
mod omaha;
mod openapi;
mod ops;
mod overview;
mod packages;
mod panel;
mod processes;
mod refusals;
mod retention;
mod soak;
mod status;
mod store_contract;
mod support;
mod tls;
mod upstream;
mod users;
