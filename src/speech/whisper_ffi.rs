//! A small safe wrapper over whisper.cpp's C API (through `whisper_rs::whisper_rs_sys`), used
//! because whisper-rs 0.16's `FullParams::set_grammar` hands whisper.cpp an element array where
//! it expects an array of rule pointers. One context per model, one state per call.

use std::cell::RefCell;
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
    /// What to score after the free reading; None for nothing.
    pub scoring: Option<&'a Scoring<'a>>,
    /// Set by the caller to abort the decode (whisper.cpp polls it between graph steps).
    pub abort: Option<&'a std::sync::atomic::AtomicBool>,
}

/// whisper.cpp's abort callback: reads the caller's flag.
unsafe extern "C" fn abort_requested(data: *mut std::os::raw::c_void) -> bool {
    if data.is_null() {
        return false;
    }
    // SAFETY: `data` is the address of an AtomicBool that outlives the decode (see `decode`).
    unsafe {
        (*(data as *const std::sync::atomic::AtomicBool)).load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Texts to score after a free reading (forced decoding with the same encoder output).
pub struct Scoring<'a> {
    /// Given the free reading's text, the texts whose likelihood to measure (empty: none).
    pub texts: &'a ScoreRequest<'a>,
    /// Interchangeable tokens (each text one token, such as " 0" .. " 9"): wherever a scored
    /// text forces one of them, the most likely other one is recorded too.
    pub rivals: &'a [String],
}

/// Tokens whose variety `cut_loops` watches: the window of whisper.cpp's own repetition test
/// (the entropy of a finished reading's last 32 tokens).
const LOOP_WINDOW: usize = 32;
/// Entropy (nats) of the last `LOOP_WINDOW` tokens under which a reading is a repetition loop.
/// whisper.cpp fails a finished reading under 2.4 and falls back to the next temperature; 2.0
/// leaves room for the end-of-text token `cut_loops` adds (one token of 32 moves the entropy
/// by less than 0.15), so a cut reading still fails that test, as the whole loop would have.
const LOOP_ENTROPY: f64 = 2.0;

/// State of `cut_loops` over one `whisper_full` call (one that starts greedy, at temperature
/// 0, and falls back to other temperatures: only such a call has it).
struct LoopCut {
    /// End-of-text token.
    eot: sys::whisper_token,
    /// Readings started so far (one per temperature tried).
    attempts: std::sync::atomic::AtomicU32,
    /// Readings cut.
    cuts: std::sync::atomic::AtomicU32,
}

/// Entropy (nats) of the token ids in `window`, as whisper.cpp computes it.
fn token_entropy(window: &[sys::whisper_token]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for t in window {
        *counts.entry(*t).or_insert(0u32) += 1;
    }
    let n = window.len() as f64;
    counts
        .values()
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.ln()
        })
        .sum()
}

