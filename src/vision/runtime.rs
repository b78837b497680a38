//! ONNX Runtime, loaded at run time from the library the set-up installs next to the models
//! (`ort`'s `load-dynamic`): one environment per process, sessions created once and reused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::value::TensorRef;

use super::VisionError;

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Initialises ONNX Runtime from `library` once; later calls reuse the first result.
fn environment(library: &Path) -> Result<&'static ort::environment::Environment, VisionError> {
    let env = ENVIRONMENT.get_or_init(|| {
        ort::environment::init_from(library)
            .map_err(|e| e.to_string())?
            .with_name("liveness")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|message| VisionError::Runtime {
        path: library.to_path_buf(),
        message: message.clone(),
    })
}

/// One ONNX model with a single float input, run with one intra-op thread (measured faster
/// than two on a 2-core machine, and it leaves the other core to speech recognition).
pub struct OnnxModel {
    session: Mutex<Session>,
    path: PathBuf,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .finish()
    }
}

impl OnnxModel {
    /// Loads `model` with the ONNX Runtime library `library`.
    pub fn load(library: &Path, model: &Path) -> Result<Self, VisionError> {
        let env = environment(library)?;
        let load_err = |e: ort::Error| VisionError::Load {
            path: model.to_path_buf(),
            message: e.to_string(),
        };
        if !model.is_file() {
            return Err(VisionError::Load {
                path: model.to_path_buf(),
                message: "file not found (run scripts/setup.sh)".into(),
            });
        }
        let session = Session::builder(env)
            .map_err(load_err)?
            .with_intra_threads(1)
            .map_err(|e| load_err(e.into()))?
            .commit_from_file(model)
            .map_err(load_err)?;
        Ok(Self {
            session: Mutex::new(session),
            path: model.to_path_buf(),
        })
    }

    /// Runs the model on one NCHW float tensor and returns every output, flattened, in the
    /// model's output order.
    pub fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<Vec<Vec<f32>>, VisionError> {
        let mut session = self
            .session
            .lock()
            .map_err(|_| VisionError::Inference("a previous inference panicked".into()))?;
        let view = ndarray::ArrayView4::from_shape(shape, input).map_err(VisionError::inference)?;
        let tensor = TensorRef::from_array_view(view).map_err(VisionError::inference)?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(VisionError::inference)?;
        let mut out = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (_, data) = value
                .try_extract_tensor::<f32>()
                .map_err(VisionError::inference)?;
            out.push(data.to_vec());
        }
        Ok(out)
    }

    /// Sums of each output for a fixed synthetic input of side `side`: a fingerprint that
    /// tells a correctly converted model from a broken one (conversions are not byte-identical
    /// from run to run, their outputs are).
    pub fn fingerprint(&self, side: usize) -> Result<Vec<f64>, VisionError> {
        let input: Vec<f32> = (0..3 * side * side)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        Ok(self
            .run(&input, [1, 3, side, side])?
            .iter()
            .map(|o| o.iter().map(|v| f64::from(*v)).sum())
            .collect())
    }
}
