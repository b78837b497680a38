//! The state every HTTP handler sees: the stores, the engine, the limits and the languages.

use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use super::{limits, ApiConfig};
use crate::actions::ActionVocabulary;
use crate::engine::Engine;
use crate::speech::normalize::LanguagePacks;
use crate::store::media::MediaStore;
use crate::store::Store;

/// What every handler sees.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Records.
    pub store: Store,
    /// Media bytes.
    pub media: MediaStore,
    /// Models (photo inspections at upload).
    pub engine: Arc<Engine>,
    /// Limits.
    pub config: Arc<ApiConfig>,
    /// Recital languages (validating uploads).
    pub packs: Arc<LanguagePacks>,
    /// Action names (validating uploads).
    pub vocabulary: Arc<ActionVocabulary>,
    /// Wakes this process's workers when a check is queued.
    pub wake: Arc<Notify>,
    /// Bounds blocking work started by requests (probing, photo inspection).
    pub blocking: Arc<Semaphore>,
    /// Per-key rate and uploads in flight.
    pub limits: Arc<limits::Limits>,
}