/// whisper.cpp's logits filter: when the first, greedy reading of a call that has a
/// temperature fallback has fallen into a repetition loop ("7, 7, 7, ..."), only the end of
/// text is left to choose. Without it the reading repeats until the token budget (72 tokens,
/// 2 s, on a 4.6 s French recital measured here) only for whisper.cpp to fail it and try the
/// next temperature; cut, it still fails (see `LOOP_ENTROPY`) and the fallback comes at once.
/// Only the greedy reading is cut: it draws no random numbers, so the readings after it draw
/// the same ones as without the cut and come out the same (a sampled reading cut short would
/// change the draws of every later one).
unsafe extern "C" fn cut_loops(
    ctx: *mut sys::whisper_context,
    _state: *mut sys::whisper_state,
    tokens: *const sys::whisper_token_data,
    n_tokens: std::os::raw::c_int,
    logits: *mut f32,
    data: *mut std::os::raw::c_void,
) {
    use std::sync::atomic::Ordering::Relaxed;
    if data.is_null() || logits.is_null() {
        return;
    }
    // SAFETY: `data` is the address of the LoopCut that `decode` keeps alive over the call.
    let cut = unsafe { &*(data as *const LoopCut) };
    let n = usize::try_from(n_tokens).unwrap_or(0);
    if n == 0 {
        cut.attempts.fetch_add(1, Relaxed);
        return;
    }
    if n < LOOP_WINDOW || tokens.is_null() || cut.attempts.load(Relaxed) != 1 {
        return;
    }
    // SAFETY: whisper.cpp passes the reading's `n_tokens` tokens so far.
    let tokens = unsafe { std::slice::from_raw_parts(tokens, n) };
    let window: Vec<sys::whisper_token> = tokens[n - LOOP_WINDOW..].iter().map(|t| t.id).collect();
    if token_entropy(&window) >= LOOP_ENTROPY {
        return;
    }
    // SAFETY: ctx is the live context of the reading.
    let n_vocab = usize::try_from(unsafe { sys::whisper_n_vocab(ctx) }).unwrap_or(0);
    let Some(eot) = usize::try_from(cut.eot).ok().filter(|e| *e < n_vocab) else {
        return;
    };
    // SAFETY: the logits row holds one value per vocabulary token.
    let row = unsafe { std::slice::from_raw_parts_mut(logits, n_vocab) };
    row.fill(f32::NEG_INFINITY);
    row[eot] = 0.0;
    cut.cuts.fetch_add(1, Relaxed);
}

/// Chooses, from the free reading's text, which texts to score.
pub type ScoreRequest<'a> = dyn Fn(&str) -> Vec<String> + 'a;

/// One decoded segment: start and end in centiseconds from the start of the input, and text.
pub type RawSegment = (i64, i64, String);

/// Log-likelihood of a text given the audio, under whisper's plain transcription prompt
/// (language given, no timestamps), including the end-of-text token.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScore {
    /// The text scored.
    pub text: String,
    /// Sum of natural-log token probabilities.
    pub logprob: f64,
    /// Tokens scored (text tokens plus end of text).
    pub tokens: usize,
    /// Each token's piece of text and its log-probability, in order (end of text last, as "").
    pub pieces: Vec<(String, f32)>,
    /// Where a rival token was forced: how it fared against the most likely other rival.
    pub rival_slots: Vec<RivalSlot>,
    /// Leading tokens not decoded again for this score: the text scored just before began
    /// with them, and their log-probabilities (the same values) came from its decoding.
    pub reused: usize,
}

/// A forced token from a set of interchangeable tokens, against its best alternative there.
#[derive(Debug, Clone, PartialEq)]
pub struct RivalSlot {
    /// The forced token's text.
    pub forced: String,
    /// Its log-probability.
    pub logprob: f32,
    /// The most likely other token of the set.
    pub rival: String,
    /// That token's log-probability.
    pub rival_logprob: f32,
}

