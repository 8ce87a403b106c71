//! Integration tests of the updater SDK against a real update-server on 127.0.0.1, a
//! payload server of our own and a misbehaving Omaha server.

mod cup;
mod example;
mod floors;
mod flow;
mod resilience;
mod support;
