//! A small safe wrapper over whisper.cpp's C API (through `whisper_rs::whisper_rs_sys`), used
//! because whisper-rs 0.16's `FullParams::set_grammar` hands whisper.cpp an element array where
//! it expects an array of rule pointers. One context per model, one state per call.

use std::ffi::{CStr, CString};
use std::path::Path;

use whisper_rs::whisper_rs_sys as sys;

use super::grammar::{Grammar, ROOT_RULE};

/// A loaded whisper model (context without state).
pub struct WhisperModel {
    ctx: *mut sys::whisper_context,
}

// SAFETY: a whisper_context is read-only after loading; every call here makes its own
// whisper_state, which is what whisper.cpp requires for concurrent use.
unsafe impl Send for WhisperModel {}
// SAFETY: as above.
unsafe impl Sync for WhisperModel {}

impl Drop for WhisperModel {
    fn drop(&mut self) {
        // SAFETY: ctx came from whisper_init_from_file_with_params_no_state and is freed once.
        unsafe { sys::whisper_free(self.ctx) }
    }
}

/// Options of one decode.
pub struct DecodeOptions<'a> {
    /// Threads.
    pub threads: usize,
    /// whisper language code.
    pub language: &'a str,
    /// Encoder positions (0 = the model's full 30 s window).
    pub audio_ctx: i32,
    /// Constrain the output to this grammar.
    pub grammar: Option<&'a Grammar>,
}

/// One decoded segment: start and end in centiseconds from the start of the input, and text.
pub type RawSegment = (i64, i64, String);

/// Errors from the C API.
#[derive(Debug, thiserror::Error)]
pub enum FfiError {
    /// Loading failed.
    #[error("whisper.cpp could not load the model")]
    Load,
    /// A call failed.
    #[error("whisper.cpp: {0}")]
    Call(String),
}

impl WhisperModel {
    /// Loads a ggml model file (CPU only).
    pub fn load(path: &Path) -> Result<Self, FfiError> {
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| FfiError::Load)?;
        // SAFETY: plain C calls with a valid NUL-terminated path; a null result is checked.
        let ctx = unsafe {
            let mut params = sys::whisper_context_default_params();
            params.use_gpu = false;
            // whisper.cpp 1.8 defaults to flash attention; with a shortened encoder window it
            // made base repeat sentences here, so keep the classic attention path.
            params.flash_attn = false;
            sys::whisper_init_from_file_with_params_no_state(c_path.as_ptr(), params)
        };
        if ctx.is_null() {
            return Err(FfiError::Load);
        }
        Ok(Self { ctx })
    }

    /// Decodes 16 kHz mono samples (at least 1 s) and returns the segments.
    pub fn decode(
        &self,
        samples: &[f32],
        opts: &DecodeOptions,
    ) -> Result<Vec<RawSegment>, FfiError> {
        let language =
            CString::new(opts.language).map_err(|_| FfiError::Call("bad language".into()))?;
        let rule_ptrs: Vec<*const sys::whisper_grammar_element> = opts
            .grammar
            .map(|g| g.rules.iter().map(|r| r.as_ptr()).collect())
            .unwrap_or_default();
        let n =
            i32::try_from(samples.len()).map_err(|_| FfiError::Call("audio too long".into()))?;
        // SAFETY: every pointer placed in `params` (language, grammar rules) outlives the
        // whisper_full_with_state call; the state is created and freed here; segment text
        // pointers are copied before the state is freed.
        unsafe {
            let state = sys::whisper_init_state(self.ctx);
            if state.is_null() {
                return Err(FfiError::Call("cannot allocate a decoding state".into()));
            }
            let mut p = sys::whisper_full_default_params(
                sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY,
            );
            p.n_threads = opts.threads.max(1) as i32;
            p.language = language.as_ptr();
            p.detect_language = false;
            p.translate = false;
            p.no_context = true;
            p.print_special = false;
            p.print_progress = false;
            p.print_realtime = false;
            p.print_timestamps = false;
            p.suppress_blank = true;
            // Non-speech annotations such as "[Music]" are never a recital.
            p.suppress_nst = true;
            p.greedy.best_of = 1;
            p.audio_ctx = opts.audio_ctx;
            p.single_segment = opts.audio_ctx > 0;
            if !rule_ptrs.is_empty() {
                p.grammar_rules = rule_ptrs.as_ptr() as *mut _;
                p.n_grammar_rules = rule_ptrs.len();
                p.i_start_rule = ROOT_RULE;
                p.grammar_penalty = 100.0;
                p.no_timestamps = true;
                // No temperature fallback: with a grammar it re-decodes many times (tens of
                // seconds measured here) without improving the reading.
                p.temperature_inc = 0.0;
                p.max_tokens = 64;
            }
            let rc = sys::whisper_full_with_state(self.ctx, state, p, samples.as_ptr(), n);
            if rc != 0 {
                sys::whisper_free_state(state);
                return Err(FfiError::Call(format!(
                    "whisper_full failed with code {rc}"
                )));
            }
            let count = sys::whisper_full_n_segments_from_state(state);
            let mut out = Vec::with_capacity(count.max(0) as usize);
            for i in 0..count {
                let text = sys::whisper_full_get_segment_text_from_state(state, i);
                let text = if text.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(text).to_string_lossy().into_owned()
                };
                out.push((
                    sys::whisper_full_get_segment_t0_from_state(state, i),
                    sys::whisper_full_get_segment_t1_from_state(state, i),
                    text,
                ));
            }
            sys::whisper_free_state(state);
            Ok(out)
        }
    }
}