/// The result of one decode: segments, and the likelihood scores asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    /// Segments of the reading.
    pub segments: Vec<RawSegment>,
    /// The free reading itself scored the same way (present when texts were scored): the
    /// reference that other scores are compared with.
    pub reference: Option<TextScore>,
    /// One score per text that `Scoring::texts` asked for, in order.
    pub scores: Vec<TextScore>,
    /// Seconds spent scoring (the forced decodings after the free reading).
    pub scoring_seconds: f64,
    /// Readings cut short in a repetition loop (see `cut_loops`).
    pub loops_cut: u32,
}

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
    pub fn decode(&self, samples: &[f32], opts: &DecodeOptions) -> Result<Decoded, FfiError> {
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
            if let Some(flag) = opts.abort {
                p.abort_callback = Some(abort_requested);
                p.abort_callback_user_data = flag as *const _ as *mut std::os::raw::c_void;
            }
            p.single_segment = opts.audio_ctx > 0;
            // Nobody says more than about 8 tokens a second: a budget of 12 a second (and 16
            // more) never cuts a recital, and stops whisper hallucinating on noise for the
            // whole of its context, once per temperature of its fallback (a 0.8 s cut of a
            // real take once took 7.8 s).
            let seconds = samples.len() as f64 / f64::from(crate::decode::AUDIO_RATE);
            p.max_tokens = (16.0 + 12.0 * seconds).ceil() as i32;
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
            let loops = LoopCut {
                eot: sys::whisper_token_eot(self.ctx),
                attempts: 0.into(),
                cuts: 0.into(),
            };
            if p.temperature == 0.0 && p.temperature_inc > 0.0 {
                p.logits_filter_callback = Some(cut_loops);
                p.logits_filter_callback_user_data = &loops as *const LoopCut as *mut _;
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
            let free: String = out.iter().map(|s| s.2.as_str()).collect();
            let texts = opts
                .scoring
                .map(|s| (s.texts)(free.trim()))
                .unwrap_or_default();
            let scoring_started = std::time::Instant::now();
            let scored = if texts.is_empty() {
                Ok((None, Vec::new()))
            } else {
                self.score_with_state(state, opts, &free, &texts)
            };
            let scoring_seconds = scoring_started.elapsed().as_secs_f64();
            sys::whisper_free_state(state);
            let (reference, scores) = scored?;
            Ok(Decoded {
                segments: out,
                reference,
                scores,
                scoring_seconds,
                loops_cut: loops.cuts.into_inner(),
            })
        }
    }

    /// Scores `texts` and the free reading `free` against the encoder output held by `state`
    /// (left there by the preceding whisper_full call).
    ///
    /// # Safety
    /// `state` must be a live state of this context on which whisper_full has run.
    unsafe fn score_with_state(
        &self,
        state: *mut sys::whisper_state,
        opts: &DecodeOptions,
        free: &str,
        texts: &[String],
    ) -> Result<(Option<TextScore>, Vec<TextScore>), FfiError> {
        let scorer = Scorer::new(self.ctx, state, opts)?;
        let reference = scorer.score(free)?;
        // A text longer than the decoder's context cannot be scored (and must not be tried:
        // whisper.cpp aborts the process on a position past its context); it is left out.
        let scores = texts
            .iter()
            .map(|t| scorer.score(t))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((reference, scores))
    }
}

/// Decoder steps of a text whose log-probabilities the scorer keeps for the next text (each
/// is one vocabulary of floats, ~200 KB): texts that share more than this many first tokens
/// decode the rest again, and a long text costs at most ~13 MB.
const KEPT_STEPS: usize = 64;

/// Forced decoding over one state's encoder output, one token at a time (whisper.cpp
/// returns logits for the last token of a batch only), reusing the self-attention cache: the
/// prompt's, and the tokens a text shares with the one scored before it.
struct Scorer {
    ctx: *mut sys::whisper_context,
    state: *mut sys::whisper_state,
    threads: i32,
    prompt: Vec<sys::whisper_token>,
    /// Log-probabilities of the first text token after the prompt, computed once: the prompt
    /// stays in the self-attention cache at positions 0..prompt.len().
    after_prompt: Vec<f32>,
    /// The text tokens decoded last (in the cache from position prompt.len() on), each with
    /// the log-probabilities after it (the first `KEPT_STEPS` of a text): a text sharing
    /// their start reuses them.
    last: RefCell<Vec<(sys::whisper_token, Vec<f32>)>>,
    /// Interchangeable tokens, with their text.
    rivals: Vec<(sys::whisper_token, String)>,
    eot: sys::whisper_token,
    vocab: usize,
    /// Positions in the decoder's context (448 for every whisper model).
    n_text_ctx: usize,
}

