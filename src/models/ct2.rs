//! Reader for CTranslate2 `model.bin` files (binary format version 6 and close relatives).
//!
//! The layout is a small header (format version, spec name, spec revision), a list of named
//! variables (name, rank, shape, dtype, byte length, raw little-endian data) and a list of
//! aliases (one name standing for another variable). Nothing here knows about Whisper.

use std::collections::HashMap;
use std::io::Read;

use super::ModelError;

/// Element type of a CTranslate2 variable, as numbered in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    /// 32-bit IEEE float.
    F32,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    Bf16,
}

impl Ct2Dtype {
    fn from_code(code: u8) -> Result<Self, ModelError> {
        Ok(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            other => {
                return Err(ModelError::Format(format!(
                    "unknown CTranslate2 dtype code {other}"
                )))
            }
        })
    }

    /// Size in bytes of one element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One named tensor or scalar of a CTranslate2 model.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    /// Dimensions, outermost first (row-major).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2Dtype,
    /// Raw little-endian bytes.
    pub data: Vec<u8>,
}

impl Ct2Variable {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the variable holds no element.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values converted to f32, whatever the stored float or integer type.
    pub fn to_f32(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            Ct2Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Ct2Dtype::F16 => d
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Ct2Dtype::Bf16 => d
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Ct2Dtype::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            Ct2Dtype::I16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
                .collect(),
            Ct2Dtype::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
        }
    }

    /// The single value of a scalar variable as an integer, if it is one.
    pub fn scalar_i64(&self) -> Option<i64> {
        if self.len() != 1 {
            return None;
        }
        self.to_f32().first().map(|v| *v as i64)
    }
}

/// A parsed CTranslate2 model: its spec name and variables (aliases resolved).
#[derive(Debug)]
pub struct Ct2Model {
    /// Model specification name, for example `WhisperSpec`.
    pub spec: String,
    /// Variables by name; an alias is stored as a copy under its own name.
    pub variables: HashMap<String, Ct2Variable>,
}

/// Upper bound on one variable's size, so a corrupt length cannot exhaust memory.
const MAX_VARIABLE_BYTES: usize = 2 << 30;

impl Ct2Model {
    /// Parses a model from a reader.
    pub fn read(mut r: impl Read) -> Result<Self, ModelError> {
        let format_version = read_u32(&mut r)?;
        if !(5..=6).contains(&format_version) {
            return Err(ModelError::Format(format!(
                "unsupported CTranslate2 format version {format_version} (expected 5 or 6)"
            )));
        }
        let spec = read_string(&mut r)?;
        let _revision = read_u32(&mut r)?;
        let count = read_u32(&mut r)? as usize;
        let mut variables = HashMap::with_capacity(count);
        for _ in 0..count {
            let name = read_string(&mut r)?;
            let rank = read_u8(&mut r)? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(read_u32(&mut r)? as usize);
            }
            let dtype = Ct2Dtype::from_code(read_u8(&mut r)?)?;
            let nbytes = read_u32(&mut r)? as usize;
            let elements: usize = shape.iter().product();
            if nbytes > MAX_VARIABLE_BYTES || nbytes != elements * dtype.size() {
                return Err(ModelError::Format(format!(
                    "variable {name}: {nbytes} bytes do not fit shape {shape:?} of {dtype:?}"
                )));
            }
            let mut data = vec![0u8; nbytes];
            r.read_exact(&mut data).map_err(truncated)?;
            variables.insert(name, Ct2Variable { shape, dtype, data });
        }
        let aliases = read_u32(&mut r)? as usize;
        for _ in 0..aliases {
            let alias = read_string(&mut r)?;
            let target = read_string(&mut r)?;
            let var = variables.get(&target).cloned().ok_or_else(|| {
                ModelError::Format(format!("alias {alias} points to unknown {target}"))
            })?;
            variables.insert(alias, var);
        }
        Ok(Self { spec, variables })
    }

    /// The variable with this name, or a format error naming it.
    pub fn get(&self, name: &str) -> Result<&Ct2Variable, ModelError> {
        self.variables
            .get(name)
            .ok_or_else(|| ModelError::Format(format!("CTranslate2 model lacks variable {name}")))
    }
}

fn truncated(e: std::io::Error) -> ModelError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ModelError::Format("CTranslate2 model is truncated".into())
    } else {
        ModelError::Io(e)
    }
}

fn read_u8(r: &mut impl Read) -> Result<u8, ModelError> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(truncated)?;
    Ok(b[0])
}

fn read_u32(r: &mut impl Read) -> Result<u32, ModelError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(truncated)?;
    Ok(u32::from_le_bytes(b))
}

fn read_string(r: &mut impl Read) -> Result<String, ModelError> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b).map_err(truncated)?;
    let len = u16::from_le_bytes(b) as usize;
    let mut s = vec![0u8; len];
    r.read_exact(&mut s).map_err(truncated)?;
    if s.last() == Some(&0) {
        s.pop();
    }
    String::from_utf8(s).map_err(|_| ModelError::Format("variable name is not UTF-8".into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serialises variables in the CTranslate2 v6 layout (test helper).
    pub(crate) fn write_model(spec: &str, vars: &[(&str, Vec<usize>, u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(6u32.to_le_bytes());
        put_str(&mut out, spec);
        out.extend(3u32.to_le_bytes());
        out.extend((vars.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in vars {
            put_str(&mut out, name);
            out.push(shape.len() as u8);
            for d in shape {
                out.extend((*d as u32).to_le_bytes());
            }
            out.push(*dtype);
            out.extend((data.len() as u32).to_le_bytes());
            out.extend(data);
        }
        out.extend(0u32.to_le_bytes());
        out
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend(((s.len() + 1) as u16).to_le_bytes());
        out.extend(s.as_bytes());
        out.push(0);
    }

    #[test]
    fn reads_variables_and_scalars() {
        let bytes = write_model(
            "WhisperSpec",
            &[
                (
                    "a/weight",
                    vec![2, 2],
                    0,
                    [1f32, 2., 3., 4.]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                ),
                ("a/heads", vec![], 2, 8i16.to_le_bytes().to_vec()),
            ],
        );
        let m = Ct2Model::read(&bytes[..]).unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.get("a/weight").unwrap().to_f32(), vec![1., 2., 3., 4.]);
        assert_eq!(m.get("a/heads").unwrap().scalar_i64(), Some(8));
        assert!(m.get("missing").is_err());
    }

    #[test]
    fn truncated_and_inconsistent_files_are_format_errors() {
        let bytes = write_model("S", &[("x", vec![4], 0, vec![0; 16])]);
        for cut in [3, 10, bytes.len() - 6] {
            assert!(matches!(
                Ct2Model::read(&bytes[..cut]),
                Err(ModelError::Format(_))
            ));
        }
        let bad = write_model("S", &[("x", vec![4], 0, vec![0; 12])]);
        assert!(matches!(
            Ct2Model::read(&bad[..]),
            Err(ModelError::Format(_))
        ));
    }
}
