//! Black-box tests of the whole mesh: the platform started in-process on
//! ephemeral ports, driven through the gateway by real gRPC clients.

mod support;

mod browser;
mod email;
mod foundation;
mod gateway;
mod jobs;
mod python_sdk;
mod security;
mod typescript_sdk;
mod wes;