impl Scorer {
    /// # Safety
    /// `ctx` and `state` must be live and belong together.
    unsafe fn new(
        ctx: *mut sys::whisper_context,
        state: *mut sys::whisper_state,
        opts: &DecodeOptions,
    ) -> Result<Self, FfiError> {
        let language =
            CString::new(opts.language).map_err(|_| FfiError::Call("bad language".into()))?;
        let lang_id = sys::whisper_lang_id(language.as_ptr());
        if lang_id < 0 {
            return Err(FfiError::Call(format!(
                "unknown whisper language {}",
                opts.language
            )));
        }
        let prompt = vec![
            sys::whisper_token_sot(ctx),
            sys::whisper_token_lang(ctx, lang_id),
            sys::whisper_token_transcribe(ctx),
            sys::whisper_token_not(ctx),
        ];
        let mut scorer = Self {
            ctx,
            state,
            threads: opts.threads.max(1) as i32,
            prompt,
            after_prompt: Vec::new(),
            last: RefCell::default(),
            rivals: Vec::new(),
            eot: sys::whisper_token_eot(ctx),
            vocab: sys::whisper_n_vocab(ctx).max(0) as usize,
            n_text_ctx: sys::whisper_n_text_ctx(ctx).max(0) as usize,
        };
        for r in opts.scoring.map(|s| s.rivals).unwrap_or_default() {
            if let [t] = scorer.tokenize(r)?[..] {
                scorer.rivals.push((t, r.clone()));
            }
        }
        scorer.after_prompt = scorer.step(&scorer.prompt, 0)?;
        Ok(scorer)
    }

    /// Runs `tokens` at positions from `n_past` and returns the log-softmax of the logits
    /// after the last one.
    fn step(&self, tokens: &[sys::whisper_token], n_past: usize) -> Result<Vec<f32>, FfiError> {
        // SAFETY: ctx/state are live (Scorer::new's contract); the token slice is valid for
        // the call; the logits buffer holds n_tokens * n_vocab floats after a decode, of
        // which the last row is read.
        unsafe {
            let rc = sys::whisper_decode_with_state(
                self.ctx,
                self.state,
                tokens.as_ptr(),
                tokens.len() as i32,
                n_past as i32,
                self.threads,
            );
            if rc != 0 {
                return Err(FfiError::Call(format!(
                    "whisper_decode failed with code {rc}"
                )));
            }
            let logits = sys::whisper_get_logits_from_state(self.state);
            if logits.is_null() || self.vocab == 0 {
                return Err(FfiError::Call("no logits".into()));
            }
            let row =
                std::slice::from_raw_parts(logits.add((tokens.len() - 1) * self.vocab), self.vocab);
            Ok(log_softmax(row))
        }
    }

