//! liveness: verifies ComplyCube-style Live Video challenges (voice and actions) in a recorded
//! selfie video, streaming it once through bounded channels.
//!
//! The entry point is [`pipeline::Verifier`]: load models once, then verify any number of
//! videos against their [`live_video::LiveVideo`] objects.

pub mod actions;
pub mod audit;
pub mod av_sync;
pub mod challenge_draw;
pub mod cli;
pub mod control;
pub mod decode;
pub mod engine;
pub mod face_analysis;
pub mod fuzz_targets;
pub mod isolation;
pub mod live_photo;
pub mod live_video;
pub mod models;
pub mod pipeline;
pub mod report;
pub mod runner;
#[cfg(feature = "service")]
pub mod server;
pub mod sniff;
pub mod speech;
#[cfg(feature = "service")]
pub mod store;
pub mod verdict;
pub mod vision;
