//! Converts a Whisper model in CTranslate2 form into the ggml file layout that whisper.cpp
//! (and so `whisper-rs`) loads.
//!
//! The output follows whisper.cpp's `convert-pt-to-ggml.py`: magic, hyper-parameters, the mel
//! filterbank, the BPE vocabulary as raw bytes, then every tensor under its original PyTorch
//! name. CTranslate2 fuses the self-attention query/key/value projections (and the
//! cross-attention key/value) and renames layers; both are undone here.

use std::io::{Read, Write};

use super::ct2::{Ct2Model, Ct2Variable};
use super::mel::mel_filterbank;
use super::ModelError;

/// ggml's file magic, `ggml` as a little-endian u32.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Whisper hyper-parameters, as the ggml header lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperHparams {
    /// Vocabulary size including special tokens (51865 for multilingual models).
    pub n_vocab: usize,
    /// Encoder positions (1500 for a 30 s window).
    pub n_audio_ctx: usize,
    /// Encoder width.
    pub n_audio_state: usize,
    /// Encoder attention heads.
    pub n_audio_head: usize,
    /// Encoder layers.
    pub n_audio_layer: usize,
    /// Decoder positions.
    pub n_text_ctx: usize,
    /// Decoder width.
    pub n_text_state: usize,
    /// Decoder attention heads.
    pub n_text_head: usize,
    /// Decoder layers.
    pub n_text_layer: usize,
    /// Mel bins of the input features.
    pub n_mels: usize,
}

/// Counts of what a conversion wrote, for logs and tests.
#[derive(Debug, Clone)]
pub struct ConversionSummary {
    /// Hyper-parameters read from the CTranslate2 model.
    pub hparams: WhisperHparams,
    /// Number of BPE tokens written (special tokens are added by whisper.cpp itself).
    pub tokens: usize,
    /// Number of tensors written.
    pub tensors: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Whisper's regular (non-special) token count in the multilingual and English vocabularies.
fn base_vocab_size(n_vocab: usize) -> usize {
    if n_vocab >= 51865 {
        50257
    } else {
        50256
    }
}

/// Reads hyper-parameters from the tensor shapes of a CTranslate2 `WhisperSpec` model.
pub fn hparams(model: &Ct2Model) -> Result<WhisperHparams, ModelError> {
    if model.spec != "WhisperSpec" {
        return Err(ModelError::Format(format!(
            "expected a WhisperSpec model, found {}",
            model.spec
        )));
    }
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                model
                    .variables
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    };
    let heads = |name: &str| -> Result<usize, ModelError> {
        model
            .get(name)?
            .scalar_i64()
            .filter(|h| *h > 0)
            .map(|h| h as usize)
            .ok_or_else(|| ModelError::Format(format!("{name} is not a positive scalar")))
    };
    let enc_pos = &model.get("encoder/position_encodings/encodings")?.shape;
    let dec_pos = &model.get("decoder/position_encodings/encodings")?.shape;
    let emb = &model.get("decoder/embeddings/weight")?.shape;
    let conv1 = &model.get("encoder/conv1/weight")?.shape;
    if enc_pos.len() != 2 || dec_pos.len() != 2 || emb.len() != 2 || conv1.len() != 3 {
        return Err(ModelError::Format("unexpected Whisper tensor ranks".into()));
    }
    Ok(WhisperHparams {
        n_vocab: emb[0],
        n_audio_ctx: enc_pos[0],
        n_audio_state: enc_pos[1],
        n_audio_head: heads("encoder/num_heads")?,
        n_audio_layer: count_layers("encoder"),
        n_text_ctx: dec_pos[0],
        n_text_state: dec_pos[1],
        n_text_head: heads("decoder/num_heads")?,
        n_text_layer: count_layers("decoder"),
        n_mels: conv1[1],
    })
}

/// Decodes one line of a GPT-2 byte-level vocabulary (`vocabulary.txt`) back to raw bytes.
pub fn decode_byte_level(token: &str) -> Result<Vec<u8>, ModelError> {
    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100.. in order.
    let mut table = [0u32; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        *slot = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
    }
    token
        .chars()
        .map(|c| {
            table
                .iter()
                .position(|&u| u == c as u32)
                .map(|b| b as u8)
                .ok_or_else(|| ModelError::Format(format!("character {c:?} is not byte-level BPE")))
        })
        .collect()
}