    fn tokenize(&self, text: &str) -> Result<Vec<sys::whisper_token>, FfiError> {
        let c = CString::new(text).map_err(|_| FfiError::Call("text holds a NUL".into()))?;
        let mut buf = vec![0 as sys::whisper_token; 4 * text.len() + 8];
        // SAFETY: the buffer holds buf.len() tokens; a negative result means too small.
        let n = unsafe {
            sys::whisper_tokenize(self.ctx, c.as_ptr(), buf.as_mut_ptr(), buf.len() as i32)
        };
        if n < 0 {
            return Err(FfiError::Call("cannot tokenize".into()));
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// Log-likelihood of `text` (then end of text) after the prompt; None when the text does
    /// not fit in the decoder's context after the prompt.
    fn score(&self, text: &str) -> Result<Option<TextScore>, FfiError> {
        let mut tokens = self.tokenize(text)?;
        tokens.push(self.eot);
        if self.prompt.len() + tokens.len() > self.n_text_ctx {
            return Ok(None);
        }
        // Positions from prompt.len() on are overwritten by each text in turn; those of the
        // tokens this text shares with the one scored before are still in the cache, with
        // the log-probabilities after each, and are not decoded again (the same values).
        let mut last = self.last.borrow_mut();
        let shared = last
            .iter()
            .zip(&tokens)
            .take_while(|((a, _), b)| a == *b)
            .count();
        last.truncate(shared);
        let mut total = 0f64;
        let mut pieces = Vec::with_capacity(tokens.len());
        let mut rival_slots = Vec::new();
        // The log-probabilities after a token past the kept ones.
        let mut current = Vec::new();
        for (i, &t) in tokens.iter().enumerate() {
            let logp: &[f32] = if i == 0 {
                &self.after_prompt
            } else if i <= last.len() {
                &last[i - 1].1
            } else {
                &current
            };
            total += f64::from(logp[t as usize]);
            if let Some((_, forced)) = self.rivals.iter().find(|r| r.0 == t) {
                let best = self
                    .rivals
                    .iter()
                    .filter(|r| r.0 != t)
                    .max_by(|a, b| logp[a.0 as usize].total_cmp(&logp[b.0 as usize]));
                if let Some((rt, rival)) = best {
                    rival_slots.push(RivalSlot {
                        forced: forced.clone(),
                        logprob: logp[t as usize],
                        rival: rival.clone(),
                        rival_logprob: logp[*rt as usize],
                    });
                }
            }
            let piece = if t == self.eot {
                String::new()
            } else {
                self.piece(t)
            };
            pieces.push((piece, logp[t as usize]));
            if i + 1 < tokens.len() && i >= shared {
                let next = self.step(&[t], self.prompt.len() + i)?;
                if last.len() == i && i < KEPT_STEPS {
                    last.push((t, next));
                } else {
                    current = next;
                }
            }
        }
        Ok(Some(TextScore {
            text: text.to_string(),
            logprob: total,
            tokens: tokens.len(),
            pieces,
            rival_slots,
            reused: shared,
        }))
    }

    /// The text of one token (lossy where a token holds part of a UTF-8 sequence).
    fn piece(&self, token: sys::whisper_token) -> String {
        // SAFETY: token is an id of this context's vocabulary; whisper returns a
        // NUL-terminated string owned by the vocabulary, copied here.
        unsafe {
            let p = sys::whisper_token_to_str(self.ctx, token);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }
}

fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    let log_sum = sum.ln() as f32 + max;
    row.iter().map(|&x| x - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// whisper.cpp's build features, as it prints them (`WHISPER : ... | CPU : AVX2 = 1 | ...`).
    fn system_info() -> String {
        // SAFETY: returns a pointer to a static NUL-terminated string, copied at once.
        unsafe { CStr::from_ptr(sys::whisper_print_system_info()) }
            .to_string_lossy()
            .into_owned()
    }

    /// `.cargo/config.toml` builds whisper.cpp with llamafile's matrix kernels, which halve
    /// the encoder's time on x86 (docs/performance.md); a build that lost the setting (say, a
    /// target folder from before it, since whisper-rs-sys does not rebuild when it changes)
    /// fails here instead of silently running twice as slow.
    #[test]
    fn token_entropy_is_whisper_cpps() {
        assert_eq!(token_entropy(&[7; 32]), 0.0);
        let two: Vec<i32> = (0..32).map(|i| 7 + i % 2).collect();
        assert!((token_entropy(&two) - 2f64.ln()).abs() < 1e-12);
        let all: Vec<i32> = (0..32).collect();
        assert!((token_entropy(&all) - 32f64.ln()).abs() < 1e-12);
        // One token of the window replaced by another (the end of text a cut adds) moves the
        // entropy of a loop under LOOP_ENTROPY by less than the margin to whisper.cpp's 2.4.
        let loop7: Vec<i32> = (0..32).map(|i| i % 7).collect();
        assert!(token_entropy(&loop7) < LOOP_ENTROPY);
        let mut with_eot = loop7[1..].to_vec();
        with_eot.push(50257);
        assert!(token_entropy(&with_eot) < 2.4);
    }

    #[test]
    fn whisper_cpp_is_built_with_the_llamafile_kernels() {
        let info = system_info();
        assert!(info.contains("LLAMAFILE = 1"), "{info}");
    }
}