struct TensorOut {
    name: String,
    /// Row-major shape, outermost first.
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// Splits a row-major matrix `[rows, cols]` (or vector) into equal parts along its first axis.
/// A tensor's shape and values.
type ShapedValues = (Vec<usize>, Vec<f32>);

fn split_rows(v: &Ct2Variable, parts: usize) -> Result<Vec<ShapedValues>, ModelError> {
    let values = v.to_f32();
    let rows = v.shape[0];
    if !rows.is_multiple_of(parts) {
        return Err(ModelError::Format(format!(
            "cannot split {rows} rows into {parts} parts"
        )));
    }
    let mut shape = v.shape.clone();
    shape[0] = rows / parts;
    let chunk = values.len() / parts;
    Ok(values
        .chunks(chunk)
        .map(|c| (shape.clone(), c.to_vec()))
        .collect())
}

fn tensors(model: &Ct2Model, hp: &WhisperHparams) -> Result<Vec<TensorOut>, ModelError> {
    let mut out = Vec::new();
    let plain = |name: &str, ct2: &str, out: &mut Vec<TensorOut>| -> Result<(), ModelError> {
        let v = model.get(ct2)?;
        out.push(TensorOut {
            name: name.to_string(),
            shape: v.shape.clone(),
            values: v.to_f32(),
        });
        Ok(())
    };
    let push = |out: &mut Vec<TensorOut>, name: String, (shape, values): ShapedValues| {
        out.push(TensorOut {
            name,
            shape,
            values,
        });
    };
    for conv in ["conv1", "conv2"] {
        plain(
            &format!("encoder.{conv}.weight"),
            &format!("encoder/{conv}/weight"),
            &mut out,
        )?;
        let b = model.get(&format!("encoder/{conv}/bias"))?;
        out.push(TensorOut {
            name: format!("encoder.{conv}.bias"),
            shape: vec![b.len(), 1],
            values: b.to_f32(),
        });
    }
    plain(
        "encoder.positional_embedding",
        "encoder/position_encodings/encodings",
        &mut out,
    )?;
    // A layer norm (gamma, beta) or a linear layer (weight, bias): two tensors copied as they are.
    let pair = |out: &mut Vec<TensorOut>,
                name: &str,
                ct2: &str,
                parts: [(&str, &str); 2]|
     -> Result<(), ModelError> {
        for (pt, c) in parts {
            plain(&format!("{name}.{pt}"), &format!("{ct2}/{c}"), out)?;
        }
        Ok(())
    };
    let ln = |out: &mut Vec<TensorOut>, name: &str, ct2: &str| {
        pair(out, name, ct2, [("weight", "gamma"), ("bias", "beta")])
    };
    let linear = |out: &mut Vec<TensorOut>, name: &str, ct2: &str| {
        pair(out, name, ct2, [("weight", "weight"), ("bias", "bias")])
    };
    // Fused q,k,v (self-attention): split, and drop the key bias that PyTorch Whisper lacks.
    let qkv = |out: &mut Vec<TensorOut>, pt: &str, ct2: &str| -> Result<(), ModelError> {
        let w = split_rows(model.get(&format!("{ct2}/weight"))?, 3)?;
        let b = split_rows(model.get(&format!("{ct2}/bias"))?, 3)?;
        let mut w = w.into_iter();
        let mut b = b.into_iter();
        push(
            out,
            format!("{pt}.query.weight"),
            w.next().unwrap_or_default(),
        );
        push(
            out,
            format!("{pt}.query.bias"),
            b.next().unwrap_or_default(),
        );
        push(
            out,
            format!("{pt}.key.weight"),
            w.next().unwrap_or_default(),
        );
        b.next();
        push(
            out,
            format!("{pt}.value.weight"),
            w.next().unwrap_or_default(),
        );
        push(
            out,
            format!("{pt}.value.bias"),
            b.next().unwrap_or_default(),
        );
        Ok(())
    };
    for i in 0..hp.n_audio_layer {
        let (pt, c) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        ln(
            &mut out,
            &format!("{pt}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
        )?;
        qkv(
            &mut out,
            &format!("{pt}.attn"),
            &format!("{c}/self_attention/linear_0"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.attn.out"),
            &format!("{c}/self_attention/linear_1"),
        )?;
        ln(
            &mut out,
            &format!("{pt}.mlp_ln"),
            &format!("{c}/ffn/layer_norm"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.mlp.0"),
            &format!("{c}/ffn/linear_0"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.mlp.2"),
            &format!("{c}/ffn/linear_1"),
        )?;
    }
    ln(&mut out, "encoder.ln_post", "encoder/layer_norm")?;
    plain(
        "decoder.positional_embedding",
        "decoder/position_encodings/encodings",
        &mut out,
    )?;
    plain(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
        &mut out,
    )?;
    for i in 0..hp.n_text_layer {
        let (pt, c) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        ln(
            &mut out,
            &format!("{pt}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
        )?;
        qkv(
            &mut out,
            &format!("{pt}.attn"),
            &format!("{c}/self_attention/linear_0"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.attn.out"),
            &format!("{c}/self_attention/linear_1"),
        )?;
        ln(
            &mut out,
            &format!("{pt}.cross_attn_ln"),
            &format!("{c}/attention/layer_norm"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.cross_attn.query"),
            &format!("{c}/attention/linear_0"),
        )?;
        // Fused cross-attention k,v: split; PyTorch's key has no bias.
        let w = split_rows(model.get(&format!("{c}/attention/linear_1/weight"))?, 2)?;
        let b = split_rows(model.get(&format!("{c}/attention/linear_1/bias"))?, 2)?;
        let (mut w, mut b) = (w.into_iter(), b.into_iter());
        push(
            &mut out,
            format!("{pt}.cross_attn.key.weight"),
            w.next().unwrap_or_default(),
        );
        b.next();
        push(
            &mut out,
            format!("{pt}.cross_attn.value.weight"),
            w.next().unwrap_or_default(),
        );
        push(
            &mut out,
            format!("{pt}.cross_attn.value.bias"),
            b.next().unwrap_or_default(),
        );
        linear(
            &mut out,
            &format!("{pt}.cross_attn.out"),
            &format!("{c}/attention/linear_2"),
        )?;
        ln(
            &mut out,
            &format!("{pt}.mlp_ln"),
            &format!("{c}/ffn/layer_norm"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.mlp.0"),
            &format!("{c}/ffn/linear_0"),
        )?;
        linear(
            &mut out,
            &format!("{pt}.mlp.2"),
            &format!("{c}/ffn/linear_1"),
        )?;
    }
    ln(&mut out, "decoder.ln", "decoder/layer_norm")?;
    Ok(out)
}

/// Whether whisper.cpp expects this tensor in f32 (as convert-pt-to-ggml.py writes it).
fn stored_as_f32(t: &TensorOut) -> bool {
    t.shape.len() < 2
        || t.name == "encoder.conv1.bias"
        || t.name == "encoder.conv2.bias"
        || t.name.ends_with("positional_embedding")
}

fn i32_le(w: &mut impl Write, v: usize) -> Result<(), ModelError> {
    let v = i32::try_from(v).map_err(|_| ModelError::Format(format!("{v} exceeds i32")))?;
    w.write_all(&v.to_le_bytes())?;
    Ok(())
}

/// Writes the ggml file for `model`, using `vocabulary` (one byte-level BPE token per line).
pub fn write_ggml(
    model: &Ct2Model,
    vocabulary: &str,
    mut w: impl Write,
) -> Result<ConversionSummary, ModelError> {
    let hp = hparams(model)?;
    let mut bytes = 0u64;
    let mut header = Vec::new();
    header.extend(GGML_MAGIC.to_le_bytes());
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
        1, // ftype: f16 weights
    ] {
        i32_le(&mut header, v)?;
    }
    let n_fft = 201;
    i32_le(&mut header, hp.n_mels)?;
    i32_le(&mut header, n_fft)?;
    for v in mel_filterbank(16000, 400, hp.n_mels) {
        header.extend(v.to_le_bytes());
    }
    let n_tokens = base_vocab_size(hp.n_vocab);
    let lines: Vec<&str> = vocabulary.split('\n').collect();
    if lines.len() < n_tokens {
        return Err(ModelError::Format(format!(
            "vocabulary has {} entries, expected at least {n_tokens}",
            lines.len()
        )));
    }
    i32_le(&mut header, n_tokens)?;
    for line in &lines[..n_tokens] {
        let raw = decode_byte_level(line.trim_end_matches('\r'))?;
        i32_le(&mut header, raw.len())?;
        header.extend(&raw);
    }
    w.write_all(&header)?;
    bytes += header.len() as u64;

    let tensors = tensors(model, &hp)?;
    for t in &tensors {
        let f32_out = stored_as_f32(t);
        let mut h = Vec::new();
        i32_le(&mut h, t.shape.len())?;
        i32_le(&mut h, t.name.len())?;
        i32_le(&mut h, if f32_out { 0 } else { 1 })?;
        for d in t.shape.iter().rev() {
            i32_le(&mut h, *d)?;
        }
        h.extend(t.name.as_bytes());
        let mut data = Vec::with_capacity(t.values.len() * 4);
        if f32_out {
            t.values.iter().for_each(|v| data.extend(v.to_le_bytes()));
        } else {
            t.values
                .iter()
                .for_each(|v| data.extend(half::f16::from_f32(*v).to_le_bytes()));
        }
        w.write_all(&h)?;
        w.write_all(&data)?;
        bytes += (h.len() + data.len()) as u64;
    }
    w.flush()?;
    Ok(ConversionSummary {
        hparams: hp,
        tokens: n_tokens,
        tensors: tensors.len(),
        bytes,
    })
}

/// ggml's tensor type of f32 values.
const GGML_TYPE_F32: i32 = 0;
/// ggml's tensor type of f16 values.
const GGML_TYPE_F16: i32 = 1;
/// ggml's tensor type of 8-bit blocks (`Q8_0`).
const GGML_TYPE_Q8_0: i32 = 8;
/// The header's `ftype` of a model whose matrices are `Q8_0` (`GGML_FTYPE_MOSTLY_Q8_0`).
const FTYPE_MOSTLY_Q8_0: i32 = 7;
/// Values per `Q8_0` block.
const Q8_0_BLOCK: usize = 32;

/// `values` as ggml `Q8_0` blocks: per 32 values, an f16 scale `d = max|x| / 127` and the 32
/// values as `round(x / d)` in i8 (ggml's reference quantisation, rounding half away from
/// zero). `values.len()` must be a multiple of 32.
pub fn q8_0_blocks(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * (2 + Q8_0_BLOCK));
    for block in values.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend(half::f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inverse).round() as i8 as u8));
    }
    out
}

/// What a quantisation wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeSummary {
    /// Tensors turned into `Q8_0`.
    pub quantized: usize,
    /// Tensors copied as they were (biases, norms, convolutions, positional embeddings).
    pub kept: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Reads exactly `n` bytes.
fn read_n(r: &mut impl Read, n: usize) -> Result<Vec<u8>, ModelError> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)
        .map_err(|e| ModelError::Format(format!("ggml file ends early: {e}")))?;
    Ok(buf)
}

/// Reads one little-endian i32.
fn read_i32(r: &mut impl Read) -> Result<i32, ModelError> {
    let b = read_n(r, 4)?;
    Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a non-negative i32 as a count, refusing absurd ones.
fn read_count(r: &mut impl Read, what: &str, max: usize) -> Result<usize, ModelError> {
    let v = read_i32(r)?;
    usize::try_from(v)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| ModelError::Format(format!("ggml {what} {v} out of range")))
}

/// Rewrites an f16 whisper ggml file (as [`write_ggml`] writes it) with its weight matrices
/// as `Q8_0`, the way whisper.cpp's own quantiser does: every 2-D f16 tensor except the
/// positional embeddings becomes `Q8_0`; biases, norms, the convolutions (3-D, kept f16 as
/// whisper.cpp expects) and the f32 tensors are copied; the header's `ftype` says `Q8_0`.
/// The output depends only on the input, so its sha256 can be pinned in the manifest.
pub fn quantize_q8_0(mut r: impl Read, mut w: impl Write) -> Result<QuantizeSummary, ModelError> {
    let mut bytes = 0u64;
    let mut put = |w: &mut dyn Write, b: &[u8]| -> Result<(), ModelError> {
        w.write_all(b)?;
        bytes += b.len() as u64;
        Ok(())
    };
    let magic = read_n(&mut r, 4)?;
    if magic != GGML_MAGIC.to_le_bytes() {
        return Err(ModelError::Format("not a ggml whisper file".into()));
    }
    put(&mut w, &magic)?;
    let mut hparams = [0i32; 11];
    for v in &mut hparams {
        *v = read_i32(&mut r)?;
    }
    if hparams[10] != 1 {
        return Err(ModelError::Format(format!(
            "expected an f16 model (ftype 1), found ftype {}",
            hparams[10]
        )));
    }
    hparams[10] = FTYPE_MOSTLY_Q8_0;
    for v in hparams {
        put(&mut w, &v.to_le_bytes())?;
    }
    // The mel filterbank and the vocabulary, copied.
    let n_mel = read_count(&mut r, "mel bins", 1024)?;
    let n_fft = read_count(&mut r, "fft bins", 4096)?;
    put(&mut w, &(n_mel as i32).to_le_bytes())?;
    put(&mut w, &(n_fft as i32).to_le_bytes())?;
    put(&mut w, &read_n(&mut r, 4 * n_mel * n_fft)?)?;
    let n_tokens = read_count(&mut r, "vocabulary size", 1 << 20)?;
    put(&mut w, &(n_tokens as i32).to_le_bytes())?;
    for _ in 0..n_tokens {
        let len = read_count(&mut r, "token length", 1 << 10)?;
        put(&mut w, &(len as i32).to_le_bytes())?;
        put(&mut w, &read_n(&mut r, len)?)?;
    }
    // The tensors, up to the end of the file.
    let (mut quantized, mut kept) = (0, 0);
    loop {
        let mut first = [0u8; 4];
        match r.read(&mut first)? {
            0 => break,
            4 => {}
            n => first[n..].copy_from_slice(&read_n(&mut r, 4 - n)?),
        }
        let n_dims = usize::try_from(i32::from_le_bytes(first))
            .ok()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| ModelError::Format("ggml tensor with a bad rank".into()))?;
        let name_len = read_count(&mut r, "tensor name length", 1 << 10)?;
        let ttype = read_i32(&mut r)?;
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            dims.push(read_count(&mut r, "tensor dimension", 1 << 26)?);
        }
        let name = read_n(&mut r, name_len)?;
        let n = dims
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .filter(|n| *n <= 1 << 31)
            .ok_or_else(|| ModelError::Format("ggml tensor too large".into()))?;
        let data = match ttype {
            GGML_TYPE_F32 => read_n(&mut r, 4 * n)?,
            GGML_TYPE_F16 => read_n(&mut r, 2 * n)?,
            other => {
                return Err(ModelError::Format(format!(
                    "ggml tensor of type {other}: only f32 and f16 are read"
                )))
            }
        };
        let positional = name.ends_with(b"positional_embedding");
        let to_q8 =
            ttype == GGML_TYPE_F16 && n_dims == 2 && !positional && dims[0] % Q8_0_BLOCK == 0;
        let (out_type, out) = if to_q8 {
            let values: Vec<f32> = data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect();
            quantized += 1;
            (GGML_TYPE_Q8_0, q8_0_blocks(&values))
        } else {
            kept += 1;
            (ttype, data)
        };
        put(&mut w, &(n_dims as i32).to_le_bytes())?;
        put(&mut w, &(name_len as i32).to_le_bytes())?;
        put(&mut w, &out_type.to_le_bytes())?;
        for d in &dims {
            put(&mut w, &(*d as i32).to_le_bytes())?;
        }
        put(&mut w, &name)?;
        put(&mut w, &out)?;
    }
    w.flush()?;
    Ok(QuantizeSummary {
        quantized,
        kept,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ct2::tests::write_model;

    fn f16_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
        values
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect()
    }

    /// A tiny WhisperSpec model (width 4, one layer each side) with recognisable values:
    /// element i of a tensor holds i (mod 64), so splits can be checked.
    fn tiny_model() -> Vec<u8> {
        let d = 4usize;
        let mut vars: Vec<(String, Vec<usize>, u8, Vec<u8>)> = Vec::new();
        let mut t = |name: &str, shape: Vec<usize>| {
            let n: usize = shape.iter().product();
            vars.push((
                name.to_string(),
                shape,
                4,
                f16_bytes((0..n).map(|i| (i % 64) as f32)),
            ));
        };
        t("encoder/conv1/weight", vec![d, 3, 3]);
        t("encoder/conv1/bias", vec![d]);
        t("encoder/conv2/weight", vec![d, d, 3]);
        t("encoder/conv2/bias", vec![d]);
        t("encoder/position_encodings/encodings", vec![6, d]);
        t("decoder/position_encodings/encodings", vec![5, d]);
        t("decoder/embeddings/weight", vec![51865, d]);
        for side in ["encoder", "decoder"] {
            let l = format!("{side}/layer_0");
            for ln in ["self_attention/layer_norm", "ffn/layer_norm"] {
                t(&format!("{l}/{ln}/gamma"), vec![d]);
                t(&format!("{l}/{ln}/beta"), vec![d]);
            }
            t(
                &format!("{l}/self_attention/linear_0/weight"),
                vec![3 * d, d],
            );
            t(&format!("{l}/self_attention/linear_0/bias"), vec![3 * d]);
            t(&format!("{l}/self_attention/linear_1/weight"), vec![d, d]);
            t(&format!("{l}/self_attention/linear_1/bias"), vec![d]);
            t(&format!("{l}/ffn/linear_0/weight"), vec![2 * d, d]);
            t(&format!("{l}/ffn/linear_0/bias"), vec![2 * d]);
            t(&format!("{l}/ffn/linear_1/weight"), vec![d, 2 * d]);
            t(&format!("{l}/ffn/linear_1/bias"), vec![d]);
            t(&format!("{side}/layer_norm/gamma"), vec![d]);
            t(&format!("{side}/layer_norm/beta"), vec![d]);
        }
        let l = "decoder/layer_0/attention";
        t(&format!("{l}/layer_norm/gamma"), vec![d]);
        t(&format!("{l}/layer_norm/beta"), vec![d]);
        t(&format!("{l}/linear_0/weight"), vec![d, d]);
        t(&format!("{l}/linear_0/bias"), vec![d]);
        t(&format!("{l}/linear_1/weight"), vec![2 * d, d]);
        t(&format!("{l}/linear_1/bias"), vec![2 * d]);
        t(&format!("{l}/linear_2/weight"), vec![d, d]);
        t(&format!("{l}/linear_2/bias"), vec![d]);
        vars.push((
            "encoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ));
        vars.push((
            "decoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ));
        let refs: Vec<(&str, Vec<usize>, u8, Vec<u8>)> = vars
            .iter()
            .map(|(n, s, t, d)| (n.as_str(), s.clone(), *t, d.clone()))
            .collect();
        write_model("WhisperSpec", &refs)
    }

    struct Reader<'a>(&'a [u8], usize);
    impl Reader<'_> {
        fn i32(&mut self) -> i32 {
            let v = i32::from_le_bytes(self.0[self.1..self.1 + 4].try_into().unwrap());
            self.1 += 4;
            v
        }
        fn bytes(&mut self, n: usize) -> &[u8] {
            self.1 += n;
            &self.0[self.1 - n..self.1]
        }
    }

    /// One ggml tensor record: rank, name length, type, dimensions (innermost first), name.
    fn tensor_record(name: &str, dims: &[usize], ttype: i32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [dims.len() as i32, name.len() as i32, ttype] {
            out.extend(v.to_le_bytes());
        }
        for d in dims {
            out.extend((*d as i32).to_le_bytes());
        }
        out.extend(name.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn q8_0_blocks_keep_each_value_within_half_a_step() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.37).collect();
        let blocks = q8_0_blocks(&values);
        assert_eq!(blocks.len(), 2 * 34);
        for (b, chunk) in blocks.chunks_exact(34).zip(values.chunks_exact(32)) {
            let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
            let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((d - amax / 127.0).abs() < 1e-3 * amax);
            for (q, v) in b[2..].iter().zip(chunk) {
                assert!(
                    ((*q as i8) as f32 * d - v).abs() <= d / 2.0 + 1e-3 * amax,
                    "{v}"
                );
            }
        }
        // A block of zeros has a zero scale and zero values; ties round away from zero.
        assert!(q8_0_blocks(&[0.0; 32]).iter().all(|b| *b == 0));
        let mut tie = vec![0.0f32; 32];
        tie[0] = 127.0;
        tie[1] = 0.5;
        tie[2] = -0.5;
        let b = q8_0_blocks(&tie);
        assert_eq!((b[2] as i8, b[3] as i8, b[4] as i8), (127, 1, -1));
    }

    #[test]
    fn quantizes_the_weight_matrices_the_way_whisper_cpp_loads_them() {
        let mut file = Vec::new();
        file.extend(GGML_MAGIC.to_le_bytes());
        for v in [51865i32, 6, 64, 2, 1, 5, 64, 2, 1, 3, 1] {
            file.extend(v.to_le_bytes());
        }
        file.extend(3i32.to_le_bytes());
        file.extend(2i32.to_le_bytes());
        file.extend([7u8; 3 * 2 * 4]);
        file.extend(2i32.to_le_bytes());
        for token in [&b"hi"[..], &b" there"[..]] {
            file.extend((token.len() as i32).to_le_bytes());
            file.extend(token);
        }
        let header_len = file.len();
        let matrix: Vec<f32> = (0..128).map(|i| (i as f32 - 64.0) / 10.0).collect();
        let records = [
            tensor_record(
                "decoder.token_embedding.weight",
                &[64, 2],
                1,
                &f16_bytes(matrix.iter().copied()),
            ),
            tensor_record(
                "encoder.positional_embedding",
                &[64, 2],
                1,
                &f16_bytes(matrix.iter().copied()),
            ),
            tensor_record(
                "encoder.conv1.weight",
                &[3, 2, 64],
                1,
                &f16_bytes((0..384).map(|i| i as f32)),
            ),
            tensor_record("encoder.conv1.bias", &[1, 64], 0, &[0u8; 256]),
            tensor_record("encoder.ln_post.weight", &[64], 0, &[0u8; 256]),
            tensor_record(
                "narrow.weight",
                &[4, 2],
                1,
                &f16_bytes((0..8).map(|i| i as f32)),
            ),
        ];
        records.iter().for_each(|r| file.extend(r));
        let mut out = Vec::new();
        let summary = quantize_q8_0(&file[..], &mut out).unwrap();
        assert_eq!((summary.quantized, summary.kept), (1, 5));
        assert_eq!(summary.bytes as usize, out.len());
        // The header is the same but for ftype 7; everything but the first tensor is copied.
        assert_eq!(&out[..44], &file[..44]);
        assert_eq!(
            i32::from_le_bytes(out[44..48].try_into().unwrap()),
            FTYPE_MOSTLY_Q8_0
        );
        assert_eq!(&out[48..header_len], &file[48..header_len]);
        let mut r = Reader(&out, header_len);
        let (dims, name_len, ttype) = (r.i32(), r.i32(), r.i32());
        assert_eq!((dims, ttype), (2, GGML_TYPE_Q8_0));
        assert_eq!((r.i32(), r.i32()), (64, 2));
        assert_eq!(
            r.bytes(name_len as usize),
            b"decoder.token_embedding.weight"
        );
        let blocks = r.bytes(4 * 34).to_vec();
        // Quantised from the values as stored (f16).
        let stored: Vec<f32> = matrix
            .iter()
            .map(|v| half::f16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(blocks, q8_0_blocks(&stored));
        let rest: Vec<u8> = records[1..].concat();
        assert_eq!(&out[r.1..], &rest[..]);
        // Only f16 models are read, and a cut file is an error, not a panic.
        assert!(quantize_q8_0(&out[..], &mut Vec::new()).is_err());
        assert!(quantize_q8_0(&file[..file.len() - 3], &mut Vec::new()).is_err());
    }

    #[test]
    fn converts_a_ct2_model_into_the_whisper_cpp_layout() {
        let model = Ct2Model::read(&tiny_model()[..]).unwrap();
        let vocab = "hello\nĠthe\n".repeat(25_200);
        let mut out = Vec::new();
        let summary = write_ggml(&model, &vocab, &mut out).unwrap();
        assert_eq!(summary.bytes as usize, out.len());
        let mut r = Reader(&out, 0);
        assert_eq!(r.i32() as u32, GGML_MAGIC);
        let hp: Vec<i32> = (0..11).map(|_| r.i32()).collect();
        assert_eq!(hp, [51865, 6, 4, 2, 1, 5, 4, 2, 1, 3, 1]);
        assert_eq!((r.i32(), r.i32()), (3, 201));
        r.bytes(3 * 201 * 4);
        assert_eq!(r.i32(), 50257);
        for i in 0..50257 {
            let len = r.i32() as usize;
            let expect: &[u8] = if i % 2 == 0 { b"hello" } else { b" the" };
            assert_eq!(r.bytes(len), expect);
        }
        let mut names = Vec::new();
        while r.1 < out.len() {
            let (dims, name_len, ftype) = (r.i32() as usize, r.i32() as usize, r.i32());
            let shape: Vec<usize> = (0..dims).map(|_| r.i32() as usize).collect();
            let name = String::from_utf8(r.bytes(name_len).to_vec()).unwrap();
            let n: usize = shape.iter().product();
            let data = r.bytes(n * if ftype == 0 { 4 } else { 2 }).to_vec();
            let first = |k: usize| -> f32 {
                if ftype == 0 {
                    f32::from_le_bytes(data[k * 4..k * 4 + 4].try_into().unwrap())
                } else {
                    half::f16::from_le_bytes([data[k * 2], data[k * 2 + 1]]).to_f32()
                }
            };
            match name.as_str() {
                // ggml lists dimensions innermost first.
                "encoder.conv1.weight" => assert_eq!((shape.clone(), ftype), (vec![3, 3, 4], 1)),
                "encoder.conv1.bias" => assert_eq!((shape.clone(), ftype), (vec![1, 4], 0)),
                "encoder.positional_embedding" => assert_eq!(ftype, 0),
                "encoder.blocks.0.attn.query.weight" => {
                    assert_eq!((shape.clone(), first(0)), (vec![4, 4], 0.0))
                }
                // The key is the second third of the fused projection: rows 4..8 start at 16.
                "encoder.blocks.0.attn.key.weight" => assert_eq!(first(0), 16.0),
                "encoder.blocks.0.attn.value.bias" => {
                    assert_eq!((shape.clone(), first(0), ftype), (vec![4], 8.0, 0))
                }
                "decoder.blocks.0.cross_attn.value.weight" => assert_eq!(first(0), 16.0),
                _ => {}
            }
            names.push(name);
        }
        assert_eq!(names.len(), summary.tensors);
        assert!(
            !names.iter().any(|n| n.ends_with("key.bias")),
            "PyTorch Whisper keys have no bias"
        );
        for n in [
            "decoder.token_embedding.weight",
            "decoder.ln.weight",
            "encoder.ln_post.bias",
            "decoder.blocks.0.cross_attn.query.bias",
            "decoder.blocks.0.mlp.2.weight",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing");
        }
        // 5 conv/pos + 2 ln_post + 1 layer x 15 (encoder) + 2 embeddings + 2 ln + 1 layer x 24 (decoder)
        assert_eq!(names.len(), 5 + 2 + 15 + 2 + 2 + 24);
    }

    #[test]
    fn a_model_of_another_kind_is_refused() {
        let bytes = write_model("TransformerSpec", &[("x", vec![1], 0, vec![0; 4])]);
        let model = Ct2Model::read(&bytes[..]).unwrap();
        assert!(matches!(
            write_ggml(&model, "", Vec::new()),
            Err(ModelError::Format(_))
        ));
    }

    #[test]
    fn byte_level_tokens_decode_to_raw_bytes() {
        assert_eq!(decode_byte_level("hello").unwrap(), b"hello");
        assert_eq!(decode_byte_level("Ġthe").unwrap(), b" the");
        assert_eq!(decode_byte_level("Ċ").unwrap(), b"\n");
        // "é" in UTF-8 is C3 A9; both bytes are printable in the table.
        assert_eq!(decode_byte_level("Ã©").unwrap(), "é".as_bytes());
        assert_eq!(decode_byte_level("").unwrap(), b"");
        assert!(decode_byte_level("\u{4e2d}").is_err());
    }
}
